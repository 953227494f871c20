"""NVP (Kim et al., NeurIPS 2022): learnable positional features for video.

As in the paper and its reference code (config_nvp_s.json, modules.py, sparsegrid.py of
subin-kim-cv/NVP): three *latent keyframes*, multi-resolution dense 2-D grids over the
(x, y), (x, t) and (y, t) planes (levels of 2 features, base resolution 16, growth 1.35,
bilinear); *sparse positional features*, a 3-D grid of 2 features at reduced (x, y) and
full t resolution, read at the nearest cell together with its 3 x 3 spatial neighbours
(9 x 2 features); and a *modulated implicit function*: a SIREN on (x, y, t) whose layers
are modulated by a ReLU network fed with the concatenated features (Mehta et al. 2021;
nvcodec's ModulatedSiren, the same decoder code NVTM uses). Loss MSE, Adam; lr 1e-2 on
the grids (the reference code's lr) and 1e-3 on the network, warm-up 2 % then cosine;
batches of 8 frames x 2048 random pixels (as nvcodec's fit).

Sizing (ours): the decoder is NVP-S's 3 x 128 unless that exceeds a quarter of the budget
(then narrower); the rest is split evenly between the keyframes (levels added up to 16,
resolutions capped at each axis's size) and the sparse grid (x, y downsampled by the
smallest integer factor that fits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from nvcodec.fit.sampler import PixelSampler
from nvcodec.metrics.psnr import psnr_from_mse
from nvcodec.model import siren
from nvcodec.model.config import BaseNetConfig
from nvcodec.model.grids import grid_lookup, new_grid

from .harness import PausableClock, StepHook, lr_fraction, set_lr

FEATURES = 2
BASE_RES = 16
GROWTH = 1.35
MAX_LEVELS = 16
INIT = 1e-4
DECODER_DEPTH = 3
DECODER_WIDTH = 128


@dataclass(frozen=True)
class NVPConfig:
    width: int
    height: int
    frames: int
    levels: int  # keyframe levels per plane
    sparse_factor: int  # (x, y) downsampling of the sparse 3-D grid
    decoder_width: int

    def plane_resolutions(self, a: int, b: int) -> list[tuple[int, int]]:
        """Per level (res along axis a, res along axis b), capped at the axis sizes."""
        out = []
        for lev in range(self.levels):
            r = math.floor(BASE_RES * GROWTH ** lev + 1e-6)
            out.append((max(2, min(r, a)), max(2, min(r, b))))
        return out

    @property
    def sparse_shape(self) -> tuple[int, int, int]:
        """(T, H', W') of the sparse grid."""
        f = self.sparse_factor
        return self.frames, max(1, -(-self.height // f)), max(1, -(-self.width // f))

    @property
    def latent_dim(self) -> int:
        return 3 * self.levels * FEATURES + 9 * FEATURES

    def keyframe_values(self) -> int:
        planes = ((self.width, self.height), (self.width, self.frames), (self.height, self.frames))
        return sum(FEATURES * a * b for w, h in planes for a, b in self.plane_resolutions(w, h))

    def sparse_values(self) -> int:
        return math.prod(self.sparse_shape) * FEATURES

    def decoder_params(self) -> int:
        return decoder_params(self.decoder_width, self.latent_dim)

    def total(self) -> int:
        return self.keyframe_values() + self.sparse_values() + self.decoder_params()


def decoder_params(width: int, latent_dim: int) -> int:
    w, d = width, DECODER_DEPTH
    syn = (3 * w + w) + (d - 1) * (w * w + w) + 3 * w + 3
    mod = d * (latent_dim * w + w) + (d - 1) * w * w
    return syn + mod


def for_budget(width: int, height: int, frames: int, max_params: int) -> NVPConfig:
    """Split the budget: decoder <= 1/4, then half of the rest to each grid family."""
    probe = NVPConfig(width, height, frames, MAX_LEVELS, 1, DECODER_WIDTH)
    dec_w = DECODER_WIDTH
    while dec_w > 8 and decoder_params(dec_w, probe.latent_dim) > max_params / 4:
        dec_w -= 8
    rest = max(0, max_params - decoder_params(dec_w, probe.latent_dim))
    levels = 1
    for lev in range(1, MAX_LEVELS + 1):
        if NVPConfig(width, height, frames, lev, 1, dec_w).keyframe_values() <= rest / 2:
            levels = lev
    key = NVPConfig(width, height, frames, levels, 1, dec_w).keyframe_values()
    factor = 1
    while NVPConfig(width, height, frames, levels, factor, dec_w).sparse_values() > rest - key and \
            factor < max(width, height):
        factor += 1
    return NVPConfig(width, height, frames, levels, factor, dec_w)


class NVP(nn.Module):
    """Keyframes (xy, xt, yt) + sparse 3-D grid -> modulated SIREN -> RGB."""

    def __init__(self, cfg: NVPConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        W, H, T = cfg.width, cfg.height, cfg.frames

        def plane(a: int, b: int) -> nn.ParameterList:
            return nn.ParameterList([nn.Parameter(new_grid(1, FEATURES, r, INIT, gen))
                                     for r in cfg.plane_resolutions(a, b)])

        self.xy, self.xt, self.yt = plane(W, H), plane(W, T), plane(H, T)
        self.sparse = nn.Parameter(torch.empty(*cfg.sparse_shape, FEATURES).uniform_(-INIT, INIT, generator=gen))
        base = BaseNetConfig(depth=DECODER_DEPTH, width=cfg.decoder_width, modulator_width=cfg.decoder_width)
        self.decoder = siren.ModulatedSiren(base, cfg.latent_dim, True, gen)

    def grids(self) -> list[nn.Parameter]:
        return [*self.xy, *self.xt, *self.yt, self.sparse]

    def sparse_features(self, x: Tensor, y: Tensor, tn: Tensor) -> Tensor:
        """Nearest sparse cell and its 3 x 3 (x, y) neighbours: [S, 9 * FEATURES]."""
        T, Hs, Ws = self.cfg.sparse_shape
        ti = torch.clamp(torch.round(tn * (T - 1)), 0, T - 1).long()
        xi = torch.round(x * (Ws - 1)).long()
        yi = torch.round(y * (Hs - 1)).long()
        flat = self.sparse.view(-1, FEATURES)
        feats = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                cx = torch.clamp(xi + dx, 0, Ws - 1)
                cy = torch.clamp(yi + dy, 0, Hs - 1)
                feats.append(flat.index_select(0, (ti * Hs + cy) * Ws + cx))
        return torch.cat(feats, dim=1)

    def inputs(self, xy: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(u [S, 3] in [-1, 1], z [S, latent]) for points xy [S, 2] (pixel centres in [0, 1])
        at frame times t [S] (frame units)."""
        T = self.cfg.frames
        tn = (t + 0.5) / T  # a level with T nodes has one per frame
        x, y = xy[:, 0], xy[:, 1]
        z = torch.cat([grid_lookup(list(self.xy), xy),
                       grid_lookup(list(self.xt), torch.stack([x, tn], 1)),
                       grid_lookup(list(self.yt), torch.stack([y, tn], 1)),
                       self.sparse_features(x, y, t / max(1, T - 1))], dim=1)
        u = torch.cat([xy * 2 - 1, (2 * t / max(1, T - 1) - 1).unsqueeze(1)], dim=1)
        return u, z

    def loss(self, xy: Tensor, t: Tensor, target: Tensor) -> Tensor:
        u, z = self.inputs(xy, t)
        return siren.fused_mse(self.decoder.spec, self.decoder.weight_list(), u, z, target)

    @torch.no_grad()
    def render(self, xy: Tensor, t: Tensor) -> Tensor:
        u, z = self.inputs(xy, t)
        return siren.infer(self.decoder.spec, self.decoder.weight_list(), u, z)


