"""Every test here runs with one torch thread (the `one_torch_thread` fixture of tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


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
