"""Multi-resolution 2-D feature grids and a fast batched bilinear lookup.

Grids are stored as [N, C, H, W] tensors in *channels-last* memory, so that the
cell (n, y, x) is one contiguous row of C floats: a lookup is then a row gather
(`embedding_bag` with the four bilinear weights fuses gather and weighted sum)
and its gradient a row scatter (`index_add_`). On CPU this is 3-10x faster than
`grid_sample` forward+backward (measured on this project's 2-core machine), and
it works unchanged on CUDA.

Sampling convention (= `grid_sample(align_corners=False, padding_mode="border")`):
a normalised coordinate c in [0, 1] maps to the continuous cell position
c * res - 0.5, clamped to [0, res - 1]; node centres sit at (j + 0.5) / res, so a
level whose resolution equals the frame size has one node per pixel centre.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import native


def new_grid(count: int, features: int, res: tuple[int, int], init_range: float,
             generator: torch.Generator | None = None) -> Tensor:
    """A [count, features, res_y, res_x] channels-last tensor, U(-r, r) initialised."""
    rx, ry = res
    g = torch.empty(count, features, ry, rx, memory_format=torch.channels_last)
    return g.uniform_(-init_range, init_range, generator=generator)


def _flat(table: Tensor) -> Tensor:
    """[N, C, H, W] -> [N*H*W, C] rows (a view for channels-last tables)."""
    n, c, h, w = table.shape
    return table.permute(0, 2, 3, 1).reshape(n * h * w, c)


class _BilinearLookup(torch.autograd.Function):
    """out[:, l*C:(l+1)*C] = bilinear sample of table l at coords (all levels at once).

    Everything (cell indices, weights, and the gradients) is computed here without
    autograd bookkeeping: the forward gathers rows with `embedding_bag` (weighted
    sum of the four corners fused), the backward scatters into the tables with
    `index_add_` (serial, hence deterministic, on CPU) and, when the coordinates
    need a gradient, re-gathers the corners to differentiate the weights.
    """

    @staticmethod
    def forward(ctx, coords: Tensor, grid_index: Tensor | None, *tables: Tensor) -> Tensor:  # type: ignore[override]
        # Planar [2, L, S] arrays (axis, level, sample): every elementwise op runs
        # along the long contiguous sample axis (broadcasts over tiny trailing dims
        # are several times slower on CPU).
        dev = coords.device
        levels = len(tables)
        s = coords.shape[0]
        shapes = [tuple(t.shape) for t in tables]
        res = torch.tensor([[sh[3] for sh in shapes], [sh[2] for sh in shapes]], dtype=coords.dtype,
                           device=dev).unsqueeze(2)  # [2, L, 1]
        ires = torch.tensor([[sh[3] for sh in shapes], [sh[2] * sh[3] for sh in shapes]],
                            dtype=torch.int64, device=dev).unsqueeze(2)  # [2, L, 1]: width, cells
        pos = coords.t().unsqueeze(1) * res  # [2, L, S] continuous cell positions
        pos.sub_(0.5)
        need_coords = ctx.needs_input_grad[0]
        dpos = None
        if need_coords:  # d pos / d coord = res inside the grid, 0 where clamped
            dpos = ((pos > 0) & (pos < res - 1)).to(pos.dtype).mul_(res)
        pos.clamp_(min=0.0)
        torch.minimum(pos, res - 1, out=pos)
        i0 = torch.minimum(pos.floor(), (res - 2).clamp(min=0))
        f = pos.sub_(i0)  # fractions in [0, 1]
        ii = i0.to(torch.int64)
        width = ires[0]  # [L, 1]
        base = torch.addcmul(ii[0], ii[1], width)  # [L, S] row of (x0, y0)
        if grid_index is not None:
            base.addcmul_(grid_index.unsqueeze(0), ires[1])
        # corner rows (x0,y0) (x1,y0) (x0,y1) (x1,y1), written in place: stacking
        # along a last dim of 4 is slow on CPU
        idx = torch.empty(levels, s, 4, dtype=torch.int64, device=dev)
        idx[..., 0] = base
        torch.add(base, 1, out=idx[..., 1])
        torch.add(base, width, out=idx[..., 2])
        torch.add(idx[..., 2], 1, out=idx[..., 3])
        g = 1.0 - f
        w = coords.new_empty(levels, s, 4)
        torch.mul(g[0], g[1], out=w[..., 0])
        torch.mul(f[0], g[1], out=w[..., 1])
        torch.mul(g[0], f[1], out=w[..., 2])
        torch.mul(f[0], f[1], out=w[..., 3])
        flats = [_flat(t) for t in tables]
        offsets = torch.arange(0, 4 * s, 4, device=dev)  # bags of 4 (made once, not per level)
        out = torch.cat([F.embedding_bag(idx[lev].view(-1), flat, offsets, mode="sum",
                                         per_sample_weights=w[lev].view(-1))
                         for lev, flat in enumerate(flats)], dim=1)
        if need_coords:
            ctx.save_for_backward(idx, w, f, dpos, *flats)
        else:
            ctx.save_for_backward(idx, w, *flats)
        ctx.shapes = shapes
        ctx.need_coords = need_coords
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        if ctx.need_coords:
            idx, w, f, dpos, *flats = ctx.saved_tensors
        else:
            idx, w, *flats = ctx.saved_tensors
        levels, s, _ = idx.shape
        c = flats[0].shape[1]
        go_all = grad_out.reshape(s, levels, c).permute(1, 0, 2).contiguous()  # [L, S, C]
        grad_coords = None
        if ctx.need_coords:
            dfrac = grad_out.new_empty(2, levels, s)
            for lev, flat in enumerate(flats):
                v = flat.index_select(0, idx[lev].reshape(-1)).view(s, 4, c)
                d = torch.bmm(v, go_all[lev].unsqueeze(2)).view(s, 4).t()  # [4, S]: <corner, grad>
                # d/dfx of sum_k w_k d_k with w = ((1-fy)(1-fx), (1-fy)fx, fy(1-fx), fy fx)
                torch.lerp(d[1] - d[0], d[3] - d[2], f[1, lev], out=dfrac[0, lev])
                torch.lerp(d[2] - d[0], d[3] - d[1], f[0, lev], out=dfrac[1, lev])
            grad_coords = (dfrac.mul_(dpos)).sum(1).t()
        grads: list[Tensor | None] = []
        src = grad_out.new_empty(s, 4, c)
        for lev, flat in enumerate(flats):
            if not ctx.needs_input_grad[2 + lev]:
                grads.append(None)
                continue
            n, ch, h, wd = ctx.shapes[lev]
            for k in range(4):  # four column products beat one broadcast product ~3x on CPU
                torch.mul(go_all[lev], w[lev, :, k:k + 1], out=src[:, k, :])
            gt = torch.zeros(n * h * wd, ch, dtype=flat.dtype, device=flat.device)
            gt.index_add_(0, idx[lev].reshape(-1), src.view(-1, c))
            grads.append(gt.view(n, h, wd, ch).permute(0, 3, 1, 2))
        return (grad_coords, None, *grads)


def _level_ranges(levels: int) -> list[tuple[int, int]]:
    """The levels split into up to `native.threads()` contiguous ranges of near-equal size
    (every level has the same samples), one kernel call each."""
    parts = max(1, min(levels, native.threads()))
    cuts = [levels * i // parts for i in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def _by_levels(fn, levels: int, *args) -> None:
    """fn(levels, l0, l1, *args) over the level ranges, side by side (a ctypes call lets go of the GIL)."""
    ranges = _level_ranges(levels)
    native.side_by_side(lambda r: fn(levels, r[0], r[1], *args), ranges, len(ranges))


class _NativeLookup(torch.autograd.Function):
    """`_BilinearLookup` without a coordinate gradient, in C (`nvcodec.native`): corners and
    weights computed per sample where they are used, not as [L, S, 4] tensors; levels side by
    side on `native.threads()` threads (each writes its own columns and its own table)."""

    @staticmethod
    def forward(ctx, kernels, coords: Tensor, grid_index: Tensor | None, *tables: Tensor) -> Tensor:  # type: ignore[override]
        flats = [_flat(t) for t in tables]
        dims = torch.tensor([[t.shape[0], t.shape[2], t.shape[3]] for t in tables], dtype=torch.int64)
        out = coords.new_empty(coords.shape[0], len(tables) * tables[0].shape[1])
        ptrs = (ctypes.c_void_p * len(flats))(*[f.data_ptr() for f in flats])
        _by_levels(kernels[0], len(tables), coords.shape[0], tables[0].shape[1], coords.data_ptr(),
                   None if grid_index is None else grid_index.data_ptr(), dims.data_ptr(), ptrs, out.data_ptr())
        ctx.kernels, ctx.dims, ctx.shapes = kernels, dims, [tuple(t.shape) for t in tables]
        ctx.save_for_backward(coords, grid_index)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        coords, grid_index = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grads: list[Tensor | None] = []
        for lev, (n, c, h, w) in enumerate(ctx.shapes):
            grads.append(torch.zeros(n, h, w, c, dtype=grad_out.dtype).permute(0, 3, 1, 2)
                         if ctx.needs_input_grad[3 + lev] else None)
        ptrs = (ctypes.c_void_p * len(grads))(*[0 if g is None else g.data_ptr() for g in grads])
        _by_levels(ctx.kernels[1], len(grads), coords.shape[0], ctx.shapes[0][1], coords.data_ptr(),
                   None if grid_index is None else grid_index.data_ptr(), ctx.dims.data_ptr(), grad_out.data_ptr(),
                   ptrs)
        return (None, None, None, *grads)


def _native_kernels(tables: Sequence[Tensor], coords: Tensor, grid_index: Tensor | None):
    """The C lookup where it applies: fitting (a table needs a gradient; decoding keeps the torch
    path, whose samples the conformance vectors pin), CPU float32, no coordinate gradient,
    channels-last tables (rows of C contiguous floats), contiguous coordinates, int64 indices."""
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in tables)):
        return None
    if coords.device.type != "cpu" or coords.dtype != torch.float32 or coords.requires_grad:
        return None
    if not coords.is_contiguous() or (grid_index is not None and
                                      (grid_index.dtype != torch.int64 or not grid_index.is_contiguous())):
        return None
    if not all(t.dtype == torch.float32 and t.device.type == "cpu" and _flat(t).is_contiguous() for t in tables):
        return None
    return native.grid_lookup()


def grid_lookup(tables: Sequence[Tensor], coords: Tensor, grid_index: Tensor | None = None) -> Tensor:
    """Bilinear features of every level at `coords`.

    tables: L tensors [N, C, H_l, W_l] (same N and C); coords: [S, 2] (x, y) in
    [0, 1] (clamped to the border outside); grid_index: [S] long in [0, N) (None:
    grid 0). Returns [S, L*C], level major. Differentiable w.r.t. the tables and
    the coordinates (the C kernel, used where it applies, only w.r.t. the tables).
    """
    if coords.shape[0] == 0:
        return coords.new_zeros(0, len(tables) * tables[0].shape[1])
    kernels = _native_kernels(tables, coords, grid_index)
    if kernels is not None:
        return _NativeLookup.apply(kernels, coords, grid_index, *tables)
    return _BilinearLookup.apply(coords, grid_index, *tables)


def _axis_cells(c: Tensor, res: int) -> tuple[Tensor, Tensor]:
    """(first cell index, fraction) along one axis, the convention of `_BilinearLookup`."""
    pos = (c * res - 0.5).clamp_(0.0, res - 1)
    i0 = pos.floor().clamp_(max=max(res - 2, 0))
    return i0.to(torch.int64), pos - i0


def lattice_lookup(tables: Sequence[Tensor], xs: Tensor, ys: Tensor, grid: int = 0) -> Tensor:
    """`grid_lookup` at every point of the lattice xs [W] x ys [H] of grid `grid`, planar:
    [L * C, H * W] (points in raster order; `.t()` gives grid_lookup's [points, L * C]).

    Bilinear interpolation is separable, so it runs as two 1-D passes per level (along x for
    every table row, then along y): a few operations per output value instead of a 4-row
    gather per point, the same values up to float rounding. A decoder without an alignment
    flow looks its grids up on such lattices.
    """
    outs = []
    for t in tables:
        table = t[grid]  # [C, ry, rx]
        ix, fx = _axis_cells(xs, table.shape[2])
        iy, fy = _axis_cells(ys, table.shape[1])
        rows = torch.lerp(table.index_select(2, ix), table.index_select(2, ix + 1), fx)  # [C, ry, W]
        outs.append(torch.lerp(rows.index_select(1, iy), rows.index_select(1, iy + 1), fy.unsqueeze(1)))
    out = torch.cat(outs, dim=0)  # [L * C, H, W]
    return out.reshape(out.shape[0], -1)


def grid_lookup_reference(tables: Sequence[Tensor], coords: Tensor,
                          grid_index: Tensor | None = None) -> Tensor:
    """The same lookup with `grid_sample` (slow; used by tests to pin the convention)."""
    outs = []
    gi = torch.zeros(coords.shape[0], dtype=torch.long, device=coords.device) if grid_index is None else grid_index
    for t in tables:
        res_lev = []
        for n in range(t.shape[0]):
            sel = gi == n
            g = (coords[sel] * 2 - 1).view(1, -1, 1, 2)
            o = F.grid_sample(t[n:n + 1], g, mode="bilinear", padding_mode="border", align_corners=False)
            res_lev.append((sel, o.view(t.shape[1], -1).t()))
        out = coords.new_zeros(coords.shape[0], t.shape[1])
        for sel, o in res_lev:
            out = out.index_put((sel.nonzero().squeeze(1),), o)
        outs.append(out)
    return torch.cat(outs, dim=1)
