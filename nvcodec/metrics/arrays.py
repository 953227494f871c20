"""Quality of RGB arrays (`nvcodec.evaluate` on frames held in memory), with the conventions of
`nvcodec eval`'s RGB values: samples scaled to [0, 1], the clip's PSNR is that of its mean MSE,
MS-SSIM is the mean over frames."""

from __future__ import annotations

from typing import Any, Collection

import numpy as np

from ..defaults import DEFAULT_EVAL_METRICS
from .evaluate import parse_metrics
from .msssim import ms_ssim_rgb
from .psnr import json_value, mse, psnr_from_mse


def evaluate_rgb(reference: np.ndarray, distorted: np.ndarray,
                 metrics: Collection[str] = DEFAULT_EVAL_METRICS) -> dict[str, Any]:
    """psnr_rgb and (when asked) msssim of uint8 RGB [T, H, W, 3] `distorted` against `reference`.
    LPIPS needs the file path's colour handling and weights: use paths for it."""
    wanted = parse_metrics(metrics)
    if "lpips" in wanted:
        raise ValueError("LPIPS is measured on files (nvcodec.evaluate with paths), not on arrays")
    if reference.shape != distorted.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {distorted.shape}")
    ref = reference.astype(np.float32) / 255.0
    dist = distorted.astype(np.float32) / 255.0
    errors = [mse(r, d) for r, d in zip(ref, dist)]
    msssim = [float(v) for v in ms_ssim_rgb(ref, dist)] if "msssim" in wanted else [None] * len(errors)
    per_frame = [{"frame": i, "psnr_rgb": json_value(psnr_from_mse(e)), "msssim": m, "identical": e == 0.0}
                 for i, (e, m) in enumerate(zip(errors, msssim))]
    return {"frames": len(errors), "psnr_rgb": json_value(psnr_from_mse(float(np.mean(errors)))),
            "msssim": None if None in msssim else float(np.mean(msssim)),
            "identical": all(e == 0.0 for e in errors), "per_frame": per_frame}
