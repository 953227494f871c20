"""The decoder's in-between frames (nvcodec.interpolation): whole times pass through, fractional
ones are the motion-compensated interpolation of their two neighbours, each neighbour rendered
once, and a decode holds two frames at a time."""

from __future__ import annotations

import numpy as np
import pytest

from nvcodec.errors import InputError
from nvcodec.interpolation import check_inbetween, interpolate, motion_frames, whole_times
from nvcodec.metrics.psnr import rgb_psnr


def _scene(shift: float, h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x - shift
    return np.stack([0.5 + 0.4 * np.sin(x / 3.0) * np.cos(y / 4.0), 0.5 + 0.3 * np.cos((x + y) / 5.0),
                     0.5 + 0.2 * np.sin(x / 7.0 + y / 2.5)], -1).astype(np.float32)


class FakeClip:
    """Whole frames of a texture moving 4 px per frame, recording what it was asked to render."""

    def __init__(self) -> None:
        self.asked: list[list[float]] = []

    def render(self, times: list[float]):
        self.asked.append(list(times))
        for t in times:
            assert t == int(t)
            yield _scene(4 * t)


def test_whole_times_of_a_time():
    assert whole_times(3.0, 9) == (3,) and whole_times(3.25, 9) == (3, 4) and whole_times(9.0, 9) == (9,)


def test_fractional_times_follow_motion_and_whole_times_pass_through():
    clip = FakeClip()
    times = [0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0]
    out = list(motion_frames(times, clip.render, last=2))
    assert clip.asked == [[0.0, 1.0, 2.0]]  # each whole frame rendered once, in order
    for t, frame in zip(times, out):
        if t == int(t):
            assert np.array_equal(frame, _scene(4 * t))
        else:
            k = int(t)
            assert np.array_equal(frame, interpolate(_scene(4 * k), _scene(4 * k + 4), t - k))
    inner = (slice(8, -8), slice(8, -8))
    mid, blend = out[1], (_scene(0) + _scene(4)) / 2
    assert rgb_psnr(mid[inner], _scene(2)[inner]) > rgb_psnr(blend[inner], _scene(2)[inner]) + 8


def test_any_order_of_times_and_the_last_frame():
    clip = FakeClip()
    times = [2.5, 0.0, 3.0, 0.5]
    out = list(motion_frames(times, clip.render, last=3))
    assert clip.asked == [[2.0, 3.0, 0.0, 1.0]]
    assert np.array_equal(out[2], _scene(12)) and np.array_equal(out[1], _scene(0))
    assert np.array_equal(out[0], interpolate(_scene(8), _scene(12), 0.5))
    assert np.array_equal(out[3], interpolate(_scene(0), _scene(4), 0.5))


def test_an_increasing_decode_holds_at_most_two_frames_ahead():
    """Frames are taken from the renderer only when needed: with increasing times the
    renderer is never more than two whole frames ahead of the output."""
    times = [i / 4 for i in range(4 * 20 + 1)]
    pulled = []

    def render(ts):
        for t in ts:
            pulled.append(t)
            yield _scene(4 * t)

    for i, _ in enumerate(motion_frames(times, render, last=20)):
        assert max(pulled) <= np.floor(times[i]) + 1
    assert pulled == [float(k) for k in range(21)]


def test_an_unknown_mode_is_an_input_error():
    check_inbetween("motion")
    check_inbetween("model")
    with pytest.raises(InputError, match="unknown in-between rendering 'blend'"):
        check_inbetween("blend")
