"""The fitted model's RGB PSNR against the clip (outputs clamped to [0, 1])."""

from __future__ import annotations

import torch
from torch import Tensor

from ..metrics.psnr import psnr_from_mse
from ..model.nvtm import NVTM

#: training-loss PSNRs stay finite (a perfect fit of a constant clip reads 120 dB)
MSE_FLOOR = 1e-12


def unit_psnr(mse: float) -> float:
    """PSNR of an MSE of [0, 1] values (the fit's loss scale), floored at MSE_FLOOR."""
    return psnr_from_mse(max(mse, MSE_FLOOR), 1.0)


@torch.no_grad()
def evaluate_psnr(model: NVTM, video_rgb: Tensor, *, device: torch.device | str | None = None,
                  tile_pixels: int = 1 << 16, max_pixels: int | None = None, seed: int = 0,
                  frames: list[int] | None = None) -> float:
    """RGB PSNR (outputs clamped to [0, 1]) of the model against the clip.

    max_pixels=None renders every pixel of every frame (or of `frames`) in tiles of
    `tile_pixels` (bounded memory); otherwise a seeded uniform sample of pixels.
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    T, H, W = (int(s) for s in video_rgb.shape[:3])
    flat = video_rgb.reshape(T, H * W, 3)
    frames = list(range(T)) if frames is None else frames
    sq, count = 0.0, 0
    if max_pixels is not None and max_pixels < len(frames) * H * W:
        gen = torch.Generator().manual_seed(seed)
        per = max(1, max_pixels // len(frames))
        for f in frames:
            pix = torch.randint(0, H * W, (per,), generator=gen).sort().values
            for c0 in range(0, per, tile_pixels):
                p = pix[c0:c0 + tile_pixels]
                sq, count = _accumulate(model, flat, f, p, W, H, dev, sq, count)
        return unit_psnr(sq / max(1, count))
    for f in frames:
        for c0 in range(0, H * W, tile_pixels):
            p = torch.arange(c0, min(H * W, c0 + tile_pixels))
            sq, count = _accumulate(model, flat, f, p, W, H, dev, sq, count)
    return unit_psnr(sq / max(1, count))


def _accumulate(model: NVTM, flat: Tensor, f: int, p: Tensor, W: int, H: int, dev: torch.device,
                sq: float, count: int) -> tuple[float, int]:
    xs = (p % W).float() + 0.5
    ys = torch.div(p, W, rounding_mode="floor").float() + 0.5
    xy = torch.stack([xs / W, ys / H], dim=-1).to(dev).unsqueeze(0)
    t = torch.tensor([float(f)], device=dev)
    rgb = model.forward_frames(xy, t)[0].clamp_(0.0, 1.0)
    ref = flat[f, p.to(flat.device)].to(dev).float().mul_(1.0 / 255.0)
    sq += float(torch.sum((rgb - ref) ** 2, dtype=torch.float64))
    return sq, count + rgb.numel()


__all__ = ["evaluate_psnr", "unit_psnr", "MSE_FLOOR"]
