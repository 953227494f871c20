"""Evaluate a fitted model on any grid of (x, y, t): frames at any size, rate and range.

Each output frame is rendered in fixed row tiles in two steps: the time-free terms of the
tile's points (`NVTM.lattice_terms`: grid lookups, modulator, first-layer factors), then the
per-frame synthesis (`NVTM.synthesize`). A frame's bytes do not depend on which other frames
are decoded (random access is bit-exact) and the peak memory is one tile plus one frame. A
model without an alignment flow has the same time-free terms for every frame of a GOP:
`render_frames` then computes them once per GOP and output size (when they fit in
`FEATURE_CACHE_BYTES`) and reuses them, the same values bit for bit.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

import numpy as np
import torch

from .errors import NvcodecError
from .model import siren

#: points evaluated per network call; bounds peak memory (activations ~ points x width)
DEFAULT_TILE_POINTS = 1 << 15
#: largest per-GOP cache kept for reuse (`feature_bytes`); larger frames recompute it every frame
FEATURE_CACHE_BYTES = 512 << 20
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


def _row_tiles(width: int, height: int, tile_points: int,
               device: torch.device) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """(first row, end row, xs [width], ys [rows]) of each tile: pixel centres in [0, 1]."""
    rows_per_tile = max(1, tile_points // width)
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    for y0 in range(0, height, rows_per_tile):
        y1 = min(height, y0 + rows_per_tile)
        yield y0, y1, xs, (torch.arange(y0, y1, device=device, dtype=torch.float32) + 0.5) / height


def feature_bytes(model: torch.nn.Module, width: int, height: int) -> int:
    """Memory `frame_features` takes at this output size."""
    return spec_feature_bytes(model.base.spec, width, height)


def spec_feature_bytes(spec: siren.SirenSpec, width: int, height: int) -> int:
    return width * height * siren.terms_floats_per_point(spec) * 4


def frame_features(model: torch.nn.Module, t: float, width: int, height: int, *,
                   device: torch.device | str = "cpu", tile_points: int = DEFAULT_TILE_POINTS,
                   pool: ThreadPoolExecutor | None = None) -> list[siren.PointTerms]:
    """The time-free terms of every output tile at time t (reusable for the frames of t's GOP
    without an alignment flow); `pool`: the tiles side by side."""
    tiles = [(xs, ys) for _, _, xs, ys in _row_tiles(width, height, tile_points, torch.device(device))]
    if pool is None:
        return [model.lattice_terms(xs, ys, t) for xs, ys in tiles]
    return list(pool.map(lambda tile: model.lattice_terms(tile[0], tile[1], t), tiles))


@torch.no_grad()
def render_frame(model: torch.nn.Module, t: float, width: int, height: int, *,
                 device: torch.device | str = "cpu", tile_points: int = DEFAULT_TILE_POINTS,
                 features: list[siren.PointTerms] | None = None) -> np.ndarray:
    """One frame as float32 RGB [H, W, 3], clamped to [0, 1]. features: `frame_features` of this
    frame's GOP (reused: no grid lookups, no modulator)."""
    device = torch.device(device)
    out = np.empty((height * width, 3), dtype=np.float32)
    for i, (y0, y1, xs, ys) in enumerate(_row_tiles(width, height, tile_points, device)):
        terms = model.lattice_terms(xs, ys, t) if features is None else features[i]
        rgb = torch.nan_to_num(model.synthesize(terms, t), nan=0.0).clamp_(0.0, 1.0)
        out[y0 * width:y1 * width] = rgb.float().cpu().numpy()
    return out.reshape(height, width, 3)


def render_frames(model: torch.nn.Module, times: tuple[float, ...] | list[float], width: int, height: int, *,
                  device: torch.device | str = "cpu", tile_points: int = DEFAULT_TILE_POINTS,
                  cache_bytes: int = FEATURE_CACHE_BYTES, workers: int | None = None) -> Iterator[np.ndarray]:
    """Yield frames in order (bounded memory), reusing each GOP's time-free terms when the model allows.

    On the CPU, `workers` frames (default: torch's thread count) are rendered side by side, each
    with one torch thread: the decoder's operations are small, and splitting each of them across
    cores gained 1.36x on two cores where whole frames side by side gain ~1.5x. Each frame's
    arithmetic is the same whatever the worker count (one thread per operation), so the bytes do
    not depend on it. On the CPU torch's thread count is 1 while the generator runs, restored after.
    """
    device = torch.device(device)
    cpu = device.type == "cpu"
    reuse = feature_bytes(model, width, height) <= cache_bytes
    with _ONE_THREAD_PER_OP.held(cpu) as threads:
        workers = max(1, threads if workers is None else workers) if cpu else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            key, features = None, None
            pending: deque[Future] = deque()
            for t in times:
                k = model.feature_key(t) if reuse else None
                if k is None:
                    features = None
                elif k != key:
                    while pending:  # one GOP's terms in memory at a time
                        yield pending.popleft().result()
                    features = frame_features(model, t, width, height, device=device, tile_points=tile_points,
                                              pool=pool)
                key = k
                pending.append(pool.submit(render_frame, model, t, width, height, device=device,
                                           tile_points=tile_points, features=features))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


class _OneThreadPerOp:
    """torch's intra-op thread count held at 1 while any renderer runs on the CPU. Renderers may
    interleave (the encoder renders the decoded and the fitted model in step) and end in any
    order, so the count is saved by the first to start and restored by the last to end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 1

    @contextlib.contextmanager
    def held(self, active: bool = True) -> Iterator[int]:
        """Yields the thread count from before the first holder (the caller's cores)."""
        if not active:
            yield torch.get_num_threads()
            return
        with self._lock:
            if self._users == 0:
                self._saved = torch.get_num_threads()
                torch.set_num_threads(1)
            self._users += 1
            saved = self._saved
        try:
            yield saved
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    torch.set_num_threads(self._saved)


_ONE_THREAD_PER_OP = _OneThreadPerOp()

