"""The motion-compensated interpolation baseline follows motion where blending cross-fades."""

from __future__ import annotations

import numpy as np

from benchmarks.baselines.mc_interpolation import interpolate
from nvcodec.metrics.psnr import rgb_psnr


def _scene(shift: float) -> np.ndarray:
    """A smooth textured frame moved right by `shift` pixels."""
    h, w = 48, 64
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x - shift
    r = 0.5 + 0.4 * np.sin(x / 3.0) * np.cos(y / 4.0)
    g = 0.5 + 0.3 * np.cos((x + y) / 5.0)
    b = 0.5 + 0.2 * np.sin(x / 7.0 + y / 2.5)
    return np.stack([r, g, b], -1).astype(np.float32)


def test_a_moving_texture_is_interpolated_not_blended():
    a, mid, b = _scene(0), _scene(2), _scene(4)
    mc, blend = interpolate(a, b), (a + b) / 2
    inner = (slice(8, -8), slice(8, -8))  # away from the borders the flow cannot see past
    assert rgb_psnr(mc[inner], mid[inner]) > rgb_psnr(blend[inner], mid[inner]) + 8
    assert np.allclose(interpolate(a, a), a, atol=1e-5)  # no motion: the frame itself
    assert interpolate(a, b, 0.0)[inner].shape == a[inner].shape
