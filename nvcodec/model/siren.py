"""The base network M: a modulated SIREN (Mehta et al. 2021), with a fused fitting path.

    synthesis  h_i = g_i * sin(w_i (W_i h_{i-1} + b_i)),  h_0 = (x, y, t) in [-1, 1]
    modulator  g_0 = ReLU(A_0 z + a_0),  g_i = ReLU(B_i g_{i-1} + A_i z + a_i)
    output     rgb = W_o h_D + b_o

(W'_i [g_{i-1}; z] of the paper is stored as the pair B_i, A_i.) With
latent_mode="input" there is no modulator and z is concatenated to (x, y, t).

Three evaluations of the same function:
- `reference`: plain autograd ops (any use that needs gradients of the output);
- `infer`: forward only, chunked, in place (decoding);
- `fused_mse`: forward *and* backward of the MSE loss per chunk of rows inside one
  autograd Function. Each chunk's activations stay in cache between the forward
  and the backward, no autograd graph is built, weight gradients accumulate with
  in-place GEMMs. On the 2-core CPU this roughly doubles fitting throughput against
  autograd; the matmuls then take most of the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from . import trig
from .config import BaseNetConfig

IN_DIM = 3
OUT_DIM = 3


@dataclass(frozen=True)
class SirenSpec:
    """Static description of the network, passed to the functional evaluators."""

    depth: int
    width: int
    mod_width: int
    omega_first: float
    omega: float
    modulated: bool
    latent_dim: int


def spec_of(cfg: BaseNetConfig, latent_dim: int, modulated: bool) -> SirenSpec:
    return SirenSpec(cfg.depth, cfg.width, cfg.modulator_width, cfg.omega_first, cfg.omega, modulated, latent_dim)


def synthesis_macs(cfg: BaseNetConfig) -> int:
    """Multiply-adds per output pixel and frame of the synthesis path: what a decoder pays for
    every pixel it renders once the per-GOP parts (latent, modulator) are reused. The first
    layer counts as IN_DIM x width (it is evaluated as products of per-pixel and per-frame
    factors, see `synthesize`), each further layer width^2, the output layer width x 3."""
    return IN_DIM * cfg.width + (cfg.depth - 1) * cfg.width * cfg.width + OUT_DIM * cfg.width


def parameter_shapes(cfg: BaseNetConfig, latent_dim: int, modulated: bool) -> dict[str, list[tuple[int, ...]]]:
    """The shape of every parameter of `ModulatedSiren(cfg, latent_dim, modulated)` by group, in
    the network's order (the rule the module and `weight_count` share)."""
    w, wm, d = cfg.width, cfg.modulator_width, cfg.depth
    first_in = IN_DIM if modulated else IN_DIM + latent_dim
    shapes: dict[str, list[tuple[int, ...]]] = {
        "syn_w": [(w, first_in if i == 0 else w) for i in range(d)],
        "syn_b": [(w,)] * d,
        "out_w": [(OUT_DIM, w)],
        "out_b": [(OUT_DIM,)],
    }
    if modulated:
        shapes.update(mod_z=[(wm, latent_dim)] * d, mod_b=[(wm,)] * d, mod_g=[(wm, wm)] * (d - 1))
    return shapes


def weight_count(cfg: BaseNetConfig, latent_dim: int, modulated: bool) -> int:
    """Parameters of `ModulatedSiren(cfg, latent_dim, modulated)`, from the config alone (no allocation)."""
    return sum(math.prod(s) for group in parameter_shapes(cfg, latent_dim, modulated).values() for s in group)


def _parameters(shapes: list[tuple[int, ...]]) -> nn.ParameterList:
    return nn.ParameterList([nn.Parameter(torch.empty(s)) for s in shapes])


