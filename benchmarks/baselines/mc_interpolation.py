"""Motion-compensated frame interpolation, the baseline users compare an in-between frame with
(what ffmpeg's `minterpolate` does): OpenCV's DIS optical flow both ways between two frames,
each frame warped to the in-between time along its flow, the two blended by their distance in
time, with pixels whose flows disagree (occlusions) taken from the frame that sees them."""

from __future__ import annotations

import cv2
import numpy as np

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
    # the in-between pixel x came from a at x - alpha * ab and goes to b at x + (1 - alpha) * ab;
    # the flow at x stands in for the flow at its source (motion smooth over the step)
    from_a = _warp(a.astype(np.float32), ab, -alpha)
    from_b = _warp(b.astype(np.float32), ba, -(1 - alpha))
    w_a = np.full(a.shape[:2], 1 - alpha, np.float32)
    w_b = np.full(a.shape[:2], alpha, np.float32)
    seen_a = np.linalg.norm(ab + _warp(ba, ab, 1.0), axis=-1) < OCCLUSION_PX  # a's pixel found again in b
    seen_b = np.linalg.norm(ba + _warp(ab, ba, 1.0), axis=-1) < OCCLUSION_PX
    w_a *= np.where(seen_a | ~seen_b, 1.0, 0.1)
    w_b *= np.where(seen_b | ~seen_a, 1.0, 0.1)
    out = (w_a[..., None] * from_a + w_b[..., None] * from_b) / (w_a + w_b)[..., None]
    return np.clip(out, 0.0, 1.0)
