"""benchmarks.segments on a tiny clip: both worker counts timed, identical files, peaks recorded."""

from __future__ import annotations

import csv

import importlib.util

from benchmarks import segments

#: with Ray installed (the test extra has it), the benchmark's --ray run too
RAY = ["--ray", "auto"] if importlib.util.find_spec("ray") else []


def test_segments_benchmark_times_both_worker_counts(tmp_path, sample_crop):
    clip = sample_crop(tmp_path / "c.y4m", 64, 48, 16)
    out = tmp_path / "seg"
    assert segments.main(["--clip", str(clip), "--bpp", "1.5", "--steps", "2", "--segment-frames", "10",
                          "--rounds", "1", "--out", str(out), "--allow-dirty"] + RAY) == 0
    with open(out / "segments.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["workers"] for r in rows] == ["1", "2"] + (["ray auto"] if RAY else []) and {r["segments"] for r in rows} == {"2"}
    assert len({r["sha256"] for r in rows}) == 1 and all(float(r["wall_s"]) > 0 for r in rows)
    assert float(rows[1]["peak_rss_worker_mb"]) > 50 and float(rows[0]["peak_rss_main_mb"]) > 50
    assert (out / "meta.json").exists() and not (out / "work").exists()