class ModulatedSiren(nn.Module):
    """Parameters of M; the evaluators below take them as an explicit list so that
    quantisation-aware fitting can substitute fake-quantised copies."""

    def __init__(self, cfg: BaseNetConfig, latent_dim: int, modulated: bool,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.spec = spec_of(cfg, latent_dim, modulated)
        shapes = parameter_shapes(cfg, latent_dim, modulated)
        self.syn_w = _parameters(shapes["syn_w"])
        self.syn_b = _parameters(shapes["syn_b"])
        self.out_w = nn.Parameter(torch.empty(shapes["out_w"][0]))
        self.out_b = nn.Parameter(torch.empty(shapes["out_b"][0]))
        if modulated:
            self.mod_z = _parameters(shapes["mod_z"])
            self.mod_b = _parameters(shapes["mod_b"])
            self.mod_g = _parameters(shapes["mod_g"])
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """SIREN init for the synthesis path; the modulator starts near g = 1 (bias 1,
        small weights) so that the untrained network is a plain SIREN and no ReLU
        unit starts dead."""
        s = self.spec
        for i, (w, b) in enumerate(zip(self.syn_w, self.syn_b)):
            fan_in = w.shape[1]
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / s.omega
            w.uniform_(-bound, bound, generator=generator)
            b.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), generator=generator)
        bound = math.sqrt(6.0 / s.width) / s.omega
        self.out_w.uniform_(-bound, bound, generator=generator)
        self.out_b.fill_(0.5)
        if s.modulated:
            for a in self.mod_z:
                a.uniform_(-1.0, 1.0, generator=generator).mul_(1.0 / math.sqrt(max(1, a.shape[1])))
            for bb in self.mod_b:
                bb.fill_(1.0)
            for bm in self.mod_g:
                bm.uniform_(-1.0, 1.0, generator=generator).mul_(0.1 / math.sqrt(bm.shape[1]))

    def weight_list(self) -> list[Tensor]:
        """Parameters in the order the evaluators expect."""
        ws: list[Tensor] = [*self.syn_w, *self.syn_b, self.out_w, self.out_b]
        if self.spec.modulated:
            ws += [*self.mod_z, *self.mod_b, *self.mod_g]
        return ws


def _split(spec: SirenSpec, ws: list[Tensor]):
    d = spec.depth
    syn_w, syn_b = ws[:d], ws[d:2 * d]
    out_w, out_b = ws[2 * d], ws[2 * d + 1]
    if spec.modulated:
        rest = ws[2 * d + 2:]
        mod_z, mod_b, mod_g = rest[:d], rest[d:2 * d], [None, *rest[2 * d:]]
    else:
        mod_z = mod_b = mod_g = None
    return syn_w, syn_b, out_w, out_b, mod_z, mod_b, mod_g


def reference(spec: SirenSpec, ws: list[Tensor], u: Tensor, z: Tensor) -> Tensor:
    """Plain autograd evaluation: u [S, 3] in [-1, 1], z [S, Z] -> rgb [S, 3]."""
    syn_w, syn_b, out_w, out_b, mod_z, mod_b, mod_g = _split(spec, ws)
    wm = spec.mod_width
    h = u if spec.modulated else torch.cat([u, z], dim=1)
    g = None
    for i in range(spec.depth):
        om = spec.omega_first if i == 0 else spec.omega
        s = torch.sin(om * (h @ syn_w[i].t() + syn_b[i]))
        if spec.modulated:
            a = z @ mod_z[i].t() + mod_b[i]
            if i > 0:
                a = a + g @ mod_g[i].t()
            g = torch.relu(a)
            if wm == spec.width:
                s = s * g
            else:
                s = torch.cat([s[:, :wm] * g, s[:, wm:]], dim=1)
        h = s
    return h @ out_w.t() + out_b


def modulator_forward(spec: SirenSpec, mod_z_all: Tensor, mod_b_all: Tensor, mod_g: list, zc: Tensor) -> Tensor:
    """The modulator outputs g_0 .. g_{D-1} of one chunk, side by side [rows, D * M'] (in place)."""
    wm = spec.mod_width
    zp = torch.addmm(mod_b_all, zc, mod_z_all.t())
    g = None
    for i in range(spec.depth):
        a = zp[:, i * wm:(i + 1) * wm]
        if i > 0:
            a.addmm_(g, mod_g[i].t())
        g = a.relu_()
    return zp


