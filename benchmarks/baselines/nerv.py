"""NeRV (Chen et al., NeurIPS 2021): a frame-wise implicit representation, f(t) -> frame.

As in the paper: the normalised frame index t is embedded with the positional encoding
Gamma(t) = (sin(b^0 pi t), cos(b^0 pi t), ..., sin(b^(l-1) pi t), cos(b^(l-1) pi t)),
b = 1.25, l = 40 (NeRV-S's `1.25_40`); an MLP stem (GELU) maps it to a small C0 x h0 x w0
feature map; NeRV blocks (3x3 conv to C s^2 channels, PixelShuffle(s), GELU) upsample it
to the frame size; a 1x1 conv head gives RGB through (tanh + 1) / 2. Channels follow the
reference code: the first block keeps C0, later ones halve (reduction 2) down to a floor
`lower_width`. Training: Adam (betas 0.5, 0.999), lr 5e-4, warm-up 20 % then cosine,
batch size 1 frame, loss 0.7 L1 + 0.3 (1 - SSIM) (the paper's best, Table 10).

Sizing (ours): the strides are the prime factors (5, 3, 2) of gcd(W, H), largest first,
at most 5 blocks (a frame whose gcd gives less than x16 is generated at x32 and
cropped); one width knob k sets C0 = k, lower_width = max(8, 3.7 k) and the stem's hidden
width min(512, 20 k) (NeRV-S's proportions: 26, 96, 512), and `for_budget` picks the
largest k within a parameter budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim
from torch import Tensor, nn

from nvcodec.metrics.psnr import psnr_from_mse

from .harness import PausableClock, StepHook, lr_fraction, set_lr

PE_BASE = 1.25
PE_LEVELS = 40
MAX_BLOCKS = 5


@dataclass(frozen=True)
class NeRVConfig:
    """Shape of a NeRV network for a W x H frame."""

    width: int
    height: int
    k: int  # width knob
    strides: tuple[int, ...]

    @property
    def fc_channels(self) -> int:
        return self.k

    @property
    def lower_width(self) -> int:
        return max(8, round(3.7 * self.k))

    @property
    def stem_hidden(self) -> int:
        return min(512, 20 * self.k)

    @property
    def map_size(self) -> tuple[int, int]:
        """(h0, w0): the stem's feature map (frame size / product of strides, rounded up)."""
        p = math.prod(self.strides)
        return -(-self.height // p), -(-self.width // p)

    def channels(self) -> list[int]:
        """Output channels of each block."""
        out, c = [], self.fc_channels
        for i in range(len(self.strides)):
            c = c if i == 0 else max(c // 2, self.lower_width)
            out.append(c)
        return out


def strides_for(width: int, height: int) -> tuple[int, ...]:
    """Upsampling factors from the small primes of gcd(W, H), largest first (NeRV: 5,2,2,2,2)."""
    g = math.gcd(width, height)
    out: list[int] = []
    for p in (5, 3, 2):
        while g % p == 0 and len(out) < MAX_BLOCKS:
            out.append(p)
            g //= p
    if math.prod(out) < 16:
        return (2,) * MAX_BLOCKS  # generate at a multiple of 32 and crop
    return tuple(sorted(out, reverse=True))


def positional_encoding(t: Tensor, levels: int = PE_LEVELS, base: float = PE_BASE) -> Tensor:
    """Gamma(t) for t [B] in [0, 1] -> [B, 2 * levels] (sin, cos interleaved per level)."""
    freqs = (base ** torch.arange(levels, dtype=t.dtype, device=t.device)) * math.pi
    ang = t.unsqueeze(1) * freqs
    return torch.stack([torch.sin(ang), torch.cos(ang)], dim=2).flatten(1)


class NeRVBlock(nn.Module):
    """conv3x3 (C_in -> C_out s^2) -> PixelShuffle(s) -> GELU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out * stride * stride, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stride)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.shuffle(self.conv(x)))


class NeRV(nn.Module):
    """f(t) -> RGB frame [B, 3, H, W] in [0, 1]."""

    def __init__(self, cfg: NeRVConfig):
        super().__init__()
        self.cfg = cfg
        h0, w0 = cfg.map_size
        self.stem = nn.Sequential(nn.Linear(2 * PE_LEVELS, cfg.stem_hidden), nn.GELU(),
                                  nn.Linear(cfg.stem_hidden, cfg.fc_channels * h0 * w0), nn.GELU())
        blocks, c = [], cfg.fc_channels
        for c_out, s in zip(cfg.channels(), cfg.strides):
            blocks.append(NeRVBlock(c, c_out, s))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(c, 3, 1)

    def forward(self, t: Tensor) -> Tensor:
        h0, w0 = self.cfg.map_size
        x = self.stem(positional_encoding(t)).view(-1, self.cfg.fc_channels, h0, w0)
        x = self.head(self.blocks(x))
        return ((torch.tanh(x) + 1) * 0.5)[..., : self.cfg.height, : self.cfg.width]


def count_parameters(cfg: NeRVConfig) -> int:
    """Parameters of NeRV(cfg), counted without building it."""
    h0, w0 = cfg.map_size
    d, c0 = cfg.stem_hidden, cfg.fc_channels
    n = (2 * PE_LEVELS + 1) * d + (d + 1) * c0 * h0 * w0
    c = c0
    for c_out, s in zip(cfg.channels(), cfg.strides):
        n += (9 * c + 1) * c_out * s * s
        c = c_out
    return n + 3 * c + 3


def for_budget(width: int, height: int, max_params: int) -> NeRVConfig:
    """The widest NeRV (knob k >= 1) with at most max_params parameters."""
    strides = strides_for(width, height)
    best = NeRVConfig(width, height, 1, strides)
    lo, hi = 1, 4096
    while lo <= hi:
        mid = (lo + hi) // 2
        cfg = NeRVConfig(width, height, mid, strides)
        if count_parameters(cfg) <= max_params:
            best, lo = cfg, mid + 1
        else:
            hi = mid - 1
    return best


class NeRVMethod:
    """NeRV under the speed harness."""

    name = "NeRV"

    def __init__(self, width: int, height: int, frames: int, max_params: int, device: str = "cpu",
                 seed: int = 0, lr: float = 5e-4, warmup: float = 0.2, alpha: float = 0.7):
        torch.manual_seed(seed)
        self.cfg = for_budget(width, height, max_params)
        self.model = NeRV(self.cfg).to(device)
        self.device = torch.device(device)
        self.frames, self.seed, self.lr, self.warmup, self.alpha = frames, seed, lr, warmup, alpha

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> str:
        c = self.cfg
        return (f"k={c.k}, map {c.map_size[1]}x{c.map_size[0]}x{c.fc_channels}, strides {list(c.strides)}, "
                f"channels {c.channels()}, stem hidden {c.stem_hidden}")

    def _times(self, idx: Tensor) -> Tensor:
        return idx.float().to(self.device) / max(1, self.frames - 1)

    def loss(self, out: Tensor, ref: Tensor) -> Tensor:
        """0.7 L1 + 0.3 (1 - SSIM)."""
        l1 = (out - ref).abs().mean()
        return self.alpha * l1 + (1 - self.alpha) * (1 - ssim(out, ref, data_range=1.0, size_average=True))

    def train(self, video: Tensor, budget_s: float, clock: PausableClock, on_step: StepHook) -> int:
        frames = video.to(self.device).permute(0, 3, 1, 2)  # uint8 [T, 3, H, W]
        opt = torch.optim.Adam([{"params": self.model.parameters(), "lr": self.lr, "base_lr": self.lr}],
                               betas=(0.5, 0.999))
        gen = torch.Generator().manual_seed(self.seed)
        self.model.train()
        start, step, order = clock.perf_counter(), 0, torch.empty(0, dtype=torch.long)
        while (elapsed := clock.perf_counter() - start) < budget_s:
            if order.numel() == 0:  # one epoch = every frame once, shuffled
                order = torch.randperm(self.frames, generator=gen)
            i, order = order[:1], order[1:]
            set_lr(opt, lr_fraction(elapsed / budget_s, self.warmup))
            ref = frames[i.to(self.device)].float() / 255.0
            loss = self.loss(self.model(self._times(i)), ref)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            on_step(clock.perf_counter() - start, step)
        return step

    @torch.no_grad()
    def psnr(self, video: Tensor, batch: int = 4) -> float:
        self.model.eval()
        sse, n = 0.0, 0
        for f0 in range(0, self.frames, batch):
            idx = torch.arange(f0, min(self.frames, f0 + batch))
            out = self.model(self._times(idx)).clamp(0, 1)
            ref = video[f0:f0 + len(idx)].to(self.device).permute(0, 3, 1, 2).float() / 255.0
            sse += float(torch.sum((out - ref) ** 2, dtype=torch.float64))
            n += out.numel()
        self.model.train()
        return psnr_from_mse(sse / max(n, 1))
