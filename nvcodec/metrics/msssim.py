"""MS-SSIM on RGB in [0, 1], via pytorch_msssim, also for frames smaller than 161 px.

pytorch_msssim's standard 5-scale MS-SSIM (11-tap Gaussian window, sigma 1.5, weights
0.0448/0.2856/0.3001/0.2363/0.1333) requires the short side to exceed (11-1)*2^4 = 160,
so QCIF (176x144) fails. For such frames we keep the window and drop the coarsest scales:
we use the largest L <= 5 with short side > 10 * 2^(L-1) and the first L weights,
renormalised to sum to 1 (QCIF: 4 scales). Frames whose short side is <= 10 use a single
scale (plain SSIM) with the window shrunk to the largest odd size <= the short side.
For frames of at least 161 px the value is exactly pytorch_msssim.ms_ssim's.
The value is the mean over the R, G, B channels (pytorch_msssim's convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _pm_ms_ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIZE = 11
WIN_SIGMA = 1.5


def msssim_plan(height: int, width: int) -> tuple[int, int, tuple[float, ...]]:
    """(scales, window size, weights) used for frames of this size (see module docstring)."""
    side = min(height, width)
    levels = 5
    while levels > 1 and side <= (WIN_SIZE - 1) * (1 << (levels - 1)):
        levels -= 1
    if side > WIN_SIZE - 1:
        win = WIN_SIZE
    else:
        levels, win = 1, max(1, side if side % 2 else side - 1)
    if levels == 5:
        return levels, win, MS_SSIM_WEIGHTS  # the standard weights, as published (sum 1.0001)
    w = MS_SSIM_WEIGHTS[:levels]
    total = sum(w)
    return levels, win, tuple(x / total for x in w)


def _as_batch(x: Any) -> torch.Tensor:
    """[H,W,3] or [T,H,W,3] numpy, or [T,3,H,W] tensor -> float32 tensor [T,3,H,W]."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if t.dim() == 3:
            t = t.unsqueeze(0)
        return t.permute(0, 3, 1, 2)
    t = x.float()
    return t.unsqueeze(0) if t.dim() == 3 else t


def ms_ssim_rgb(ref: Any, dist: Any, device: str | torch.device | None = None) -> torch.Tensor:
    """Per-image MS-SSIM [T] of RGB in [0, 1]: numpy [H,W,3]/[T,H,W,3] or torch [T,3,H,W].

    Computed on `device` (default: the device of `ref`, CPU for numpy input).
    """
    x, y = _as_batch(ref), _as_batch(dist)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    x = x.to(device) if device is not None else x
    y = y.to(x.device)
    levels, win_size, weights = msssim_plan(x.shape[-2], x.shape[-1])
    with torch.no_grad():
        if levels == 5:
            return _pm_ms_ssim(x, y, data_range=1.0, size_average=False)
        return _multiscale(x, y, levels, win_size, weights)


def _multiscale(x: torch.Tensor, y: torch.Tensor, levels: int, win_size: int, weights: tuple[float, ...]) -> torch.Tensor:
    """pytorch_msssim.ms_ssim's loop without its hard-wired 5-scale size assertion."""
    win = _fspecial_gauss_1d(win_size, WIN_SIGMA).repeat([x.shape[1], 1, 1, 1])
    w = x.new_tensor(weights)
    mcs = []
    ssim_per_channel = None
    for i in range(levels):
        ssim_per_channel, cs = _ssim(x, y, data_range=1.0, win=win, size_average=False)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
    assert ssim_per_channel is not None
    stacked = torch.stack(mcs + [torch.relu(ssim_per_channel)], dim=0)
    return torch.prod(stacked ** w.view(-1, 1, 1), dim=0).mean(1)


def ms_ssim_frame(ref_rgb: np.ndarray, dist_rgb: np.ndarray) -> float:
    """MS-SSIM of one pair of [H, W, 3] RGB images in [0, 1]."""
    return float(ms_ssim_rgb(ref_rgb, dist_rgb)[0])


__all__ = ["ms_ssim_rgb", "ms_ssim_frame", "msssim_plan", "MS_SSIM_WEIGHTS"]
