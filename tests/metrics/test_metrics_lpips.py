"""LPIPS plumbing, offline: fake backbone + calibration files with the real keys/shapes."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nvcodec.metrics.lpips import (
    Lpips,
    LpipsUnavailable,
    default_backbone_path,
    default_calibration_path,
    load_lpips,
    lpips_rgb,
)

def _img(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def test_lpips_values_with_fake_weights(tmp_path: Path, write_fake_weights) -> None:
    bb, cal = write_fake_weights(tmp_path)
    model = load_lpips(backbone_path=bb, calibration_path=cal)
    assert isinstance(model, Lpips)
    x, y = _img(0), _img(1)
    assert float(lpips_rgb(model, x, x)[0]) == 0.0
    d_xy = float(lpips_rgb(model, x, y)[0])
    assert d_xy > 0.0
    assert float(lpips_rgb(model, y, x)[0]) == pytest.approx(d_xy, rel=1e-5)
    near = np.clip(x + 0.01, 0, 1)
    assert 0.0 < float(lpips_rgb(model, x, near)[0]) < d_xy
    batch = lpips_rgb(model, torch.from_numpy(np.stack([x, x])).permute(0, 3, 1, 2), torch.from_numpy(np.stack([x, y])).permute(0, 3, 1, 2))
    assert batch.shape == (2,) and float(batch[0]) == 0.0 and float(batch[1]) == pytest.approx(d_xy, rel=1e-5)
    with pytest.raises(ValueError, match="at least"):
        lpips_rgb(model, _img(0, 20, 20), _img(1, 20, 20))


def test_discovery_from_hub_cache_and_lpips_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_fake_weights) -> None:
    bb, cal = write_fake_weights(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert default_backbone_path() == bb
    assert default_calibration_path() == cal
    assert isinstance(load_lpips(), Lpips)
    assert "lpips" not in sys.modules  # found, never imported


def test_unavailable_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_fake_weights) -> None:
    bb, cal = write_fake_weights(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch"))
    r = load_lpips(calibration_path=cal)
    assert isinstance(r, LpipsUnavailable) and "AlexNet backbone" in r.reason
    r = load_lpips(backbone_path=bb, calibration_path=tmp_path / "nope.pth")
    assert isinstance(r, LpipsUnavailable) and "calibration" in r.reason and "nope.pth" in r.reason
    broken = tmp_path / "broken.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, broken)
    r = load_lpips(backbone_path=broken, calibration_path=cal)
    assert isinstance(r, LpipsUnavailable) and "broken.pth" in r.reason
    bad_cal = tmp_path / "badcal.pth"
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, bad_cal)
    r = load_lpips(backbone_path=bb, calibration_path=bad_cal)
    assert isinstance(r, LpipsUnavailable) and "lin1" in r.reason
