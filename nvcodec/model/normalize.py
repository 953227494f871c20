"""Normalisation of aligned coordinates into the latent grid's [0, 1] (paper Eq. 5).

Adaptive normalisation, defined precisely (the paper only says "the largest area
with a pixel density higher than r_th"): per latent grid and per axis, take the
aligned coordinates of a pixel subsample of every frame that looks the grid up,
histogram them with `bins` bins per unit length on a lattice anchored at 0, and
call a bin *dense* when it holds at least r_th times the count a uniform spread of
the same samples over [0, 1] would put in it (r_th * n / bins). The bounds are the
outer edges of the longest contiguous run of dense bins (ties: the run with more
samples). To keep sampling noise from splitting a dense region, the counts are
smoothed with a [1, 2, 1] / 4 kernel and the bin count is reduced to
floor(sqrt(n) / 2) when there are few samples. Without motion the coordinates fill [0, 1] uniformly and the bounds are
exactly [0, 1]; under a pan, the strip that fewer than r_th of the frames reach is
clipped instead of stretching the grid.

"minmax" uses the sample's min and max, "clip" always [0, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor

_LO, _HI = -4.0, 5.0  # coordinates further out than this are clamped before binning


def adaptive_bounds_1d(x: Tensor, r_th: float, bins: int) -> tuple[float, float]:
    """Bounds [lo, hi] of the dense region of 1-D samples `x` (see module doc)."""
    x = x.detach().float().flatten()
    x = x[torch.isfinite(x)]
    if x.numel() == 0:
        return 0.0, 1.0
    x = x.clamp(_LO, _HI)
    bins = max(2, min(bins, int(x.numel() ** 0.5 / 2)))
    start = int(torch.floor(x.min() * bins).item())
    stop = int(torch.floor(x.max() * bins).item()) + 1
    idx = (torch.floor(x * bins).long() - start).clamp_(0, stop - start - 1)
    counts = torch.bincount(idx, minlength=stop - start).cpu().double()
    padded = torch.cat([counts[:1], counts, counts[-1:]])
    smooth = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    dense = (smooth >= r_th * x.numel() / bins).tolist()
    best = (0, 0, -1)  # (length, count, start index)
    i = 0
    cl = smooth.tolist()
    while i < len(dense):
        if not dense[i]:
            i += 1
            continue
        j = i
        total = 0
        while j < len(dense) and dense[j]:
            total += cl[j]
            j += 1
        if (j - i, total) > best[:2]:
            best = (j - i, total, i)
        i = j
    if best[2] < 0:
        lo, hi = float(x.min()), float(x.max())
        if hi - lo < 1.0 / bins:
            mid = 0.5 * (lo + hi)
            lo, hi = mid - 0.5 / bins, mid + 0.5 / bins
        return lo, hi
    lo = (start + best[2]) / bins
    hi = (start + best[2] + best[0]) / bins
    return lo, hi


def compute_bounds(x: Tensor, y: Tensor, mode: str, r_th: float, bins: int) -> list[float]:
    """[x_min, y_min, x_max, y_max] for one grid from its aligned coordinates."""
    if mode == "clip" or x.numel() == 0:
        return [0.0, 0.0, 1.0, 1.0]
    if mode == "minmax":
        x0, x1 = float(x.min()), float(x.max())
        y0, y1 = float(y.min()), float(y.max())
        eps = 1.0 / bins
        if x1 - x0 < eps:
            x0, x1 = x0 - eps / 2, x1 + eps / 2
        if y1 - y0 < eps:
            y0, y1 = y0 - eps / 2, y1 + eps / 2
        return [x0, y0, x1, y1]
    if mode == "adaptive":
        x0, x1 = adaptive_bounds_1d(x, r_th, bins)
        y0, y1 = adaptive_bounds_1d(y, r_th, bins)
        return [x0, y0, x1, y1]
    raise ValueError(f"unknown normalisation {mode!r}")


def normalize(coords: Tensor, bounds: Tensor) -> Tensor:
    """Eq. 5: (c - min) / (max - min), clipped to [0, 1]. coords [..., 2], bounds [..., 4].

    A NaN (only a degenerate or hostile file can produce one) becomes 0, so that grid
    indices are always valid.
    """
    return normalize_axis(coords, bounds[..., 0:2], bounds[..., 2:4])


def normalize_axis(c: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """`normalize` along one axis (or elementwise): the same operations, so the same values."""
    return torch.nan_to_num((c - lo) / (hi - lo), nan=0.0).clamp(0.0, 1.0)
