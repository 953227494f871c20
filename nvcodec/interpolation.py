"""Motion-compensated frame interpolation: the frame at a time between two frames, following
what moves instead of cross-fading.

OpenCV's DIS optical flow both ways, each frame warped to the in-between time along its flow,
blended by distance in time, occluded pixels taken from the frame that sees them (what
ffmpeg's `minterpolate` does). Two users: the decoder renders in-between frames (`--fps-mult`,
`--fps`) this way from the frames it decodes at whole times (`--inbetween motion`, the
default), because the model evaluated between coded frames cross-fades and loses to it
(RESULTS.md); and the fit's in-between targets (`fit.inbetween`) are this guess on the source.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np

from .defaults import INBETWEEN_MODES
from .errors import InputError

#: forward-backward flow disagreement (pixels) above which a pixel counts as occluded in one frame
OCCLUSION_PX = 1.5


def check_inbetween(mode: str) -> None:
    if mode not in INBETWEEN_MODES:
        raise InputError(f"unknown in-between rendering {mode!r} (use {' or '.join(INBETWEEN_MODES)})")


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _warp(image: np.ndarray, flow: np.ndarray, scale: float) -> np.ndarray:
    """image sampled at x + scale * flow(x) (bilinear, borders replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + scale * flow[..., 0], gy + scale * flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


class MotionPair:
    """Two float RGB frames a (time 0) and b (time 1), [H, W, 3] in [0, 1], with their flows
    both ways computed once: every in-between time of the pair reuses them."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        ga, gb = _gray(a), _gray(b)
        self.a, self.b = a.astype(np.float32), b.astype(np.float32)
        self.ab = dis.calc(ga, gb, None)  # a(x) ~ b(x + ab(x))
        self.ba = dis.calc(gb, ga, None)
        self.seen_a = np.linalg.norm(self.ab + _warp(self.ba, self.ab, 1.0), axis=-1) < OCCLUSION_PX
        self.seen_b = np.linalg.norm(self.ba + _warp(self.ab, self.ba, 1.0), axis=-1) < OCCLUSION_PX

    def at(self, alpha: float) -> np.ndarray:
        """The frame at time `alpha` in (0, 1). The in-between pixel x came from a at
        x - alpha * ab and goes on to b: the flow at x stands in for the flow at its source
        (motion smooth over one frame step)."""
        from_a = _warp(self.a, self.ab, -alpha)
        from_b = _warp(self.b, self.ba, -(1 - alpha))
        w_a = (1 - alpha) * np.where(self.seen_a | ~self.seen_b, 1.0, 0.1).astype(np.float32)
        w_b = alpha * np.where(self.seen_b | ~self.seen_a, 1.0, 0.1).astype(np.float32)
        out = (w_a[..., None] * from_a + w_b[..., None] * from_b) / np.maximum(w_a + w_b, 1e-6)[..., None]
        return np.clip(out, 0.0, 1.0)


def interpolate(a: np.ndarray, b: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The frame at time `alpha` between float RGB frames a (0) and b (1), [H, W, 3] in [0, 1]."""
    return MotionPair(a, b).at(alpha)


def whole_times(t: float, last: int) -> tuple[int, ...]:
    """The frames at whole times a frame at time t is made of: t itself when it is whole,
    else the two around it (none past `last`)."""
    k = math.floor(t)
    return (k,) if t == k or k >= last else (k, k + 1)


def motion_frames(times: Sequence[float], render: Callable[[list[float]], Iterator[np.ndarray]],
                  last: int) -> Iterator[np.ndarray]:
    """Frames at `times`, in order: those at whole times as `render` gives them (it is asked
    once, for each whole time needed, in order of first use), those in between by motion-
    compensated interpolation of their two neighbours. A frame (and a pair's flows) is held
    only until its last use: increasing times hold two frames at most."""
    needs = [whole_times(t, last) for t in times]
    order = list(dict.fromkeys(k for ks in needs for k in ks))
    last_use = {k: i for i, ks in enumerate(needs) for k in ks}
    rendered = zip(order, render([float(k) for k in order]))
    held: dict[int, np.ndarray] = {}
    pairs: dict[tuple[int, ...], MotionPair] = {}
    for i, (t, ks) in enumerate(zip(times, needs)):
        while not all(k in held for k in ks):
            k, frame = next(rendered)
            held[k] = frame
        if len(ks) == 1:
            yield held[ks[0]]
        else:
            if ks not in pairs:
                pairs[ks] = MotionPair(held[ks[0]], held[ks[1]])
            yield pairs[ks].at(t - ks[0])
        for k in ks:
            if last_use[k] == i:
                held.pop(k, None)
                for key in [p for p in pairs if k in p]:
                    del pairs[key]


__all__ = ["check_inbetween", "MotionPair", "interpolate", "whole_times", "motion_frames"]