@torch.no_grad()
def infer(spec: SirenSpec, ws: list[Tensor], u: Tensor, z: Tensor, chunk: int = 8192) -> Tensor:
    """Forward only, chunked, in place, at points with their own times (bounded memory)."""
    syn_w, syn_b, out_w, out_b, mod_z, mod_b, mod_g = _split(spec, ws)
    wm = spec.mod_width
    out = u.new_empty(u.shape[0], OUT_DIM)
    if spec.modulated:
        mod_z_all, mod_b_all = torch.cat(list(mod_z)), torch.cat(list(mod_b))
    for c0 in range(0, u.shape[0], chunk):
        uc = u[c0:c0 + chunk]
        h = uc
        if spec.modulated:
            gs = modulator_forward(spec, mod_z_all, mod_b_all, mod_g, z[c0:c0 + chunk])
        for i in range(spec.depth):
            om = spec.omega_first if i == 0 else spec.omega
            if spec.modulated or i > 0:
                pre = torch.addmm(syn_b[i], h, syn_w[i].t(), beta=om, alpha=om)
            else:
                pre = torch.addmm(syn_b[i], uc, syn_w[i][:, :IN_DIM].t(), beta=om, alpha=om)
                pre.addmm_(z[c0:c0 + chunk], syn_w[i][:, IN_DIM:].t(), alpha=om)
            h = pre.sin_()
            if spec.modulated:
                h[:, :wm].mul_(gs[:, i * wm:(i + 1) * wm])
        torch.addmm(out_b, h, out_w.t(), out=out[c0:c0 + chunk])
    return out


@dataclass(frozen=True)
class PointTerms:
    """What the network computes at a set of points (x, y) and latents z before time enters.

    t enters only the first layer, sin(A + t c) with A = w_1 (W_1^{xy,z} [x, y; z] + b_1) per
    point and c = w_1 W_1^t per unit, so with sin(A + tc) = sin A cos tc + cos A sin tc a frame
    costs two products per unit there instead of a sine: `first_sin` = g_0 sin A and
    `first_cos` = g_0 cos A (g_0 on the first M' units; no g without modulation), `mods` the
    modulator outputs g_1 .. g_{D-1} (each [S, M'], contiguous). Without an alignment flow
    every frame of a GOP shares them (`render_frames` reuses them).
    """

    first_sin: Tensor
    first_cos: Tensor
    mods: tuple[Tensor, ...]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.first_sin, self.first_cos, *self.mods))


def terms_floats_per_point(spec: SirenSpec) -> int:
    """Floats `PointTerms` keeps per point."""
    return 2 * spec.width + ((spec.depth - 1) * spec.mod_width if spec.modulated else 0)


@torch.no_grad()
def point_terms(spec: SirenSpec, ws: list[Tensor], xy: Tensor, z: Tensor, chunk: int = 4096) -> PointTerms:
    """`PointTerms` at points xy [S, 2] in [-1, 1] with latents z [S, Z]."""
    syn_w, syn_b, _, _, mod_z, mod_b, mod_g = _split(spec, ws)
    wm, om = spec.mod_width, spec.omega_first
    n = xy.shape[0]
    first_sin = xy.new_empty(n, spec.width)
    first_cos = xy.new_empty(n, spec.width)
    mods = tuple(xy.new_empty(n, wm) for _ in range(spec.depth - 1)) if spec.modulated else ()
    w_xy = syn_w[0][:, :2] * om
    w_z = None if spec.modulated else syn_w[0][:, IN_DIM:] * om
    b = syn_b[0] * om
    g0 = xy.new_empty(min(n, chunk), wm) if spec.modulated else None
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        a = torch.addmm(b, xy[c0:c1], w_xy.t())
        if w_z is not None:
            a.addmm_(z[c0:c1], w_z.t())
        torch.sin(a, out=first_sin[c0:c1])
        torch.cos(a, out=first_cos[c0:c1])
        if spec.modulated:
            # each modulator layer straight into its buffer (no side-by-side block to copy out of)
            g = None
            for i in range(spec.depth):
                dst = g0[:c1 - c0] if i == 0 else mods[i - 1][c0:c1]
                torch.addmm(mod_b[i], z[c0:c1], mod_z[i].t(), out=dst)
                if i > 0:
                    dst.addmm_(g, mod_g[i].t())
                g = dst.relu_()
                if i == 0:
                    first_sin[c0:c1, :wm].mul_(g)
                    first_cos[c0:c1, :wm].mul_(g)
    return PointTerms(first_sin, first_cos, mods)


