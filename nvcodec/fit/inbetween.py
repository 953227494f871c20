"""Targets for the times between frames: what the clip looks like half-way from frame t to t+1.

A network fitted on whole frames only has never been asked anything between them, so it
cross-fades at best (RESULTS.md: interpolated frames tied with blending). Motion-compensated
interpolation of the source frames (OpenCV's DIS optical flow both ways, each frame warped to
the in-between time along its flow, blended by distance in time, occluded pixels taken from
the frame that sees them; what ffmpeg's `minterpolate` does) is a good guess of that frame,
and the fit can learn it at t + 1/2 beside the real frames: the decoder then renders in-between
frames that follow motion by evaluating the network, with no flag and nothing in the file.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

#: forward-backward flow disagreement (pixels) above which a pixel counts as occluded in one frame
OCCLUSION_PX = 1.5


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _warp(image: np.ndarray, flow: np.ndarray, scale: float) -> np.ndarray:
    """image sampled at x + scale * flow(x) (bilinear, borders replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + scale * flow[..., 0], gy + scale * flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def interpolate(a: np.ndarray, b: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The frame at time `alpha` between float RGB frames a (0) and b (1), [H, W, 3] in [0, 1]."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    ga, gb = _gray(a), _gray(b)
    ab = dis.calc(ga, gb, None)  # a(x) ~ b(x + ab(x))
    ba = dis.calc(gb, ga, None)
    # the in-between pixel x came from a at x - alpha * ab and goes on to b: the flow at x stands
    # in for the flow at its source (motion smooth over one frame step)
    from_a = _warp(a.astype(np.float32), ab, -alpha)
    from_b = _warp(b.astype(np.float32), ba, -(1 - alpha))
    seen_a = np.linalg.norm(ab + _warp(ba, ab, 1.0), axis=-1) < OCCLUSION_PX  # a's pixel found again in b
    seen_b = np.linalg.norm(ba + _warp(ab, ba, 1.0), axis=-1) < OCCLUSION_PX
    w_a = (1 - alpha) * np.where(seen_a | ~seen_b, 1.0, 0.1).astype(np.float32)
    w_b = alpha * np.where(seen_b | ~seen_a, 1.0, 0.1).astype(np.float32)
    out = (w_a[..., None] * from_a + w_b[..., None] * from_b) / np.maximum(w_a + w_b, 1e-6)[..., None]
    return np.clip(out, 0.0, 1.0)


def midpoint_targets(video: Tensor) -> Tensor:
    """Frame t + 1/2 for t = 0 .. T-2 of an 8-bit RGB clip [T, H, W, 3]: [T-1, H, W, 3] uint8,
    on the clip's device."""
    frames = video.cpu().numpy()
    out = np.empty((max(0, len(frames) - 1), *frames.shape[1:]), np.uint8)
    for t in range(len(out)):
        mid = interpolate(frames[t].astype(np.float32) / 255.0, frames[t + 1].astype(np.float32) / 255.0)
        out[t] = np.clip(np.rint(mid * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(out).to(video.device)
