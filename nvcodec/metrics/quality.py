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
                    frames: list[Frame], mask: np.ndarray | None = None, device: torch.device | str = "cpu",
                    progress: Callable[[int, int], None] | None = None) -> dict[str, float | None]:
    """PSNR of the decoded model's output as the decoder writes it (YUV at the source's format),
    and the RGB PSNR (`psnr_<name>`) of each model of `references` (the stages before the file).

    Keys: psnr_y/u/v/yuv/rgb (the decoded file; clip values from the mean MSE), psnr_<name>
    per reference, and masked_psnr when `mask` marks any pixel. One model is rendered at a time
    and the source's RGB is made a frame at a time, so memory holds one renderer's caches, not
    three. `progress(done, total)` after each rendered frame of every model.
    """
    total = len(frames) * (1 + len(references))
    told = (lambda done: progress(done, total)) if progress is not None else (lambda done: None)
    out = _decoded_quality(decoded, info, frames, mask, device, told)
    for k, (name, model) in enumerate(references.items(), 1):
        out[f"psnr_{name}"] = _rgb_psnr(model, info, frames, device, lambda i, k=k: told(k * len(frames) + i))
    return out


def _decoded_quality(decoded: torch.nn.Module, info: VideoInfo, frames: list[Frame], mask: np.ndarray | None,
                     device: torch.device | str, told: Callable[[int], None]) -> dict[str, float | None]:
    acc = PsnrAccumulator(info.bit_depth)
    masked_se, masked_n = 0.0, 0
    rendered = render_frames(decoded, [float(t) for t in range(len(frames))], info.width, info.height, device=device)
    for t, src_frame in enumerate(frames):
        src_rgb = yuv_to_rgb(src_frame, info)
        out_yuv = rgb_to_yuv(next(rendered), info)
        out_rgb = yuv_to_rgb(out_yuv, info)  # the RGB of the file a decoder writes (rounded to its format)
        acc.add(frame_errors(src_frame, out_yuv, info.bit_depth, src_rgb, out_rgb))
        if mask is not None and mask[t].any():
            d = (out_rgb[mask[t]].astype(np.float64) - src_rgb[mask[t]]) ** 2
            masked_se += float(d.sum())
            masked_n += d.size
        told(t + 1)
    s = acc.summary()
    out = {k: s[k] for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb")}
    if masked_n:
        out["masked_psnr"] = psnr_from_mse(masked_se / masked_n)
    return out


def _rgb_psnr(model: torch.nn.Module, info: VideoInfo, frames: list[Frame], device: torch.device | str,
              told: Callable[[int], None]) -> float | None:
    """RGB PSNR of a model's float output (no rounding to the source's format)."""
    rendered = render_frames(model, [float(t) for t in range(len(frames))], info.width, info.height, device=device)
    mses = []
    for t, src_frame in enumerate(frames):
        mses.append(mse(next(rendered), yuv_to_rgb(src_frame, info)))
        told(t + 1)
    return psnr_from_mse(float(np.mean(mses)))


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
