from __future__ import annotations

import torch

from nvcodec.fit.sampler import PixelSampler


def test_batches_are_deterministic_sorted_and_consistent(make_clip):
    v = make_clip(5, 8, 12)
    a = PixelSampler(v, 3, 50, torch.Generator().manual_seed(1)).next()
    b = PixelSampler(v, 3, 50, torch.Generator().manual_seed(1)).next()
    assert torch.equal(a.pixels, b.pixels) and torch.equal(a.frames, b.frames)
    assert a.xy.shape == (3, 50, 2) and a.rgb.shape == (3, 50, 3) and a.t.shape == (3,)
    assert torch.all(a.frames[1:] > a.frames[:-1])  # distinct, sorted
    assert torch.all(a.pixels[:, 1:] >= a.pixels[:, :-1])
    x = (a.xy[..., 0] * 12 - 0.5).round().long()
    y = (a.xy[..., 1] * 8 - 0.5).round().long()
    assert torch.equal(y * 12 + x, a.pixels)
    ref = v[a.frames.unsqueeze(1), y, x].float() / 255
    assert torch.allclose(ref, a.rgb, atol=1e-7)


def test_mask_excludes_pixels_and_frames(make_clip):
    v = make_clip(4, 6, 6)
    mask = torch.zeros(4, 6, 6, dtype=torch.bool)
    mask[:, :3] = True  # top half left out
    mask[2] = True  # a frame left out entirely
    s = PixelSampler(v, 3, 200, torch.Generator().manual_seed(0), mask=mask)
    for _ in range(5):
        b = s.next()
        assert 2 not in b.frames.tolist()
        assert torch.all(b.pixels >= 18)


def test_more_frames_than_clip(make_clip):
    v = make_clip(2, 4, 4)
    b = PixelSampler(v, 5, 3, torch.Generator().manual_seed(0)).next()
    assert b.frames.shape == (5,) and set(b.frames.tolist()) <= {0, 1}
