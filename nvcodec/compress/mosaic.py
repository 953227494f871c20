"""The grid mosaic: every level and channel of one kind of grid tiled into one 8-bit canvas.

The grids of one kind (every level, every channel) are tiled into one monochrome canvas per
latent grid index n, so that HEVC can code the N canvases as N frames (`hevc`). The layout is
a pure function of the grid shapes, which the decoder knows from the model configuration, so
it is never stored; it is normative (``bitstream_spec/NVC.md``, "Grid payload").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

ALIGN = 8  # tile slots and canvas dimensions are multiples of this (HEVC min CU)
MIN_CANVAS = 128  # >= 2 CTUs of 64: x265 refuses sub-CTU frames, lossless breaks at width == CTU
MAX_CANVAS = 16384  # largest canvas side either side accepts

Shape = tuple[int, int, int, int]  # [N, C, H, W]
Slot = tuple[int, int, int, int]  # (slot height, slot width, level, channel)

__all__ = [
    "ALIGN",
    "Layout",
    "MAX_CANVAS",
    "MIN_CANVAS",
    "Placement",
    "canvas_pixels",
    "mosaic_layout",
    "pack_levels",
    "unpack_levels",
]


@dataclass(frozen=True)
class Placement:
    """Where the plane (level, channel) lies: tile at (x, y), slot of slot_w x slot_h."""

    level: int
    channel: int
    x: int
    y: int
    height: int
    width: int
    slot_h: int
    slot_w: int


@dataclass(frozen=True)
class Layout:
    """A canvas of width x height holding every tile; shelves are (y, height, used width)."""

    width: int
    height: int
    placements: tuple[Placement, ...]
    shelves: tuple[tuple[int, int, int], ...]


def _ceil_to(v: int, m: int) -> int:
    return -(-v // m) * m


def _shelf_pack(slots: list[Slot], width: int) -> tuple[int, list[tuple[int, int]], list[list[int]]]:
    """Place sorted (h, w, level, channel) slots left to right in shelves of the given width."""
    x = y = shelf_h = 0
    pos: list[tuple[int, int]] = []
    shelves: list[list[int]] = []
    for h, w, _, _ in slots:
        if shelves and x + w > width:
            y += shelf_h
            x = shelf_h = 0
        if x == 0:
            shelves.append([y, h, 0])
            shelf_h = h
        pos.append((x, y))
        x += w
        shelves[-1][2] = x
    return y + shelf_h, pos, shelves


@functools.lru_cache(maxsize=64)
def _layout_cached(shapes: tuple[Shape, ...]) -> Layout:
    slots = []
    for lvl, (_, c, h, w) in enumerate(shapes):
        for ch in range(c):
            slots.append((_ceil_to(h, ALIGN), _ceil_to(w, ALIGN), lvl, ch))
    # tallest first, then widest, then (level, channel): a total order, hence deterministic
    slots.sort(key=lambda s: (-s[0], -s[1], s[2], s[3]))
    w_min = max(MIN_CANVAS, max(s[1] for s in slots))
    w_max = max(w_min, min(sum(s[1] for s in slots), MAX_CANVAS))
    best: tuple[int, int] | None = None  # (area, width)
    for width in range(w_min, w_max + 1, ALIGN):
        used_h, _, _ = _shelf_pack(slots, width)
        area = max(used_h, MIN_CANVAS) * width
        if best is None or area < best[0]:
            best = (area, width)
    assert best is not None
    width = best[1]
    used_h, pos, shelves = _shelf_pack(slots, width)
    height = max(used_h, MIN_CANVAS)
    if height > MAX_CANVAS:
        raise ValueError(f"grid mosaic of {width}x{height} exceeds the {MAX_CANVAS} limit")
    placements = []
    for (sh, sw, lvl, ch), (x, y) in zip(slots, pos):
        _, _, h, w = shapes[lvl]
        placements.append(Placement(lvl, ch, x, y, h, w, sh, sw))
    placements.sort(key=lambda p: (p.level, p.channel))
    return Layout(width, height, tuple(placements), tuple((s[0], s[1], s[2]) for s in shelves))


def _check_shapes(shapes: Sequence[Sequence[int]]) -> tuple[Shape, ...]:
    if not shapes:
        raise ValueError("at least one grid level is required")
    out = []
    for s in shapes:
        if len(s) != 4 or any(int(v) < 1 for v in s):
            raise ValueError(f"grid shape must be 4 positive ints [N, C, H, W], got {tuple(s)}")
        out.append(tuple(int(v) for v in s))
    if len({s[0] for s in out}) != 1:
        raise ValueError(f"all levels must have the same N, got {[s[0] for s in out]}")
    if any(s[2] > MAX_CANVAS or s[3] > MAX_CANVAS for s in out):
        raise ValueError(f"grid planes larger than {MAX_CANVAS} are not supported")
    return tuple(out)  # type: ignore[return-value]


def mosaic_layout(shapes: Sequence[Sequence[int]]) -> Layout:
    """The canvas layout for grids of these [N, C, H, W] shapes (a pure function of them)."""
    return _layout_cached(_check_shapes(shapes))


def pack_levels(levels: Sequence[np.ndarray]) -> np.ndarray:
    """Tile uint8 grids [N, C, H_l, W_l] into N canvases [N, Hc, Wc] (padding by edge replication)."""
    for i, lv in enumerate(levels):
        if not isinstance(lv, np.ndarray) or lv.dtype != np.uint8 or lv.ndim != 4:
            raise ValueError(f"level {i} must be a uint8 array [N, C, H, W]")
    lay = mosaic_layout([lv.shape for lv in levels])
    n = levels[0].shape[0]
    canv = np.empty((n, lay.height, lay.width), dtype=np.uint8)
    for p in lay.placements:
        tile = levels[p.level][:, p.channel]
        pad = ((0, 0), (0, p.slot_h - p.height), (0, p.slot_w - p.width))
        canv[:, p.y : p.y + p.slot_h, p.x : p.x + p.slot_w] = np.pad(tile, pad, mode="edge")
    # fill what no slot covers (informative: the decoder ignores it) by edge replication
    for p in lay.placements:
        y0 = p.y + p.slot_h
        shelf = next(s for s in lay.shelves if s[0] == p.y)
        if y0 < p.y + shelf[1]:
            canv[:, y0 : p.y + shelf[1], p.x : p.x + p.slot_w] = canv[:, y0 - 1 : y0, p.x : p.x + p.slot_w]
    for y, h, used in lay.shelves:
        if used < lay.width:
            canv[:, y : y + h, used:] = canv[:, y : y + h, used - 1 : used]
    last = lay.shelves[-1][0] + lay.shelves[-1][1]
    if last < lay.height:
        canv[:, last:, :] = canv[:, last - 1 : last, :]
    return canv


def unpack_levels(canvases: np.ndarray, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Inverse of pack_levels: cut the tiles of the given shapes out of [N, Hc, Wc] canvases."""
    lay = mosaic_layout(shapes)
    shp = _check_shapes(shapes)
    n = shp[0][0]
    if canvases.shape != (n, lay.height, lay.width):
        raise ValueError(f"canvases shaped {canvases.shape}, layout expects {(n, lay.height, lay.width)}")
    out = [np.empty(s, dtype=np.uint8) for s in shp]
    for p in lay.placements:
        out[p.level][:, p.channel] = canvases[:, p.y : p.y + p.height, p.x : p.x + p.width]
    return out


def canvas_pixels(shapes: Sequence[Sequence[int]]) -> int:
    """Pixels per canvas for these shapes (for rate estimates)."""
    lay = mosaic_layout(shapes)
    return lay.width * lay.height
