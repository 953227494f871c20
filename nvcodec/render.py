"""Evaluate a fitted model on any grid of (x, y, t): frames at any size, rate and range.

Each output frame is rendered in fixed row tiles, so a frame's bytes do not depend on
which other frames are decoded (random access is bit-exact) and the peak memory is one
tile plus one frame, whatever the output size. A model without an alignment flow reads
the same latent at a point for every frame of a GOP, and its modulator outputs depend on
the latent only: `render_frames` then looks the grids up and runs the modulator once per
GOP and output size (when that fits in `FEATURE_CACHE_BYTES`) and reuses the result, the
same values bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

import numpy as np
import torch

from .errors import NvcodecError

#: points evaluated per network call; bounds peak memory (activations ~ points x width)
DEFAULT_TILE_POINTS = 1 << 15
#: largest per-GOP cache kept for reuse (`feature_bytes`); larger frames recompute it every frame
FEATURE_CACHE_BYTES = 256 << 20
#: most output frames one decode may produce (the container's own frame limit)
MAX_OUTPUT_FRAMES = 10_000_000


@dataclass(frozen=True)
class TimeGrid:
    """Output frame times in source-frame units, and the output frame rate."""

    times: tuple[float, ...]
    fps: Fraction


def output_times(
    source_frames: int,
    source_fps: Fraction,
    *,
    fps_mult: float | None = None,
    fps: Fraction | None = None,
    frame_range: tuple[int | None, int | None] | None = None,
) -> TimeGrid:
    """Times of the output frames: source frames A..B-1, resampled to the new rate.

    Output frame i of a rate multiplied by m sits at source time A + i/m, and there
    are round((B - A) m) of them, so the duration is preserved.
    """
    a, b = 0, source_frames
    if frame_range is not None:
        a = 0 if frame_range[0] is None else frame_range[0]
        b = source_frames if frame_range[1] is None else frame_range[1]
    if not (0 <= a < b <= source_frames):
        raise NvcodecError(f"frame range {a}:{b} is outside the video's 0:{source_frames}")
    if fps is not None:
        mult = Fraction(fps) / Fraction(source_fps)
        out_fps = Fraction(fps)
    else:
        mult = Fraction(fps_mult if fps_mult is not None else 1).limit_denominator(1 << 16)
        out_fps = Fraction(source_fps) * mult
    if mult <= 0:
        raise NvcodecError("the frame-rate multiplier must be positive")
    count = max(1, round((b - a) * mult))
    if count > MAX_OUTPUT_FRAMES:  # before building the list of times (a huge --fps must not hang us)
        raise NvcodecError(f"{count} output frames requested, over the limit of {MAX_OUTPUT_FRAMES}")
    last = source_frames - 1
    times = tuple(min(float(a + Fraction(i) / mult), float(last)) for i in range(count))
    return TimeGrid(times=times, fps=out_fps.limit_denominator(1 << 20))


def output_size(width: int, height: int, chroma: str, *, scale: float | None = None,
                size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Output frame size; with 4:2:0 (or 4:2:2 horizontally) rounded to even sizes."""
    if size is not None:
        w, h = size
    elif scale is not None:
        w, h = width * scale, height * scale
    else:
        return width, height
    even_w = chroma in ("420", "422")
    even_h = chroma == "420"
    w = max(2, round(w / 2) * 2) if even_w else max(1, round(w))
    h = max(2, round(h / 2) * 2) if even_h else max(1, round(h))
    if w > 16384 or h > 16384:
        raise NvcodecError(f"output size {w}x{h} is larger than the 16384x16384 limit")
    return int(w), int(h)


def _row_tiles(width: int, height: int, tile_points: int, device: torch.device) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(first row, end row, xy [1, rows * width, 2]) of each tile, pixel centres in [0, 1]."""
    rows_per_tile = max(1, tile_points // width)
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    for y0 in range(0, height, rows_per_tile):
        y1 = min(height, y0 + rows_per_tile)
        ys = (torch.arange(y0, y1, device=device, dtype=torch.float32) + 0.5) / height
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        yield y0, y1, torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)[None]


@dataclass(frozen=True)
class GopFeatures:
    """What a frame's pixels share with every other frame of its GOP (no alignment flow): the
    latent z [H * W, Z] without modulation, else the modulator outputs [H * W, D * M']."""

    z: torch.Tensor | None
    mods: torch.Tensor | None

    def rows(self, a: int, b: int) -> dict:
        return {"z": None if self.z is None else self.z[a:b], "mods": None if self.mods is None else self.mods[a:b]}


def feature_bytes(model: torch.nn.Module, width: int, height: int) -> int:
    """Memory `frame_features` takes at this output size."""
    spec = model.base.spec
    per_point = spec.depth * spec.mod_width if spec.modulated else int(model.config.latent_dim)
    return width * height * per_point * 4


@torch.no_grad()
def frame_features(model: torch.nn.Module, t: float, width: int, height: int, *,
                   device: torch.device | str = "cpu", tile_points: int = DEFAULT_TILE_POINTS) -> GopFeatures:
    """The per-GOP part of every output pixel at time t, tile by tile as `render_frame` evaluates them
    (so the reused values are the very ones a per-frame evaluation computes)."""
    device = torch.device(device)
    t_tensor = torch.tensor([t], dtype=torch.float32, device=device)
    zs, mods = [], []
    for _, _, xy in _row_tiles(width, height, tile_points, device):
        z = model.features(xy, t_tensor)
        m = model.modulations(z)
        if m is None:
            zs.append(z)
        else:
            mods.append(m)
    return GopFeatures(torch.cat(zs) if zs else None, torch.cat(mods) if mods else None)


@torch.no_grad()
def render_frame(model: torch.nn.Module, t: float, width: int, height: int, *,
                 device: torch.device | str = "cpu", tile_points: int = DEFAULT_TILE_POINTS,
                 features: GopFeatures | None = None) -> np.ndarray:
    """One frame as float32 RGB [H, W, 3], clamped to [0, 1]. features: `frame_features` of this
    frame's GOP (reused: no grid lookups, no modulator)."""
    device = torch.device(device)
    out = np.empty((height * width, 3), dtype=np.float32)
    t_tensor = torch.tensor([t], dtype=torch.float32, device=device)
    for y0, y1, xy in _row_tiles(width, height, tile_points, device):
        cached = {} if features is None else features.rows(y0 * width, y1 * width)
        rgb = torch.nan_to_num(model.forward_frames(xy, t_tensor, **cached)[0], nan=0.0).clamp_(0.0, 1.0)
        out[y0 * width:y1 * width] = rgb.float().cpu().numpy()
    return out.reshape(height, width, 3)


def render_frames(model: torch.nn.Module, times: tuple[float, ...] | list[float], width: int, height: int, *,
                  device: torch.device | str = "cpu", tile_points: int = DEFAULT_TILE_POINTS,
                  cache_bytes: int = FEATURE_CACHE_BYTES) -> Iterator[np.ndarray]:
    """Yield frames one at a time (bounded memory), reusing each GOP's latent when the model allows."""
    reuse = feature_bytes(model, width, height) <= cache_bytes
    key, features = None, None
    for t in times:
        k = model.feature_key(t) if reuse else None
        if k is None:
            features = None
        elif k != key:
            features = frame_features(model, t, width, height, device=device, tile_points=tile_points)
        key = k
        yield render_frame(model, t, width, height, device=device, tile_points=tile_points, features=features)
