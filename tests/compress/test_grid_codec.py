"""Grid levels <-> HEVC stream: round trips (lossless exact, lossy bounded), determinism, self-check."""

from __future__ import annotations

import numpy as np
import pytest

from nvcodec.compress import grid_codec as gc
from nvcodec.errors import EncodeError

av = pytest.importorskip("av")
needs_x265 = pytest.mark.skipif("libx265" not in av.codecs_available, reason="PyAV without libx265")

PYRAMID = [(7, 2, 48, 64), (7, 2, 24, 32), (7, 2, 12, 16), (7, 2, 6, 8), (7, 2, 3, 4), (7, 2, 2, 2), (7, 2, 1, 1)]


@needs_x265
@pytest.mark.parametrize(
    "shapes",
    [
        PYRAMID,  # N = 7, seven levels
        [(1, 1, 1, 1)],  # a grid far smaller than one CTU
        [(1, 2, 3, 5), (1, 2, 2, 2)],
        [(2, 1, 64, 64)],  # natural canvas width 64 = the CTU size
        [(3, 2, 64, 40)],
        [(2, 1, 136, 20)],  # 136 rows: ultrafast's 16-sample min CU codes 144 and crops
    ],
    ids=["pyramid-n7", "1x1", "tiny", "width64", "n3", "cropped"],
)
def test_lossless_roundtrip_is_exact(smooth_levels, random_levels, shapes) -> None:
    for levels in (smooth_levels(shapes), random_levels(shapes, 5)):
        data = gc.encode_levels(levels, qp=None, preset="ultrafast")
        assert data[:4] == b"\x00\x00\x00\x01"  # Annex-B
        back = gc.decode_levels(data, shapes)
        for a, b in zip(levels, back):
            np.testing.assert_array_equal(a, b)


@needs_x265
def test_lossy_error_is_bounded_and_rate_falls_with_qp(smooth_levels) -> None:
    levels = smooth_levels(PYRAMID, 1)
    sizes, errs = [], []
    for qp in (22, 32):
        data, recon = gc.encode_levels_recon(levels, qp=qp)
        back = gc.decode_levels(data, PYRAMID)
        for r, b in zip(recon, back):
            np.testing.assert_array_equal(r, b)  # what the encoder reports is what decoders get
        mse = np.mean(np.concatenate([(a.astype(float) - b).ravel() ** 2 for a, b in zip(levels, back)]))
        sizes.append(len(data))
        errs.append(mse)
    lossless = len(gc.encode_levels(levels, qp=None))
    assert lossless > sizes[0] > sizes[1]
    assert errs[0] < 12 and errs[1] < 60 and errs[0] < errs[1]


@needs_x265
@pytest.mark.parametrize("qp", [None, 30])
def test_encoding_is_deterministic(smooth_levels, qp) -> None:
    levels = smooth_levels([(4, 3, 20, 30), (4, 3, 10, 15)], 2)
    assert gc.encode_levels(levels, qp=qp) == gc.encode_levels(levels, qp=qp)


@needs_x265
def test_encoder_refuses_an_inexact_lossless_result(monkeypatch) -> None:
    real = gc.decode_canvases

    def corrupt(*args, **kwargs):
        out = real(*args, **kwargs)
        out[0, 0, 0] ^= 1
        return out

    monkeypatch.setattr(gc, "decode_canvases", corrupt)
    with pytest.raises(EncodeError, match="exactly"):
        gc.encode_levels([np.zeros((1, 1, 4, 4), np.uint8)], qp=None)
