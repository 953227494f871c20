"""PSNR: known values, 6:1:1 weighting, inf handling and the two clip means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nvcodec.metrics.psnr import (
    FrameErrors,
    PsnrAccumulator,
    combine_yuv,
    frame_errors,
    frame_psnr,
    json_value,
    mse,
    mse_from_psnr,
    peak_for_bit_depth,
    psnr_from_mse,
    rgb_psnr,
)
from nvcodec.video import Frame


def _frame(y: int, u: int, v: int, dtype=np.uint8, shape=(8, 8)) -> Frame:
    cs = (shape[0] // 2, shape[1] // 2)
    return Frame((np.full(shape, y, dtype), np.full(cs, u, dtype), np.full(cs, v, dtype)))


def test_known_values() -> None:
    ref = _frame(100, 128, 128)
    p = frame_psnr(ref, _frame(101, 130, 132), 8)
    assert p["psnr_y"] == pytest.approx(48.1308, abs=1e-4)  # 20 log10(255)
    assert p["psnr_u"] == pytest.approx(48.1308 - 20 * math.log10(2), abs=1e-4)
    assert p["psnr_v"] == pytest.approx(48.1308 - 20 * math.log10(4), abs=1e-4)
    assert p["psnr_yuv"] == pytest.approx((6 * p["psnr_y"] + p["psnr_u"] + p["psnr_v"]) / 8)
    ten = frame_psnr(_frame(500, 512, 512, np.uint16), _frame(501, 512, 512, np.uint16), 10)
    assert ten["psnr_y"] == pytest.approx(20 * math.log10(1023), abs=1e-9)  # 60.2 dB
    # uint8 subtraction must not wrap around
    assert mse(np.array([0], np.uint8), np.array([255], np.uint8)) == 255.0**2


def test_identical_is_inf_and_null_in_json() -> None:
    p = frame_psnr(_frame(10, 20, 30), _frame(10, 20, 30), 8)
    assert all(math.isinf(p[k]) for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv"))
    assert json_value(p["psnr_y"]) is None and json_value(40.0) == 40.0 and json_value(None) is None
    assert psnr_from_mse(0.0, 255) == math.inf


def test_psnr_from_mse_the_one_convention() -> None:
    assert psnr_from_mse(0.01) == pytest.approx(20.0)  # peak 1.0 by default ([0, 1] floats)
    assert psnr_from_mse(1e-4, 1.0) == pytest.approx(40.0)
    assert psnr_from_mse(0.0) == math.inf and psnr_from_mse(0.0, 1023) == math.inf
    assert peak_for_bit_depth(8) == 255.0 and peak_for_bit_depth(10) == 1023.0
    assert psnr_from_mse(1.0, peak_for_bit_depth(8)) == pytest.approx(20 * math.log10(255))
    assert psnr_from_mse(4.0, peak_for_bit_depth(10)) == pytest.approx(20 * math.log10(1023 / 2))
    # the same relative error reads the same in 8 and 10 bit
    assert psnr_from_mse(1.0, 255) == pytest.approx(psnr_from_mse((1023 / 255) ** 2, 1023))
    for p, peak in ((35.0, 1.0), (48.13, 255.0), (60.2, 1023.0)):
        assert psnr_from_mse(mse_from_psnr(p, peak), peak) == pytest.approx(p)
    assert mse_from_psnr(math.inf) == 0.0


def test_mono_yuv_is_y() -> None:
    a = Frame((np.zeros((4, 4), np.uint8),))
    b = Frame((np.full((4, 4), 2, np.uint8),))
    p = frame_psnr(a, b, 8)
    assert p["psnr_u"] is None and p["psnr_yuv"] == p["psnr_y"]
    assert combine_yuv(30.0, None, None) == 30.0 and combine_yuv(None, 1.0, 1.0) is None


def test_rgb_psnr() -> None:
    a = np.zeros((4, 4, 3), np.float32)
    assert rgb_psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-5)


def test_clip_means_mse_averaged_and_frame_averaged() -> None:
    acc = PsnrAccumulator(8)
    ref = _frame(100, 100, 100)
    acc.add(frame_errors(ref, _frame(101, 101, 101), 8))  # MSE 1
    acc.add(frame_errors(ref, _frame(102, 102, 102), 8))  # MSE 4
    s = acc.summary()
    assert s["psnr_y"] == pytest.approx(10 * math.log10(255**2 / 2.5))
    assert s["frame_mean"]["psnr_y"] == pytest.approx((48.1308 + 42.1102) / 2, abs=1e-3)
    assert s["psnr_y"] < s["frame_mean"]["psnr_y"]  # Jensen: the MSE mean is the stricter one
    assert s["psnr_rgb"] is None and s["identical"] is False
    # one identical frame: the frame mean is inf, the MSE-averaged value stays finite
    acc.add(frame_errors(ref, ref, 8))
    s = acc.summary()
    assert math.isfinite(s["psnr_y"]) and math.isinf(s["frame_mean"]["psnr_y"])
    only = PsnrAccumulator(8)
    only.add(FrameErrors(0.0, 0.0, 0.0, 0.0, 8))
    assert only.summary()["identical"] is True
