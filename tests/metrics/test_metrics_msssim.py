"""MS-SSIM: standard for large frames, reduced scales for QCIF and smaller."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim

from nvcodec.metrics.msssim import MS_SSIM_WEIGHTS, _multiscale, ms_ssim_frame, ms_ssim_rgb, msssim_plan


def _images(h: int, w: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ref = np.stack([0.5 + 0.3 * np.sin(xx / (5 + k) + yy / 7) for k in range(3)], -1).astype(np.float32)
    dist = np.clip(ref + rng.normal(0, noise, ref.shape), 0, 1).astype(np.float32)
    return ref, dist


def test_plan() -> None:
    assert msssim_plan(288, 352) == (5, 11, MS_SSIM_WEIGHTS)
    levels, win, weights = msssim_plan(144, 176)  # QCIF
    assert (levels, win) == (4, 11) and sum(weights) == pytest.approx(1.0)
    assert weights[0] / weights[1] == pytest.approx(MS_SSIM_WEIGHTS[0] / MS_SSIM_WEIGHTS[1])
    assert msssim_plan(161, 500)[0] == 5 and msssim_plan(160, 500)[0] == 4
    assert msssim_plan(11, 40)[:2] == (1, 11) and msssim_plan(8, 8)[:2] == (1, 7)


def test_qcif_identical_is_one_and_noise_lowers_it() -> None:
    ref, light = _images(144, 176, 0.01)
    _, heavy = _images(144, 176, 0.08)
    assert ms_ssim_frame(ref, ref) == pytest.approx(1.0, abs=1e-6)
    a, b = ms_ssim_frame(ref, light), ms_ssim_frame(ref, heavy)
    assert 0.0 < b < a < 1.0


def test_matches_pytorch_msssim_where_it_applies() -> None:
    ref, dist = _images(176, 180, 0.05)
    x = torch.from_numpy(ref).permute(2, 0, 1)[None]
    y = torch.from_numpy(dist).permute(2, 0, 1)[None]
    expect = ms_ssim(x, y, data_range=1.0, size_average=False)
    torch.testing.assert_close(ms_ssim_rgb(ref, dist), expect)
    # our own loop (used below 161 px) is the library's loop: same value at 5 scales
    torch.testing.assert_close(_multiscale(x, y, 5, 11, MS_SSIM_WEIGHTS), expect, rtol=1e-5, atol=1e-6)


def test_batches_and_tiny_frames() -> None:
    ref, dist = _images(20, 24, 0.05)
    batch = ms_ssim_rgb(np.stack([ref, ref]), np.stack([ref, dist]))
    assert batch.shape == (2,) and batch[0] == pytest.approx(1.0, abs=1e-6) and batch[1] < 1.0
    ref, dist = _images(6, 9, 0.05)
    v = ms_ssim_frame(ref, dist)
    assert 0.0 < v < 1.0 and ms_ssim_frame(ref, ref) == pytest.approx(1.0, abs=1e-6)
