"""Compare a decoded video with its reference, frame by frame (bounded memory).

Plane PSNRs need the same sample layout: Y is compared when the bit depths match, U/V
when the chroma formats match too; otherwise those fields are None and
`yuv_unavailable_reason` says why. RGB PSNR, MS-SSIM and LPIPS are always computed on
RGB in [0, 1], each file converted with its own colour metadata. Clip values: see
nvcodec.metrics.psnr for the PSNR conventions (primary = PSNR of the mean MSE; the mean of
per-frame PSNRs is under `frame_mean`), MS-SSIM and LPIPS are plain means over frames.
All floats in the result are JSON-safe: an infinite PSNR (identical data) is None, with
`identical: true`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..video import RawSpec, open_video
from ..video.color import yuv_to_rgb
from .lpips import MIN_SIDE, Lpips, LpipsUnavailable, load_lpips, lpips_rgb
from .msssim import ms_ssim_rgb
from .psnr import FrameErrors, PsnrAccumulator, json_value, mse

METRICS = ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb", "ms_ssim", "lpips")


def evaluate_files(
    ref_path: str | os.PathLike,
    dist_path: str | os.PathLike,
    *,
    raw: RawSpec | None = None,
    lpips: bool = True,
    device: str = "cpu",
) -> dict[str, Any]:
    """Per-frame and mean psnr_y/u/v/yuv/rgb, ms_ssim and lpips of `dist` against `ref`.

    `raw` describes whichever of the two files is headerless .yuv. Returns a JSON-ready
    dict: the clip means at the top level, `frame_mean` (mean of per-frame PSNRs),
    `per_frame` (one dict per frame), `identical`, `lpips_unavailable_reason` and
    `yuv_unavailable_reason` (None when available).
    """
    with open_video(ref_path, raw) as ref, open_video(dist_path, raw) as dist:
        ri, di = ref.info, dist.info
        if (ri.width, ri.height) != (di.width, di.height):
            raise InputError(
                f"cannot compare {dist_path} ({di.width}x{di.height}) with {ref_path} "
                f"({ri.width}x{ri.height}): frame sizes differ"
            )
        if len(ref) != len(dist):
            raise InputError(
                f"cannot compare {dist_path} ({len(dist)} frames) with {ref_path} "
                f"({len(ref)} frames): frame counts differ"
            )
        same_depth = ri.bit_depth == di.bit_depth
        same_chroma = same_depth and ri.chroma == di.chroma
        yuv_reason = None
        if not same_depth:
            yuv_reason = f"bit depths differ ({ri.bit_depth} vs {di.bit_depth})"
        elif not same_chroma:
            yuv_reason = f"chroma formats differ ({ri.chroma} vs {di.chroma}); only Y is compared"

        model: Lpips | None = None
        lpips_reason: str | None = None
        if not lpips:
            lpips_reason = "LPIPS disabled"
        elif min(ri.width, ri.height) < MIN_SIDE:
            lpips_reason = f"frames smaller than {MIN_SIDE}x{MIN_SIDE} are too small for LPIPS (AlexNet)"
        else:
            loaded = load_lpips(device=device)
            if isinstance(loaded, LpipsUnavailable):
                lpips_reason = loaded.reason
            else:
                model = loaded

        acc = PsnrAccumulator(ri.bit_depth)
        per_frame: list[dict[str, Any]] = []
        ms_values: list[float] = []
        lp_values: list[float] = []
        for i in range(len(ref)):
            fr, fd = ref.read(i), dist.read(i)
            rr, dr = yuv_to_rgb(fr, ri), yuv_to_rgb(fd, di)
            errors = FrameErrors(
                mse_y=mse(fr.planes[0], fd.planes[0]) if same_depth else None,
                mse_u=mse(fr.planes[1], fd.planes[1]) if same_chroma and ri.chroma != "mono" else None,
                mse_v=mse(fr.planes[2], fd.planes[2]) if same_chroma and ri.chroma != "mono" else None,
                mse_rgb=mse(rr, dr),
                bit_depth=ri.bit_depth,
            )
            values: dict[str, Any] = dict(acc.add(errors))
            rt = torch.from_numpy(rr).permute(2, 0, 1).unsqueeze(0).to(device)
            dt = torch.from_numpy(dr).permute(2, 0, 1).unsqueeze(0).to(device)
            ms = float(ms_ssim_rgb(rt, dt)[0])
            ms_values.append(ms)
            values["ms_ssim"] = ms
            if model is not None:
                lp = float(lpips_rgb(model, rt, dt)[0])
                lp_values.append(lp)
                values["lpips"] = lp
            else:
                values["lpips"] = None
            entry = {"frame": i, **{k: json_value(values[k]) for k in METRICS}, "identical": errors.identical}
            per_frame.append(entry)

        summary = acc.summary()
        result: dict[str, Any] = {
            "ref": str(ref_path),
            "dist": str(dist_path),
            "width": ri.width,
            "height": ri.height,
            "frames": len(ref),
            "bit_depth": ri.bit_depth,
            "chroma": ri.chroma,
        }
        for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb"):
            result[k] = json_value(summary[k])
        result["ms_ssim"] = float(np.mean(ms_values))
        result["lpips"] = float(np.mean(lp_values)) if model is not None else None
        result["frame_mean"] = {k: json_value(v) for k, v in summary["frame_mean"].items()}
        result["identical"] = summary["identical"]
        result["lpips_unavailable_reason"] = lpips_reason
        result["yuv_unavailable_reason"] = yuv_reason
        result["psnr_convention"] = (
            "PSNR of the mean MSE over frames; peak 2^bitdepth-1 (RGB: 1.0); psnr_yuv = (6Y+U+V)/8; "
            "null = infinite (identical)"
        )
        result["per_frame"] = per_frame
        return result


__all__ = ["evaluate_files", "METRICS"]
