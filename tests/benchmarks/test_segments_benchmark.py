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
                          "--rounds", "1", "--ceiling", "--out", str(out), "--allow-dirty"] + RAY) == 0
    with open(out / "segments.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["workers"] for r in rows] == ["1", "2", "1"] + (["ray auto"] if RAY else [])
    assert [r["threads"] for r in rows][:3] == ["default", "default", "1"] and {r["segments"] for r in rows} == {"2"}
    assert len({r["sha256"] for r in rows}) == 1 and all(float(r["wall_s"]) > 0 for r in rows)
    assert float(rows[1]["peak_rss_worker_mb"]) > 50 and float(rows[0]["peak_rss_main_mb"]) > 50
    assert (out / "meta.json").exists() and not (out / "work").exists()
    assert "can be at most" in (out / "segments.md").read_text()


def test_the_ceiling_is_the_one_thread_work_shared_by_the_workers():
    # one worker (two threads) 76 s, one thread 104 s: two workers at best 52 s, 1.46x
    assert abs(segments.ceiling_speedup(76.0, 104.0, 2) - 2 * 76 / 104) < 1e-12
    assert segments.ceiling_speedup(100.0, 100.0, 2) == 2.0
