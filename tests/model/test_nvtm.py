from __future__ import annotations

import math

import pytest
import torch

from nvcodec.errors import BitstreamError
from nvcodec.model import presets, siren
from nvcodec.model.config import BaseNetConfig, FlowConfig, NVTMConfig
from nvcodec.model.grids import grid_lookup, grid_lookup_reference, lattice_lookup
from nvcodec.model.nvtm import NVTM, pixel_centres, weight_count

W, H, T = 12, 10, 5


def _model(cfg: NVTMConfig | None = None, dtype=torch.float32) -> NVTM:
    return NVTM(cfg or NVTMConfig.tiny(), W, H, T, seed=0).to(dtype)


def _points(frames: int, pts: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    allxy = pixel_centres(W, H).to(dtype)
    return allxy[torch.randint(0, W * H, (frames, pts), generator=g)]


def test_shapes_and_names():
    m = _model()
    cfg = m.config
    assert m.num_gops == math.ceil(T / cfg.gop_size) == 3
    assert m.num_latent == m.num_gops + 1  # P = {0, 1}: a grid at every keyframe plus one
    grids = m.grid_tensors()
    assert set(grids) == {f"latent.{i}" for i in range(cfg.latent.levels)} | {
        f"static.{i}" for i in range(cfg.static.levels)}
    for name, g in grids.items():
        assert g.dim() == 4 and isinstance(g, torch.nn.Parameter)
        assert g.shape[0] == (m.num_latent if name.startswith("latent") else 1)
        assert g.shape[1] == (cfg.latent.features if name.startswith("latent") else cfg.static.features)
    assert not set(grids) & set(m.weight_tensors())
    assert list(m.weight_tensors()) == list(_model().weight_tensors())  # deterministic order
    assert m.state_tensors()["norm_bounds"].shape == (m.num_latent, 4)
    n = m.num_parameters()
    assert n["total"] == sum(p.numel() for p in m.parameters()) == n["grids"] + n["weights"]
    xy = _points(3, 7)
    t = torch.tensor([0.0, 1.5, 4.0])
    rgb, flow = m.forward_frames(xy, t, return_flow=True)
    assert rgb.shape == (3, 7, 3) and flow.shape == (3, 7, 4)
    with torch.no_grad():
        assert m.forward_frames(xy, t).shape == (3, 7, 3)


def test_single_neighbor_grid_count():
    m = _model(NVTMConfig.tiny().replace(neighbors=(0,)))
    assert m.num_latent == m.num_gops
    assert m.forward_frames(_points(2, 4), torch.tensor([0.0, 4.0]), return_flow=True)[1].shape == (2, 4, 2)


def test_no_alignment_has_no_flow_network():
    m = _model(NVTMConfig.tiny().replace(alignment="none"))
    assert m.flow is None and not any(k.startswith("flow.") for k in m.weight_tensors())
    xy = _points(2, 6)
    rgb, flow = m.forward_frames(xy, torch.tensor([1.0, 3.0]), return_flow=True)
    assert rgb.shape == (2, 6, 3) and torch.equal(flow, torch.zeros(2, 6, 4))
    assert m.num_parameters()["weights"] < _model().num_parameters()["weights"]


def test_gop_index_and_time_scales():
    m = _model()  # gop 2, 5 frames -> GOPs {0,1}, {2,3}, {4}
    t = torch.tensor([0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 4.5])
    assert m.gop_index(t).tolist() == [0, 0, 0, 1, 1, 2, 2]
    s = m.time_scales(t)
    assert s[:, 0].tolist() == pytest.approx([0, math.log(2), math.log(2.5), 0, math.log(2), 0, math.log(1.5)])
    assert s[:, 1].tolist() == pytest.approx([math.log(3), math.log(2), math.log(1.5), math.log(3),
                                              math.log(2), math.log(3), math.log(2.5)])


def test_zero_displacement_at_keyframes():
    m = _model()
    with torch.no_grad():
        for p in m.flow.parameters():
            p.uniform_(-1, 1)  # a flow net that moves everything elsewhere
    xy = _points(3, 20)
    t = torch.tensor([0.0, 2.0, 4.0])  # the keyframes
    flow = m.alignment_flow(xy, t)
    assert torch.equal(flow[..., :2], torch.zeros_like(flow[..., :2]))
    assert flow[..., 2:].abs().max() > 0  # the next-keyframe flow is not forced to zero
    off = m.alignment_flow(xy, torch.tensor([1.0, 3.0, 4.5]))
    assert off[..., :2].abs().max() > 0


@pytest.mark.parametrize("cfg", [
    NVTMConfig.tiny(),
    NVTMConfig.tiny().replace(base=BaseNetConfig(depth=3, width=16, modulator_width=10)),
    NVTMConfig.tiny().replace(latent_mode="input"),
    NVTMConfig.tiny().replace(use_static_grid=False, neighbors=(0,)),
])
def test_fused_loss_matches_autograd(cfg):
    m = _model(cfg, torch.float64)
    with torch.no_grad():
        for g in m.grid_tensors().values():
            g.uniform_(-1, 1)
    m.fused_chunk = 7  # several chunks, last one short
    xy = _points(3, 10, dtype=torch.float64)
    t = torch.tensor([0.0, 2.5, 4.0], dtype=torch.float64)
    target = torch.rand(3, 10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    loss, _ = m.fit_loss(xy, t, target)
    loss.backward()
    fused = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.zero_grad()
    ref_rgb = m.forward_frames(xy, t)
    ref = ((ref_rgb - target) ** 2).mean()
    ref.backward()
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-12)
    for k, p in m.named_parameters():
        assert torch.allclose(fused[k], p.grad, rtol=1e-9, atol=1e-12), k
    with torch.no_grad():  # the chunked inference path agrees too
        m.infer_chunk = 4
        fast = m.forward_frames(xy, t)
    assert torch.allclose(fast, ref_rgb.detach(), atol=1e-12)


@pytest.mark.parametrize("cfg", [
    NVTMConfig.tiny(),
    NVTMConfig.tiny().replace(latent_mode="input", normalization="minmax"),
    NVTMConfig.tiny().replace(use_static_grid=False, neighbors=(0,), normalization="clip"),
])
def test_gradients_reach_every_parameter(cfg):
    m = _model(cfg)
    with torch.no_grad():
        for g in m.grid_tensors().values():
            g.uniform_(-0.5, 0.5)  # so the modulator's z-weights see a non-zero input
    xy = _points(4, 30)
    t = torch.tensor([0.0, 1.0, 3.0, 4.0])
    loss, flow = m.fit_loss(xy, t, torch.rand(4, 30, 3, generator=torch.Generator().manual_seed(0)))
    (loss + flow.square().mean()).backward()
    for k, p in m.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), k
        assert p.grad.shape == p.shape
    # the reconstruction loss alone also trains the flow (through the grid lookup)
    m.zero_grad()
    loss, _ = m.fit_loss(xy, t, torch.rand(4, 30, 3, generator=torch.Generator().manual_seed(0)))
    loss.backward()
    assert any(bool(p.grad.abs().sum() > 0) for p in m.flow.parameters())


