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
from dataclasses import dataclass
from typing import Any, Collection

import numpy as np
import torch

from ..defaults import DEFAULT_EVAL_METRICS, EVAL_METRICS
from ..errors import InputError
from ..progress import ProgressLine, bar
from ..video import RawSpec, VideoInfo, VideoReader, carries_own_geometry, open_video
from ..video.base import frame_span
from ..video.color import yuv_to_rgb
from .lpips import MIN_SIDE, Lpips, LpipsUnavailable, load_lpips, lpips_rgb
from .msssim import ms_ssim_rgb
from .psnr import FrameErrors, PsnrAccumulator, json_value, mse

METRICS = ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb", "msssim", "lpips")
CHOICES, DEFAULT_METRICS = EVAL_METRICS, DEFAULT_EVAL_METRICS  # nvcodec.defaults: the CLI shows them


PSNR_CONVENTION = (
    "PSNR of the mean MSE over frames; peak 2^bitdepth-1 (RGB: 1.0); psnr_yuv = (6Y+U+V)/8; "
    "null = infinite (identical)"
)


def parse_metrics(names: Collection[str]) -> frozenset[str]:
    unknown = [n for n in names if n not in CHOICES]
    if unknown:
        raise InputError(f"unknown metric {unknown[0]!r}: choose from {', '.join(CHOICES)}")
    return frozenset(names) | {"psnr"}


