"""The grids' coding-cost proxy: its values on known grids, and a fit that uses it."""

from __future__ import annotations

import pytest
import torch

from nvcodec import native
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


def _grids(shapes, seed=0):
    """Channels-last grids [N, C, H, W] with some equal neighbours (a zero difference has no
    gradient) and gradients wanted."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n, c, h, w in shapes:
        t = torch.randn(n, c, h, w, generator=g).round_(decimals=1)
        out.append(t.contiguous(memory_format=torch.channels_last).requires_grad_())
    return out


def _proxy_and_grads(latent, static, smoothness, steadiness):
    for t in [*latent, *static]:
        t.grad = None
    value = coding_cost_proxy(latent, static, smoothness, steadiness)
    if value.requires_grad:  # (the torch proxy of a single GOP's steadiness alone is a constant 0)
        (value * 2.0).backward()  # an incoming gradient other than 1 is applied
    # a grid the torch proxy leaves out (no terms) gets no gradient: zero
    return float(value.detach()), [torch.zeros_like(t) if t.grad is None else t.grad.clone() for t in [*latent, *static]]


# latent levels (one GOP, one row, one column, C = 1 or 3 included), then static levels
SHAPES = ([(3, 2, 5, 7), (3, 2, 1, 9), (3, 2, 6, 1), (3, 2, 17, 23)], [(1, 2, 4, 4), (1, 2, 1, 1), (1, 2, 9, 30)])


@pytest.mark.parametrize("weights", [(1e-2, 3e-2), (1e-2, 0.0), (0.0, 3e-2)])
@pytest.mark.parametrize("channels, gops", [(2, 3), (1, 1), (3, 2)])
def test_the_c_proxy_matches_the_torch_proxy(weights, channels, gops, monkeypatch):
    if native.coding_cost() is None:
        pytest.skip("no C compiler here (or the kernel did not build): the torch proxy is what runs")
    latent_shapes = [(gops, channels, h, w) for _, _, h, w in SHAPES[0]]
    static_shapes = [(1, channels, h, w) for _, _, h, w in SHAPES[1]]
    latent, static = _grids(latent_shapes), _grids(static_shapes, seed=1)
    value_c, grads_c = _proxy_and_grads(latent, static, *weights)
    monkeypatch.setenv(native.SWITCH, "0")
    value_t, grads_t = _proxy_and_grads(latent, static, *weights)
    assert value_c == pytest.approx(value_t, rel=1e-5)
    for a, b in zip(grads_c, grads_t):
        assert a.is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-12), float((a - b).abs().max())
    assert any(bool((g == 0).any()) for g in grads_c)  # equal neighbours: sign(0) = 0, as torch's abs


@pytest.mark.parametrize("threads", [2, 5])
def test_the_c_proxy_does_not_depend_on_the_thread_count(threads):
    if native.coding_cost() is None:
        pytest.skip("no C compiler here (or the kernel did not build): the torch proxy is what runs")
    latent, static = _grids(SHAPES[0]), _grids(SHAPES[1], seed=1)
    with native.threads_for_kernels(1):
        one = _proxy_and_grads(latent, static, 1e-2, 3e-2)
    with native.threads_for_kernels(threads):
        many = _proxy_and_grads(latent, static, 1e-2, 3e-2)
    assert one[0] == many[0]
    assert all(torch.equal(a, b) for a, b in zip(one[1], many[1]))


def test_the_c_proxy_runs_only_where_it_applies(monkeypatch):
    """Without a gradient, or on grids that are not channels-last, the torch expressions run."""
    monkeypatch.setattr(native, "coding_cost", lambda: pytest.fail("the C proxy was asked for"))
    latent, static = _grids(SHAPES[0]), _grids(SHAPES[1], seed=1)
    with torch.no_grad():
        coding_cost_proxy(latent, static, 1e-2, 1e-2)
    planar = [t.detach().contiguous().requires_grad_() for t in latent]
    coding_cost_proxy(planar, [t.detach().contiguous() for t in static], 1e-2, 1e-2).backward()
    assert all(t.grad is not None for t in planar)