def test_lookup_matches_grid_sample():
    g = torch.Generator().manual_seed(0)
    tables = [torch.randn(3, 4, h, w, generator=g, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
              for h, w in ((5, 7), (2, 2), (9, 4))]
    coords = torch.rand(200, 2, generator=g, dtype=torch.float64)
    coords[:5] = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.999, 0.001], [0.5, 0.5]])
    gi = torch.randint(0, 3, (200,), generator=g)
    a = grid_lookup(tables, coords, gi)
    b = grid_lookup_reference(tables, coords, gi)
    assert a.shape == (200, 12)
    assert torch.allclose(a, b, atol=1e-12)
    # gradients w.r.t. tables and coordinates, against finite differences
    tabs = [t.clone().requires_grad_() for t in tables[:2]]
    c = (torch.rand(15, 2, generator=g, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda c_, t0, t1: grid_lookup([t0, t1], c_, gi[:15]), (c, *tabs))


def test_lattice_lookup_is_the_pointwise_lookup_on_a_lattice():
    g = torch.Generator().manual_seed(1)
    tables = [torch.randn(3, 4, h, w, generator=g, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
              for h, w in ((5, 7), (2, 2), (9, 4), (31, 40))]
    xs = torch.rand(37, generator=g, dtype=torch.float64)
    ys = torch.rand(23, generator=g, dtype=torch.float64)
    xs[:3] = torch.tensor([0.0, 1.0, 0.5])
    ys[:2] = torch.tensor([1.0, 0.0])
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    for grid in (0, 2):
        planar = lattice_lookup(tables, xs, ys, grid)
        assert planar.shape == (16, 23 * 37)
        ref = grid_lookup_reference(tables, pts, torch.full((23 * 37,), grid))
        assert torch.allclose(planar.t(), ref, atol=1e-12)


@pytest.mark.parametrize("cfg", [NVTMConfig.tiny().replace(alignment="none"),
                                 NVTMConfig.tiny().replace(alignment="none", latent_mode="input", neighbors=[0])])
def test_lattice_terms_without_flow_match_the_pointwise_features(cfg):
    """The decoder's separable lookups (no flow) give the terms the point-wise path gives."""
    m = _model(cfg)
    with torch.no_grad():
        for t in m.grid_tensors().values():
            t.uniform_(-1, 1, generator=torch.Generator().manual_seed(2))
        m.norm_bounds.copy_(torch.tensor([0.1, -0.2, 0.8, 1.1]).repeat(m.num_latent, 1))
    xs = (torch.arange(W) + 0.5) / W
    ys = (torch.arange(3, 8) + 0.5) / H
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    xy = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    for t in (0.0, 2.5, 4.0):
        terms = m.lattice_terms(xs, ys, t)
        with torch.no_grad():
            z = m._features(xy[None], torch.tensor([t]), m.alignment_flow(xy[None], torch.tensor([t])))
        ref = siren.point_terms(m.base.spec, m.base.weight_list(), xy * 2 - 1, z)
        for a, b in zip((terms.first_sin, terms.first_cos, *terms.mods), (ref.first_sin, ref.first_cos, *ref.mods)):
            assert torch.allclose(a, b, atol=1e-5)
        rgb = m.synthesize(terms, t)
        with torch.no_grad():
            assert torch.allclose(rgb, m.forward_frames(xy[None], torch.tensor([t]))[0], atol=1e-5)


def test_full_resolution_level_is_per_pixel():
    """A level at frame resolution has one node per pixel centre (align_corners=False)."""
    table = torch.arange(W * H, dtype=torch.float32).view(1, 1, H, W).contiguous(memory_format=torch.channels_last)
    out = grid_lookup([table], pixel_centres(W, H))
    assert torch.allclose(out[:, 0], torch.arange(W * H, dtype=torch.float32), atol=1e-4)


def test_load_tensors_round_trip_and_errors():
    a = _model()
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
        a.norm_bounds.copy_(torch.tensor([[-0.1, 0.0, 1.2, 0.9]]).repeat(a.num_latent, 1))
    b = NVTM(NVTMConfig.tiny(), W, H, T, seed=5)
    tensors = {k: v.detach().contiguous() for k, v in a.all_tensors().items()}
    b.load_tensors(tensors)
    xy, t = _points(2, 9), torch.tensor([0.5, 3.0])
    with torch.no_grad():
        assert torch.equal(a.forward_frames(xy, t), b.forward_frames(xy, t))
    bad = dict(tensors)
    bad["latent.0"] = bad["latent.0"][:, :, :-1]
    with pytest.raises(BitstreamError):
        b.load_tensors(bad)
    with pytest.raises(BitstreamError):
        b.load_tensors({**tensors, "nope": torch.zeros(1)})
    missing = dict(tensors)
    missing.pop("base.out_b")
    with pytest.raises(BitstreamError):
        b.load_tensors(missing)
    b.load_tensors(missing, strict=False)
    nan = dict(tensors)
    nan["base.out_b"] = torch.full((3,), float("nan"))
    with pytest.raises(BitstreamError):
        b.load_tensors(nan)
    inv = dict(tensors)
    inv["norm_bounds"] = torch.tensor([[0.5, 0.0, 0.5, 1.0]]).repeat(a.num_latent, 1)
    with pytest.raises(BitstreamError):
        b.load_tensors(inv)


def test_bad_geometry():
    for w, h, f in ((0, 10, 5), (10, -1, 5), (10, 10, 0), (1.5, 10, 5)):
        with pytest.raises(BitstreamError):
            NVTM(NVTMConfig.tiny(), w, h, f)


def test_single_frame_clip_and_fractional_time():
    m = NVTM(NVTMConfig.tiny(), W, H, 1, seed=0)
    assert m.num_gops == 1 and m.num_latent == 2
    with torch.no_grad():
        out = m.forward_frames(_points(1, 5), torch.tensor([0.0]))
    assert torch.isfinite(out).all()


def test_seeded_init_is_reproducible():
    a, b = NVTM(NVTMConfig.tiny(), W, H, T, seed=7), NVTM(NVTMConfig.tiny(), W, H, T, seed=7)
    for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert ka == kb and torch.equal(pa, pb)


def test_reference_and_infer_agree_for_partial_modulation():
    spec = siren.SirenSpec(depth=2, width=8, mod_width=5, omega_first=30.0, omega=30.0, modulated=True,
                           latent_dim=6)
    net = siren.ModulatedSiren(BaseNetConfig(depth=2, width=8, modulator_width=5), 6, True,
                               torch.Generator().manual_seed(0))
    u = torch.rand(20, 3) * 2 - 1
    z = torch.randn(20, 6)
    with torch.no_grad():
        a = siren.reference(spec, net.weight_list(), u, z)
        b = siren.infer(spec, net.weight_list(), u, z, chunk=6)
    assert torch.allclose(a, b, atol=1e-5)


def test_flow_grad_scale_controls_reconstruction_gradient_into_flow():
    m = _model()
    with torch.no_grad():
        for g in m.grid_tensors().values():
            g.uniform_(-0.5, 0.5)
    xy = _points(3, 20)
    t = torch.tensor([1.0, 3.0, 4.5])
    target = torch.rand(3, 20, 3, generator=torch.Generator().manual_seed(0))
    grads = {}
    for scale in (1.0, 0.5, 0.0):
        m.zero_grad()
        m.flow_grad_scale = scale
        loss, flow = m.fit_loss(xy, t, target)
        loss.backward()
        grads[scale] = torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                                  for p in m.flow.parameters()])
        assert flow.requires_grad  # the auxiliary loss can still train the flow
    assert grads[1.0].abs().sum() > 0
    assert torch.allclose(grads[0.5], 0.5 * grads[1.0], rtol=1e-4, atol=1e-9)
    assert grads[0.0].abs().sum() == 0


