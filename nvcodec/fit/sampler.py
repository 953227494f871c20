"""Training batches: F frames x P random pixels each, from a clip held on the device.

F frames per batch so that the hyper-network runs once per frame. Frames are drawn
without replacement (when F <= T) and pixels uniformly (with replacement) among the
pixels not masked out; both are sorted, which makes the grid gathers and scatters
nearly sequential in memory (several times faster on CPU than random order) and
does not change the statistics of a batch. Deterministic for a given generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Batch:
    frames: Tensor  # [F] long, sorted
    pixels: Tensor  # [F, P] long flat pixel index y * W + x, sorted per frame
    xy: Tensor  # [F, P, 2] float, pixel centres in [0, 1]
    t: Tensor  # [F] float frame times
    rgb: Tensor  # [F, P, 3] float in [0, 1]


class PixelSampler:
    """Draws `Batch`es from video_rgb [T, H, W, 3] uint8 (kept on its device).

    mask: optional bool [T, H, W], True = pixel left out of fitting (inpainting).
    """

    def __init__(self, video_rgb: Tensor, frames_per_batch: int, pixels_per_frame: int,
                 generator: torch.Generator, mask: Tensor | None = None):
        if video_rgb.dim() != 4 or video_rgb.shape[-1] != 3 or video_rgb.dtype != torch.uint8:
            raise ValueError("video_rgb must be uint8 [T, H, W, 3]")
        self.video = video_rgb
        self.T, self.H, self.W = (int(s) for s in video_rgb.shape[:3])
        self.flat = video_rgb.reshape(self.T, self.H * self.W, 3)
        self.fpb = max(1, int(frames_per_batch))
        self.ppf = max(1, int(pixels_per_frame))
        self.gen = generator
        dev = video_rgb.device
        self.valid: Tensor | None = None
        if mask is not None:
            if mask.shape != (self.T, self.H, self.W):
                raise ValueError(f"mask shape {tuple(mask.shape)} != {(self.T, self.H, self.W)}")
            keep = ~mask.to(dev, torch.bool).reshape(self.T, -1)
            counts = keep.sum(1)  # a fully masked frame is never sampled (interpolated)
            self.counts = counts
            self.offsets = torch.cumsum(counts, 0) - counts
            self.valid = keep.reshape(-1).nonzero().squeeze(1) % (self.H * self.W)
            self.sample_frames = (counts > 0).nonzero().squeeze(1)
        else:
            self.sample_frames = torch.arange(self.T, device=dev)
        if self.sample_frames.numel() == 0:
            raise ValueError("every pixel is masked out")
        self._scale = torch.tensor([1.0 / self.W, 1.0 / self.H], device=dev)

    def frames(self) -> Tensor:
        """F frame indices, sorted (without replacement when possible)."""
        n = self.sample_frames.numel()
        dev = self.sample_frames.device
        if self.fpb <= n:
            pick = torch.randperm(n, generator=self.gen, device=dev)[: self.fpb]
        else:
            pick = torch.randint(0, n, (self.fpb,), generator=self.gen, device=dev)
        return self.sample_frames[pick.sort().values]

    def next(self) -> Batch:
        fr = self.frames()
        dev = fr.device
        if self.valid is None:
            pix = torch.randint(0, self.H * self.W, (self.fpb, self.ppf), generator=self.gen, device=dev)
        else:
            cnt = self.counts[fr].unsqueeze(1)
            r = torch.rand(self.fpb, self.ppf, generator=self.gen, device=dev)
            j = torch.minimum((r * cnt).long(), cnt - 1)
            pix = self.valid[self.offsets[fr].unsqueeze(1) + j]
        pix = pix.sort(dim=1).values
        return self.batch_at(fr, pix)

    def batch_at(self, frames: Tensor, pixels: Tensor) -> Batch:
        """The batch for given frame indices [F] and flat pixel indices [F, P]."""
        xs = (pixels % self.W).float() + 0.5
        ys = torch.div(pixels, self.W, rounding_mode="floor").float() + 0.5
        xy = torch.stack([xs, ys], dim=-1) * self._scale
        rgb = self.flat[frames.unsqueeze(1), pixels].float().mul_(1.0 / 255.0)
        return Batch(frames=frames, pixels=pixels, xy=xy, t=frames.float(), rgb=rgb)
