"""The dense engine computes the per-pixel path's loss and gradients (float64, tiny clip)."""

from __future__ import annotations

import pytest
import torch

from nvcodec import native
from nvcodec.device import cpu_threads
from nvcodec.fit import FitOptions, engines, fit
from nvcodec.fit.dense import (PointSet, PointSetSampler, dense_loss, gather_batch, pixel_major, runs_native,
                               supports_dense)
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM

W, H, T = 40, 24, 7


def _model() -> NVTM:
    m = NVTM(NVTMConfig.tiny().replace(alignment="none"), W, H, T, seed=1).double()
    with torch.no_grad():
        for p in m.grid_tensors().values():
            p.uniform_(-0.5, 0.5)
        m.norm_bounds.copy_(torch.tensor([[0.02, 0.01, 0.97, 0.99]], dtype=torch.float64).repeat(m.num_latent, 1))
    return m


def test_dense_loss_and_gradients_match_the_pixel_path():
    m = _model()
    assert supports_dense(m)
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    n = m.config.gop_size
    g = torch.Generator().manual_seed(3)
    sets = [PointSet(0, (0, 1), torch.randint(0, W * H, (30,), generator=g).sort().values),
            PointSet((T - 1) // n, (T - 1,), torch.randint(0, W * H, (17,), generator=g).sort().values),
            PointSet(1, (n, n + 1), torch.arange(W * H - 9, W * H))]  # the last row's corner
    batch = gather_batch(pixel_major(video), sets)
    for part, rgb in zip(sets, batch.rgb):  # the samples are the frames' pixels at the set's points
        for i, f in enumerate(part.frames):
            frame = video[f].reshape(-1, 3)[part.pixels].float().mul_(1.0 / 255.0)
            assert torch.equal(rgb[i], frame)
    batch.rgb = [r.double() for r in batch.rgb]
    loss = dense_loss(m, batch, chunk=7)  # chunks smaller than a set: the chunk loop is exercised
    loss.backward()
    dense_grads = {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}
    m.zero_grad()
    total = 0
    for part, rgb in zip(sets, batch.rgb):
        xy = torch.stack([(part.pixels % W).double() + 0.5, (part.pixels // W).double() + 0.5], 1)
        xy = xy / torch.tensor([W, H], dtype=torch.float64)
        for i, f in enumerate(part.frames):
            mse, _ = m.fit_loss(xy[None], torch.tensor([float(f)], dtype=torch.float64), rgb[i][None])
            total = total + mse * xy.shape[0]
    ref = total / sum(p.samples for p in sets)
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-12 * ref.item()
    assert dense_grads.keys() == {k for k, p in m.named_parameters() if p.grad is not None}
    for k, p in m.named_parameters():
        if p.grad is not None:
            assert torch.allclose(dense_grads[k], p.grad, rtol=1e-9, atol=1e-12), k


def test_point_sets_stay_in_one_gop_and_cover_the_frame():
    s = PointSetSampler(W, H, T, 3, 64, 2, 64, torch.Generator().manual_seed(0))
    sets = s.next()
    assert len(sets) == 64 and all(p.pixels.numel() == 64 and len(p.frames) <= 2 for p in sets)
    for p in sets:
        assert all(f // 3 == p.gop for f in p.frames) and list(p.frames) == sorted(set(p.frames))
        assert torch.equal(p.pixels, p.pixels.sort().values) and 0 <= int(p.pixels.min()) <= int(p.pixels.max()) < W * H
    seen = torch.zeros(W * H, dtype=torch.bool)
    seen[torch.cat([p.pixels for p in sets])] = True
    assert seen.float().mean() > 0.95  # 4096 uniform draws over 960 pixels miss ~1.4 %
    assert {p.gop for p in sets} == {0, 1, 2}


def test_masked_frames_are_never_drawn_and_masked_pixels_weigh_nothing():
    keep = torch.ones(T, H, W, dtype=torch.bool)
    keep[2] = False
    keep[:, :, :5] = False
    s = PointSetSampler(W, H, T, 3, 40, 3, 30, torch.Generator().manual_seed(0), valid_frames=[0, 1, 3, 4, 5, 6])
    sets = s.next()
    assert all(2 not in p.frames for p in sets)
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    batch = gather_batch(pixel_major(video), sets, pixel_major(keep))
    for p, w in zip(sets, batch.weight):
        expected = ((p.pixels % W) >= 5).float().expand(len(p.frames), -1)
        assert torch.equal(w, expected)
    assert batch.count == 3.0 * sum(float(w.sum()) for w in batch.weight)


def test_one_gather_for_all_sets_reads_each_sets_own_samples():
    """gather_batch reads, for set s, frame f and point p, the pixel pixels[p] of frame frames[f]."""
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    keep = torch.rand(T, H, W, generator=torch.Generator().manual_seed(5)) > 0.3
    sets = [PointSet(0, (0, 2), torch.tensor([3, 7, 7, 900])), PointSet(2, (6,), torch.tensor([0, W * H - 1])),
            PointSet(1, (3, 4, 5), torch.tensor([41]))]
    batch = gather_batch(pixel_major(video), sets, pixel_major(keep))
    flat, flat_keep = video.reshape(T, H * W, 3), keep.reshape(T, H * W)
    for p, rgb, w in zip(sets, batch.rgb, batch.weight):
        fr = torch.tensor(p.frames)
        assert rgb.shape == (len(p.frames), p.pixels.numel(), 3) and rgb.is_contiguous()
        assert torch.equal(rgb, flat[fr][:, p.pixels].float().mul(1.0 / 255.0))
        assert torch.equal(w, flat_keep[fr][:, p.pixels].float())
    assert batch.count == 3.0 * sum(float(w.sum()) for w in batch.weight)
    plain = gather_batch(pixel_major(video), sets)
    assert plain.weight == [None] * 3 and plain.count == 3.0 * (8 + 2 + 3)
    assert all(torch.equal(a, b) for a, b in zip(plain.rgb, batch.rgb))


def test_a_dense_fit_runs_torch_on_one_thread_and_its_kernels_on_the_callers_threads(monkeypatch):
    """Inside the fitting loop torch's ops run on one thread (its idle threads spun on the
    kernels' cores) and the C kernels on the thread count the caller set; both are restored after."""
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    cfg = NVTMConfig.tiny().replace(alignment="none")
    model = NVTM(cfg, W, H, T, seed=0)
    if not runs_native(model, torch.device("cpu")):
        pytest.skip("no C kernel here: the torch path keeps torch's threads")
    seen = []
    real_loss = engines.DenseEngine.loss

    def spy(self, *args):
        seen.append((torch.get_num_threads(), native.threads()))
        return real_loss(self, *args)

    monkeypatch.setattr(engines.DenseEngine, "loss", spy)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        fit(model, video, FitOptions(steps=4, device="cpu", engine="dense", points_per_set=64, sets_per_step=4,
                                     eval_pixels=None))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert seen == [(1, 3)] * 4


def test_dense_fit_is_deterministic_and_beats_the_mean_colour():
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    video = (video.float() * 0 + torch.linspace(0, 255, W).view(1, 1, W, 1)).to(torch.uint8)  # a ramp
    cfg = NVTMConfig.tiny().replace(alignment="none")
    opts = FitOptions(steps=300, device="cpu", engine="dense", points_per_set=128, sets_per_step=2, eval_pixels=None)
    a, b = NVTM(cfg, W, H, T, seed=0), NVTM(cfg, W, H, T, seed=0)
    ra, rb = fit(a, video, opts), fit(b, video, opts)
    assert ra.engine == "dense" and ra.psnr == rb.psnr
    mean_mse = float(((video.float() / 255) - video.float().mean() / 255).square().mean())
    mean_psnr = 10 * torch.log10(torch.tensor(1 / mean_mse))
    # a ramp's mean colour scores ~10.8 dB; 300 dense steps of a working fit clear it by far
    assert ra.psnr > float(mean_psnr) + 6, (ra.psnr, float(mean_psnr))
    assert ra.samples > 0 and ra.passes > 0


@pytest.mark.parametrize("threshold, parallel", [(0, True), (10 ** 9, False)])
def test_the_update_takes_the_kernels_threads_only_for_large_grids(threshold, parallel, monkeypatch):
    """The optimizer's update runs on the kernels' threads from `PARALLEL_UPDATE_VALUES` grid
    values on, on the fitting loop's one torch thread below."""
    m = NVTM(NVTMConfig.tiny().replace(alignment="none"), W, H, T, seed=1)
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    engine = engines.DenseEngine(m, video, FitOptions(steps=1, device="cpu"), torch.Generator().manual_seed(0), None)
    if not engine.native:
        pytest.skip("no C kernels here: the update follows torch's own threading")
    monkeypatch.setattr(engines, "PARALLEL_UPDATE_VALUES", threshold)
    with cpu_threads(2):  # what a two-thread fit starts from
        with engine.fitting_threads():
            with engine.update_threads():
                inside = torch.get_num_threads()
    assert inside == (2 if parallel else 1)


def test_targets_read_from_the_clip_give_the_bits_of_the_float_gather(monkeypatch):
    """The C kernel reading a set's 8-bit samples in the pixel-major clip (`ClipSamples`) gives
    the loss and gradients of the float targets bit for bit; without the kernel (float64) the
    samples are gathered as floats on the way."""
    from nvcodec.fit import dense

    read_in_c = []
    real = dense._clip_arguments

    def spy(samples):
        args, alive = real(samples)
        read_in_c.append(args[0] is not None)
        return args, alive

    monkeypatch.setattr(dense, "_clip_arguments", spy)
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    sets = PointSetSampler(W, H, T, 3, 45, 2, 3, torch.Generator().manual_seed(4)).next()
    for dtype in (torch.float32, torch.float64):
        m = NVTM(NVTMConfig.tiny().replace(alignment="none"), W, H, T, seed=1).to(dtype)
        out = []
        for floats in (True, False):
            m.zero_grad(set_to_none=True)
            batch = gather_batch(pixel_major(video), sets, floats=floats)
            assert (batch.rgb[0] is None) == (not floats)
            loss = dense_loss(m, batch)
            loss.backward()
            out.append((loss.detach(), {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}))
        (la, ga), (lb, gb) = out
        assert torch.equal(la, lb) and ga.keys() == gb.keys() and all(torch.equal(ga[k], gb[k]) for k in ga), dtype
    if runs_native(m, torch.device("cpu")):
        assert read_in_c == [False] * 3 + [True] * 3  # float32: each set's call, float targets then the clip
