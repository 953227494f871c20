"""Optical-flow targets for the auxiliary alignment loss (paper Sec. 3.2, "Loss").

The paper uses RAFT; we use OpenCV's DIS (no weights to download, ~10 ms per CIF
pair on one CPU core). For every frame t and neighbour p we need the displacement
that carries pixel (x, y) of frame t to its position in keyframe t_{k+p}: DIS
`calc(I0=frame t, I1=keyframe)` returns exactly that (I0(x) ~ I1(x + flow(x))) in
pixels, on frame t's grid. We convert to normalised units (dx / W, dy / H), store
float16, optionally at reduced resolution, and compute it once before fitting.
Keyframes get exactly zero flow for p = 0; targets whose keyframe lies past the
end of the clip are marked invalid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass
class FlowTargets:
    flow: Tensor  # [T, 2|P|, h, w] float16, normalised units
    valid: Tensor  # [T, |P|] bool
    stride: int  # flow pixel (i, j) covers image pixels (i*stride.., j*stride..)
    width: int  # image width

    def lookup(self, frames: Tensor, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """(flow [F, P, 2|P|] float32, weight [F, 1, 2|P|] float32: 1 where valid)."""
        x = pixels % self.width
        y = torch.div(pixels, self.width, rounding_mode="floor")
        h, w = self.flow.shape[2], self.flow.shape[3]
        xi = torch.clamp(torch.div(x, self.stride, rounding_mode="floor"), max=w - 1)
        yi = torch.clamp(torch.div(y, self.stride, rounding_mode="floor"), max=h - 1)
        f = frames.unsqueeze(1)
        vals = self.flow.permute(0, 2, 3, 1)[f, yi, xi].float()  # [F, P, 2|P|]
        wgt = self.valid[frames].float().repeat_interleave(2, dim=1).unsqueeze(1)
        return vals, wgt


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def compute_flow_targets(video_rgb: Tensor, gop_size: int, neighbors: tuple[int, ...], *,
                         preset: str = "medium", stride: int = 2,
                         device: torch.device | str | None = None) -> FlowTargets:
    """DIS flows from every frame to the keyframe(s) of its GOP (see module doc)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}")
    frames = video_rgb.detach().cpu().numpy()
    T, H, W = frames.shape[:3]
    stride = max(1, int(stride))
    h, w = -(-H // stride), -(-W // stride)
    num_gops = -(-T // gop_size)
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    gray = [_gray(f) for f in frames]
    out = np.zeros((T, 2 * len(neighbors), h, w), dtype=np.float16)
    valid = np.zeros((T, len(neighbors)), dtype=bool)
    norm = np.array([1.0 / W, 1.0 / H], dtype=np.float32)
    for t in range(T):
        k = min(t // gop_size, num_gops - 1)
        for j, p in enumerate(neighbors):
            key = (k + p) * gop_size
            if key >= T:
                continue
            valid[t, j] = True
            if key == t:
                continue  # zero flow
            fl = dis.calc(gray[t], gray[key], None) * norm  # [H, W, 2] normalised
            if stride > 1:
                fl = cv2.resize(fl, (w, h), interpolation=cv2.INTER_AREA)
            out[t, 2 * j:2 * j + 2] = fl.transpose(2, 0, 1).astype(np.float16)
    dev = video_rgb.device if device is None else torch.device(device)
    return FlowTargets(flow=torch.from_numpy(out).to(dev), valid=torch.from_numpy(valid).to(dev),
                       stride=stride, width=W)
