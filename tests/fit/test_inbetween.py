"""In-between targets follow motion, and a fit that learns them renders in-between frames that
follow motion too (where a fit on whole frames only cross-fades at best)."""

from __future__ import annotations

import numpy as np
import torch

from nvcodec.fit import fit, fit_preset
from nvcodec.fit.inbetween import midpoint_targets
from nvcodec.interpolation import interpolate
from nvcodec.metrics.psnr import rgb_psnr
from nvcodec.model.nvtm import NVTM
from nvcodec.model.presets import codec
from nvcodec.render import render_frames


def _scene(shift: float, h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth texture moved right by `shift` pixels, float RGB [H, W, 3]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x - shift
    return np.stack([0.5 + 0.4 * np.sin(x / 3.0) * np.cos(y / 4.0), 0.5 + 0.3 * np.cos((x + y) / 5.0),
                     0.5 + 0.2 * np.sin(x / 7.0 + y / 2.5)], -1).astype(np.float32)


INNER = (slice(8, -8), slice(8, -8))  # away from the borders the flow cannot see past


def test_a_moving_texture_is_interpolated_not_blended():
    a, mid, b = _scene(0), _scene(2), _scene(4)
    mc, blend = interpolate(a, b), (a + b) / 2
    assert rgb_psnr(mc[INNER], mid[INNER]) > rgb_psnr(blend[INNER], mid[INNER]) + 8
    assert np.allclose(interpolate(a, a), a, atol=1e-5)  # no motion: the frame itself


def test_midpoint_targets_are_8_bit_frames_between_each_pair():
    clip = torch.from_numpy(np.stack([np.rint(_scene(2 * t) * 255) for t in range(3)]).astype(np.uint8))
    mids = midpoint_targets(clip)
    assert mids.shape == (2, 48, 64, 3) and mids.dtype == torch.uint8
    for t in range(2):
        want = _scene(2 * t + 1)
        assert rgb_psnr(mids[t].numpy()[INNER] / 255.0, want[INNER]) > 30


def _fit(video: torch.Tensor, weight: float) -> NVTM:
    model = NVTM(codec().replace(gop_size=4), 64, 48, len(video), seed=0)
    fit(model, video, fit_preset("encode", steps=150, device="cpu", seed=0, inbetween_weight=weight,
                                 progress_bar=False, grid_codec=None, qat_fraction=0.0, finetune_fraction=0.0))
    return model.eval()


def test_a_fit_that_learns_the_in_between_times_renders_them():
    clip = torch.from_numpy(np.stack([np.rint(_scene(4 * t) * 255) for t in range(4)]).astype(np.uint8))
    truth = np.stack([_scene(4 * t + 2)[INNER] for t in range(3)])

    def between(model: NVTM) -> float:
        rendered = render_frames(model, [0.5, 1.5, 2.5], 64, 48)
        return rgb_psnr(np.stack([f[INNER] for f in rendered]), truth)

    plain, taught = _fit(clip, 0.0), _fit(clip, 1.0)
    assert between(taught) > between(plain) + 3, (between(taught), between(plain))
    # and the frames themselves are still fitted
    frames = np.stack([f[INNER] for f in render_frames(taught, [0.0, 1.0, 2.0, 3.0], 64, 48)])
    assert rgb_psnr(frames, clip.numpy()[:, 8:-8, 8:-8] / 255.0) > 22


def test_in_between_options_are_checked():
    import pytest

    from nvcodec.errors import InputError
    from nvcodec.fit import FitOptions

    with pytest.raises(InputError, match="inbetween_weight"):
        FitOptions(steps=1, inbetween_weight=-1.0).validate()
    with pytest.raises(InputError, match="batch sizes"):
        FitOptions(steps=1, inbetween_sets=0).validate()
