"""The latent of a fitting step's points, for a model without an alignment flow, in one C call.

`NVTM.gop_features` defines it with torch ops: per neighbour the pixel's coordinates normalised
by its grid's bounds and a lookup of the latent levels, then a lookup of the static levels. On
the dense engine's step at 720p that was ~40 small torch ops and two lookup calls, ~2.3 ms of
glue around ~1 ms of lookups (one thread). Here the coordinates, both families' lookups and
their gradient are one C call each way (`native/grid_lookup.c`, nvc_point_features), with the
same float steps, so the same values and gradients (tests/model/test_point_features.py).
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import torch
from torch import Tensor

from .. import native
from .grids import _flat


def _applies(pix: Tensor, bounds: Tensor, tables: Sequence[Tensor]) -> bool:
    """Fitting (autograd on: outside a fit, as in `grids.grid_lookup`, the torch path runs), CPU
    float32, channels-last tables of one channel count."""
    if not torch.is_grad_enabled():
        return False
    if pix.device.type != "cpu" or bounds.dtype != torch.float32 or bounds.device.type != "cpu":
        return False
    c = tables[0].shape[1]
    return all(t.dtype == torch.float32 and t.device.type == "cpu" and t.shape[1] == c and _flat(t).is_contiguous()
               for t in tables)


def native_gop_features(pix: Tensor, gop: Tensor, neighbors: Sequence[int], bounds: Tensor, size: tuple[int, int],
                        latent: Sequence[Tensor], static: Sequence[Tensor]) -> Tensor | None:
    """`NVTM.gop_features` in C (pix, gop [P] int64; bounds [grids, 4]; size (W, H)), or None where
    it does not apply (the caller then runs the torch ops)."""
    tables = [*latent, *static]
    if not latent or pix.numel() == 0 or not _applies(pix, bounds, tables):
        return None
    lo, hi = int(gop.min()) + min(neighbors), int(gop.max()) + max(neighbors)
    if lo < 0 or hi >= min(latent[0].shape[0], bounds.shape[0]):  # the C code reads those rows unchecked
        raise IndexError(f"GOP grids {lo}..{hi} outside the model's {latent[0].shape[0]}")
    kernels = native.point_features()
    if kernels is None:
        return None
    args = (kernels, pix.to(torch.int64).contiguous(), gop.to(torch.int64).contiguous(),
            tuple(int(n) for n in neighbors), bounds.contiguous(), size, len(latent))
    if any(t.requires_grad for t in tables):
        return _NativePointFeatures.apply(*args, *tables)
    # a fit whose grids do not learn (the fine-tuning on the file's grids): the forward alone
    # (through the torch ops, that phase's steps took ~40 % longer at 720p)
    return _lookup(*args, tables)[0]


def _lookup(kernels, pix: Tensor, gop: Tensor, neighbors: tuple[int, ...], bounds: Tensor, size: tuple[int, int],
            nlat: int, tables: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(z, the points' normalised coordinates per neighbour, their grid rows, the tables' dims)
    from one C call."""
    p, nn, c = pix.shape[0], len(neighbors), tables[0].shape[1]
    nstat = len(tables) - nlat
    dims = torch.tensor([[t.shape[0], t.shape[2], t.shape[3]] for t in tables], dtype=torch.int64)
    nb = torch.tensor(neighbors, dtype=torch.int64)
    ptrs = (ctypes.c_void_p * len(tables))(*[_flat(t).data_ptr() for t in tables])
    coords = bounds.new_empty((nn + 1) * p, 2)
    gidx = torch.empty(nn * p, dtype=torch.int64)
    z = bounds.new_empty(p, (nn * nlat + nstat) * c)
    w, h = size
    # on this thread: split over two threads (each reading every table into its own core's
    # cache), the dense step ran at 0.87-0.90x a one-thread forward (CIF and 720p, 2 threads)
    kernels[0](p, pix.data_ptr(), gop.data_ptr(), w, h, nn, nb.data_ptr(), bounds.data_ptr(), nlat, nstat, c,
               dims.data_ptr(), ptrs, coords.data_ptr(), gidx.data_ptr(), z.data_ptr())
    return z, coords, gidx, dims


class _NativePointFeatures(torch.autograd.Function):
    """z [P, Z] of `native_gop_features`: the forward in one call, the gradient level by level side
    by side on the kernels' threads (each level adds into its own table)."""

    @staticmethod
    def forward(ctx, kernels, pix: Tensor, gop: Tensor, neighbors: tuple[int, ...],  # type: ignore[override]
                bounds: Tensor, size: tuple[int, int], nlat: int, *tables: Tensor) -> Tensor:
        z, coords, gidx, dims = _lookup(kernels, pix, gop, neighbors, bounds, size, nlat, tables)
        nn = len(neighbors)
        ctx.kernels, ctx.dims = kernels, dims
        ctx.counts = (pix.shape[0], nn, nlat, len(tables) - nlat, tables[0].shape[1])
        ctx.shapes = [tuple(t.shape) for t in tables]
        ctx.save_for_backward(coords, gidx)
        return z

    @staticmethod
    def backward(ctx, dz: Tensor):  # type: ignore[override]
        coords, gidx = ctx.saved_tensors
        p, nn, nlat, nstat, c = ctx.counts
        dz = dz.contiguous()
        grads: list[Tensor | None] = []
        for i, (n, ch, h, w) in enumerate(ctx.shapes):
            grads.append(torch.empty(n, h, w, ch, dtype=dz.dtype) if ctx.needs_input_grad[7 + i] else None)
        ptrs = (ctypes.c_void_p * len(grads))(*[0 if g is None else g.data_ptr() for g in grads])

        def level(i: int) -> None:
            if grads[i] is not None:
                grads[i].zero_()  # in the thread that adds into it, while it is in that core's cache
                ctx.kernels[1](p, i, i + 1, nn, nlat, nstat, c, coords.data_ptr(), gidx.data_ptr(),
                               ctx.dims.data_ptr(), dz.data_ptr(), ptrs)

        native.side_by_side(level, list(range(len(grads))), native.threads())
        nchw = [None if g is None else g.permute(0, 3, 1, 2) for g in grads]  # channels-last, as the tables
        return (None, None, None, None, None, None, None, *nchw)


__all__ = ["native_gop_features"]
