"""The dense fitting path: random pixels seen in several frames of a GOP at once, as matrix work.

Without an alignment flow the latent of a pixel does not depend on time inside a GOP (it is
the bilinear upsampling of the GOP's grids at the pixel), and the modulator depends on the
latent alone. So a training batch made of point sets — random pixels of one GOP, each seen
in up to `frames_per_set` of its frames — needs the grid lookups and the modulator once per
pixel, not once per pixel and frame; per sample only the synthesis layers remain. All sets of
a step run their forward and backward inside one autograd Function (`_PointSetMSE`), like
`siren.fused_mse`; the latent of all sets' points is one `NVTM.gop_features` call (one C call
on a CPU fit: `model.point_features`). On CPU the
function runs each set through a C kernel (`nvcodec.native`, block by block of points, every
frame of the block in turn, 1.6-1.8x faster a step); elsewhere, or without a C compiler, through
torch ops chunk by chunk.

Random points, not rectangles: tiles of adjacent pixels ran as many samples per second but
fitted clearly worse in the same time than random pixels (neighbouring samples carry nearly the
same gradient; exploratory runs on a 360x240x47 crop); point sets keep the random pixels and
reach 2.3-3.5x the per-pixel engine's samples per second (benchmarks/RESULTS.md).

The same loss as the per-pixel path (mean squared error over samples and channels, optionally
weighted by a mask), up to float rounding: tests/fit/test_dense.py checks loss and gradients
against `NVTM.fit_loss` on the same samples.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..model import siren, trig
from ..model.nvtm import NVTM, pixel_axis
from .. import native


def supports_dense(model: NVTM) -> bool:
    """The dense path needs a latent that is constant inside a GOP (no alignment flow) and
    used as a modulation (the modulator is what is shared between the frames of a set)."""
    return model.flow is None and model.base.spec.modulated


def _set_kernel(spec: siren.SirenSpec, latent_dim: int):
    """The compiled point-set kernel of this network shape, or None (the torch path then runs)."""
    return native.point_set(spec.width, spec.mod_width, spec.depth, latent_dim)


def prepare_kernels(model: NVTM, device: torch.device) -> None:
    """Build (or load from the cache) the C kernels a CPU fit of `model` calls, before the fit's
    clock starts: a first-use compile takes ~1-2 s, which a short `--time` budget would otherwise
    spend not fitting (2-second test encodes missed their rate target that way)."""
    if device.type != "cpu":
        return
    if supports_dense(model):
        _set_kernel(model.base.spec, model.base.spec.latent_dim)
    native.grid_lookup()
    native.coding_cost()


def runs_native(model: NVTM, device: torch.device) -> bool:
    """Whether a dense fit of `model` on `device` runs its point sets in the C kernel."""
    return device.type == "cpu" and supports_dense(model) and _set_kernel(model.base.spec,
                                                                          model.base.spec.latent_dim) is not None


@dataclass(frozen=True)
class PointSet:
    """`pixels` (flat indices y * W + x, sorted) of `frames`, all in GOP `gop`: random pixels that
    share their latent across the frames."""

    gop: int
    frames: tuple[int, ...]
    pixels: Tensor

    @property
    def samples(self) -> int:
        return self.pixels.numel() * len(self.frames)


class PointSetSampler:
    """Draws `sets` point sets per step. A set's GOP is that of a uniformly drawn usable frame
    (long GOPs are drawn in proportion to their length), its frames up to `frames_per_set`
    distinct frames of that GOP, sorted (all when the GOP is shorter), its `points` pixels
    uniform (with replacement) over the frame. `valid_frames` (a mask that leaves whole frames
    out) restricts the draw."""

    def __init__(self, width: int, height: int, frames: int, gop: int, points: int,
                 frames_per_set: int, sets: int, generator: torch.Generator,
                 valid_frames: Sequence[int] | None = None):
        self.pixels, self.points, self.sets = width * height, max(1, points), max(1, sets)
        self.gop, self.count, self.gen = gop, max(1, frames_per_set), generator
        pool = list(range(frames)) if valid_frames is None else sorted(set(int(f) for f in valid_frames))
        if not pool:
            raise ValueError("every frame is masked out")
        self.pool = torch.tensor(pool)
        self.by_gop: dict[int, list[int]] = {}
        for f in pool:
            self.by_gop.setdefault(f // gop, []).append(f)

    def _frames(self) -> tuple[int, tuple[int, ...]]:
        dev = self.gen.device
        k = int(self.pool[int(torch.randint(0, len(self.pool), (1,), generator=self.gen, device=dev))]) // self.gop
        members = self.by_gop[k]
        if self.count >= len(members):
            return k, tuple(members)
        pick = torch.randperm(len(members), generator=self.gen, device=dev)[: self.count]
        return k, tuple(members[i] for i in pick.sort().values.tolist())

    def next(self) -> list[PointSet]:
        out = []
        for _ in range(self.sets):
            k, frames = self._frames()
            pix = torch.randint(0, self.pixels, (self.points,), generator=self.gen, device=self.gen.device)
            out.append(PointSet(k, frames, _sorted(pix)))
        return out


def _sorted(x: Tensor) -> Tensor:
    """x [N] int sorted: numpy's sort on CPU, the same values in ~1/6 of torch's time at the sizes
    of a point set (8 sorts of 512 were ~0.3 ms of a 26-ms step at 720p)."""
    if x.device.type != "cpu":
        return x.sort().values
    return torch.from_numpy(np.sort(x.numpy()))


# ------------------------------------------------------------------ the fused loss of point sets

@dataclass(frozen=True)
class ClipSamples:
    """Where a point set's targets are, without a float copy: the 8-bit samples of its `pixels`
    [P] in frames `frames` [F] (int64) of a clip laid out by `pixel_major` ([H * W, T, 3] uint8,
    contiguous, on the CPU). The C kernel reads them there: the float gather of a step's targets
    was ~1.3 ms of a 26-ms step at 720p (one thread)."""

    clip: Tensor
    pixels: Tensor
    frames: Tensor

    def floats(self) -> Tensor:
        """[F, P, 3] float in [0, 1], the values of `gather_batch`."""
        rows = (self.pixels.unsqueeze(0) * self.clip.shape[1] + self.frames.unsqueeze(1)).reshape(-1)
        rgb = _unit(self.clip.reshape(-1, self.clip.shape[-1]).index_select(0, rows))
        return rgb.view(self.frames.numel(), self.pixels.numel(), -1)


def _unit(samples: Tensor) -> Tensor:
    """8-bit samples as floats in [0, 1], float32 products by 1/255 (the C kernel, reading them
    from the clip, rounds the same: native/point_set.c, inv255)."""
    return samples.float().mul_(1.0 / 255.0)


@dataclass
class SetFrames:
    """What the frames of one point set contribute to a fused call: its `rows` of the call's
    points (start, stop), frame times `tn` [F] (network input), targets [F, P, 3] (or where they
    are in the clip: `samples`, `target` None) and optional per-sample weights [F, P]."""

    rows: tuple[int, int]
    tn: Tensor
    target: Tensor | None
    weight: Tensor | None = None
    samples: ClipSamples | None = None

    def float_target(self) -> Tensor:
        return self.target if self.target is not None else self.samples.floats()


@dataclass
class _FrameFactors:
    """The per-frame factors of a set's first layer: cos and sin of t c (c the time column,
    omega folded in) [F, W], and t omega_first per frame (the time column's gradient factor)."""

    cos_t: Tensor
    sin_t: Tensor
    tf: Tensor
    part: SetFrames


def _frame_factors(c_t: Tensor, parts: Sequence[SetFrames], om1: float) -> list[_FrameFactors]:
    """`_FrameFactors` of every set, computed for all their frames at once (elementwise: the same
    values as set by set, in a few ops instead of a few per set)."""
    tn = torch.cat([p.tn for p in parts]).to(c_t.dtype)
    tc = tn.unsqueeze(1) * c_t
    sizes = [p.tn.shape[0] for p in parts]
    return [_FrameFactors(c, s, f, p) for c, s, f, p in
            zip(torch.cos(tc).split(sizes), torch.sin(tc).split(sizes), (tn * om1).split(sizes), parts)]


class _PointSetCall:
    """One evaluation of `_PointSetMSE`: the weights by role with what every chunk and frame
    reuses (omega folded in; the first layer split into its point part w_xy, b1 and, per set
    and frame, the cosine and sine of its time part t c), the gradient buffers and the sum of
    squares."""

    def __init__(self, spec: siren.SirenSpec, ws: list[Tensor], parts: Sequence[SetFrames], z: Tensor,
                 need_z: bool):
        syn_w, syn_b, self.out_w, self.out_b, mod_z, mod_b, self.mod_g = siren._split(spec, ws)
        self.spec = spec
        self.mod_z_all, self.mod_b_all = torch.cat(list(mod_z)), torch.cat(list(mod_b))
        self.grads = siren.GradBuffers.zeros(spec, ws, self.mod_z_all, self.mod_b_all, z, need_z)
        om1, om = spec.omega_first, spec.omega
        self.w_xy, self.b1 = syn_w[0][:, :2] * om1, syn_b[0] * om1
        c_t = syn_w[0][:, 2] * om1  # the first layer's time column, omega folded in
        self.sets = _frame_factors(c_t, parts, om1)
        self.ws_om = [None] + [w * om for w in syn_w[1:]]
        self.bs_om = [None] + [b * om for b in syn_b[1:]]
        self.g_w1_t = torch.zeros_like(c_t)
        self.sq = torch.zeros((), dtype=torch.float64, device=z.device)
        self.native = _NativeSet.of(self, z)

    def chunk(self, c0: int, xyc: Tensor, zc: Tensor, dz_rows: Tensor | None) -> None:
        """Forward and backward of the chunk of points from row c0 in every frame of their sets;
        the modulator and the first layer's point factors once for all frames."""
        spec, wm = self.spec, self.spec.mod_width
        zp = siren.modulator_forward(spec, self.mod_z_all, self.mod_b_all, self.mod_g, zc)  # [rows, D * M']
        pre_a = torch.addmm(self.b1, xyc, self.w_xy.t())
        sin_a = trig.sin(pre_a)
        cos_a = trig.cos_(pre_a)
        dgs_all, d_a = torch.zeros_like(zp), torch.zeros_like(pre_a)
        c1 = c0 + xyc.shape[0]
        for fs in self.sets:
            r0, r1 = max(c0, fs.part.rows[0]), min(c1, fs.part.rows[1])
            if r0 >= r1:
                continue
            here, there = slice(r0 - c0, r1 - c0), slice(r0 - fs.part.rows[0], r1 - fs.part.rows[0])
            target = fs.part.float_target()[:, there]
            weight = None if fs.part.weight is None else fs.part.weight[:, there]
            self._frames(fs, sin_a[here], cos_a[here], zp[here], target, weight, dgs_all[here], d_a[here])
        gs = [zp[:, i * wm:(i + 1) * wm] for i in range(spec.depth)]  # g_0 .. g_{D-1}
        dgs = [dgs_all[:, i * wm:(i + 1) * wm] for i in range(spec.depth)]
        self._shared_backward(xyc, zc, zp, gs, dgs, d_a, dz_rows)

    def _frames(self, fs: _FrameFactors, sin_a: Tensor, cos_a: Tensor, zp: Tensor, target: Tensor,
                weight: Tensor | None, dgs_all: Tensor, d_a: Tensor) -> None:
        """The torch frames loop over rows of one set (target [F, rows, 3], weight [F, rows] or None)."""
        wm = self.spec.mod_width
        gs = [zp[:, i * wm:(i + 1) * wm] for i in range(self.spec.depth)]
        dgs = [dgs_all[:, i * wm:(i + 1) * wm] for i in range(self.spec.depth)]
        for f in range(fs.cos_t.shape[0]):
            sins, coss, hs = self._frame_forward(fs.cos_t[f], fs.sin_t[f], sin_a, cos_a, gs)
            diff = torch.addmm(self.out_b, hs[-1], self.out_w.t()).sub_(target[f])
            if weight is not None:
                wf = weight[f].unsqueeze(1)
                self.sq += torch.sum(diff * diff * wf, dtype=torch.float64)
                diff.mul_(wf)
            else:
                self.sq += torch.sum(diff * diff, dtype=torch.float64)
            # d sse / d out = 2 w diff
            self._frame_backward(float(fs.tf[f]), diff.mul_(2.0), sins, coss, hs, gs, dgs, d_a)

    def _frame_forward(self, cos_t: Tensor, sin_t: Tensor, sin_a: Tensor, cos_a: Tensor,
                       gs: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """(sines, cosines, outputs) of every layer in a frame: sin(A + t c) and cos(A + t c) of
        the first layer from the shared sin A, cos A."""
        s1 = sin_a * cos_t
        s1.addcmul_(cos_a, sin_t)
        co1 = cos_a * cos_t
        co1.addcmul_(sin_a, sin_t, value=-1.0)
        sins, coss, hs = [s1], [co1], [siren.modulated(self.spec, s1, gs[0])]
        for i in range(1, self.spec.depth):
            pre = torch.addmm(self.bs_om[i], hs[-1], self.ws_om[i].t())
            sins.append(trig.sin(pre))
            coss.append(trig.cos_(pre))
            hs.append(siren.modulated(self.spec, sins[-1], gs[i]))
        return sins, coss, hs

    def _frame_backward(self, tf: float, diff: Tensor, sins: list[Tensor], coss: list[Tensor], hs: list[Tensor],
                        gs: list[Tensor], dgs: list[Tensor], d_a: Tensor) -> None:
        """Backward of a frame (time factor tf = t omega_first) from d sse / d out (`diff`) down to
        the first layer's point part (accumulated in d_a) and the modulations (dgs)."""
        g, wm, om = self.grads, self.spec.mod_width, self.spec.omega
        g.out_w.addmm_(diff.t(), hs[-1])
        g.out_b.add_(diff.sum(0))
        dh = diff @ self.out_w
        for i in reversed(range(self.spec.depth)):
            dgs[i].addcmul_(dh[:, :wm], sins[i][:, :wm])
            dh[:, :wm].mul_(gs[i])
            dpre = dh.mul_(coss[i])  # d sse / d (pre-activation), omega not included
            if i > 0:
                g.syn_w[i].addmm_(dpre.t(), hs[i - 1], alpha=om)
                g.syn_b[i].add_(dpre.sum(0), alpha=om)
                dh = dpre @ self.ws_om[i]
            else:
                d_a.add_(dpre)
                self.g_w1_t.add_(dpre.sum(0), alpha=tf)

    def _shared_backward(self, xyc: Tensor, zc: Tensor, zp: Tensor, gs: list[Tensor], dgs: list[Tensor],
                         d_a: Tensor, dz_rows: Tensor | None) -> None:
        """Backward of what the frames of a chunk share: the first layer's point factors, the
        modulator, the latent."""
        g, om1 = self.grads, self.spec.omega_first
        g.syn_w[0][:, :2].addmm_(d_a.t(), xyc, alpha=om1)
        g.syn_b[0].add_(d_a.sum(0), alpha=om1)
        dzp = torch.empty_like(zp)
        da_next = None
        for i in reversed(range(self.spec.depth)):
            da_next = siren.modulator_layer_backward(i, dgs[i], da_next, gs, self.mod_g, g.mod_g, dzp,
                                                     self.spec.mod_width)
        g.add_modulator_input(dzp, zc, self.mod_z_all, dz_rows)

    def finish(self) -> None:
        """Move the gradients gathered in shared buffers to the weights they belong to."""
        if self.native is not None:
            self.native.finish()
        self.grads.syn_w[0][:, 2].add_(self.g_w1_t)
        self.grads.scatter_modulator(self.spec)


class _NativeSet:
    """The point sets' forward and backward in C (`nvcodec.native`), sets side by side on up to
    torch's thread count (ctypes lets go of the GIL during a call): the weights packed the way the
    kernel reads them, and one flat gradient buffer per set (the fields of point_set.c's struct
    grads) summed in set order, so that the result does not depend on the thread count."""

    def __init__(self, fn, call: _PointSetCall):
        spec = call.spec
        self.fn, self.call = fn, call
        one = call.b1.new_zeros(1)  # stands in for the hidden layers' tensors of a one-layer network

        def flat(ts: list[Tensor]) -> Tensor:
            return torch.cat([t.reshape(-1) for t in ts]) if ts else one

        hidden, mod_g = call.ws_om[1:], call.mod_g[1:]
        # the fields of point_set.c's struct weights, in order
        self.keep = [call.w_xy.contiguous(), call.b1.contiguous(), call.mod_z_all.t().contiguous(),
                     call.mod_b_all.contiguous(), call.mod_z_all.contiguous(), flat([m.t() for m in mod_g]),
                     flat(list(mod_g)), flat([w.t() for w in hidden]), flat(hidden), flat(call.bs_om[1:]),
                     call.out_w.contiguous(), call.out_b.contiguous()]
        self.weights = (ctypes.c_void_p * len(self.keep))(*[t.data_ptr() for t in self.keep])
        w, g, k = spec.width, call.grads, self.keep
        # the fields of struct grads, in order (sizes)
        self.sizes = [2 * w, w, w, g.mod_z_all.numel(), g.mod_b_all.numel(), k[6].numel(), k[8].numel(),
                      k[9].numel(), g.out_w.numel(), g.out_b.numel()]
        self.total = call.b1.new_zeros(sum(self.sizes))
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]  # of each field in a flat buffer

    @classmethod
    def of(cls, call: _PointSetCall, z: Tensor) -> "_NativeSet | None":
        """The C kernel for this call, or None where it does not apply (not float32 on CPU, or no
        compiled kernel)."""
        spec = call.spec
        if z.device.type != "cpu" or z.dtype != torch.float32 or not spec.modulated:
            return None
        fn = _set_kernel(spec, z.shape[1])
        return None if fn is None else cls(fn, call)

    def _one(self, fs: _FrameFactors, xy: Tensor, z: Tensor, dz: Tensor | None, grads: Tensor) -> float:
        """sse of one set's points (its rows of xy, z; dz: its rows of the latent's gradient) in
        its frames; its weight gradients added to `grads` (flat, struct grads)."""
        part = fs.part
        target, weight = part.target, part.weight
        clip, alive = _clip_arguments(part.samples)  # `alive` holds what the pointers point into
        if target is not None and (target.dtype != torch.float32 or not target.is_contiguous()):
            target = target.to(torch.float32).contiguous()
        if target is None and clip[0] is None:
            target = part.float_target()
        if weight is not None and (weight.dtype != torch.float32 or not weight.is_contiguous()):
            weight = weight.to(torch.float32).contiguous()
        xy, z = xy.contiguous(), z.contiguous()
        base = grads.data_ptr()
        ptrs = (ctypes.c_void_p * len(self.offsets))(*[base + 4 * o for o in self.offsets])
        return self.fn(xy.shape[0], fs.tf.shape[0], xy.data_ptr(), z.data_ptr(), fs.cos_t.data_ptr(),
                       fs.sin_t.data_ptr(), fs.tf.data_ptr(), None if target is None else target.data_ptr(),
                       0 if target is None else target.stride(0), *clip,
                       None if weight is None else weight.data_ptr(), 0 if weight is None else weight.stride(0),
                       self.weights, ptrs, None if dz is None else dz.data_ptr())

    def run(self, xy: Tensor, z: Tensor, dz: Tensor | None) -> float:
        """sse of every set of the call on up to `native.threads()` threads; their gradients
        summed (in set order) into `self.total`."""
        sets = self.call.sets
        grads = [torch.zeros_like(self.total) for _ in sets]

        def one(i: int) -> float:
            r0, r1 = sets[i].part.rows
            return self._one(sets[i], xy[r0:r1], z[r0:r1], None if dz is None else dz[r0:r1], grads[i])

        sq = native.side_by_side(one, list(range(len(sets))), native.threads())
        for g in grads:
            self.total.add_(g)
        return sum(sq)

    def finish(self) -> None:
        spec, g, call = self.call.spec, self.call.grads, self.call
        w, m = spec.width, spec.mod_width
        g_w_xy, g_b1, g_w1_t, g_mod_z, g_mod_b, g_mod_g, g_w, g_b, g_out_w, g_out_b = self.total.split(self.sizes)
        g.syn_w[0][:, :2].add_(g_w_xy.view(w, 2), alpha=spec.omega_first)
        g.syn_b[0].add_(g_b1, alpha=spec.omega_first)
        call.g_w1_t.add_(g_w1_t)
        g.mod_z_all.add_(g_mod_z.view_as(g.mod_z_all))
        g.mod_b_all.add_(g_mod_b)
        g.out_w.add_(g_out_w.view_as(g.out_w))
        g.out_b.add_(g_out_b)
        for i in range(1, spec.depth):
            g.syn_w[i].add_(g_w[(i - 1) * w * w:i * w * w].view(w, w), alpha=spec.omega)
            g.syn_b[i].add_(g_b[(i - 1) * w:i * w], alpha=spec.omega)
            g.mod_g[i].add_(g_mod_g[(i - 1) * m * m:i * m * m].view(m, m))


def _clip_arguments(samples: ClipSamples | None) -> tuple[tuple, list[Tensor]]:
    """((clip, frames of the clip, pixels, frame ids) for the C kernel, or NULLs where the targets
    are not read from an 8-bit clip there; the tensors those pointers point into)."""
    if samples is None or samples.clip.dtype != torch.uint8 or not samples.clip.is_contiguous() \
            or samples.clip.device.type != "cpu":
        return (None, 0, None, None), []
    keep = [samples.clip, samples.pixels.to(torch.int64).contiguous(), samples.frames.to(torch.int64).contiguous()]
    return (keep[0].data_ptr(), keep[0].shape[1], keep[1].data_ptr(), keep[2].data_ptr()), keep


class _PointSetMSE(torch.autograd.Function):
    """Weighted sum of squared errors of point sets: points xy [P, 2] (network coordinates) with
    latents z [P, Z], each set (`SetFrames`) a range of those rows seen in its frames. Forward and
    backward chunk by chunk of points, every frame of a chunk's sets in turn (the modulator and
    the first layer's point factors computed once per chunk and shared: `_PointSetCall`),
    gradients stored for the backward, which only scales them by the incoming gradient (the loss
    is a scalar function of z and the weights)."""

    @staticmethod
    def forward(ctx, xy: Tensor, z: Tensor, parts: Sequence[SetFrames],  # type: ignore[override]
                spec: siren.SirenSpec, chunk: int, *ws: Tensor) -> Tensor:
        call = _PointSetCall(spec, list(ws), parts, z, ctx.needs_input_grad[1])
        dz = call.grads.dz
        if call.native is not None:
            call.sq += call.native.run(xy, z, dz)
        else:
            n = xy.shape[0]
            for c0 in range(0, n, chunk):
                c1 = min(n, c0 + chunk)
                call.chunk(c0, xy[c0:c1], z[c0:c1], None if dz is None else dz[c0:c1])
        call.finish()
        ctx.grads = (dz, call.grads.ws)
        return call.sq.to(xy.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        dz, gws = ctx.grads
        ctx.grads = None
        return (None, None if dz is None else dz * grad, None, None, None, *[g * grad for g in gws])


def point_sets_sse(spec: siren.SirenSpec, ws: list[Tensor], xy: Tensor, z: Tensor, parts: Sequence[SetFrames],
                   chunk: int = 1024) -> Tensor:
    """sum over sets, their frames f and rows p of w (M(xy_p, t_f, z_p) - target[f, p])^2 over RGB
    (see `_PointSetMSE`)."""
    return _PointSetMSE.apply(xy, z, tuple(parts), spec, chunk, *ws)


def point_set_sse(spec: siren.SirenSpec, ws: list[Tensor], xy: Tensor, z: Tensor, tn: Tensor,
                  target: Tensor, weight: Tensor | None = None, chunk: int = 1024) -> Tensor:
    """`point_sets_sse` of one set: every point seen in the frames tn [F] (target [F, P, 3])."""
    return point_sets_sse(spec, ws, xy, z, [SetFrames((0, xy.shape[0]), tn, target, weight)], chunk)


@dataclass
class DenseBatch:
    """What a step of the dense path needs besides the model: point sets and their pixels."""

    sets: list[PointSet]
    rgb: list[Tensor | None]  # per set [F, P, 3] float in [0, 1], or None: see `where`
    weight: list[Tensor | None]  # per set [F, P] (1 = pixel used) or None
    count: float  # weighted samples x 3: the MSE's denominator
    where: list[ClipSamples | None] = field(default_factory=list)  # per set, when rgb is None

    def __post_init__(self) -> None:
        if not self.where:
            self.where = [None] * len(self.sets)


def pixel_major(video: Tensor) -> Tensor:
    """video [T, H, W, ...] as [H * W, T, ...], contiguous: the frames of one pixel side by side.

    A point set reads the same pixels in up to `frames_per_set` frames; laid out by pixel, those
    samples share a cache line instead of costing a miss each (a batch's random reads over a
    clip larger than the cache were ~8 % of a step on a 360x240x47 clip, a quarter of that
    after; benchmarks/RESULTS.md, tenth session)."""
    t, h, w = video.shape[:3]
    return video.reshape(t, h * w, *video.shape[3:]).transpose(0, 1).contiguous()


def _sample_rows(sets: list[PointSet], frames: int, device: torch.device) -> Tensor:
    """Row p T + t of a `pixel_major` clip (viewed [H * W * T, ...]) for every sample of `sets`,
    set after set, each [F, P] frame-major, flattened."""
    if len({(len(part.frames), part.pixels.numel()) for part in sets}) == 1:  # the usual step: one shape, one op chain
        pix = torch.stack([part.pixels for part in sets]).to(device)
        at = torch.tensor([part.frames for part in sets], device=device)
        return (pix.unsqueeze(1) * frames + at.unsqueeze(2)).reshape(-1)
    rows = [part.pixels.to(device).unsqueeze(0) * frames + torch.tensor(part.frames, device=device).unsqueeze(1)
            for part in sets]
    return torch.cat([r.reshape(-1) for r in rows])


def _per_set(flat: Tensor, sets: list[PointSet]) -> list[Tensor]:
    """`flat` [samples, ...] cut back into each set's [F, P, ...]."""
    sizes = [part.samples for part in sets]
    return [v.view(len(part.frames), part.pixels.numel(), *flat.shape[1:])
            for v, part in zip(flat.split(sizes), sets)]


def gather_batch(by_pixel: Tensor, sets: list[PointSet], keep: Tensor | None = None,
                 floats: bool = True) -> DenseBatch:
    """The pixels of `sets` from a clip laid out by `pixel_major`, [H * W, T, 3] uint8 (on the
    fitting device); keep: bool [H * W, T] (the mask, laid out alike), False where it leaves a
    pixel out. One gather for all sets (a gather per set was ~1.3 ms of a 15 ms step at 720p).
    floats=False: no float copy, only where each set's samples are (`ClipSamples`: the C kernel
    reads them from the clip)."""
    rows = _sample_rows(sets, by_pixel.shape[1], by_pixel.device) if floats or keep is not None else None
    if floats:
        rgb = _per_set(_unit(by_pixel.reshape(-1, by_pixel.shape[-1]).index_select(0, rows)), sets)
        where = [None] * len(sets)
    else:
        rgb = [None] * len(sets)
        where = [ClipSamples(by_pixel, part.pixels, torch.tensor(part.frames, dtype=torch.int64)) for part in sets]
    if keep is None:
        return DenseBatch(sets, rgb, [None] * len(sets), 3.0 * sum(part.samples for part in sets), where)
    used = keep.reshape(-1).index_select(0, rows).float()
    return DenseBatch(sets, rgb, _per_set(used, sets), 3.0 * float(used.sum()), where)


def _point_set_inputs(model: NVTM, sets: list[PointSet], latent: list[Tensor],
                      static: list[Tensor]) -> tuple[Tensor, Tensor]:
    """(network coordinates xy [P, 2], latent z [P, Z]) of the points of all sets, set after set:
    one lookup of every set's points at its GOP (the latent of a model without a flow depends on
    nothing else)."""
    like = model.norm_bounds
    pix = torch.cat([p.pixels for p in sets]).to(like.device)
    gop = torch.tensor([p.gop for p in sets], device=like.device).repeat_interleave(
        torch.tensor([p.pixels.numel() for p in sets], device=like.device))
    z = model.gop_features(pix, gop, latent, static)
    xs, ys = (pixel_axis(n, like.dtype, like.device) for n in (model.width, model.height))
    xy = torch.stack([xs[pix % model.width], ys[torch.div(pix, model.width, rounding_mode="floor")]], dim=1)
    return xy * 2 - 1, z


def dense_loss(model: NVTM, batch: DenseBatch, substitutes: dict[str, Tensor] | None = None,
               chunk: int = 1024) -> Tensor:
    """Mean squared error of the batch (over used samples and channels), the same quantity as
    `NVTM.fit_loss` on those samples. substitutes: replacements for the model's tensors by the
    names of `grid_tensors` / `weight_tensors` (fake-quantised or coded copies during QAT)."""
    subs = substitutes or {}
    gt = {k: subs.get(k, p) for k, p in model.grid_tensors().items()}
    latent = [gt[f"latent.{i}"] for i in range(len(model.latent))]
    static = [gt[f"static.{i}"] for i in range(len(model.static))]
    names = {id(p): k for k, p in model.weight_tensors().items()}
    ws = [subs.get(names[id(w)], w) for w in model.base.weight_list()]
    xy, z = _point_set_inputs(model, batch.sets, latent, static)
    times = model._time_input(torch.tensor([f for part in batch.sets for f in part.frames], dtype=z.dtype,
                                            device=z.device)).split([len(part.frames) for part in batch.sets])
    parts, row = [], 0
    for part, tn, rgb, w, where in zip(batch.sets, times, batch.rgb, batch.weight, batch.where):
        parts.append(SetFrames((row, row + part.pixels.numel()), tn, rgb, w, where))
        row += part.pixels.numel()
    return point_sets_sse(model.base.spec, ws, xy, z, parts, chunk) / max(batch.count, 1.0)


__all__ = ["supports_dense", "prepare_kernels", "runs_native", "PointSet", "PointSetSampler", "DenseBatch",
           "pixel_major", "gather_batch", "dense_loss", "SetFrames", "point_sets_sse", "point_set_sse"]
