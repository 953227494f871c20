"""Shared test fixtures: a tiny y4m builder independent of nvcodec's writer, the shared clips
beside the checkout, and the mean-colour baseline that quality floors are measured against."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, NoReturn, Sequence

import numpy as np
import pytest
import torch

#: `../shared/clips` from the repository root (benchmarks.common.DEFAULT_CLIPS_DIR)
SHARED_CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "clips"


def missing_shared(what: str) -> NoReturn:
    """Skip a test whose shared clip is absent; under CI=true fail instead, so that a CI run
    without the clips cannot pass by skipping every real-clip test."""
    msg = f"{what} not present in {SHARED_CLIPS} (the shared clips sit beside the checkout)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg}; CI=true, so a missing clip is a failure, not a skip", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_clip() -> Callable[[str], Path]:
    """shared_clip(name) -> the path of ../shared/clips/name (a glob pattern takes its first match);
    skips when it is absent, fails when CI=true."""

    def get(name: str) -> Path:
        hits = sorted(SHARED_CLIPS.glob(name)) if SHARED_CLIPS.is_dir() else []
        if not hits or not hits[0].is_file():
            missing_shared(name)
        return hits[0]

    return get


@pytest.fixture(scope="session")
def mean_colour_psnr() -> Callable[[Path], dict[str, float]]:
    """mean_colour_psnr(video file) -> {"rgb": dB, "yuv": dB}: the clip against its own mean
    colour (RGB) or mean sample per plane (YUV 6:1:1). No constant output scores higher (the
    mean is the MSE-optimal constant), so a fit whose network is dead stays at or below it:
    the baseline quality floors add a margin to."""

    def measure(path: Path) -> dict[str, float]:
        from nvcodec.api import load_source
        from nvcodec.video.color import yuv_to_rgb

        info, frames = load_source(path)
        rgb = np.stack([yuv_to_rgb(f, info) for f in frames]).astype(np.float64)
        out = {"rgb": 10 * math.log10(1 / float(((rgb - rgb.mean(axis=(0, 1, 2))) ** 2).mean()))}
        peak = float(2 ** info.bit_depth - 1)
        planes = [np.stack([f.planes[k] for f in frames]).astype(np.float64) for k in range(3)]
        y, u, v = (10 * math.log10(peak ** 2 / float(((p - p.mean()) ** 2).mean())) for p in planes)
        out["yuv"] = (6 * y + u + v) / 8
        return out

    return measure

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


def moving_gradient(frames: int = 4, height: int = 16, width: int = 16, speed: float = 2.0) -> torch.Tensor:
    """uint8 [T, H, W, 3]: a colour gradient and sine patterns moving right by `speed` px/frame."""
    y, x = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    out = []
    for t in range(frames):
        xs = x - speed * t
        r = 0.5 + 0.4 * torch.sin(xs / 3.0)
        g = y / height
        b = 0.5 + 0.4 * torch.cos((xs + y) / 4.0)
        out.append(torch.stack([r, g, b], dim=-1))
    return (torch.stack(out) * 255).round().clamp(0, 255).to(torch.uint8)


@pytest.fixture
def make_clip():
    """make_clip(frames, height, width, speed) -> a tiny synthetic moving clip."""
    return moving_gradient


def crop_sample_clip(path: Path, width: int = 64, height: int = 64, frames: int = 4) -> Path:
    """The bundled sample clip, cut to `frames` frames and its top-left `width` x `height` (4:2:0 y4m)."""
    from nvcodec.video import Frame, create_writer, open_video, sample_clip_path

    with open_video(sample_clip_path()) as r:
        with create_writer(path, r.info.replace(width=width, height=height, frames=frames), overwrite=True) as w:
            for i in range(frames):
                y, u, v = r.read(i).planes
                w.write(Frame((y[:height, :width].copy(), u[:height // 2, :width // 2].copy(),
                               v[:height // 2, :width // 2].copy())))
    return path


@pytest.fixture(scope="session")
def sample_crop() -> Callable[..., Path]:
    """sample_crop(path, width=64, height=64, frames=4) -> path: a crop of the bundled clip."""
    return crop_sample_clip
