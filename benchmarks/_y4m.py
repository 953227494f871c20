"""A minimal 8-bit 4:2:0 Y4M -> RGB loader for benchmarks and tests (numpy + OpenCV).

Stand-in until nvcodec.video is wired in: BT.601 limited range, chroma upsampled
by nearest neighbour (cv2's I420 conversion).
"""

from __future__ import annotations

import cv2
import numpy as np


def load_y4m_rgb(path: str, max_frames: int | None = None) -> np.ndarray:
    """[T, H, W, 3] uint8 RGB frames of an 8-bit 4:2:0 progressive Y4M file."""
    with open(path, "rb") as fh:
        data = fh.read()
    end = data.index(b"\n")
    tokens = data[:end].split()
    if tokens[0] != b"YUV4MPEG2":
        raise ValueError(f"{path}: not a Y4M file")
    w = int(next(t[1:] for t in tokens if t.startswith(b"W")))
    h = int(next(t[1:] for t in tokens if t.startswith(b"H")))
    cw, ch = (w + 1) // 2, (h + 1) // 2
    size = w * h + 2 * cw * ch
    frames = []
    pos = end + 1
    while pos < len(data) and (max_frames is None or len(frames) < max_frames):
        nl = data.index(b"\n", pos)
        pos = nl + 1
        buf = np.frombuffer(data, np.uint8, size, pos)
        pos += size
        y = buf[: w * h].reshape(h, w)
        u = buf[w * h: w * h + cw * ch].reshape(ch, cw)
        v = buf[w * h + cw * ch:].reshape(ch, cw)
        u = cv2.resize(u, (w, h), interpolation=cv2.INTER_LINEAR)
        v = cv2.resize(v, (w, h), interpolation=cv2.INTER_LINEAR)
        # BT.601 limited range -> full-range RGB
        yf = (y.astype(np.float32) - 16.0) * (255.0 / 219.0)
        uf = (u.astype(np.float32) - 128.0) * (255.0 / 224.0)
        vf = (v.astype(np.float32) - 128.0) * (255.0 / 224.0)
        r = yf + 1.402 * vf
        g = yf - 0.344136 * uf - 0.714136 * vf
        b = yf + 1.772 * uf
        frames.append(np.clip(np.stack([r, g, b], axis=-1) + 0.5, 0, 255).astype(np.uint8))
    return np.stack(frames)
