"""The codec on CUDA: encode -> decode there, and files decode to the same quality on the CPU and on CUDA,
whichever device encoded them (the issue's bound: PSNR within 0.05 dB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cuda_util import AGREE_DB, DEVICE, MARKS, read_planes

pytestmark = MARKS

#: the same file decoded twice on one device (the decoder's kernels are deterministic: expected 0)
SAME_DEVICE_DB = 1e-3


def _decode(nvc: Path, out: Path, device: str, **options):
    from nvcodec import api

    return api.decode(nvc, out, api.DecodeOptions(device=device, overwrite=True, progress=False, **options))


def _psnr_yuv(ref: Path, dist: Path) -> float:
    from nvcodec import api

    return api.evaluate(ref, dist, device="cpu")["psnr_yuv"]


def test_encode_decode_on_the_device(tiny_y4m: Path, encoded, tmp_path: Path) -> None:
    nvc, rep = encoded(DEVICE)
    assert rep.device.startswith(DEVICE) and rep.fit_steps == 60
    assert 0 < rep.bpp <= 2.0 * 1.03 and rep.psnr_yuv is not None and rep.psnr_yuv > 20.0, rep
    native = _decode(nvc, tmp_path / "native.y4m", DEVICE)
    assert native.device.startswith(DEVICE) and (native.width, native.height, native.frames) == (64, 64, 4)
    assert native.frames_per_second > 0
    # the encoder measured the bytes it wrote: the decoded file has that quality (same device, same kernels)
    assert abs(_psnr_yuv(tiny_y4m, tmp_path / "native.y4m") - rep.psnr_yuv) < SAME_DEVICE_DB
    big = _decode(nvc, tmp_path / "big.y4m", DEVICE, scale=1.5, fps_mult=2)
    assert (big.width, big.height, big.frames) == (96, 96, 8)
    frames = read_planes(tmp_path / "big.y4m")
    assert len(frames) == 8 and frames[0][0].shape == (96, 96) and frames[0][1].shape == (48, 48)


@pytest.mark.parametrize("family", ["codec", "paper"])
@pytest.mark.parametrize("encode_on", ["cpu", DEVICE])
def test_file_decodes_alike_on_cpu_and_device(tiny_y4m: Path, encoded, tmp_path: Path, encode_on: str,
                                              family: str) -> None:
    nvc, rep = encoded(encode_on, family)
    psnr, planes = {}, {}
    for dev in ("cpu", DEVICE):
        out = tmp_path / f"{dev}.y4m"
        _decode(nvc, out, dev)
        psnr[dev] = _psnr_yuv(tiny_y4m, out)
        planes[dev] = read_planes(out)
    assert abs(psnr[DEVICE] - psnr["cpu"]) <= AGREE_DB, psnr
    assert abs(psnr[encode_on] - rep.psnr_yuv) < SAME_DEVICE_DB  # decoded on the encoder's device: the report
    assert abs(psnr["cpu"] - rep.psnr_yuv) <= AGREE_DB, (psnr, rep.psnr_yuv)
    diffs = [np.abs(a.astype(np.int32) - b.astype(np.int32))
             for fa, fb in zip(planes["cpu"], planes[DEVICE]) for a, b in zip(fa, fb)]
    assert max(int(d.max()) for d in diffs) <= 8
    assert float(np.mean(np.concatenate([d.ravel() for d in diffs]))) < 0.5


def test_interpolated_frames_agree_across_devices(encoded, tmp_path: Path) -> None:
    """Frames between source frames (fps x 2, the flow model's per-frame alignment) on both devices."""
    from nvcodec import api

    nvc, _ = encoded(DEVICE, "paper")
    for dev in ("cpu", DEVICE):
        _decode(nvc, tmp_path / f"{dev}.y4m", dev, fps_mult=2, scale=1.5)
    between = api.evaluate(tmp_path / "cpu.y4m", tmp_path / f"{DEVICE}.y4m", device="cpu")
    assert between["identical"] or between["psnr_yuv"] > 45.0, between["psnr_yuv"]


def test_decode_under_global_tf32_setting(tiny_y4m: Path, encoded, tmp_path: Path) -> None:
    """A caller who turned TF32 matmuls on for its own work (`set_float32_matmul_precision("high")`, common
    in training code) still gets the file's quality from the decoder."""
    import torch

    nvc, rep = encoded(DEVICE)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        _decode(nvc, tmp_path / "tf32.y4m", DEVICE)
    finally:
        torch.set_float32_matmul_precision(before)
    assert abs(_psnr_yuv(tiny_y4m, tmp_path / "tf32.y4m") - rep.psnr_yuv) <= AGREE_DB
