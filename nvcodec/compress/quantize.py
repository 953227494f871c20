"""Quantisers shared by quantisation-aware fitting and the bitstream writer.

Grids: 8-bit, per channel, uniform between a stored [lo, hi] (float32 in the file).
Weights: per tensor, uniform with a stored step (float32 in the file), integers
entropy-coded. The fake-quantisers use the very same arithmetic with a
straight-through gradient, so what fitting sees is what the decoder rebuilds.
"""

from __future__ import annotations

import torch

GRID_LEVELS = 255  # 8-bit codes 0..255


def grid_ranges(grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (lo, hi) of a grid shaped [N, C, H, W], as float32 (C,) tensors.

    A constant channel gets hi = lo + 1 so the scale stays finite.
    """
    g = grid.detach().to(torch.float32).transpose(0, 1).reshape(grid.shape[1], -1)
    lo = g.min(dim=1).values
    hi = g.max(dim=1).values
    hi = torch.where(hi - lo > 1e-12, hi, lo + 1.0)
    return lo, hi


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.to(like.device, like.dtype).view(1, -1, 1, 1)


def quantize_grid(grid: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Map a [N, C, H, W] float grid to uint8 codes with per-channel (lo, hi)."""
    scale = (_bcast(hi, grid) - _bcast(lo, grid)) / GRID_LEVELS
    q = torch.round((grid - _bcast(lo, grid)) / scale).clamp_(0, GRID_LEVELS)
    return q.to(torch.uint8)


def dequantize_grid(codes: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Inverse of quantize_grid (float32), bit-identical on every machine for the same codes."""
    c = codes.to(torch.float32)
    lo32 = lo.to(torch.float32).view(1, -1, 1, 1).to(c.device)
    hi32 = hi.to(torch.float32).view(1, -1, 1, 1).to(c.device)
    return lo32 + c * ((hi32 - lo32) / GRID_LEVELS)


def fake_quantize_grid(grid: torch.Tensor, noise: bool = False) -> torch.Tensor:
    """Quantise-dequantise with a straight-through gradient.

    With noise=True, uniform noise of one code step replaces rounding (a smoother
    proxy for the extra HEVC coding error).
    """
    lo, hi = grid_ranges(grid)
    lo_b, hi_b = _bcast(lo, grid), _bcast(hi, grid)
    scale = (hi_b - lo_b) / GRID_LEVELS
    if noise:
        q = grid + (torch.rand_like(grid) - 0.5) * scale
    else:
        q = (lo_b + torch.round((grid - lo_b) / scale).clamp(0, GRID_LEVELS) * scale)
    return grid + (q - grid).detach()


def weight_step(weight: torch.Tensor, rel_step: float) -> float:
    """Quantisation step for one tensor: rel_step x its RMS (never zero)."""
    rms = float(weight.detach().to(torch.float32).pow(2).mean().sqrt())
    # rounded to float32: the value the file stores is the value fitting used
    return float(torch.tensor(max(rms * rel_step, 1e-8), dtype=torch.float32))


def quantize_weight(weight: torch.Tensor, step: float) -> torch.Tensor:
    """Integers (int32) of a tensor for a given step."""
    return torch.round(weight.detach().to(torch.float32) / step).to(torch.int32)


def dequantize_weight(q: torch.Tensor, step: float) -> torch.Tensor:
    return q.to(torch.float32) * torch.tensor(step, dtype=torch.float32)


def fake_quantize_weight(weight: torch.Tensor, step: float) -> torch.Tensor:
    """Straight-through quantise-dequantise of a weight tensor."""
    q = torch.round(weight / step) * step
    return weight + (q - weight).detach()
