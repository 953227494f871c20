"""The grids' coding-cost proxy: its values on known grids, and a fit that uses it."""

from __future__ import annotations

import pytest
import torch

from nvcodec.fit import FitOptions, fit
from nvcodec.fit.regularize import coding_cost_proxy, spatial_roughness, temporal_change
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM


def test_values_on_known_grids():
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(2, 1, 3, 4).clone()  # +1 per column, constant rows
    flat = torch.zeros(2, 1, 2, 2)
    assert float(spatial_roughness([ramp])) == pytest.approx(0.5)  # (0 vertical + 1 horizontal) / 2
    assert float(spatial_roughness([ramp, flat])) == pytest.approx(0.25)
    steps = torch.stack([torch.zeros(1, 2, 2), torch.full((1, 2, 2), 3.0)])  # GOP 1 = GOP 0 + 3
    assert float(temporal_change([steps])) == pytest.approx(3.0)
    assert float(coding_cost_proxy([steps], [ramp], 2.0, 0.5)) == pytest.approx(2.0 * 0.25 + 0.5 * 3.0)


def test_a_fit_with_the_proxy_has_smoother_grids(make_clip):
    v = make_clip(6, 16, 24)
    cfg = NVTMConfig.tiny().replace(alignment="none")
    plain, smooth = NVTM(cfg, 24, 16, 6, seed=0), NVTM(cfg, 24, 16, 6, seed=0)
    opts = FitOptions(steps=150, device="cpu", eval_pixels=None, points_per_set=96, sets_per_step=2)
    r_plain = fit(plain, v, opts)
    r_smooth = fit(smooth, v, opts.replace(grid_smoothness=1e-2, grid_steadiness=1e-2))

    def rough(m):
        with torch.no_grad():
            return float(spatial_roughness([*m.latent, *m.static])), float(temporal_change(list(m.latent)))

    (sp, tp), (ss, ts) = rough(plain), rough(smooth)
    assert ss < 0.7 * sp and ts < 0.7 * tp, (sp, ss, tp, ts)
    assert r_smooth.psnr > r_plain.psnr - 6  # still a fit, not a flat picture
