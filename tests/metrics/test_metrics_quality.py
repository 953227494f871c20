"""measure_quality: the decoded model is scored as the decoder writes it, the stages in RGB."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from nvcodec.metrics.psnr import psnr_from_mse
from nvcodec.metrics.quality import measure_quality
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.render import render_frames
from nvcodec.video import VideoInfo
from nvcodec.video.color import rgb_to_yuv, yuv_to_rgb

W, H, T = 16, 12, 3


def _model(seed: int) -> NVTM:
    m = NVTM(NVTMConfig.tiny(), W, H, T, seed=seed)
    with torch.no_grad():
        for g in m.grid_tensors().values():
            g.uniform_(-1, 1, generator=torch.Generator().manual_seed(seed))
    return m.eval()


def test_decoded_model_as_written_and_stage_psnrs() -> None:
    info = VideoInfo(width=W, height=H, frames=T, fps=Fraction(25))
    decoded, other = _model(1), _model(2)
    # the source is what the decoder writes for `decoded`: its YUV planes are identical
    frames = [rgb_to_yuv(f, info) for f in render_frames(decoded, [0.0, 1.0, 2.0], W, H)]
    rgb = np.stack([yuv_to_rgb(f, info) for f in frames])
    mask = np.zeros((T, H, W), bool)
    mask[1, 2:6, 3:9] = True

    q = measure_quality(decoded, {"float": decoded, "other": other}, info, frames, mask)

    assert all(math.isinf(q[k]) for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb"))
    assert math.isinf(q["masked_psnr"])  # the masked pixels of an identical file
    # the float render differs from its rounding to 8-bit YUV: finite, and high
    assert math.isfinite(q["psnr_float"]) and q["psnr_float"] > 30
    other_rgb = np.stack(list(render_frames(other, [0.0, 1.0, 2.0], W, H))).astype(np.float64)
    expected = psnr_from_mse(float(np.mean([np.mean((o - r) ** 2) for o, r in zip(other_rgb, rgb)])))
    assert q["psnr_other"] == pytest.approx(expected, rel=1e-12) and q["psnr_other"] < q["psnr_float"]
    # another model's file: the masked PSNR is the RGB PSNR of the masked pixels of the file as written
    worse = measure_quality(other, {}, info, frames, mask)
    written = np.stack([yuv_to_rgb(rgb_to_yuv(f, info), info) for f in other_rgb.astype(np.float32)])
    masked = psnr_from_mse(float(np.mean((written[mask].astype(np.float64) - rgb[mask]) ** 2)))
    assert worse["masked_psnr"] == pytest.approx(masked, rel=1e-12) and math.isfinite(worse["psnr_yuv"])
    assert "masked_psnr" not in measure_quality(decoded, {}, info, frames, np.zeros_like(mask))


def test_progress_counts_every_model_s_frames() -> None:
    info = VideoInfo(width=W, height=H, frames=T, fps=Fraction(25))
    frames = [rgb_to_yuv(f, info) for f in render_frames(_model(1), [0.0, 1.0, 2.0], W, H)]
    seen: list[tuple[int, int]] = []
    measure_quality(_model(1), {"float": _model(2)}, info, frames, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(i, 2 * T) for i in range(1, 2 * T + 1)]
