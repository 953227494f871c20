"""benchmarks.long_video on a tiny clip: flat memory rows, random access identical, seams found."""

from __future__ import annotations

import csv

from benchmarks import long_video


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_ping_pong_reverses_at_each_end():
    assert [long_video.ping_pong(k, 4) for k in range(9)] == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    assert [long_video.ping_pong(k, 1) for k in range(3)] == [0, 0, 0]


def test_long_video_benchmark(tmp_path, sample_crop):
    clip = sample_crop(tmp_path / "c.y4m", 64, 48, 8)
    seam_clip = sample_crop(tmp_path / "s.y4m", 64, 48, 16)
    out = tmp_path / "long"
    assert long_video.main(["--source", str(clip), "--lengths", "10,20", "--bpp", "1.5", "--steps", "2",
                            "--segment-frames", "10", "--access-frames", "4", "--rounds", "1",
                            "--seam-clips", str(seam_clip), "--seam-segment-frames", "10", "--seam-bpp", "1.5",
                            "--out", str(out), "--allow-dirty"]) == 0
    memory = _rows(out / "long_video_memory.csv")
    assert [(r["frames"], r["segments"]) for r in memory] == [("10", "1"), ("20", "2")]
    assert all(float(r["peak_rss_mb"]) > 50 and float(r["estimate_mb"]) > 50 for r in memory)
    access = _rows(out / "long_video_access.csv")
    assert sorted(r["frames"] for r in access) == ["20", "4"]
    assert "identical to the full decode's: True" in (out / "long_video.md").read_text()
    seams = _rows(out / "long_video_seams.csv")
    assert [r["segments"] for r in seams] == ["2", "2"]
    assert seams[0]["boundary_frames"].startswith("9:") and " 10:" in seams[0]["boundary_frames"]
    assert not (out / "work").exists()
