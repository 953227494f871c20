"""Grids that are cheap to code: a differentiable proxy of what HEVC spends on them.

The grids are coded as pictures (`compress.grid_codec`: every level of every GOP a tile of a
mosaic, consecutive GOPs consecutive frames with inter prediction). What costs bits is detail
inside a picture and change from one GOP's grid to the next, so the proxy is the mean absolute
difference of neighbouring values in space (total variation per level) and, for the per-GOP
latent grids, between consecutive GOPs. `FitOptions.grid_smoothness` / `grid_steadiness`
weigh them against the reconstruction MSE.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def spatial_roughness(grids: Sequence[Tensor]) -> Tensor:
    """Mean over levels of the mean |difference| of horizontally and vertically adjacent values."""
    terms = []
    for g in grids:
        parts = []
        if g.shape[2] > 1:
            parts.append((g[:, :, 1:] - g[:, :, :-1]).abs().mean())
        if g.shape[3] > 1:
            parts.append((g[:, :, :, 1:] - g[:, :, :, :-1]).abs().mean())
        if parts:
            terms.append(sum(parts) / len(parts))
    return torch.stack(terms).mean() if terms else grids[0].new_zeros(())


def temporal_change(grids: Sequence[Tensor]) -> Tensor:
    """Mean over levels of the mean |difference| between the grids of consecutive GOPs."""
    terms = [(g[1:] - g[:-1]).abs().mean() for g in grids if g.shape[0] > 1]
    return torch.stack(terms).mean() if terms else grids[0].new_zeros(())


def coding_cost_proxy(latent: Sequence[Tensor], static: Sequence[Tensor], smoothness: float,
                      steadiness: float) -> Tensor:
    """smoothness x spatial roughness of every grid + steadiness x GOP-to-GOP change of the latent."""
    total = smoothness * spatial_roughness([*latent, *static]) if smoothness else latent[0].new_zeros(())
    if steadiness:
        total = total + steadiness * temporal_change(latent)
    return total


__all__ = ["spatial_roughness", "temporal_change", "coding_cost_proxy"]
