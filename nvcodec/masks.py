"""Inpainting masks: which pixels fitting leaves out (True = unknown to the encoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError
from .video import VideoInfo, open_video

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff")


def build_mask(mask_path: Path | None, boxes: tuple[int, int] | None, info: VideoInfo,
               seed: int = 0) -> np.ndarray | None:
    """bool [T, H, W] from a mask image/video (white = masked) and/or N random SIZE boxes per frame."""
    if mask_path is None and boxes is None:
        return None
    mask = np.zeros((info.frames, info.height, info.width), dtype=bool)
    if mask_path is not None:
        mask |= _mask_from_file(Path(mask_path), info)
    if boxes is not None:
        mask |= random_boxes(info.frames, info.height, info.width, boxes[0], boxes[1], seed)
    if mask.all():
        raise InputError("the mask covers every pixel: nothing is left to fit")
    return mask


def random_boxes(frames: int, height: int, width: int, count: int, size: int, seed: int) -> np.ndarray:
    """`count` boxes of size x size (clipped to the frame) at random places in every frame."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((frames, height, width), dtype=bool)
    bh, bw = min(size, height), min(size, width)
    for t in range(frames):
        ys = rng.integers(0, height - bh + 1, count)
        xs = rng.integers(0, width - bw + 1, count)
        for y, x in zip(ys, xs):
            mask[t, y:y + bh, x:x + bw] = True
    return mask


def _mask_from_file(path: Path, info: VideoInfo) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"mask file not found: {path}")
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise InputError(f"cannot read mask image {path}")
        if img.shape != (info.height, info.width):
            raise InputError(f"mask {path} is {img.shape[1]}x{img.shape[0]}, the video is {info.width}x{info.height}")
        return np.broadcast_to(img >= 128, (info.frames, info.height, info.width)).copy()
    with open_video(path) as reader:
        m = reader.info
        if (m.width, m.height) != (info.width, info.height):
            raise InputError(f"mask video {path} is {m.width}x{m.height}, the video is {info.width}x{info.height}")
        if len(reader) < info.frames:
            raise InputError(f"mask video {path} has {len(reader)} frames, the video needs {info.frames}")
        half = 1 << (m.bit_depth - 1)
        return np.stack([reader.read(t).y >= half for t in range(info.frames)])
