from __future__ import annotations

import pytest
import torch

from nvcodec.model.config import NVTMConfig
from nvcodec.model.normalize import adaptive_bounds_1d, compute_bounds, normalize
from nvcodec.model.nvtm import NVTM


def _gen():
    return torch.Generator().manual_seed(0)


def test_uniform_coordinates_give_unit_bounds():
    x = torch.rand(20000, generator=_gen())
    assert adaptive_bounds_1d(x, 0.5, 32) == (0.0, 1.0)


def test_dense_region_maps_to_unit_interval():
    g = _gen()
    dense = torch.rand(20000, generator=g) * 0.6 + 0.2  # [0.2, 0.8], density 1.67x uniform
    sparse = torch.rand(1500, generator=g) * 1.6 - 0.3  # a thin halo over [-0.3, 1.3]
    x = torch.cat([dense, sparse])
    lo, hi = adaptive_bounds_1d(x, 0.5, 32)
    assert lo == pytest.approx(0.2, abs=1 / 32) and hi == pytest.approx(0.8, abs=1 / 32)
    b = torch.tensor([lo, lo, hi, hi])
    inside = normalize(torch.stack([dense, dense], 1), b)
    assert inside.min() >= 0 and inside.max() <= 1
    assert inside[:, 0].min() < 0.06 and inside[:, 0].max() > 0.94  # the dense part fills the grid
    out = normalize(torch.tensor([[-0.3, 1.3]]), b)
    assert out.tolist() == [[0.0, 1.0]]  # the sparse halo is clipped


def test_pan_keeps_the_region_most_frames_cover():
    # 10 frames panning by 0.04 per frame: frame f covers [-0.04 f, 1 - 0.04 f]
    g = _gen()
    xs = torch.cat([torch.rand(4000, generator=g) - 0.04 * f for f in range(10)])
    lo, hi = adaptive_bounds_1d(xs, 0.5, 32)
    assert -0.25 < lo < -0.1 and 0.75 < hi < 0.9
    mm = compute_bounds(xs, xs, "minmax", 0.5, 32)
    assert mm[0] == pytest.approx(float(xs.min())) and mm[2] == pytest.approx(float(xs.max()))
    assert compute_bounds(xs, xs, "clip", 0.5, 32) == [0.0, 0.0, 1.0, 1.0]


def test_degenerate_inputs():
    assert adaptive_bounds_1d(torch.tensor([]), 0.5, 32) == (0.0, 1.0)
    lo, hi = adaptive_bounds_1d(torch.full((100,), 0.3), 0.5, 32)
    assert lo <= 0.3 <= hi and hi - lo > 0
    lo, hi = adaptive_bounds_1d(torch.tensor([float("nan"), 0.5, 0.6]), 0.5, 4)
    assert hi > lo


def test_model_estimates_bounds_per_grid():
    m = NVTM(NVTMConfig.tiny(), 16, 16, 4, seed=0)
    xy = torch.rand(500, 2, generator=_gen())
    b = m.estimate_bounds(xy)
    assert b.shape == (m.num_latent, 4)
    assert torch.all(b[:, 2:] > b[:, :2])
    # an untrained flow is ~0: coordinates stay in the frame
    assert torch.allclose(b, torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand_as(b), atol=0.07)
