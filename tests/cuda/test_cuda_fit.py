"""Fitting on CUDA: a tiny clip fits there, the model stays there, and TF32 on or off fits alike; for both
model families, hence both batch engines: with the alignment flow (optical-flow targets, per-pixel batches)
and without it (the encoder's default family, dense tiles where the engine supports them)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cuda_util import DEVICE, MARKS, mean_colour_psnr, rgb_psnr

pytestmark = MARKS

T, H, W = 4, 16, 16


FAMILIES = ["flow", "no_flow"]


def _fit(video: torch.Tensor, family: str = "flow", **options):
    from nvcodec.fit import FitOptions, fit
    from nvcodec.model.config import NVTMConfig
    from nvcodec.model.nvtm import NVTM

    config = NVTMConfig.tiny()  # with the alignment flow: optical flow on the device too
    if family == "no_flow":
        config = config.replace(alignment="none")
    model = NVTM(config, W, H, T, seed=0)
    result = fit(model, video, FitOptions(device=DEVICE, seed=0, **options))
    return model, result


def _render(model, device: str) -> np.ndarray:
    from nvcodec.render import render_frames

    return np.stack(list(render_frames(model, [float(t) for t in range(T)], W, H, device=device)))


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_clip_fits_on_the_device(family: str, make_clip) -> None:
    video = make_clip(T, H, W)
    model, result = _fit(video, family, steps=200)
    assert result.steps == 200
    assert {p.device.type for p in model.parameters()} == {torch.device(DEVICE).type}  # fit leaves it there
    assert model.norm_bounds.device.type == torch.device(DEVICE).type
    base = mean_colour_psnr(video)
    # the decoder's renderer on the device: well above the mean colour fitting starts from
    ref = video.numpy().astype(np.float32) / 255.0
    on_device = rgb_psnr(_render(model, DEVICE), ref)
    assert on_device > base + 5.0, (on_device, base, getattr(result, "engine", None))
    assert math.isfinite(result.psnr) and abs(on_device - result.psnr) < 1.0, (on_device, result.psnr)
    # the same float model moved to the CPU renders the same picture
    on_cpu = rgb_psnr(_render(model.to("cpu"), "cpu"), ref)
    assert abs(on_cpu - on_device) < 0.05, (on_cpu, on_device)


def test_time_budget_run_on_the_device(make_clip) -> None:
    video = make_clip(T, H, W)
    _fit(video, steps=2)  # device context and kernels ready: the budget measures fitting only
    _, result = _fit(video, time_budget=3.0)
    assert result.steps > 0 and 2.7 < result.seconds < 10.0, (result.steps, result.seconds)
    assert math.isfinite(result.psnr) and result.psnr > mean_colour_psnr(video)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tf32", [False, True])
def test_tf32_on_and_off(tf32: bool, family: str, make_clip) -> None:
    """TF32 matmuls (FitOptions.tf32) fit as well as full fp32, and the global flag is restored."""
    video = make_clip(T, H, W)
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        _, full = _fit(video, family, steps=150, tf32=False)
        assert torch.backends.cuda.matmul.allow_tf32 is False
        _, other = _fit(video, family, steps=150, tf32=tf32)
        assert torch.backends.cuda.matmul.allow_tf32 is False  # the fit's setting did not leak
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    assert math.isfinite(full.psnr) and math.isfinite(other.psnr)
    assert abs(other.psnr - full.psnr) < 0.5, (tf32, other.psnr, full.psnr, getattr(other, "engine", None))
