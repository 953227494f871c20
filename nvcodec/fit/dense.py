"""The dense fitting path: whole tiles of pixels, every frame of a GOP at once, as matrix work.

Without an alignment flow the latent of a pixel does not depend on time inside a GOP (it is
the bilinear upsampling of the GOP's grids at the pixel, `NVTM._lattice_features`), and the
modulator depends on the latent alone. So a training batch made of tiles — a rectangle of
pixels and several frames of one GOP — needs the grid lookups and the modulator once per
pixel, not once per pixel and frame, and the lookups are separable (two 1-D interpolations
per level, as in the decoder). Per sample only the synthesis layers remain. Each tile's
forward and backward run chunk by chunk inside one autograd Function (`_DenseTileMSE`), like
`siren.fused_mse`; the grid gradients are scattered once per step into one buffer per level
(`_TileFeatures`), not once per tile.

The same loss as the per-pixel path (mean squared error over samples and channels, optionally
weighted by a mask), up to float rounding: tests/fit/test_dense.py checks loss and gradients
against `NVTM.fit_loss` on the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ..model import siren
from ..model.grids import _axis_cells
from ..model.normalize import normalize_axis
from ..model.nvtm import NVTM


def supports_dense(model: NVTM) -> bool:
    """The dense path needs a latent that is constant inside a GOP (no alignment flow) and
    used as a modulation (the modulator is what is shared between the frames of a tile)."""
    return model.flow is None and model.base.spec.modulated


@dataclass(frozen=True)
class Tile:
    """One training tile: columns x0..x1-1, rows y0..y1-1 of `frames` (all in GOP `gop`)."""

    gop: int
    x0: int
    x1: int
    y0: int
    y1: int
    frames: tuple[int, ...]

    @property
    def samples(self) -> int:
        return (self.x1 - self.x0) * (self.y1 - self.y0) * len(self.frames)


class TileSampler:
    """Draws `tiles` tiles per step from a clip of T x H x W pixels in GOPs of `gop` frames.

    A tile's GOP is that of a uniformly drawn frame (long GOPs are drawn in proportion to their
    length); its frames are `frames` distinct frames of that GOP (all when the GOP is shorter),
    sorted; its origin is uniform over [-(size-1), W) x [-(size-1), H) and the rectangle is
    clipped to the frame, so that every pixel, border ones included, is covered with the same
    probability. `valid_frames` (a mask that leaves whole frames out) restricts the draw.
    """

    def __init__(self, width: int, height: int, frames: int, gop: int, tile_size: int,
                 frames_per_tile: int, tiles: int, generator: torch.Generator,
                 valid_frames: Sequence[int] | None = None):
        self.W, self.H, self.T, self.gop = width, height, frames, gop
        self.tw, self.th = min(tile_size, width), min(tile_size, height)
        self.fpt = max(1, frames_per_tile)
        self.tiles = max(1, tiles)
        self.gen = generator
        pool = list(range(frames)) if valid_frames is None else sorted(set(int(f) for f in valid_frames))
        if not pool:
            raise ValueError("every frame is masked out")
        self.pool = torch.tensor(pool)
        self.by_gop: dict[int, list[int]] = {}
        for f in pool:
            self.by_gop.setdefault(f // gop, []).append(f)

    def _randint(self, high: int) -> int:
        return int(torch.randint(0, high, (1,), generator=self.gen, device=self.gen.device))

    def _span(self, size: int, full: int) -> tuple[int, int]:
        a = self._randint(full + size - 1) - (size - 1)
        return max(0, a), min(full, a + size)

    def next(self) -> list[Tile]:
        out = []
        for _ in range(self.tiles):
            k = int(self.pool[self._randint(len(self.pool))]) // self.gop
            members = self.by_gop[k]
            if self.fpt < len(members):
                pick = torch.randperm(len(members), generator=self.gen, device=self.gen.device)[: self.fpt].sort().values.tolist()
                frames = tuple(members[i] for i in pick)
            else:
                frames = tuple(members)
            x0, x1 = self._span(self.tw, self.W)
            y0, y1 = self._span(self.th, self.H)
            out.append(Tile(k, x0, x1, y0, y1, frames))
        return out


# ------------------------------------------------------------------ separable lookups of many tiles

@dataclass
class _AxisPlan:
    """Where the points of one axis of a tile read one level: first cell (relative to the block
    start `lo`), fraction, and the block [lo, hi) of cells read."""

    idx: Tensor
    frac: Tensor
    lo: int
    hi: int


def _axis_plan(c: Tensor, res: int) -> _AxisPlan:
    i0, f = _axis_cells(c, res)
    lo = int(i0.min())
    hi = min(res, int(i0.max()) + 2)
    return _AxisPlan(i0 - lo, f, lo, hi)


class _TileFeatures(torch.autograd.Function):
    """Planar features [sum of C, points] of every tile from every table (all levels at once).

    `reads[i]` lists, for tile i, (table number, grid index, x plan, y plan) in feature order.
    The forward is `grids.lattice_lookup` restricted to the block of cells a tile reads (the same
    operations, the same values); the backward scatters every tile's gradient into one
    zero-initialised gradient per table.
    """

    @staticmethod
    def forward(ctx, reads, *tables: Tensor):  # type: ignore[override]
        outs = []
        for tile_reads in reads:
            feats = []
            for ti, g, px, py in tile_reads:
                block = tables[ti][g, :, py.lo:py.hi, px.lo:px.hi]
                rows = torch.lerp(block.index_select(2, px.idx), block.index_select(2, px.idx + 1), px.frac)
                feats.append(torch.lerp(rows.index_select(1, py.idx), rows.index_select(1, py.idx + 1),
                                        py.frac.unsqueeze(1)).reshape(block.shape[0], -1))
            outs.append(torch.cat(feats, dim=0))
        ctx.reads = reads
        ctx.shapes = [(t.shape, t.dtype, t.device) for t in tables]
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads: Tensor):  # type: ignore[override]
        gts: list[Tensor | None] = [None] * len(ctx.shapes)
        for ti, need in enumerate(ctx.needs_input_grad[1:]):
            if need:
                shape, dtype, dev = ctx.shapes[ti]
                gts[ti] = torch.zeros(shape, dtype=dtype, device=dev).contiguous(memory_format=torch.channels_last)
        for tile_reads, g_out in zip(ctx.reads, grads):
            if g_out is None:
                continue
            row = 0
            for ti, g, px, py in tile_reads:
                gt = gts[ti]
                c = ctx.shapes[ti][0][1]
                go = g_out[row:row + c]
                row += c
                if gt is None:
                    continue
                th, tw = py.idx.numel(), px.idx.numel()
                go = go.reshape(c, th, tw)
                # transposed y pass, then transposed x pass (lerp(a, b, f) = a (1 - f) + b f)
                fy = py.frac.view(1, th, 1)
                g_rows = go.new_zeros(c, py.hi - py.lo, tw)
                g_rows.index_add_(1, py.idx, go * (1 - fy))
                g_rows.index_add_(1, py.idx + 1, go * fy)
                fx = px.frac.view(1, 1, tw)
                g_block = go.new_zeros(c, py.hi - py.lo, px.hi - px.lo)
                g_block.index_add_(2, px.idx, g_rows * (1 - fx))
                g_block.index_add_(2, px.idx + 1, g_rows * fx)
                gt[g, :, py.lo:py.hi, px.lo:px.hi] += g_block
        ctx.reads = None
        return (None, *gts)


def pixel_axis(start: int, stop: int, size: int, like: Tensor) -> Tensor:
    """Normalised pixel-centre coordinates (i + 0.5) / size of pixels start..stop-1 (dtype and
    device of `like`)."""
    return (torch.arange(start, stop, dtype=like.dtype, device=like.device) + 0.5) / size


def tile_features(model: NVTM, tiles: Sequence[Tile], latent: Sequence[Tensor],
                  static: Sequence[Tensor]) -> list[Tensor]:
    """Planar latent z [Z, points] of each tile (points in raster order), in the feature order of
    `NVTM._features` (latent levels of grid k+p for each neighbour p, then static levels)."""
    like = model.norm_bounds
    tables = [*latent, *static]
    n_lat = len(latent)
    reads = []
    for tile in tiles:
        xs = pixel_axis(tile.x0, tile.x1, model.width, like)
        ys = pixel_axis(tile.y0, tile.y1, model.height, like)
        tile_reads = []
        for p in model.config.neighbors:
            g = tile.gop + p
            b = model.norm_bounds[g]
            nx, ny = normalize_axis(xs, b[0], b[2]), normalize_axis(ys, b[1], b[3])
            for li, t in enumerate(latent):
                tile_reads.append((li, g, _axis_plan(nx, t.shape[3]), _axis_plan(ny, t.shape[2])))
        for si, t in enumerate(static):
            tile_reads.append((n_lat + si, 0, _axis_plan(xs, t.shape[3]), _axis_plan(ys, t.shape[2])))
        reads.append(tile_reads)
    return list(_TileFeatures.apply(reads, *tables))


# ------------------------------------------------------------------ the fused tile loss

class _DenseTileMSE(torch.autograd.Function):
    """Weighted sum of squared errors of the frames `tn` [F] at the points xy [P, 2] (network
    coordinates) with latents z [P, Z], against target [F, P, 3]; forward and backward chunk by
    chunk of points, all frames of a chunk in turn (the modulator and the first layer's point
    factors computed once per chunk and shared), gradients stored for the backward, which only
    scales them by the incoming gradient (the loss is a scalar function of z and the weights)."""

    @staticmethod
    def forward(ctx, xy: Tensor, z: Tensor, tn: Tensor, target: Tensor, weight: Tensor | None,  # type: ignore[override]
                spec: siren.SirenSpec, chunk: int, *ws: Tensor) -> Tensor:
        syn_w, syn_b, out_w, out_b, mod_z, mod_b, mod_g = siren._split(spec, list(ws))
        d, wm, om1, om = spec.depth, spec.mod_width, spec.omega_first, spec.omega
        n, frames = xy.shape[0], tn.shape[0]
        gws = [torch.zeros_like(w) for w in ws]
        g_syn_w, g_syn_b, g_out_w, g_out_b, g_mod_z, g_mod_b, g_mod_g = siren._split(spec, gws)
        dz = torch.empty(n, z.shape[1], dtype=z.dtype, device=z.device) if ctx.needs_input_grad[1] else None
        mod_z_all, mod_b_all = torch.cat(list(mod_z)), torch.cat(list(mod_b))
        g_mod_z_all, g_mod_b_all = torch.zeros_like(mod_z_all), torch.zeros_like(mod_b_all)
        w_xy, b1 = syn_w[0][:, :2] * om1, syn_b[0] * om1
        c_t = syn_w[0][:, 2] * om1  # the first layer's time column, omega folded in
        tc = tn.to(c_t.dtype).unsqueeze(1) * c_t  # [F, W]
        cos_t, sin_t = torch.cos(tc), torch.sin(tc)
        ws_om = [None] + [w * om for w in syn_w[1:]]
        bs_om = [None] + [b * om for b in syn_b[1:]]
        g_w1_t = torch.zeros_like(c_t)
        sq = torch.zeros((), dtype=torch.float64, device=xy.device)
        for c0 in range(0, n, chunk):
            c1 = min(n, c0 + chunk)
            xyc, zc = xy[c0:c1], z[c0:c1]
            zp = torch.addmm(mod_b_all, zc, mod_z_all.t())  # [rows, D * M'] -> g_0 .. g_{D-1}
            gs = []
            for i in range(d):
                a = zp[:, i * wm:(i + 1) * wm]
                if i > 0:
                    a.addmm_(gs[-1], mod_g[i].t())
                gs.append(a.relu_())
            pre_a = torch.addmm(b1, xyc, w_xy.t())
            sin_a, cos_a = torch.sin(pre_a), torch.cos(pre_a)
            dgs = [torch.zeros_like(g) for g in gs]
            d_a = torch.zeros_like(pre_a)
            for f in range(frames):
                # forward of frame f: sin(A + t c) and cos(A + t c) from the shared sin A, cos A
                s1 = sin_a * cos_t[f]
                s1.addcmul_(cos_a, sin_t[f])
                co1 = cos_a * cos_t[f]
                co1.addcmul_(sin_a, sin_t[f], value=-1.0)
                sins, coss, hs = [s1], [co1], []
                h = s1.clone()
                h[:, :wm].mul_(gs[0])
                hs.append(h)
                for i in range(1, d):
                    pre = torch.addmm(bs_om[i], h, ws_om[i].t())
                    sins.append(torch.sin(pre))
                    coss.append(pre.cos_())
                    h = sins[-1].clone()
                    h[:, :wm].mul_(gs[i])
                    hs.append(h)
                diff = torch.addmm(out_b, h, out_w.t()).sub_(target[f, c0:c1])
                if weight is not None:
                    wf = weight[f, c0:c1].unsqueeze(1)
                    sq += torch.sum(diff * diff * wf, dtype=torch.float64)
                    diff.mul_(wf)
                else:
                    sq += torch.sum(diff * diff, dtype=torch.float64)
                # backward of frame f (d sse / d out = 2 w diff)
                diff.mul_(2.0)
                g_out_w.addmm_(diff.t(), hs[-1])
                g_out_b.add_(diff.sum(0))
                dh = diff @ out_w
                for i in reversed(range(d)):
                    dgs[i].addcmul_(dh[:, :wm], sins[i][:, :wm])
                    dh[:, :wm].mul_(gs[i])
                    dpre = dh.mul_(coss[i])  # d sse / d (pre-activation), omega not included
                    if i > 0:
                        g_syn_w[i].addmm_(dpre.t(), hs[i - 1], alpha=om)
                        g_syn_b[i].add_(dpre.sum(0), alpha=om)
                        dh = dpre @ ws_om[i]
                    else:
                        d_a.add_(dpre)
                        g_w1_t.add_(dpre.sum(0), alpha=float(tn[f]) * om1)
            # the shared parts: first layer's point factors, modulator, latent
            g_syn_w[0][:, :2].addmm_(d_a.t(), xyc, alpha=om1)
            g_syn_b[0].add_(d_a.sum(0), alpha=om1)
            dzp = torch.empty_like(zp)
            da_next = None
            for i in reversed(range(d)):
                dg = dgs[i]
                if da_next is not None:
                    dg.addmm_(da_next, mod_g[i + 1])
                da = torch.ops.aten.threshold_backward.grad_input(dg, gs[i], 0.0,
                                                                 grad_input=dzp[:, i * wm:(i + 1) * wm])
                if i > 0:
                    g_mod_g[i].addmm_(da.t(), gs[i - 1])
                da_next = da
            g_mod_z_all.addmm_(dzp.t(), zc)
            g_mod_b_all.add_(dzp.sum(0))
            if dz is not None:
                torch.mm(dzp, mod_z_all, out=dz[c0:c1])
        g_syn_w[0][:, 2].add_(g_w1_t)
        for i in range(d):
            g_mod_z[i].copy_(g_mod_z_all[i * wm:(i + 1) * wm])
            g_mod_b[i].copy_(g_mod_b_all[i * wm:(i + 1) * wm])
        ctx.grads = (dz, gws)
        return sq.to(xy.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        dz, gws = ctx.grads
        ctx.grads = None
        return (None, None if dz is None else dz * grad, None, None, None, None, None, *[g * grad for g in gws])


def dense_tile_sse(spec: siren.SirenSpec, ws: list[Tensor], xy: Tensor, z: Tensor, tn: Tensor,
                   target: Tensor, weight: Tensor | None = None, chunk: int = 1024) -> Tensor:
    """sum_f sum_p w (M(xy_p, t_f, z_p) - target[f, p])^2 over RGB (see `_DenseTileMSE`)."""
    return _DenseTileMSE.apply(xy, z, tn, target, weight, spec, chunk, *ws)


@dataclass
class DenseBatch:
    """What a step of the dense path needs besides the model: tiles and their pixels."""

    tiles: list[Tile]
    rgb: list[Tensor]  # per tile [F, P, 3] float in [0, 1]
    weight: list[Tensor | None]  # per tile [F, P] (1 = pixel used) or None
    count: float  # weighted samples x 3: the MSE's denominator


def gather_batch(video: Tensor, tiles: list[Tile], keep: Tensor | None = None) -> DenseBatch:
    """The pixels of `tiles` from video [T, H, W, 3] uint8 (on the fitting device); keep: bool
    [T, H, W], False where a mask leaves a pixel out."""
    rgb, weight, count = [], [], 0.0
    for tile in tiles:
        fr = torch.tensor(tile.frames, device=video.device)
        px = video[fr, tile.y0:tile.y1, tile.x0:tile.x1]
        rgb.append(px.reshape(len(tile.frames), -1, 3).float().mul_(1.0 / 255.0))
        if keep is None:
            weight.append(None)
            count += 3.0 * tile.samples
        else:
            w = keep[fr, tile.y0:tile.y1, tile.x0:tile.x1].reshape(len(tile.frames), -1).float()
            weight.append(w)
            count += 3.0 * float(w.sum())
    return DenseBatch(tiles, rgb, weight, count)


def dense_loss(model: NVTM, batch: DenseBatch, grids: dict[str, Tensor] | None = None,
               weights: dict[str, Tensor] | None = None, chunk: int = 1024) -> Tensor:
    """Mean squared error of the batch (over used samples and channels), the same quantity as
    `NVTM.fit_loss` on those samples. grids / weights: substitutes for the model's tensors (by
    the names of `grid_tensors` / `weight_tensors`: fake-quantised copies during QAT)."""
    gt = model.grid_tensors() if grids is None else {**model.grid_tensors(), **grids}
    latent = [gt[f"latent.{i}"] for i in range(len(model.latent))]
    static = [gt[f"static.{i}"] for i in range(len(model.static))]
    ws = model.base.weight_list()
    if weights:
        names = {id(p): k for k, p in model.weight_tensors().items()}
        ws = [weights.get(names[id(w)], w) for w in ws]
    feats = tile_features(model, batch.tiles, latent, static)
    total = None
    for tile, z, rgb, w in zip(batch.tiles, feats, batch.rgb, batch.weight):
        xs = pixel_axis(tile.x0, tile.x1, model.width, z) * 2 - 1
        ys = pixel_axis(tile.y0, tile.y1, model.height, z) * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        xy = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
        tn = model._time_input(torch.tensor(tile.frames, dtype=z.dtype, device=z.device))
        sse = dense_tile_sse(model.base.spec, ws, xy, z.t(), tn, rgb, w, chunk)
        total = sse if total is None else total + sse
    return total / max(batch.count, 1.0)


__all__ = ["supports_dense", "Tile", "TileSampler", "DenseBatch", "gather_batch", "dense_loss",
           "tile_features", "dense_tile_sse", "pixel_axis"]
