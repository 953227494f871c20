"""Hyper-SIREN alignment flow F_H(t)(x, y) (paper Eq. 2-4, after Figueiredo et al.).

A small hyper-network maps the frame time to all weights of a tiny SIREN, which is
then evaluated on the frame's points with batched matmuls, so one call handles F
frames x P points and the hyper-network runs once per frame.

Hyper-network input: (2 t / (T-1) - 1, 2 (t - t_k) / n - 1), i.e. the global time
and the phase inside the GOP. The phase lets the generated weights jump at GOP
boundaries, where the flow target switches from one keyframe to the next.

The SIREN outputs 2 |P| channels: for each neighbour p the flow towards keyframe
t_{k+p}, before the log time factor s_p(t) (see `nvtm.py`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import FlowConfig


def generated_dims(cfg: FlowConfig, out_dim: int) -> list[int]:
    """Layer widths of the generated SIREN: 2 -> hidden -> ... -> out_dim (`cfg.layers` linear layers)."""
    return [2] + [cfg.hidden] * (cfg.layers - 1) + [out_dim]


def generated_count(cfg: FlowConfig, out_dim: int) -> int:
    """Weights and biases of the generated SIREN: what the hyper-network's head outputs per frame."""
    dims = generated_dims(cfg, out_dim)
    return sum(i * o + o for i, o in zip(dims[:-1], dims[1:]))


def parameter_shapes(cfg: FlowConfig, out_dim: int) -> list[tuple[int, ...]]:
    """The shape of every parameter of `HyperFlow(cfg, out_dim)` in order: weight and bias of each
    hyper layer (2 -> hyper_hidden -> ...), then of the head (-> `generated_count`)."""
    shapes: list[tuple[int, ...]] = []
    d_in = 2
    for _ in range(cfg.hyper_layers):
        shapes += [(cfg.hyper_hidden, d_in), (cfg.hyper_hidden,)]
        d_in = cfg.hyper_hidden
    n_gen = generated_count(cfg, out_dim)
    return shapes + [(n_gen, d_in), (n_gen,)]


def weight_count(cfg: FlowConfig, out_dim: int) -> int:
    """Parameters of `HyperFlow(cfg, out_dim)`, from the config alone (no allocation)."""
    return sum(math.prod(s) for s in parameter_shapes(cfg, out_dim))


class HyperFlow(nn.Module):
    """Per-frame generated SIREN weights; parameters live in `hyper` and `head`."""

    def __init__(self, cfg: FlowConfig, out_dim: int, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.dims = generated_dims(cfg, out_dim)
        self.n_generated = generated_count(cfg, out_dim)
        *hyper, head_weight, head_bias = parameter_shapes(cfg, out_dim)
        self.hyper = nn.ParameterList([nn.Parameter(torch.empty(s)) for s in hyper])
        self.head_weight = nn.Parameter(torch.empty(head_weight))
        self.head_bias = nn.Parameter(torch.empty(head_bias))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """SIREN init of the hyper layers; the head bias holds a SIREN init of the
        generated network (its last layer ~0 so the initial flow is ~0), the head
        weight a small spread so that time dependence can grow."""
        cfg = self.cfg
        for i in range(0, len(self.hyper), 2):
            w, b = self.hyper[i], self.hyper[i + 1]
            fan_in = w.shape[1]
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / cfg.hyper_omega
            w.uniform_(-bound, bound, generator=generator)
            b.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), generator=generator)
        base = torch.empty(self.n_generated)
        spread = torch.empty(self.n_generated)
        off = 0
        n_layers = len(self.dims) - 1
        for li, (i, o) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            if li == 0:
                wb = 1.0 / i
            else:
                wb = math.sqrt(6.0 / i) / cfg.omega
            if li == n_layers - 1:
                wb *= 1e-2  # start near the identity alignment
            base[off:off + i * o].uniform_(-wb, wb, generator=generator)
            spread[off:off + i * o] = wb
            off += i * o
            bb = 0.0 if li == n_layers - 1 else 1.0 / math.sqrt(i)
            base[off:off + o].uniform_(-bb, bb, generator=generator) if bb > 0 else base[off:off + o].zero_()
            spread[off:off + o] = max(bb, 1e-2 * wb)
            off += o
        self.head_bias.copy_(base)
        d_in = self.head_weight.shape[1]
        self.head_weight.uniform_(-1.0, 1.0, generator=generator)
        self.head_weight.mul_(spread.unsqueeze(1) * (0.1 / math.sqrt(d_in)))

    def generate(self, tau: Tensor) -> Tensor:
        """tau [F, 2] in [-1, 1] -> generated SIREN parameters [F, n_generated]."""
        h = tau
        for i in range(0, len(self.hyper), 2):
            h = torch.sin(self.cfg.hyper_omega * torch.addmm(self.hyper[i + 1], h, self.hyper[i].t()))
        return torch.addmm(self.head_bias, h, self.head_weight.t())

    def forward(self, xy: Tensor, tau: Tensor) -> Tensor:
        """xy [F, P, 2] in [0, 1], tau [F, 2] -> raw flow [F, P, out_dim]."""
        theta = self.generate(tau)
        fr = xy.shape[0]
        h = xy * 2 - 1
        off = 0
        om = self.cfg.omega
        n_layers = len(self.dims) - 1
        for li, (i, o) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            w = theta[:, off:off + i * o].view(fr, o, i)
            off += i * o
            b = theta[:, off:off + o].view(fr, 1, o)
            off += o
            if li < n_layers - 1:
                h = torch.sin(torch.baddbmm(b, h, w.transpose(1, 2), beta=om, alpha=om))
            else:
                h = torch.baddbmm(b, h, w.transpose(1, 2))
        return h