@pytest.mark.parametrize("depth,width,mod_width,modulated", [(3, 8, 8, True), (2, 8, 5, True), (1, 6, 6, True),
                                                             (3, 8, 8, False), (1, 6, 6, False)])
def test_decoding_terms_and_synthesis_equal_the_reference(depth, width, mod_width, modulated):
    """point_terms + synthesize (the decoder's split of the first layer's sine) is the same function."""
    spec = siren.SirenSpec(depth=depth, width=width, mod_width=mod_width, omega_first=30.0, omega=30.0,
                           modulated=modulated, latent_dim=6)
    net = siren.ModulatedSiren(BaseNetConfig(depth=depth, width=width, modulator_width=mod_width), 6, modulated,
                               torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(2)
    xy = torch.rand(23, 2, generator=gen) * 2 - 1
    z = torch.randn(23, 6, generator=gen)
    with torch.no_grad():
        terms = siren.point_terms(spec, net.weight_list(), xy, z, chunk=5)
        assert terms.nbytes == 23 * siren.terms_floats_per_point(spec) * 4
        for t in (-1.0, -0.3, 0.0, 0.77, 1.0):
            u = torch.cat([xy, torch.full((23, 1), t)], dim=1)
            ref = siren.reference(spec, net.weight_list(), u, z)
            out = siren.synthesize(spec, net.weight_list(), terms, torch.tensor(t), chunk=4)
            assert out.shape == (23, 3)
            assert float(ref.abs().max()) > 0.05  # a non-trivial function
            assert torch.allclose(out, ref, atol=2e-5), float((out - ref).abs().max())


def test_synthesis_macs_counts_the_per_frame_products():
    cfg = BaseNetConfig(depth=3, width=48, modulator_width=48)
    assert siren.synthesis_macs(cfg) == 3 * 48 + 2 * 48 * 48 + 48 * 3
    assert siren.synthesis_macs(BaseNetConfig(depth=1, width=10, modulator_width=10)) == 60


@pytest.mark.parametrize("neighbors, static", [((0, 1), True), ((0,), True), ((0, 1), False)])
def test_config_grid_shapes_are_the_models_grids(neighbors, static):
    """NVTMConfig.grid_shapes is the one rule for grid counts and sizes: the model's own grids match it."""
    cfg = NVTMConfig.tiny().replace(neighbors=list(neighbors), use_static_grid=static)
    w, h, t = 40, 24, 5
    m = NVTM(cfg, w, h, t, seed=0)
    shapes = cfg.grid_shapes(w, h, t)
    assert cfg.num_gops(t) == 3 and cfg.num_latent(t) == 3 + (1 in neighbors)
    assert [tuple(g.shape) for g in m.latent] == shapes.latent
    assert [tuple(g.shape) for g in m.static] == shapes.static
    assert shapes.values == sum(g.numel() for g in list(m.latent) + list(m.static))


@pytest.mark.parametrize("cfg", [
    presets.paper(),
    presets.tiny(),
    presets.codec(),
    presets.tiny().replace(use_static_grid=False),
    presets.tiny().replace(latent_mode="input"),
    presets.tiny().replace(neighbors=(0,)),
    presets.tiny().replace(alignment="none", latent_mode="input", neighbors=(0,)),
    presets.tiny().replace(base=BaseNetConfig(depth=4, width=12, modulator_width=5)),
    presets.tiny().replace(base=BaseNetConfig(depth=1, width=7, modulator_width=7)),
    presets.tiny().replace(flow=FlowConfig(layers=2, hidden=3, hyper_layers=3, hyper_hidden=5)),
], ids=["paper", "tiny", "codec", "no-static", "latent-input", "p0", "input-p0-noflow", "narrow-modulator",
        "depth1", "deep-hyper"])
def test_weight_count_from_the_config_equals_the_models_parameters(cfg):
    assert weight_count(cfg) == NVTM(cfg, 13, 9, 5, seed=None).num_parameters()["weights"]
