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


@pytest.fixture
def one_torch_thread():
    """One intra-op thread while the test runs: tiny tensors on a shared 2-core machine are
    faster (and less noisy) without OpenMP hand-offs. tests/{model,fit} use it for every test."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
