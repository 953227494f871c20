"""YUV <-> RGB: known values, round-trip bounds, siting, and numpy/torch agreement."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from nvcodec.video import Frame, VideoInfo
from nvcodec.video.color import (
    downsample_chroma,
    frames_to_rgb_torch,
    rgb_to_frames_torch,
    rgb_to_yuv,
    rgb_to_yuv_torch,
    upsample_chroma,
    yuv_to_rgb,
    yuv_to_rgb_torch,
)


def _info(w: int, h: int, **kw) -> VideoInfo:
    return VideoInfo(w, h, 1, Fraction(25), **kw)


def _codes(frame: Frame) -> list[np.ndarray]:
    return [p.astype(np.int64) for p in frame.planes]


def test_known_values_limited_and_full() -> None:
    info = _info(1, 1, chroma="444")
    px = lambda y, u, v, i=info: yuv_to_rgb(Frame(tuple(np.array([[c]], i.dtype) for c in (y, u, v))), i)[0, 0]
    np.testing.assert_allclose(px(16, 128, 128), [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(px(235, 128, 128), [1, 1, 1], atol=1e-6)
    red601 = rgb_to_yuv(np.array([[[1.0, 0.0, 0.0]]]), info)
    assert [int(p[0, 0]) for p in red601.planes] == [81, 90, 240]  # 16+219*.299, 128-224*.1687, 240
    red709 = rgb_to_yuv(np.array([[[1.0, 0.0, 0.0]]]), info.replace(matrix="bt709"))
    assert [int(p[0, 0]) for p in red709.planes] == [63, 102, 240]
    full10 = info.replace(color_range="full", bit_depth=10)
    white = rgb_to_yuv(np.ones((1, 1, 3)), full10)
    assert [int(p[0, 0]) for p in white.planes] == [1023, 512, 512]
    lim10 = info.replace(bit_depth=10)
    assert [int(p[0, 0]) for p in rgb_to_yuv(np.zeros((1, 1, 3)), lim10).planes] == [64, 512, 512]


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("color_range", ["limited", "full"])
@pytest.mark.parametrize("depth", [8, 10])
def test_yuv444_round_trip_within_one_code(matrix, color_range, depth) -> None:
    info = _info(33, 17, chroma="444", matrix=matrix, color_range=color_range, bit_depth=depth)
    rng = np.random.default_rng(depth)
    # in-gamut YUV (from random RGB): clipped RGB -> YUV must come back within 1 code
    frame = rgb_to_yuv(rng.random((17, 33, 3)), info)
    back = rgb_to_yuv(yuv_to_rgb(frame, info), info)
    assert max(np.abs(a - b).max() for a, b in zip(_codes(frame), _codes(back))) <= 1
    # any code triple, unclipped RGB: exact (float32 error << 0.5 code)
    codes = Frame(tuple(rng.integers(0, 1 << depth, (17, 33)).astype(info.dtype) for _ in range(3)))
    back = rgb_to_yuv(yuv_to_rgb(codes, info, clip=False), info)
    assert all(np.array_equal(a, b) for a, b in zip(codes.planes, back.planes))


def test_rgb_is_clipped_float32_in_unit_range() -> None:
    info = _info(4, 4, chroma="444")
    frame = Frame((np.full((4, 4), 16, np.uint8), np.full((4, 4), 240, np.uint8), np.full((4, 4), 16, np.uint8)))
    rgb = yuv_to_rgb(frame, info)
    assert rgb.dtype == np.float32 and rgb.shape == (4, 4, 3)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert yuv_to_rgb(frame, info, clip=False).min() < -0.1


@pytest.mark.parametrize("siting", ["jpeg", "mpeg2", "paldv"])
@pytest.mark.parametrize("size", [(72, 96), (71, 95)])
def test_yuv420_smooth_image_round_trip(siting, size) -> None:
    """RGB -> 4:2:0 8-bit -> RGB on a smooth image (periods 64 and 96 px).

    Bound: 8-bit quantisation costs about 0.5/219 per channel plus chroma's share
    (~0.004), and halving the chroma of a sinusoid of period >= 64 px, then linear
    interpolation, errs by about h^2/8 * (2 pi / 64)^2 * amplitude ~ 0.005 with h = 2
    chroma spacing; so the interior stays below 0.012. Borders replicate edge samples,
    so the whole image is judged by PSNR (>= 45 dB) instead of max error.
    """
    h, w = size
    info = _info(w, h, chroma="420", chroma_siting=siting)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.5 + 0.35 * np.sin(2 * np.pi * (xx / 64 + yy / 96) + k * 2.1) for k in range(3)], -1)
    frame = rgb_to_yuv(rgb, info)
    assert frame.planes[1].shape == (-(-h // 2), -(-w // 2))
    err = np.abs(yuv_to_rgb(frame, info) - rgb)
    assert err[2:-2, 2:-2].max() < 0.012
    assert 10 * np.log10(1.0 / np.mean(err**2)) >= 45.0


def test_siting_is_respected_by_resampling() -> None:
    """A linear ramp survives down+up exactly only when both use the same siting."""
    h, w = 12, 16
    ramp = (np.mgrid[0:h, 0:w][1] * 0.7 + np.mgrid[0:h, 0:w][0] * 0.3).astype(np.float32)
    for siting in ("jpeg", "mpeg2", "paldv"):
        info = _info(w, h, chroma="420", chroma_siting=siting)
        for other in ("jpeg", "mpeg2", "paldv"):
            up = upsample_chroma(downsample_chroma(ramp, info), info.replace(chroma_siting=other))
            interior = np.abs(up - ramp)[2:-2, 2:-2].max()
            assert (interior < 1e-4) == (other == siting), (siting, other, interior)
    # 4:2:2 is co-sited horizontally and untouched vertically
    info = _info(w, h, chroma="422", chroma_siting="")
    down = downsample_chroma(ramp, info)
    assert down.shape == (h, w // 2)
    np.testing.assert_allclose(down[:, 1:], ramp[:, 2::2], atol=1e-5)  # sample j sits at x = 2j


def test_mono_is_gray() -> None:
    info = _info(3, 2, chroma="mono", bit_depth=10)
    y = np.array([[64, 940, 502], [64, 940, 502]], np.uint16)
    rgb = yuv_to_rgb(Frame((y,)), info)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    np.testing.assert_allclose(rgb[0, :, 0], [0.0, 1.0, 0.5], atol=1e-6)
    back = rgb_to_yuv(rgb, info)
    assert len(back.planes) == 1 and np.array_equal(back.y, y)


@pytest.mark.parametrize("chroma,siting", [("420", "jpeg"), ("420", "mpeg2"), ("422", ""), ("444", ""), ("mono", "")])
def test_torch_matches_numpy(chroma, siting) -> None:
    info = _info(10, 6, chroma=chroma, chroma_siting=siting, matrix="bt709", color_range="full")
    rng = np.random.default_rng(7)
    rgb = rng.random((2, 6, 10, 3)).astype(np.float32)
    frames_np = [rgb_to_yuv(rgb[t], info) for t in range(2)]
    frames_t = rgb_to_frames_torch(torch.from_numpy(rgb).permute(0, 3, 1, 2), info)
    for a, b in zip(frames_np, frames_t):
        for pa, pb in zip(a.planes, b.planes):
            assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1  # float rounding ties only
    back_t = frames_to_rgb_torch(frames_np, info).permute(0, 2, 3, 1).numpy()
    back_np = np.stack([yuv_to_rgb(f, info) for f in frames_np])
    np.testing.assert_allclose(back_t, back_np, atol=1e-5)
    # the [T,3,H,W] full-resolution pair inverts itself
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2)
    y = rgb_to_yuv_torch(x, info)
    assert y.shape == x.shape
    z = yuv_to_rgb_torch(y, info)
    if chroma == "mono":
        gray = x[:, 0] * 0.2126 + x[:, 1] * 0.7152 + x[:, 2] * 0.0722
        torch.testing.assert_close(z[:, 1], gray, atol=1e-5, rtol=0)
    else:
        torch.testing.assert_close(z, x, atol=1e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_conversion_on_cuda() -> None:  # pragma: no cover - GPU only
    info = _info(10, 6, chroma="420", chroma_siting="mpeg2")
    rgb = torch.rand(2, 3, 6, 10, generator=torch.Generator().manual_seed(0))
    frames = rgb_to_frames_torch(rgb.cuda(), info)
    back = frames_to_rgb_torch(frames, info, device="cuda")
    assert back.device.type == "cuda"
    torch.testing.assert_close(back.cpu(), frames_to_rgb_torch(frames, info), atol=1e-5, rtol=0)


def test_rgb_to_uint8_rounds_and_clips():
    from nvcodec.video.color import rgb_to_uint8

    x = np.array([-0.1, 0.0, 0.4 / 255, 1.6 / 255, 0.5, 1.0, 1.2], dtype=np.float32)
    assert rgb_to_uint8(x).tolist() == [0, 0, 0, 2, 128, 255, 255]
    assert rgb_to_uint8(x).dtype == np.uint8