def evaluate_files(
    ref_path: str | os.PathLike,
    dist_path: str | os.PathLike,
    *,
    raw: RawSpec | None = None,
    metrics: Collection[str] = DEFAULT_METRICS,
    frame_range: tuple[int | None, int | None] | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Per-frame and mean psnr_y/u/v/yuv/rgb, msssim and lpips (those asked for) of `dist` against `ref`.

    `raw` describes whichever of the two files is headerless raw video; `frame_range` (A, B)
    compares frames A..B-1 of both. Returns a JSON-ready dict: the clip means at the top level,
    `frame_mean` (mean of per-frame PSNRs), `per_frame` (one dict per frame), `identical`,
    `lpips_unavailable_reason` and `yuv_unavailable_reason` (None when available).
    """
    wanted = parse_metrics(metrics)
    with _open(ref_path, raw) as ref, _open(dist_path, raw) as dist:
        _check_aligned(ref, dist, ref_path, dist_path)
        first, end = frame_span(len(ref), frame_range)
        planes = _comparable_planes(ref.info, dist.info)
        model, lpips_reason = _lpips_model("lpips" in wanted, ref.info, device)
        acc = PsnrAccumulator(ref.info.bit_depth)
        with ProgressLine("eval", enabled=progress) as line:
            frames = []
            for i in range(first, end):
                frames.append(_frame_metrics(ref, dist, i, planes, acc, "msssim" in wanted, model, device))
                line.update(f"{bar((i + 1 - first) / (end - first))} {i + 1 - first}/{end - first} frames",
                            force=i + 1 == end)
        ri = ref.info
        result: dict[str, Any] = {
            "ref": str(ref_path),
            "dist": str(dist_path),
            "width": ri.width,
            "height": ri.height,
            "frames": len(frames),
            "first_frame": first,
            "bit_depth": ri.bit_depth,
            "chroma": ri.chroma,
        }
        result.update(_clip_summary(acc, frames))
        result["lpips_unavailable_reason"] = lpips_reason
        result["yuv_unavailable_reason"] = planes.reason
        result["psnr_convention"] = PSNR_CONVENTION
        result["per_frame"] = [
            {"frame": i, **{k: json_value(f[k]) for k in METRICS}, "identical": f["identical"]}
            for i, f in enumerate(frames, first)
        ]
        return result


def _open(path: str | os.PathLike, raw: RawSpec | None) -> VideoReader:
    """`raw` is for the headerless one of the two: a file with its own geometry ignores it."""
    return open_video(path, None if raw is not None and carries_own_geometry(path) else raw)


def _check_aligned(ref: VideoReader, dist: VideoReader, ref_path: Any, dist_path: Any) -> None:
    """Two clips are comparable frame by frame only with the same frame size and count."""
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


@dataclass(frozen=True)
class _ComparablePlanes:
    """Which plane PSNRs the two sample layouts allow, and why not the others."""

    luma: bool  # same bit depth
    chroma: bool  # same bit depth and chroma format, not mono
    reason: str | None


def _comparable_planes(ri: VideoInfo, di: VideoInfo) -> _ComparablePlanes:
    same_depth = ri.bit_depth == di.bit_depth
    same_chroma = same_depth and ri.chroma == di.chroma
    reason = None
    if not same_depth:
        reason = f"bit depths differ ({ri.bit_depth} vs {di.bit_depth})"
    elif not same_chroma:
        reason = f"chroma formats differ ({ri.chroma} vs {di.chroma}); only Y is compared"
    return _ComparablePlanes(same_depth, same_chroma and ri.chroma != "mono", reason)


def _lpips_model(enabled: bool, info: VideoInfo, device: str) -> tuple[Lpips | None, str | None]:
    """The LPIPS network, or None and the reason it is not computed."""
    if not enabled:
        return None, "not asked for (--metrics psnr,msssim,lpips)"
    if min(info.width, info.height) < MIN_SIDE:
        return None, f"frames smaller than {MIN_SIDE}x{MIN_SIDE} are too small for LPIPS (AlexNet)"
    loaded = load_lpips(device=device)
    if isinstance(loaded, LpipsUnavailable):
        return None, loaded.reason
    return loaded, None


def _frame_metrics(
    ref: VideoReader,
    dist: VideoReader,
    i: int,
    planes: _ComparablePlanes,
    acc: PsnrAccumulator,
    with_msssim: bool,
    model: Lpips | None,
    device: str,
) -> dict[str, Any]:
    """Frame i's METRICS (PSNRs may be inf) and `identical`; its errors go into `acc`."""
    fr, fd = ref.read(i), dist.read(i)
    rr, dr = yuv_to_rgb(fr, ref.info), yuv_to_rgb(fd, dist.info)
    errors = FrameErrors(
        mse_y=mse(fr.planes[0], fd.planes[0]) if planes.luma else None,
        mse_u=mse(fr.planes[1], fd.planes[1]) if planes.chroma else None,
        mse_v=mse(fr.planes[2], fd.planes[2]) if planes.chroma else None,
        mse_rgb=mse(rr, dr),
        bit_depth=ref.info.bit_depth,
    )
    values: dict[str, Any] = dict(acc.add(errors))
    rt = torch.from_numpy(rr).permute(2, 0, 1).unsqueeze(0).to(device)
    dt = torch.from_numpy(dr).permute(2, 0, 1).unsqueeze(0).to(device)
    values["msssim"] = float(ms_ssim_rgb(rt, dt)[0]) if with_msssim else None
    values["lpips"] = None if model is None else float(lpips_rgb(model, rt, dt)[0])
    values["identical"] = errors.identical
    return values


def _clip_summary(acc: PsnrAccumulator, frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The clip values (JSON-safe): PSNRs of the mean MSE, mean MS-SSIM and LPIPS, frame_mean, identical."""
    summary = acc.summary()
    out: dict[str, Any] = {k: json_value(summary[k]) for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb")}
    for k in ("msssim", "lpips"):  # None: not asked for (or LPIPS unavailable)
        values = [f[k] for f in frames]
        out[k] = None if None in values else float(np.mean(values))
    out["frame_mean"] = {k: json_value(v) for k, v in summary["frame_mean"].items()}
    out["identical"] = summary["identical"]
    return out


__all__ = ["evaluate_files", "METRICS", "CHOICES", "DEFAULT_METRICS", "parse_metrics"]
