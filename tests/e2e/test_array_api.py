"""`import nvcodec`: encode an array, open the bytes, take frames at any time and size."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import nvcodec
from nvcodec.errors import InputError
from nvcodec.video import open_video, sample_clip_path
from nvcodec.video.color import rgb_to_uint8, yuv_to_rgb


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    with open_video(sample_clip_path()) as r:
        return np.stack([rgb_to_uint8(yuv_to_rgb(r.read(i), r.info))[:48, :64] for i in range(4)])


@pytest.fixture(scope="module")
def encoded(rgb, tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "a.nvc"
    report = nvcodec.encode(rgb, path, bpp=2.0, steps=6, device="cpu", fps=30)
    return path, report


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0 ** 2 / mse)


def test_importing_nvcodec_stays_light():
    code = "import sys, nvcodec; assert 'torch' not in sys.modules; assert callable(nvcodec.open); print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_bytes_and_file_are_the_same_encode(rgb, encoded):
    path, report = encoded
    data = nvcodec.encode(rgb, bpp=2.0, steps=6, device="cpu", fps=30)
    assert isinstance(data, bytes) and data == path.read_bytes()
    assert report.bytes == len(data) and report.frames == 4 and (report.width, report.height) == (64, 48)


def test_open_reports_the_clip_and_its_frames_match_the_encoders_psnr(rgb, encoded):
    path, report = encoded
    video = nvcodec.open(path.read_bytes())
    assert len(video) == 4 and video.fps == 30 and video.size == (64, 48)
    frames = video.frames()
    assert frames.shape == (4, 48, 64, 3) and frames.dtype == np.uint8
    assert np.array_equal(np.stack(list(video)), frames) and np.array_equal(video.frame(2), frames[2])
    # the array coded as 4:4:4 full range: the decoded frames score what the encoder printed
    assert _psnr(rgb, frames) == pytest.approx(report.psnr_rgb, abs=0.15)


def test_frames_at_any_time_and_size(encoded):
    path, _ = encoded
    video = nvcodec.open(path)
    big = video.frame(1.5, size=(128, 96))
    assert big.shape == (96, 128, 3)
    between = video.frames([1.0, 1.5, 2.0])
    assert between.shape == (3, 48, 64, 3)
    assert not np.array_equal(between[1], between[0]) and not np.array_equal(between[1], between[2])
    with pytest.raises(InputError, match="outside the clip"):
        video.frame(3.5)


@pytest.mark.parametrize("bad, match", [(np.zeros((2, 8, 8), np.uint8), "shape"),
                                        (np.zeros((2, 8, 8, 3), np.float32), "uint8")])
def test_bad_arrays_are_refused(bad, match):
    with pytest.raises(InputError, match=match):
        nvcodec.encode(bad, steps=1)


def test_evaluate_arrays_agrees_with_the_encoder_and_with_paths(rgb, encoded):
    path, report = encoded
    frames = nvcodec.open(path).frames()
    scores = nvcodec.evaluate(rgb, frames)
    assert scores["frames"] == 4 and scores["psnr_rgb"] == pytest.approx(_psnr(rgb, frames), abs=1e-5)
    assert 0 < scores["msssim"] < 1 and len(scores["per_frame"]) == 4
    assert nvcodec.evaluate(rgb, path)["psnr_rgb"] == pytest.approx(scores["psnr_rgb"], abs=1e-9)  # an .nvc path
    same = nvcodec.evaluate(rgb, rgb, metrics=["psnr"])
    assert same["identical"] and same["psnr_rgb"] is None and same["msssim"] is None
