"""evaluate_files on small generated y4m files."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nvcodec.errors import InputError
from nvcodec.metrics import METRICS, evaluate_files

HEADER = "YUV4MPEG2 W64 H48 F25:1 Ip A0:0 C420jpeg"


def _ref_frames(n: int = 3) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        [rng.integers(30, 200, (48, 64)).astype(np.uint8), rng.integers(60, 190, (24, 32)).astype(np.uint8),
         rng.integers(60, 190, (24, 32)).astype(np.uint8)]
        for _ in range(n)
    ]


def test_known_psnr_and_structure(make_y4m) -> None:
    ref = _ref_frames()
    dist = [[y + 1, u + 2, v + 4] for y, u, v in ref]  # MSE 1, 4, 16 in every frame
    r = evaluate_files(make_y4m("ref.y4m", HEADER, ref), make_y4m("dist.y4m", HEADER, dist))
    json.dumps(r, allow_nan=False)  # strict JSON
    py, pu, pv = 20 * math.log10(255), 20 * math.log10(255 / 2), 20 * math.log10(255 / 4)
    assert r["psnr_y"] == pytest.approx(py) and r["frame_mean"]["psnr_y"] == pytest.approx(py)
    assert r["psnr_u"] == pytest.approx(pu) and r["psnr_v"] == pytest.approx(pv)
    assert r["psnr_yuv"] == pytest.approx((6 * py + pu + pv) / 8)
    assert 30 < r["psnr_rgb"] < 50 and 0.9 < r["msssim"] < 1.0
    assert r["lpips"] is None and r["lpips_unavailable_reason"].startswith("not asked for")
    assert (r["frames"], r["width"], r["height"], r["identical"]) == (3, 64, 48, False)
    assert len(r["per_frame"]) == 3 and set(METRICS) <= set(r["per_frame"][0])
    assert r["per_frame"][2]["psnr_v"] == pytest.approx(pv) and r["per_frame"][0]["frame"] == 0


def test_identical_files(make_y4m) -> None:
    ref = _ref_frames(2)
    a = make_y4m("a.y4m", HEADER, ref)
    r = evaluate_files(a, make_y4m("b.y4m", HEADER, ref))
    assert r["identical"] is True and r["psnr_y"] is None and r["psnr_rgb"] is None
    assert r["msssim"] == pytest.approx(1.0, abs=1e-6) and r["per_frame"][1]["identical"] is True
    json.dumps(r, allow_nan=False)


def test_mismatches_refused(make_y4m) -> None:
    ref = _ref_frames(2)
    a = make_y4m("a.y4m", HEADER, ref)
    with pytest.raises(InputError, match="frame counts differ"):
        evaluate_files(a, make_y4m("short.y4m", HEADER, ref[:1]))
    small = [[p[: p.shape[0] // 2] for p in f] for f in ref]
    with pytest.raises(InputError, match="frame sizes differ"):
        evaluate_files(a, make_y4m("small.y4m", HEADER.replace("H48", "H24"), small))


def test_other_chroma_compares_y_and_rgb(make_y4m) -> None:
    ref = _ref_frames(1)
    mono = make_y4m("mono.y4m", HEADER.replace("C420jpeg", "Cmono"), [[ref[0][0]]])
    r = evaluate_files(make_y4m("a.y4m", HEADER, ref), mono)
    assert r["per_frame"][0]["psnr_y"] is None  # identical luma -> inf -> null
    assert r["psnr_u"] is None and "chroma formats differ" in r["yuv_unavailable_reason"]
    assert r["psnr_rgb"] is not None and r["psnr_rgb"] < 40


def test_lpips_with_fake_weights(make_y4m, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_fake_weights) -> None:
    write_fake_weights(tmp_path / "w")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "w" / "torch"))
    monkeypatch.syspath_prepend(str(tmp_path / "w" / "site"))
    importlib.invalidate_caches()
    ref = _ref_frames(2)
    dist = [[y + 3, u, v] for y, u, v in ref]
    r = evaluate_files(make_y4m("a.y4m", HEADER, ref), make_y4m("b.y4m", HEADER, dist), metrics=("psnr", "msssim", "lpips"))
    assert r["lpips_unavailable_reason"] is None
    assert r["lpips"] > 0 and all(f["lpips"] > 0 for f in r["per_frame"])
    assert r["lpips"] == pytest.approx(np.mean([f["lpips"] for f in r["per_frame"]]))


def test_lpips_unavailable_is_reported(make_y4m, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_torch_home"))
    ref = _ref_frames(1)
    r = evaluate_files(make_y4m("a.y4m", HEADER, ref), make_y4m("b.y4m", HEADER, ref), metrics=("psnr", "msssim", "lpips"))
    assert r["lpips"] is None and r["per_frame"][0]["lpips"] is None
    assert "not found" in r["lpips_unavailable_reason"]


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_evaluate_on_cuda_matches_cpu(make_y4m) -> None:  # pragma: no cover - GPU only
    ref = _ref_frames(2)
    dist = [[y + 2, u, v + 1] for y, u, v in ref]
    a, b = make_y4m("a.y4m", HEADER, ref), make_y4m("b.y4m", HEADER, dist)
    cpu = evaluate_files(a, b, device="cpu")
    gpu = evaluate_files(a, b, device="cuda")
    assert gpu["psnr_yuv"] == pytest.approx(cpu["psnr_yuv"])
    assert gpu["msssim"] == pytest.approx(cpu["msssim"], abs=1e-5)