@torch.no_grad()
def synthesize(spec: SirenSpec, ws: list[Tensor], terms: PointTerms, t: Tensor, chunk: int = 4096) -> Tensor:
    """RGB [S, 3] at the points of `terms` at normalised time t (a 0-d or 1-element tensor in
    [-1, 1]): the per-frame part of decoding, matrix products and sines of layers 2..D."""
    syn_w, syn_b, out_w, out_b, _, _, _ = _split(spec, ws)
    wm = spec.mod_width
    c = syn_w[0][:, 2] * spec.omega_first
    tc = t.reshape(()).to(c.dtype) * c
    cos_t, sin_t = torch.cos(tc), torch.sin(tc)
    # omega folded into the weights once per call instead of scaling every activation
    ws_om = [(w * spec.omega).t() for w in syn_w[1:]]
    bs_om = [bb * spec.omega for bb in syn_b[1:]]
    out_b_col = out_b.unsqueeze(1)
    n = terms.first_sin.shape[0]
    out = terms.first_sin.new_empty(n, OUT_DIM)
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        h = torch.mul(terms.first_sin[c0:c1], cos_t)
        h.addcmul_(terms.first_cos[c0:c1], sin_t)
        for i in range(1, spec.depth):
            h = torch.addmm(bs_om[i - 1], h, ws_om[i - 1]).sin_()
            if spec.modulated:
                h[:, :wm].mul_(terms.mods[i - 1][c0:c1])
        # [3, rows] = out_w h^T: a 3-column product is several times slower the other way round
        out[c0:c1] = torch.addmm(out_b_col, out_w, h.t()).t()
    return out


def modulated(spec: SirenSpec, s: Tensor, g: Tensor) -> Tensor:
    """A layer's output as a new tensor (the backward needs the sines s themselves): s with its
    first mod_width units times the modulation g."""
    if spec.mod_width == spec.width:
        return s * g
    h = s.clone()
    h[:, :spec.mod_width].mul_(g)
    return h


def modulator_layer_backward(i: int, dg: Tensor, da_next: Tensor | None, gs: list[Tensor], mod_g: list,
                             g_mod_g: list, dzp: Tensor, wm: int) -> Tensor:
    """Backward through modulator layer i, g_i = ReLU(a_i): d loss / d a_i, written into its columns
    of dzp and returned, from d loss / d g_i (`dg`, updated in place) and the layer above's
    d loss / d a_{i+1} (`da_next`, None for the last layer); accumulates the gradient of B_i."""
    if da_next is not None:
        dg.addmm_(da_next, mod_g[i + 1])
    da = torch.ops.aten.threshold_backward.grad_input(dg, gs[i], 0.0, grad_input=dzp[:, i * wm:(i + 1) * wm])
    if i > 0:
        g_mod_g[i].addmm_(da.t(), gs[i - 1])
    return da


@dataclass
class _FusedWeights:
    """The weights of one fused call by role, with what every chunk reuses: omega folded into the
    (small) synthesis weights of layers 2..D instead of scaling activations (`syn_w_om`, only when
    gradients are needed), and the z-parts of all modulator layers as one wide matrix (one matmul
    per chunk, and one for each of their gradients: fewer, better-shaped GEMMs)."""

    syn_w: list[Tensor]
    syn_b: list[Tensor]
    out_w: Tensor
    out_b: Tensor
    mod_g: list | None
    syn_w_om: list
    mod_z_all: Tensor | None
    mod_b_all: Tensor | None

    @classmethod
    def of(cls, spec: SirenSpec, ws: list[Tensor], need: bool) -> "_FusedWeights":
        syn_w, syn_b, out_w, out_b, mod_z, mod_b, mod_g = _split(spec, ws)
        syn_w_om = [None] + [w * spec.omega for w in syn_w[1:]] if need else []
        mod_z_all = torch.cat(list(mod_z)) if spec.modulated else None
        mod_b_all = torch.cat(list(mod_b)) if spec.modulated else None
        return cls(syn_w, syn_b, out_w, out_b, mod_g, syn_w_om, mod_z_all, mod_b_all)