class NVPMethod:
    """NVP under the speed harness."""

    name = "NVP"

    def __init__(self, width: int, height: int, frames: int, max_params: int, device: str = "cpu",
                 seed: int = 0, lr_grid: float = 1e-2, lr_net: float = 1e-3, warmup: float = 0.02,
                 frames_per_batch: int = 8, pixels_per_frame: int = 2048):
        self.cfg = for_budget(width, height, frames, max_params)
        self.device = torch.device(device)
        self.model = NVP(self.cfg, seed).to(self.device)
        self.seed, self.lr_grid, self.lr_net, self.warmup = seed, lr_grid, lr_net, warmup
        self.fpb, self.ppf = frames_per_batch, pixels_per_frame

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> str:
        c = self.cfg
        return (f"keyframes {c.levels} levels x {FEATURES} (xy, xt, yt), sparse grid "
                f"{'x'.join(map(str, c.sparse_shape))}x{FEATURES} (1/{c.sparse_factor} in x, y), "
                f"decoder {DECODER_DEPTH}x{c.decoder_width}")

    def train(self, video: Tensor, budget_s: float, clock: PausableClock, on_step: StepHook) -> int:
        m = self.model
        grids = m.grids()
        net = list(m.decoder.parameters())
        m.decoder.out_b.data.copy_(video.reshape(-1, 3).float().mean(0).to(self.device) / 255.0)
        opt = torch.optim.Adam([{"params": grids, "lr": self.lr_grid, "base_lr": self.lr_grid},
                                {"params": net, "lr": self.lr_net, "base_lr": self.lr_net}],
                               betas=(0.9, 0.99), eps=1e-15)
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        sampler = PixelSampler(video.to(self.device), self.fpb, self.ppf, gen)
        start, step = clock.perf_counter(), 0
        while (elapsed := clock.perf_counter() - start) < budget_s:
            set_lr(opt, lr_fraction(elapsed / budget_s, self.warmup, 0.03))
            b = sampler.next()
            pts = b.xy.shape[1]
            loss = m.loss(b.xy.reshape(-1, 2), b.t.repeat_interleave(pts), b.rgb.reshape(-1, 3))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            on_step(clock.perf_counter() - start, step)
        return step

    @torch.no_grad()
    def psnr(self, video: Tensor, tile: int = 1 << 15) -> float:
        from nvcodec.model.nvtm import pixel_centres

        T, H, W = (int(s) for s in video.shape[:3])
        xy_all = pixel_centres(W, H, self.device)
        sse, n = 0.0, 0
        for f in range(T):
            ref = video[f].reshape(-1, 3).to(self.device).float() / 255.0
            for c0 in range(0, H * W, tile):
                xy = xy_all[c0:c0 + tile]
                out = self.model.render(xy, torch.full((xy.shape[0],), float(f), device=self.device)).clamp_(0, 1)
                sse += float(torch.sum((out - ref[c0:c0 + tile]) ** 2, dtype=torch.float64))
                n += out.numel()
        return psnr_from_mse(sse / max(n, 1))
