"""Quality metrics: PSNR (YUV planes, 6:1:1, RGB), MS-SSIM, LPIPS, file-level evaluation and the
encoder's quality check of the model it writes."""

from __future__ import annotations

from .evaluate import METRICS, evaluate_files
from .lpips import Lpips, LpipsUnavailable, load_lpips, lpips_rgb
from .msssim import ms_ssim_frame, ms_ssim_rgb, msssim_plan
from .psnr import (
    FrameErrors,
    PsnrAccumulator,
    combine_yuv,
    frame_errors,
    frame_psnr,
    json_value,
    mse,
    mse_from_psnr,
    peak_for_bit_depth,
    psnr_from_mse,
    rgb_psnr,
)
from .quality import measure_quality

__all__ = [
    "METRICS",
    "evaluate_files",
    "Lpips",
    "LpipsUnavailable",
    "load_lpips",
    "lpips_rgb",
    "ms_ssim_frame",
    "ms_ssim_rgb",
    "msssim_plan",
    "FrameErrors",
    "PsnrAccumulator",
    "combine_yuv",
    "frame_errors",
    "frame_psnr",
    "json_value",
    "mse",
    "mse_from_psnr",
    "peak_for_bit_depth",
    "psnr_from_mse",
    "rgb_psnr",
    "measure_quality",
]
