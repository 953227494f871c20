"""Shared test fixtures: a tiny y4m builder independent of nvcodec's writer."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest

def build_y4m(header: str, frames: Sequence[Sequence[np.ndarray]], frame_headers: Sequence[str] | None = None) -> bytes:
    """y4m bytes written by hand (not by nvcodec), samples > 8 bit as little-endian uint16."""
    out = bytearray(header.encode("ascii") + b"\n")
    for i, planes in enumerate(frames):
        out += (frame_headers[i] if frame_headers else "FRAME").encode("ascii") + b"\n"
        for p in planes:
            out += np.ascontiguousarray(p, dtype="<u2" if p.dtype.itemsize == 2 else np.uint8).tobytes()
    return bytes(out)


@pytest.fixture
def make_y4m(tmp_path: Path) -> Callable[..., Path]:
    """make_y4m(name, header, frames, frame_headers=None) -> path of a hand-written y4m."""

    def make(name: str, header: str, frames: Sequence[Sequence[np.ndarray]], frame_headers: Sequence[str] | None = None) -> Path:
        path = tmp_path / name
        path.write_bytes(build_y4m(header, frames, frame_headers))
        return path

    return make
