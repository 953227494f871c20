"""Sample 8-bit grid levels for the grid coding tests (factories: a test passes shapes and a seed)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

Levels = Callable[..., list[np.ndarray]]


@pytest.fixture(scope="session")
def smooth_levels() -> Levels:
    def make(shapes: list[tuple[int, int, int, int]], seed: int = 0) -> list[np.ndarray]:
        """Random smooth grids whose consecutive n are similar (like fitted GOP latents)."""
        rng = np.random.default_rng(seed)
        out = []
        for n, c, h, w in shapes:
            yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
            base = np.stack([np.sin(6 * xx * (k + 1) + 3 * yy) for k in range(c)])
            drift = np.linspace(0, 0.3, n)[:, None, None, None]
            g = 110 + 90 * base[None] * (1 - drift) + rng.normal(0, 2, (n, c, h, w))
            out.append(np.clip(g, 0, 255).astype(np.uint8))
        return out

    return make


@pytest.fixture(scope="session")
def random_levels() -> Levels:
    def make(shapes: list[tuple[int, int, int, int]], seed: int = 0) -> list[np.ndarray]:
        """Uniformly random codes: the worst case for the HEVC coder."""
        rng = np.random.default_rng(seed)
        return [rng.integers(0, 256, s, dtype=np.uint8) for s in shapes]

    return make
