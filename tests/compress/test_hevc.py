"""HEVC canvases: argument checks and a decoder that refuses any malformed stream with BitstreamError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcodec.compress import hevc
from nvcodec.compress.mosaic import pack_levels
from nvcodec.errors import BitstreamError, DependencyError

av = pytest.importorskip("av")


def test_bad_canvases_are_rejected() -> None:
    with pytest.raises(ValueError):
        hevc.encode_canvases(np.zeros((1, 64, 128), np.uint8), qp=None)  # below 2 CTUs
    with pytest.raises(ValueError):
        hevc.encode_canvases(np.zeros((1, 128, 128), np.uint8), qp=60)


@pytest.fixture(scope="module")
def stream(smooth_levels) -> tuple[bytes, np.ndarray]:
    canv = pack_levels(smooth_levels([(3, 2, 30, 40)], 3))
    if "libx265" not in av.codecs_available:
        pytest.skip("PyAV without libx265")
    return hevc.encode_canvases(canv, qp=30), canv


@pytest.mark.parametrize(
    "mutate,expect",
    [
        (lambda d: b"", "empty"),
        (lambda d: b"\x00\x00\x01" + bytes(range(256)) * 3, "parameter set"),
        (lambda d: bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8)), "parameter set"),
        (lambda d: d[:40], "truncated"),
        (lambda d: d[: len(d) // 2], "frames, expected 3"),
    ],
    ids=["empty", "no-sps", "random", "headers-only", "half"],
)
def test_garbage_and_truncation_raise_bitstream_error(stream, mutate, expect: str) -> None:
    data, canv = stream
    with pytest.raises(BitstreamError, match=expect):
        hevc.decode_canvases(mutate(data), *canv.shape)


def test_wrong_geometry_is_refused(stream) -> None:
    data, canv = stream
    n, h, w = canv.shape
    with pytest.raises(BitstreamError, match="expects"):
        hevc.decode_canvases(data, n, h + 8, w)
    with pytest.raises(BitstreamError, match="more than"):
        hevc.decode_canvases(data, n - 1, h, w)
    with pytest.raises(BitstreamError, match="holds 3 frames, expected 4"):
        hevc.decode_canvases(data, n + 1, h, w)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.data())
def test_mutated_streams_only_raise_bitstream_error(stream, data: st.DataObject) -> None:
    blob, canv = stream
    b = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    b = b[: data.draw(st.integers(0, len(b)))]
    try:
        out = hevc.decode_canvases(bytes(b), *canv.shape)
    except BitstreamError:
        return
    assert out.shape == canv.shape and out.dtype == np.uint8


def test_missing_libx265_raises_dependency_error(monkeypatch) -> None:
    monkeypatch.setattr(av, "codecs_available", set())
    with pytest.raises(DependencyError, match="libx265"):
        hevc.encode_canvases(np.zeros((1, 128, 128), np.uint8), qp=None)


@pytest.mark.parametrize("preset", ["medium", "slower", "veryslow", "placebo"])
def test_lossless_is_lossless_at_every_preset_on_a_real_latent_canvas(preset) -> None:
    """Three frames of a fitted model's latent mosaic (mobile CIF, 200 steps) on which libx265's
    weighted bi-prediction (preset slower and up) decoded to other codes (up to 478 of 49 k)."""
    import lzma
    from pathlib import Path

    raw = lzma.decompress((Path(__file__).parent / "data" / "grid_canvas_3x128x128.u8.xz").read_bytes())
    canvas = np.frombuffer(raw, np.uint8).reshape(3, 128, 128)
    data = hevc.encode_canvases(canvas, qp=None, preset=preset)
    assert np.array_equal(hevc.decode_canvases(data, 3, 128, 128), canvas)
