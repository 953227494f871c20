"""Decoded frames as PNG images: a printf pattern (frames/%05d.png) or a folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import DependencyError, OutputError
from ..fsutil import atomic_path
from .color import rgb_to_uint8


def is_png_target(path: Path) -> bool:
    """A pattern with %d, a .png name, or an existing folder / a path ending in a separator."""
    s = str(path)
    return "%" in path.name or path.suffix.lower() == ".png" or path.is_dir() or s.endswith(os.sep)


def png_paths(target: Path, count: int) -> list[Path]:
    s = str(target)
    if "%" in target.name:
        try:
            names = [Path(s % i) for i in range(count)]
        except (TypeError, ValueError):
            raise OutputError(f"bad PNG pattern {s!r}: use one integer field such as frames/%05d.png") from None
        if count > 1 and len(set(names)) != count:
            raise OutputError(f"PNG pattern {s!r} gives the same name to several frames")
        return names
    if target.suffix.lower() == ".png":
        if count != 1:
            raise OutputError(f"{s} names one PNG but {count} frames are decoded: use a pattern like frames/%05d.png")
        return [target]
    return [target / f"frame_{i:05d}.png" for i in range(count)]


def write_png_frames(target: Path, frames: Iterable[np.ndarray], count: int, *, overwrite: bool) -> list[Path]:
    """Write float RGB [H, W, 3] frames in [0, 1] as 8-bit PNGs, each atomically."""
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DependencyError("PNG output needs opencv-python-headless") from exc
    paths = png_paths(target, count)
    if not ("%" in target.name or target.suffix.lower() == ".png"):
        if not target.parent.is_dir():
            raise OutputError(f"output directory does not exist: {target.parent}")
        target.mkdir(exist_ok=True)
    elif not paths[0].parent.is_dir():
        raise OutputError(f"output directory does not exist: {paths[0].parent}")
    for p in paths:
        if p.exists() and not overwrite:
            raise OutputError(f"output exists: {p} (use -y/--overwrite to replace it)")
    for p, rgb in zip(paths, frames):
        img = rgb_to_uint8(rgb)[:, :, ::-1]
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
        if not ok:
            raise OutputError(f"could not encode PNG for {p}")
        with atomic_path(p, overwrite) as tmp:
            tmp.write_bytes(buf.tobytes())
    return paths
