"""benchmarks.engine_ab: the A/B driver's summary arithmetic, and one real (tiny) run of both
sides from two source trees."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import engine_ab

REPO = Path(__file__).resolve().parents[2]


def _row(side, psnr, sps, passes, rnd=1):
    return {"clip": "c", "side": side, "bpp_target": 0.3, "time_s": 5.0, "round": rnd, "psnr_yuv": psnr,
            "samples_per_second": sps, "passes": passes}


def test_summary_takes_medians_per_side_and_ratios():
    rows = [_row("prev", 30.0, 100.0, 1.0), _row("new", 31.0, 900.0, 9.0),
            _row("new", 33.0, 1100.0, 11.0, 2), _row("prev", 31.0, 120.0, 1.2, 2),
            _row("new", 32.0, 1000.0, 10.0, 3), _row("prev", 29.0, 80.0, 0.8, 3)]
    (s,) = engine_ab.summarise(rows)
    assert s["runs"] == 3 and s["prev_psnr_yuv"] == 30.0 and s["new_psnr_yuv"] == 32.0
    assert s["gain_db"] == pytest.approx(2.0) and s["samples_ratio"] == pytest.approx(10.0)
    assert (s["prev_passes"], s["new_passes"]) == (1.0, 10.0)


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git checkout")
def test_a_tiny_run_of_both_sides(tmp_path, small_sample_clip):
    """Both encodes run in their own processes from their own trees and report real files."""
    clip = small_sample_clip
    out = tmp_path / "ab"
    assert engine_ab.main(["--previous", "HEAD", "--new", "HEAD", "--clips", str(clip), "--bpp", "2", "--time", "3",
                           "--rounds", "1", "--threads", "1", "--out", str(out), "--allow-dirty"]) == 0
    with open(out / "engine_ab.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["side"] for r in rows] == ["prev", "new"]
    for r in rows:  # a 2-bpp file of 64x48x3 decodes far above a broken one (< 15 dB here)
        assert float(r["psnr_yuv"]) > 20 and 0 < float(r["bpp"]) <= 2 * 1.03 and int(r["fit_steps"]) > 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["settings"]["previous_commit"]
    assert not (out / "work").exists()  # the worktree and the files are gone
    listed = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout
    assert str(out) not in listed
