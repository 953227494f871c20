"""Smoke test of benchmarks/gpu_check.py on the CPU (`--device cpu --quick`), so the GPU script cannot rot:
it runs end to end in seconds and its JSON holds real measurements (checked against a mean-colour
baseline computed here from the source clip, independently of the script)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import gpu_check


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def mean_colour_psnr_yuv(clip: dict) -> float:
    """PSNR-YUV (6:1:1) of predicting every plane of the cropped clip by its mean sample."""
    from nvcodec.video import open_video

    x, y, w, h, n = (clip[k] for k in ("x", "y", "width", "height", "frames"))
    with open_video(clip["source"]) as r:
        frames = [r.read(i).planes for i in range(n)]
    psnrs = []
    for k in range(3):
        sub = frames[0][0].shape[1] // frames[0][k].shape[1]
        planes = np.stack([f[k] for f in frames]).astype(np.float64)
        planes = planes[:, y // sub:(y + h) // sub, x // sub:(x + w) // sub]
        assert planes.shape[1:] == (h // sub, w // sub)
        mse = float(np.mean((planes - planes.mean()) ** 2))
        psnrs.append(10 * math.log10(255.0 ** 2 / mse))
    return (6 * psnrs[0] + psnrs[1] + psnrs[2]) / 8


def _dirty_ok() -> list[str]:
    """--allow-dirty where the benchmarks refuse uncommitted trees (a test runs from whatever tree it has)."""
    parser = gpu_check.build_parser()
    return ["--allow-dirty"] if any("--allow-dirty" in a.option_strings for a in parser._actions) else []


def test_gpu_check_quick_on_cpu(tmp_path: Path, restore_threads) -> None:
    out = tmp_path / "gpu_check"
    assert gpu_check.main(["--out", str(out), "--device", "cpu", "--quick", "--threads", "1", *_dirty_ok()]) == 0
    res = json.loads((out / "gpu_check.json").read_text())
    for key in ("environment", "clip", "points", "pytest", "tests_ok", "encode", "decode", "cross_device",
                "errors", "phase_seconds", "total_seconds", "meta", "ok"):
        assert key in res, key
    assert res["ok"] is True and res["errors"] == [] and res["quick"] is True and res["device"] == "cpu"
    env = res["environment"]
    assert env["torch"] == torch.__version__ and env["cuda_available"] == torch.cuda.is_available()
    assert set(res["phase_seconds"]) == {"environment", "pytest", "warmup", "encode", "decode", "cross_device"}

    # the CUDA subset ran in its subprocess: skipped with a reason on a CPU machine, passed on a GPU one
    (tests,) = res["pytest"]
    assert tests["ok"] and tests["returncode"] == 0 and "-m cuda tests/cuda" in tests["command"]
    if not torch.cuda.is_available():
        assert tests["counts"].get("skipped", 0) >= 5 and not tests["counts"].get("passed")
        assert any("CUDA" in r for r in tests["skip_reasons"])
    assert (out / "pytest_cuda.log").read_text().strip()

    clip = res["clip"]
    assert (clip["width"], clip["height"], clip["frames"]) == (128, 128, 4)
    baseline = mean_colour_psnr_yuv(clip)
    (enc,) = res["encode"]
    steps = gpu_check.QUICK["steps"]
    assert enc["device"] == "cpu" and enc["fit_steps"] == steps and enc["step_budget"] == steps
    assert 0 < enc["bpp"] <= enc["target_bpp"] * 1.03
    assert enc["psnr_yuv"] > baseline + 3.0, (enc["psnr_yuv"], baseline)
    assert enc["steps_per_second"] > 0 and enc["samples_per_second"] > 0 and enc["passes"] > 0
    assert enc["peak_memory_mib"] is None  # GPU memory only
    assert (out / enc["nvc"]).is_file()

    dec = {r["output"]: r for r in res["decode"]}
    assert set(dec) == {"native", "scale1.5"}
    assert (dec["native"]["width"], dec["native"]["height"]) == (128, 128)
    assert (dec["scale1.5"]["width"], dec["scale1.5"]["height"]) == (192, 192)
    for r in dec.values():
        assert r["frames"] == 4 and r["median_frames_per_second"] > 0 and r["best_frames_per_second"] > 0
    # the decoded file measures what the encoder reported
    assert abs(dec["native"]["psnr_yuv_vs_source"] - enc["psnr_yuv"]) < 1e-6

    cross = res["cross_device"]
    assert cross["devices"] == ["cpu", "cpu"] and cross["within_0_05_db"] and cross["max_sample_difference"] == 0

    with open(out / "gpu_check_encode.csv", newline="") as fh:
        assert list(csv.DictReader(fh).fieldnames or []) == list(gpu_check.ENCODE_COLUMNS)
    with open(out / "gpu_check_decode.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2
    md = (out / "gpu_check.md").read_text()
    assert "PSNR-YUV" in md and "frames/s" in md and "CUDA tests" in md
    meta = json.loads((out / "meta.json").read_text())
    assert meta["settings"]["quick"] is True and meta["machine"]["device"] == "cpu"
    assert not (out / "work").exists()


def test_points_parsing() -> None:
    assert gpu_check.parse_points(gpu_check.DEFAULT_POINTS) == [(0.1, 60.0), (0.3, 60.0), (0.1, 180.0)]
    assert gpu_check.parse_points("0.2") == [(0.2, 60.0)]
    for bad in ("x@60", "0.1@-1", "0@60", ""):
        with pytest.raises(Exception):
            gpu_check.parse_points(bad)


def test_gpu_check_goes_on_when_encoding_fails(tmp_path: Path, restore_threads, monkeypatch) -> None:
    """GPU time is scarce: an encode that fails is recorded and the run still measures decoding (of a
    file encoded on the CPU), writes its results and exits 1."""
    real = gpu_check.encode_point

    def broken(src, nvc, *a, **k):
        if "cpu_fallback" not in nvc.name:
            raise RuntimeError("Expected a 'cpu' device type for generator but found 'cuda'")
        return real(src, nvc, *a, **k)

    monkeypatch.setattr(gpu_check, "encode_point", broken)
    out = tmp_path / "gpu_check"
    assert gpu_check.main(["--out", str(out), "--device", "cpu", "--quick", "--threads", "1", "--no-pytest",
                           *_dirty_ok()]) == 1
    res = json.loads((out / "gpu_check.json").read_text())
    assert res["ok"] is False and res["encode"] == [] and res["pytest"] == []
    (err,) = res["errors"]
    assert err["where"].startswith("encode ") and "generator" in err["error"] and "Traceback" in err["traceback"]
    assert res["fallback_encode"]["device"] == "cpu" and res["fallback_encode"]["psnr_yuv"] > 10
    assert {r["output"] for r in res["decode"]} == {"native", "scale1.5"}
    assert res["cross_device"]["within_0_05_db"]
    md = (out / "gpu_check.md").read_text()
    assert "Failed: encode" in md and "encoded on the CPU" in md
