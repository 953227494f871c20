"""The encoder's quality check: PSNR of the model rebuilt from the file, as the decoder writes it.

The decoded model is rendered, converted to the source's YUV format (what a decoder writes)
and compared plane by plane (see nvcodec.metrics.psnr for the conventions); the models of
the stages before the file (the float fit, its quantised form) get their RGB PSNR so a
report can say where the decibels go. With a mask, the masked pixels' RGB PSNR too.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch

from ..render import render_frames
from ..video import Frame, VideoInfo
from ..video.color import rgb_to_yuv, yuv_to_rgb
from .psnr import PsnrAccumulator, combine_yuv, frame_errors, mse, mse_from_psnr, peak_for_bit_depth, psnr_from_mse


def measure_quality(decoded: torch.nn.Module, references: Mapping[str, torch.nn.Module], info: VideoInfo,
                    frames: list[Frame], rgb: np.ndarray, mask: np.ndarray | None = None,
                    device: torch.device | str = "cpu",
                    progress: Callable[[int, int], None] | None = None) -> dict[str, float | None]:
    """PSNR of the decoded model's output as the decoder writes it (YUV at the source's format),
    and the RGB PSNR (`psnr_<name>`) of each model of `references` (the stages before the file).

    Keys: psnr_y/u/v/yuv/rgb (the decoded file; clip values from the mean MSE), psnr_<name>
    per reference, and masked_psnr when `mask` marks any pixel. `progress(done, total)` after each frame.
    """
    acc = PsnrAccumulator(info.bit_depth)
    ref_mse: dict[str, list[float]] = {name: [] for name in references}
    masked_se, masked_n = 0.0, 0
    times = [float(t) for t in range(len(frames))]
    decoded_frames = render_frames(decoded, times, info.width, info.height, device=device)
    ref_frames = {name: render_frames(m, times, info.width, info.height, device=device) for name, m in references.items()}
    for t, src_frame in enumerate(frames):
        out_yuv = rgb_to_yuv(next(decoded_frames), info)
        out_rgb = yuv_to_rgb(out_yuv, info)  # the RGB of the file a decoder writes (rounded to its format)
        acc.add(frame_errors(src_frame, out_yuv, info.bit_depth, rgb[t], out_rgb))
        for name, it in ref_frames.items():
            ref_mse[name].append(mse(next(it), rgb[t]))
        if mask is not None and mask[t].any():
            d = (out_rgb[mask[t]].astype(np.float64) - rgb[t][mask[t]]) ** 2
            masked_se += float(d.sum())
            masked_n += d.size
        if progress is not None:
            progress(t + 1, len(frames))
    s = acc.summary()
    out = {k: s[k] for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb")}
    for name, mses in ref_mse.items():
        out[f"psnr_{name}"] = psnr_from_mse(float(np.mean(mses)))
    if masked_n:
        out["masked_psnr"] = psnr_from_mse(masked_se / masked_n)
    return out


__all__ = ["measure_quality", "combine_quality"]


def combine_quality(parts: list[tuple[int, Mapping[str, float | None]]], bit_depth: int) -> dict[str, float | None]:
    """The clip's values from its segments' (frames, measure_quality result): each PSNR is that of
    the frame-weighted mean MSE (what one measurement over the whole clip gives); psnr_yuv is
    the 6:1:1 combination of the combined planes."""
    total = sum(n for n, _ in parts)
    peaks = {"psnr_y": peak_for_bit_depth(bit_depth), "psnr_u": peak_for_bit_depth(bit_depth),
             "psnr_v": peak_for_bit_depth(bit_depth)}
    out: dict[str, float | None] = {}
    for key in parts[0][1]:
        if key in ("psnr_yuv", "masked_psnr"):
            continue
        values = [q.get(key) for _, q in parts]
        if any(v is None for v in values):
            out[key] = None
            continue
        peak = peaks.get(key, 1.0)
        mean = sum(n * mse_from_psnr(v, peak) for (n, _), v in zip(parts, values)) / total
        out[key] = psnr_from_mse(mean, peak)
    out["psnr_yuv"] = combine_yuv(out.get("psnr_y"), out.get("psnr_u"), out.get("psnr_v"))
    return out
