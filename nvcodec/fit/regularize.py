"""Grids that are cheap to code: a differentiable proxy of what HEVC spends on them.

The grids are coded as pictures (`compress.grid_codec`: every level of every GOP a tile of a
mosaic, consecutive GOPs consecutive frames with inter prediction). What costs bits is detail
inside a picture and change from one GOP's grid to the next, so the proxy is the mean absolute
difference of neighbouring values in space (total variation per level) and, for the per-GOP
latent grids, between consecutive GOPs. `FitOptions.grid_smoothness` / `grid_steadiness`
weigh them against the reconstruction MSE.

While fitting on CPU the proxy and its gradient come from a C kernel (`nvcodec.native`, one
stencil pass per level: `_NativeCodingCost`); the torch expressions below define it and run
elsewhere.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .. import native


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


def _level_weights(latent: Sequence[Tensor], static: Sequence[Tensor], smoothness: float,
                   steadiness: float) -> list[tuple[float, float, float]]:
    """(y, x, t) weight of each |difference| of every level (latent, then static) in
    `coding_cost_proxy`: the means of `spatial_roughness` and `temporal_change` spelt out."""
    grids = [*latent, *static]
    rough = [g for g in grids if g.shape[2] > 1 or g.shape[3] > 1]
    changing = [g for g in latent if g.shape[0] > 1]
    out = []
    for i, g in enumerate(grids):
        n, c, h, w = (int(v) for v in g.shape)
        parts = (h > 1) + (w > 1)
        ay = smoothness / len(rough) / parts / (n * c * (h - 1) * w) if h > 1 else 0.0
        ax = smoothness / len(rough) / parts / (n * c * h * (w - 1)) if w > 1 else 0.0
        at = steadiness / len(changing) / ((n - 1) * c * h * w) if i < len(latent) and n > 1 else 0.0
        out.append((ay, ax, at))
    return out


def _native_ready(grids: Sequence[Tensor]) -> bool:
    """The C proxy applies to CPU float32 grids stored channels-last (rows of C contiguous floats)
    while a gradient is wanted."""
    return torch.is_grad_enabled() and all(
        g.device.type == "cpu" and g.dtype == torch.float32 and g.permute(0, 2, 3, 1).is_contiguous() for g in grids)


class _NativeCodingCost(torch.autograd.Function):
    """The proxy with its gradient computed in the forward, level by level in C, side by side on
    the kernels' threads (each level writes its own gradient); the backward only scales it."""

    @staticmethod
    def forward(ctx, fn, weights: list[tuple[float, float, float]], *grids: Tensor) -> Tensor:  # type: ignore[override]
        grads = [torch.empty(g.shape[0], g.shape[2], g.shape[3], g.shape[1], dtype=g.dtype) for g in grids]

        def level(i: int) -> float:
            g, (ay, ax, at) = grids[i], weights[i]
            n, c, h, w = g.shape
            return fn(n, h, w, c, g.permute(0, 2, 3, 1).data_ptr(), ay, ax, at, grads[i].data_ptr())

        total = sum(native.side_by_side(level, list(range(len(grids))), native.threads()))
        ctx.grads = [t.permute(0, 3, 1, 2) for t in grads]
        return grids[0].new_tensor(total)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        grads, ctx.grads = ctx.grads, None
        if not bool(grad == 1.0):  # the proxy is added to the loss as it is: no copy then
            grads = [g * grad for g in grads]
        return (None, None, *grads)


def coding_cost_proxy(latent: Sequence[Tensor], static: Sequence[Tensor], smoothness: float,
                      steadiness: float) -> Tensor:
    """smoothness x spatial roughness of every grid + steadiness x GOP-to-GOP change of the latent."""
    fn = native.coding_cost() if _native_ready([*latent, *static]) and (smoothness or steadiness) else None
    if fn is not None:
        return _NativeCodingCost.apply(fn, _level_weights(latent, static, smoothness, steadiness), *latent, *static)
    total = smoothness * spatial_roughness([*latent, *static]) if smoothness else latent[0].new_zeros(())
    if steadiness:
        total = total + steadiness * temporal_change(latent)
    return total


__all__ = ["spatial_roughness", "temporal_change", "coding_cost_proxy"]
