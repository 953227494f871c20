"""The latent of a fitting step's points in C (`model.point_features`) against its torch
definition (`NVTM.gop_features`) and the generic `NVTM._features`."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nvcodec import native
from nvcodec.model import point_features
from nvcodec.model.config import GridConfig
from nvcodec.model.nvtm import NVTM, pixel_axis
from nvcodec.model.presets import codec

W, H, FRAMES = 37, 23, 9


def _model(static: bool = True) -> NVTM:
    cfg = dataclasses.replace(codec(), gop_size=3, use_static_grid=static,
                              latent=GridConfig(base_resolution=4, levels=3, scale=1.9, features=2, init_range=0.5),
                              static=GridConfig(base_resolution=3, levels=4, scale=1.7, features=2, init_range=0.5))
    m = NVTM(cfg.validate(), W, H, FRAMES, seed=3)
    with torch.no_grad():  # bounds that clamp some pixels (narrower than the frame) and one that is degenerate
        m.norm_bounds.copy_(torch.tensor([[0.1, 0.0, 0.9, 1.0], [0.0, 0.2, 1.0, 0.7], [0.3, 0.3, 0.3, 0.9],
                                          [0.0, 0.0, 1.0, 1.0]])[: m.norm_bounds.shape[0]])
    return m


def _points(m: NVTM, count: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pix = torch.randint(0, W * H, (count,), generator=g)
    pix[:4] = torch.tensor([0, W - 1, W * (H - 1), W * H - 1])  # the corners
    gop = torch.randint(0, m.num_gops, (count,), generator=g)
    return pix, gop


def _run(m: NVTM, pix, gop, grad):
    for p in m.grid_tensors().values():
        p.grad = None
    z = m.gop_features(pix, gop)
    (z * grad).sum().backward()
    return z.detach(), {k: p.grad.clone() for k, p in m.grid_tensors().items()}


def _needs_kernel():
    if native.point_features() is None:
        pytest.skip("no C compiler here (or the kernel did not build): the torch ops are what runs")


@pytest.mark.parametrize("static", [True, False])
def test_the_c_latent_gives_the_torch_values_and_gradients(static, monkeypatch):
    _needs_kernel()
    m = _model(static)
    pix, gop = _points(m, 600)
    z_t = m.gop_features(pix, gop).detach()
    grad = torch.randn(z_t.shape, generator=torch.Generator().manual_seed(1))
    calls = []
    real = point_features._NativePointFeatures.apply
    monkeypatch.setattr(point_features._NativePointFeatures, "apply", lambda *a: calls.append(1) or real(*a))
    z_c, g_c = _run(m, pix, gop, grad)
    assert calls, "the C path did not run"
    monkeypatch.setattr(native, "point_features", lambda: None)  # the torch ops around the C grid lookup
    z_ref, g_ref = _run(m, pix, gop, grad)
    assert torch.equal(z_c, z_ref)
    for k in g_ref:  # the same products, added into each table in the same order
        assert torch.equal(g_c[k], g_ref[k]), k
        assert g_c[k].is_contiguous(memory_format=torch.channels_last)
    monkeypatch.setenv(native.SWITCH, "0")  # torch's own lookup: the same up to float rounding
    z_t, g_t = _run(m, pix, gop, grad)
    assert torch.allclose(z_c, z_t, rtol=0, atol=1e-6)
    assert all(torch.allclose(g_c[k], g_t[k], rtol=1e-5, atol=1e-6) for k in g_t)


def test_the_latent_is_that_of_features_at_the_gop():
    """The definition: `_features` of the pixel centres at the GOP's first frame, no flow."""
    m = _model()
    pix, gop = _points(m, 300, seed=2)
    xy = torch.stack([pixel_axis(W)[pix % W], pixel_axis(H)[pix // W]], dim=1).unsqueeze(1)
    t = (gop * m.config.gop_size).to(torch.float32)
    flow = xy.new_zeros(len(pix), 1, 2 * len(m.config.neighbors))
    with torch.no_grad():  # torch's lookups on both sides
        assert torch.equal(m.gop_features(pix, gop), m._features(xy, t, flow))
    # fitting: the C point features (where they run) against the C grid lookup
    assert torch.equal(m.gop_features(pix, gop).detach(), m._features(xy, t, flow).detach())


@pytest.mark.parametrize("threads", [2, 3])
def test_levels_side_by_side_give_the_bits_of_one_thread(threads):
    _needs_kernel()
    m = _model()
    count = 3001
    pix, gop = _points(m, count, seed=4)
    grad = torch.randn(count, m.gop_features(pix, gop).shape[1], generator=torch.Generator().manual_seed(5))
    with native.threads_for_kernels(1):
        z_1, g_1 = _run(m, pix, gop, grad)
    with native.threads_for_kernels(threads):
        z_n, g_n = _run(m, pix, gop, grad)
    assert torch.equal(z_1, z_n)
    assert all(torch.equal(g_1[k], g_n[k]) for k in g_1)


def test_frozen_tables_take_the_c_forward_alone():
    """A fit whose grids do not learn (the fine-tuning on the file's grids): the C forward without
    a backward record, the values of the learning call."""
    _needs_kernel()
    m = _model()
    pix, gop = _points(m, 500, seed=6)
    z_learning = m.gop_features(pix, gop)
    z_frozen = m.gop_features(pix, gop, [p.detach() for p in m.latent], [p.detach() for p in m.static])
    assert z_learning.grad_fn is not None and z_frozen.grad_fn is None
    assert torch.equal(z_frozen, z_learning.detach())


def test_outside_a_fit_the_torch_ops_run(monkeypatch):
    """Without autograd (no fitting step) the torch ops run, as the decoder's lookups do."""
    monkeypatch.setattr(native, "point_features", lambda: pytest.fail("the C kernel was asked for"))
    m = _model()
    pix, gop = _points(m, 50)
    with torch.no_grad():
        assert m.gop_features(pix, gop).shape == (50, m.base.spec.latent_dim)


def test_a_gop_outside_the_model_is_refused_before_the_c_code_reads_it():
    _needs_kernel()
    m = _model()
    pix, gop = _points(m, 10)
    gop[3] = m.num_gops  # its neighbour grid gop + 1 does not exist
    with pytest.raises(IndexError):
        m.gop_features(pix, gop)