@dataclass
class GradBuffers:
    """The gradient buffers a fused evaluation accumulates into, chunk by chunk: `ws` in the order
    of `weight_list` (the other weight fields are views of it, by role), the gradients of the
    side-by-side modulator z-parts (`modulated` only) and dz (None: z needs no gradient)."""

    ws: list[Tensor]
    syn_w: list[Tensor]
    syn_b: list[Tensor]
    out_w: Tensor
    out_b: Tensor
    mod_z: list | None
    mod_b: list | None
    mod_g: list | None
    mod_z_all: Tensor | None
    mod_b_all: Tensor | None
    dz: Tensor | None

    @classmethod
    def zeros(cls, spec: SirenSpec, ws: Sequence[Tensor], mod_z_all: Tensor | None, mod_b_all: Tensor | None,
              z: Tensor, need_z: bool) -> "GradBuffers":
        gws = [torch.zeros_like(w) for w in ws]
        g_mod_z_all = torch.zeros_like(mod_z_all) if spec.modulated else None
        g_mod_b_all = torch.zeros_like(mod_b_all) if spec.modulated else None
        return cls(gws, *_split(spec, gws), g_mod_z_all, g_mod_b_all, torch.empty_like(z) if need_z else None)

    def add_modulator_input(self, dzp: Tensor, zc: Tensor, mod_z_all: Tensor, dz_rows: Tensor | None) -> None:
        """From d loss / d (the side-by-side modulator pre-activations) of a chunk (`dzp`): the
        gradients of the z-parts and, into `dz_rows` (the chunk's rows of dz), that of z."""
        self.mod_z_all.addmm_(dzp.t(), zc)
        self.mod_b_all.add_(dzp.sum(0))
        if dz_rows is not None:
            torch.mm(dzp, mod_z_all, out=dz_rows)

    def scatter_modulator(self, spec: SirenSpec) -> None:
        """Copy the gradients of the side-by-side modulator z-parts back to the per-layer tensors."""
        wm = spec.mod_width
        for i in range(spec.depth):
            self.mod_z[i].copy_(self.mod_z_all[i * wm:(i + 1) * wm])
            self.mod_b[i].copy_(self.mod_b_all[i * wm:(i + 1) * wm])


@dataclass
class _ChunkActivations:
    """What the backward of a chunk needs from its forward: the layer inputs h_0 .. h_D, the sines
    and cosines of every pre-activation, the modulations g_i and their side-by-side block zp."""

    hs: list[Tensor]
    sins: list[Tensor]
    coss: list[Tensor]
    gs: list[Tensor]
    zp: Tensor | None


def _chunk_forward(spec: SirenSpec, p: _FusedWeights, uc: Tensor, zc: Tensor,
                   keep: bool) -> tuple[Tensor, _ChunkActivations]:
    """The network's output at one chunk of rows, keeping what its backward needs when `keep`
    (else in place where it can)."""
    wm = spec.mod_width
    act = _ChunkActivations([uc], [], [], [], None)
    h, g = uc, None
    if spec.modulated:
        act.zp = torch.addmm(p.mod_b_all, zc, p.mod_z_all.t())  # [n, depth * wm]
    for i in range(spec.depth):
        om = spec.omega_first if i == 0 else spec.omega
        if spec.modulated or i > 0:
            pre = torch.addmm(p.syn_b[i], h, p.syn_w[i].t(), beta=om, alpha=om)
        else:
            pre = torch.addmm(p.syn_b[i], uc, p.syn_w[i][:, :IN_DIM].t(), beta=om, alpha=om)
            pre.addmm_(zc, p.syn_w[i][:, IN_DIM:].t(), alpha=om)
        s = trig.sin(pre)
        if keep:
            act.sins.append(s)
            act.coss.append(trig.cos_(pre))
        if spec.modulated:
            a = act.zp[:, i * wm:(i + 1) * wm]
            if i > 0:
                a.addmm_(g, p.mod_g[i].t())
            g = a.relu_()
            act.gs.append(g)
            if keep:
                h = modulated(spec, s, g)
            else:
                h = s
                h[:, :wm].mul_(g)
        else:
            h = s
        act.hs.append(h)
    return torch.addmm(p.out_b, h, p.out_w.t()), act


