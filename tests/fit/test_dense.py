"""The dense engine computes the per-pixel path's loss and gradients (float64, tiny clip)."""

from __future__ import annotations

import torch

from nvcodec.fit import FitOptions, fit
from nvcodec.fit.dense import Tile, TileSampler, dense_loss, gather_batch, supports_dense
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
    tiles = [Tile(0, 3, 20, 2, 11, (0, 1)), Tile((T - 1) // n, 30, 40, 0, 24, (T - 1,)), Tile(1, 0, 7, 20, 24, (n, n + 1))]
    batch = gather_batch(video, tiles)
    batch.rgb = [r.double() for r in batch.rgb]
    loss = dense_loss(m, batch, chunk=50)
    loss.backward()
    dense_grads = {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}
    m.zero_grad()
    total = 0
    for tile, rgb in zip(tiles, batch.rgb):
        X, Y = torch.meshgrid(torch.arange(tile.x0, tile.x1, dtype=torch.float64),
                              torch.arange(tile.y0, tile.y1, dtype=torch.float64), indexing="xy")
        xy = torch.stack([(X.reshape(-1) + 0.5) / W, (Y.reshape(-1) + 0.5) / H], 1)
        for i, f in enumerate(tile.frames):
            mse, _ = m.fit_loss(xy[None], torch.tensor([float(f)], dtype=torch.float64), rgb[i][None])
            total = total + mse * xy.shape[0]
    ref = total / sum(t.samples for t in tiles)
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-12 * ref.item()
    assert dense_grads.keys() == {k for k, p in m.named_parameters() if p.grad is not None}
    for k, p in m.named_parameters():
        if p.grad is not None:
            assert torch.allclose(dense_grads[k], p.grad, rtol=1e-9, atol=1e-12), k


def test_tile_sampler_covers_the_border_and_stays_in_one_gop():
    s = TileSampler(W, H, T, 3, 16, 2, 64, torch.Generator().manual_seed(0))
    tiles = s.next()
    assert min(t.x0 for t in tiles) == 0 and max(t.x1 for t in tiles) == W
    for t in tiles:
        assert all(f // 3 == t.gop for f in t.frames) and 0 <= t.x0 < t.x1 <= W and 0 <= t.y0 < t.y1 <= H


def test_dense_fit_is_deterministic_and_beats_the_mean_colour():
    video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    video = (video.float() * 0 + torch.linspace(0, 255, W).view(1, 1, W, 1)).to(torch.uint8)  # a ramp
    cfg = NVTMConfig.tiny().replace(alignment="none")
    opts = FitOptions(steps=300, device="cpu", engine="dense", tile_size=16, tiles_per_step=2, eval_pixels=None,
                      dense_lr_base=5e-3)
    a, b = NVTM(cfg, W, H, T, seed=0), NVTM(cfg, W, H, T, seed=0)
    ra, rb = fit(a, video, opts), fit(b, video, opts)
    assert ra.engine == "dense" and ra.psnr == rb.psnr
    mean_mse = float(((video.float() / 255) - video.float().mean() / 255).square().mean())
    mean_psnr = 10 * torch.log10(torch.tensor(1 / mean_mse))
    # a ramp's mean colour scores ~10.8 dB; 300 dense steps of a working fit clear it by far
    assert ra.psnr > float(mean_psnr) + 6, (ra.psnr, float(mean_psnr))
    assert ra.samples > 0 and ra.passes > 0
