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

import torch
from torch import Tensor, nn

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


class ModulatedSiren(nn.Module):
    """Parameters of M; the evaluators below take them as an explicit list so that
    quantisation-aware fitting can substitute fake-quantised copies."""

    def __init__(self, cfg: BaseNetConfig, latent_dim: int, modulated: bool,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.spec = SirenSpec(cfg.depth, cfg.width, cfg.modulator_width, cfg.omega_first,
                              cfg.omega, modulated, latent_dim)
        w, wm, d = cfg.width, cfg.modulator_width, cfg.depth
        first_in = IN_DIM if modulated else IN_DIM + latent_dim
        self.syn_w = nn.ParameterList([nn.Parameter(torch.empty(w, first_in if i == 0 else w)) for i in range(d)])
        self.syn_b = nn.ParameterList([nn.Parameter(torch.empty(w)) for _ in range(d)])
        self.out_w = nn.Parameter(torch.empty(OUT_DIM, w))
        self.out_b = nn.Parameter(torch.empty(OUT_DIM))
        if modulated:
            self.mod_z = nn.ParameterList([nn.Parameter(torch.empty(wm, latent_dim)) for _ in range(d)])
            self.mod_b = nn.ParameterList([nn.Parameter(torch.empty(wm)) for _ in range(d)])
            self.mod_g = nn.ParameterList([nn.Parameter(torch.empty(wm, wm)) for _ in range(d - 1)])
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


def _modulator_chunk(spec: SirenSpec, mod_z_all: Tensor, mod_b_all: Tensor, mod_g: list, zc: Tensor) -> Tensor:
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
def modulations(spec: SirenSpec, ws: list[Tensor], z: Tensor, chunk: int = 8192) -> Tensor:
    """The modulator outputs [S, D * M'] for latents z [S, Z], chunk by chunk exactly as `infer`
    computes them. They depend on z only, so a decoder may reuse them for every frame that
    shares z (every frame of a GOP without an alignment flow)."""
    _, _, _, _, mod_z, mod_b, mod_g = _split(spec, ws)
    mod_z_all, mod_b_all = torch.cat(list(mod_z)), torch.cat(list(mod_b))
    return torch.cat([_modulator_chunk(spec, mod_z_all, mod_b_all, mod_g, z[c0:c0 + chunk])
                      for c0 in range(0, z.shape[0], chunk)])


@torch.no_grad()
def infer(spec: SirenSpec, ws: list[Tensor], u: Tensor, z: Tensor | None, chunk: int = 8192,
          mods: Tensor | None = None) -> Tensor:
    """Forward only, chunked, in place: bounded memory for decoding. mods: `modulations(z)`
    computed with the same chunk (then z is not needed)."""
    syn_w, syn_b, out_w, out_b, mod_z, mod_b, mod_g = _split(spec, ws)
    wm = spec.mod_width
    out = u.new_empty(u.shape[0], OUT_DIM)
    if spec.modulated and mods is None:
        mod_z_all, mod_b_all = torch.cat(list(mod_z)), torch.cat(list(mod_b))
    for c0 in range(0, u.shape[0], chunk):
        uc = u[c0:c0 + chunk]
        h = uc
        if spec.modulated:
            gs = (mods[c0:c0 + chunk] if mods is not None
                  else _modulator_chunk(spec, mod_z_all, mod_b_all, mod_g, z[c0:c0 + chunk]))
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


class _FusedMSE(torch.autograd.Function):
    """loss = mean((M(u, z) - target)^2); gradients computed chunk by chunk in forward.

    The backward only scales the stored gradients by the incoming scalar. Valid
    because the loss is a scalar function of (z, weights) alone.
    """

    @staticmethod
    def forward(ctx, u: Tensor, z: Tensor, target: Tensor, spec: SirenSpec, chunk: int,  # type: ignore[override]
                *ws: Tensor) -> Tensor:
        need_z = ctx.needs_input_grad[1]
        need_w = any(ctx.needs_input_grad[5:])
        need = need_z or need_w
        syn_w, syn_b, out_w, out_b, mod_z, mod_b, mod_g = _split(spec, list(ws))
        d, wm, W = spec.depth, spec.mod_width, spec.width
        n_total = u.shape[0]
        scale = 2.0 / (n_total * OUT_DIM)
        sq = torch.zeros((), dtype=torch.float64, device=u.device)
        gws = [torch.zeros_like(w) for w in ws] if need else []
        if need:
            g_syn_w, g_syn_b, g_out_w, g_out_b, g_mod_z, g_mod_b, g_mod_g = _split(spec, gws)
        dz = torch.empty_like(z) if need_z else None
        # omega folded into the (small) weights once, instead of scaling activations
        syn_w_om = [None] + [w * spec.omega for w in syn_w[1:]] if need else []
        if spec.modulated:
            # the z-parts of all modulator layers as one wide matmul (and one for each
            # of their gradients): fewer, better-shaped GEMMs
            mod_z_all = torch.cat(list(mod_z))
            mod_b_all = torch.cat(list(mod_b))
            if need:
                g_mod_z_all = torch.zeros_like(mod_z_all)
                g_mod_b_all = torch.zeros_like(mod_b_all)
        for c0 in range(0, n_total, chunk):
            uc, zc, tc = u[c0:c0 + chunk], z[c0:c0 + chunk], target[c0:c0 + chunk]
            # ---- forward, keeping what the backward needs
            hs: list[Tensor] = [uc]
            sins: list[Tensor] = []
            coss: list[Tensor] = []
            gs: list[Tensor] = []
            h, g = uc, None
            if spec.modulated:
                zp = torch.addmm(mod_b_all, zc, mod_z_all.t())  # [n, depth * wm]
            for i in range(d):
                om = spec.omega_first if i == 0 else spec.omega
                if spec.modulated or i > 0:
                    pre = torch.addmm(syn_b[i], h, syn_w[i].t(), beta=om, alpha=om)
                else:
                    pre = torch.addmm(syn_b[i], uc, syn_w[i][:, :IN_DIM].t(), beta=om, alpha=om)
                    pre.addmm_(zc, syn_w[i][:, IN_DIM:].t(), alpha=om)
                s = torch.sin(pre)
                if need:
                    sins.append(s)
                    coss.append(pre.cos_())
                if spec.modulated:
                    a = zp[:, i * wm:(i + 1) * wm]
                    if i > 0:
                        a.addmm_(g, mod_g[i].t())
                    g = a.relu_()
                    gs.append(g)
                    if wm == W:
                        h = s * g if need else s.mul_(g)
                    else:
                        h = s.clone() if need else s
                        h[:, :wm].mul_(g)
                else:
                    h = s
                hs.append(h)
            out = torch.addmm(out_b, h, out_w.t())
            diff = out.sub_(tc)
            sq += torch.sum(diff * diff, dtype=torch.float64)
            if not need:
                continue
            # ---- backward of this chunk
            diff.mul_(scale)
            g_out_w.addmm_(diff.t(), hs[d])
            g_out_b.add_(diff.sum(0))
            dh = diff @ out_w
            da_next = None
            if spec.modulated:
                dzp = torch.empty_like(zp)
            for i in reversed(range(d)):
                om = spec.omega_first if i == 0 else spec.omega
                if spec.modulated:
                    g = gs[i]
                    dg = dh[:, :wm] * sins[i][:, :wm]
                    if da_next is not None:
                        dg.addmm_(da_next, mod_g[i + 1])
                    da = torch.ops.aten.threshold_backward.grad_input(
                        dg, g, 0.0, grad_input=dzp[:, i * wm:(i + 1) * wm])
                    if i > 0:
                        g_mod_g[i].addmm_(da.t(), gs[i - 1])
                    da_next = da
                    dh[:, :wm].mul_(g)
                dpre = dh.mul_(coss[i])  # d loss / d (W h + b), without the omega
                if i == 0 and not spec.modulated:
                    g_syn_w[0][:, :IN_DIM].addmm_(dpre.t(), uc, alpha=om)
                    g_syn_w[0][:, IN_DIM:].addmm_(dpre.t(), zc, alpha=om)
                    if need_z:
                        torch.mm(dpre, syn_w[0][:, IN_DIM:], out=dz[c0:c0 + chunk])
                        dz[c0:c0 + chunk].mul_(om)
                else:
                    g_syn_w[i].addmm_(dpre.t(), hs[i], alpha=om)
                g_syn_b[i].add_(dpre.sum(0), alpha=om)
                if i > 0:
                    dh = torch.mm(dpre, syn_w_om[i])
            if spec.modulated:
                g_mod_z_all.addmm_(dzp.t(), zc)
                g_mod_b_all.add_(dzp.sum(0))
                if need_z:
                    torch.mm(dzp, mod_z_all, out=dz[c0:c0 + chunk])
        if need and spec.modulated:
            for i in range(d):
                g_mod_z[i].copy_(g_mod_z_all[i * wm:(i + 1) * wm])
                g_mod_b[i].copy_(g_mod_b_all[i * wm:(i + 1) * wm])
        ctx.grads = (dz, gws)
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