def _chunk_backward(spec: SirenSpec, p: _FusedWeights, act: _ChunkActivations, diff: Tensor, uc: Tensor,
                    zc: Tensor, g: GradBuffers, dz_rows: Tensor | None) -> None:
    """Accumulate the weight gradients of one chunk from d loss / d out (`diff`), and write its
    rows of dz (`dz_rows`, a view of dz; None: z needs no gradient)."""
    d, wm = spec.depth, spec.mod_width
    g.out_w.addmm_(diff.t(), act.hs[d])
    g.out_b.add_(diff.sum(0))
    dh = diff @ p.out_w
    da_next = None
    dzp = torch.empty_like(act.zp) if spec.modulated else None
    for i in reversed(range(d)):
        om = spec.omega_first if i == 0 else spec.omega
        if spec.modulated:
            dg = dh[:, :wm] * act.sins[i][:, :wm]
            da_next = modulator_layer_backward(i, dg, da_next, act.gs, p.mod_g, g.mod_g, dzp, wm)
            dh[:, :wm].mul_(act.gs[i])
        dpre = dh.mul_(act.coss[i])  # d loss / d (W h + b), without the omega
        if i == 0 and not spec.modulated:
            g.syn_w[0][:, :IN_DIM].addmm_(dpre.t(), uc, alpha=om)
            g.syn_w[0][:, IN_DIM:].addmm_(dpre.t(), zc, alpha=om)
            if dz_rows is not None:
                torch.mm(dpre, p.syn_w[0][:, IN_DIM:], out=dz_rows)
                dz_rows.mul_(om)
        else:
            g.syn_w[i].addmm_(dpre.t(), act.hs[i], alpha=om)
        g.syn_b[i].add_(dpre.sum(0), alpha=om)
        if i > 0:
            dh = torch.mm(dpre, p.syn_w_om[i])
    if spec.modulated:
        g.add_modulator_input(dzp, zc, p.mod_z_all, dz_rows)


class _FusedMSE(torch.autograd.Function):
    """loss = mean((M(u, z) - target)^2); gradients computed chunk by chunk in forward
    (`_chunk_forward`, then `_chunk_backward` while the chunk's activations are in cache).

    The backward only scales the stored gradients by the incoming scalar. Valid
    because the loss is a scalar function of (z, weights) alone.
    """

    @staticmethod
    def forward(ctx, u: Tensor, z: Tensor, target: Tensor, spec: SirenSpec, chunk: int,  # type: ignore[override]
                *ws: Tensor) -> Tensor:
        need_z = ctx.needs_input_grad[1]
        need = need_z or any(ctx.needs_input_grad[5:])
        n_total = u.shape[0]
        scale = 2.0 / (n_total * OUT_DIM)
        sq = torch.zeros((), dtype=torch.float64, device=u.device)
        p = _FusedWeights.of(spec, list(ws), need)
        g = GradBuffers.zeros(spec, ws, p.mod_z_all, p.mod_b_all, z, need_z) if need else None
        for c0 in range(0, n_total, chunk):
            rows = slice(c0, c0 + chunk)
            out, act = _chunk_forward(spec, p, u[rows], z[rows], need)
            diff = out.sub_(target[rows])
            sq += torch.sum(diff * diff, dtype=torch.float64)
            if g is not None:
                _chunk_backward(spec, p, act, diff.mul_(scale), u[rows], z[rows], g,
                                None if g.dz is None else g.dz[rows])
        if g is not None and spec.modulated:
            g.scatter_modulator(spec)
        ctx.grads = (g.dz, g.ws) if g is not None else (None, [])
        return (sq / (n_total * OUT_DIM)).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_loss: Tensor):  # type: ignore[override]
        dz, gws = ctx.grads
        ctx.grads = None
        gz = dz * grad_loss if dz is not None else None
        gw = [g * grad_loss for g in gws] if gws else [None] * (len(ctx.needs_input_grad) - 5)
        return (None, gz, None, None, None, *gw)


def fused_mse(spec: SirenSpec, ws: list[Tensor], u: Tensor, z: Tensor, target: Tensor,
              chunk: int = 1024) -> Tensor:
    """mean((M(u, z) - target)^2) with the fused chunked forward+backward."""
    return _FusedMSE.apply(u, z, target, spec, chunk, *ws)
