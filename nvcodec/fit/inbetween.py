"""Targets for the times between frames: what the clip looks like half-way from frame t to t+1.

A network fitted on whole frames only has never been asked anything between them, so it
cross-fades at best. The motion-compensated interpolation of the source frames
(`nvcodec.interpolation`) is a good guess of that frame, and the fit can learn it at t + 1/2
beside the real frames (`--tune motion`): the model evaluated between frames (`decode
--inbetween model`) then follows motion.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..interpolation import interpolate


def midpoint_targets(video: Tensor) -> Tensor:
    """Frame t + 1/2 for t = 0 .. T-2 of an 8-bit RGB clip [T, H, W, 3]: [T-1, H, W, 3] uint8,
    on the clip's device."""
    frames = video.cpu().numpy()
    out = np.empty((max(0, len(frames) - 1), *frames.shape[1:]), np.uint8)
    for t in range(len(out)):
        mid = interpolate(frames[t].astype(np.float32) / 255.0, frames[t + 1].astype(np.float32) / 255.0)
        out[t] = np.clip(np.rint(mid * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(out).to(video.device)
