"""Grid codec: mosaic layout, HEVC round trips (lossless exact, lossy bounded), validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcodec.compress import grid_codec as gc
from nvcodec.errors import BitstreamError, DependencyError, EncodeError

av = pytest.importorskip("av")
needs_x265 = pytest.mark.skipif("libx265" not in av.codecs_available, reason="PyAV without libx265")


def smooth_levels(shapes: list[tuple[int, int, int, int]], seed: int = 0) -> list[np.ndarray]:
    """Random smooth grids whose consecutive n are similar (like fitted GOP latents)."""
    rng = np.random.default_rng(seed)
    out = []
    for n, c, h, w in shapes:
        yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
        base = np.stack([np.sin(6 * xx * (k + 1) + 3 * yy) for k in range(c)])
        drift = np.linspace(0, 0.3, n)[:, None, None, None]
        g = 110 + 90 * base[None] * (1 - drift) + rng.normal(0, 2, (n, c, h, w))
        out.append(np.clip(g, 0, 255).astype(np.uint8))
    return out


def random_levels(shapes: list[tuple[int, int, int, int]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, s, dtype=np.uint8) for s in shapes]


PYRAMID = [(7, 2, 48, 64), (7, 2, 24, 32), (7, 2, 12, 16), (7, 2, 6, 8), (7, 2, 3, 4), (7, 2, 2, 2), (7, 2, 1, 1)]


# ----------------------------------------------------------------- layout


def _check_layout(shapes: list[tuple[int, int, int, int]]) -> gc.Layout:
    lay = gc.mosaic_layout(shapes)
    assert lay.width % 8 == 0 and lay.height % 8 == 0
    assert lay.width >= gc.MIN_CANVAS and lay.height >= gc.MIN_CANVAS
    occupied = np.zeros((lay.height, lay.width), dtype=np.int32)
    assert len(lay.placements) == sum(s[1] for s in shapes)
    for p in lay.placements:
        assert p.x % 8 == 0 and p.y % 8 == 0
        assert (p.height, p.width) == shapes[p.level][2:]
        assert p.slot_h == -(-p.height // 8) * 8 and p.slot_w == -(-p.width // 8) * 8
        occupied[p.y : p.y + p.slot_h, p.x : p.x + p.slot_w] += 1
    assert occupied.max() == 1  # slots never overlap and all lie inside the canvas
    return lay


def test_layout_of_a_pyramid_is_pinned() -> None:
    # Normative: the decoder rebuilds this from the shapes; a change breaks old files.
    lay = _check_layout(PYRAMID)
    assert (lay.width, lay.height) == (128, 128)
    got = [(p.level, p.channel, p.x, p.y) for p in lay.placements]
    assert got == [
        (0, 0, 0, 0), (0, 1, 64, 0),
        (1, 0, 0, 48), (1, 1, 32, 48),
        (2, 0, 64, 48), (2, 1, 80, 48),
        (3, 0, 96, 48), (3, 1, 104, 48),
        (4, 0, 112, 48), (4, 1, 120, 48),
        (5, 0, 0, 72), (5, 1, 8, 72),
        (6, 0, 16, 72), (6, 1, 24, 72),
    ]


def test_layout_is_deterministic_and_shape_only() -> None:
    a = gc.mosaic_layout([(3, 4, 20, 30), (3, 4, 10, 15)])
    gc._layout_cached.cache_clear()
    b = gc.mosaic_layout([[3, 4, 20, 30], [3, 4, 10, 15]])
    assert a == b


@pytest.mark.parametrize(
    "shapes",
    [
        [(1, 1, 1, 1)],
        [(2, 3, 64, 64)],
        [(1, 1, 130, 7)],
        [(2, 1, 5, 300), (2, 2, 9, 9)],
        [(1, 16, 32, 32), (1, 16, 16, 16)],
    ],
)
def test_layout_properties(shapes) -> None:
    _check_layout(shapes)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 3),
    dims=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 70), st.integers(1, 70)), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_pack_unpack_identity(n: int, dims: list, seed: int) -> None:
    shapes = [(n, c, h, w) for c, h, w in dims]
    _check_layout(shapes)
    levels = random_levels(shapes, seed)
    canv = gc.pack_levels(levels)
    back = gc.unpack_levels(canv, shapes)
    for a, b in zip(levels, back):
        np.testing.assert_array_equal(a, b)


def test_padding_replicates_edges() -> None:
    levels = [np.full((1, 1, 5, 5), 200, np.uint8)]
    canv = gc.pack_levels(levels)
    assert (canv == 200).all()  # the whole canvas is one flat colour: padding costs nothing


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        gc.pack_levels([np.zeros((2, 1, 4, 4), np.uint8), np.zeros((3, 1, 4, 4), np.uint8)])
    with pytest.raises(ValueError):
        gc.pack_levels([np.zeros((2, 1, 4, 4), np.float32)])
    with pytest.raises(ValueError):
        gc.mosaic_layout([])
    with pytest.raises(ValueError):
        gc.encode_canvases(np.zeros((1, 64, 128), np.uint8), qp=None)  # below 2 CTUs
    with pytest.raises(ValueError):
        gc.encode_canvases(np.zeros((1, 128, 128), np.uint8), qp=60)


# ----------------------------------------------------------------- HEVC round trips


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
def test_lossless_roundtrip_is_exact(shapes) -> None:
    for levels in (smooth_levels(shapes), random_levels(shapes, 5)):
        data = gc.encode_levels(levels, qp=None, preset="ultrafast")
        assert data[:4] == b"\x00\x00\x00\x01"  # Annex-B
        back = gc.decode_levels(data, shapes)
        for a, b in zip(levels, back):
            np.testing.assert_array_equal(a, b)


@needs_x265
def test_lossy_error_is_bounded_and_rate_falls_with_qp() -> None:
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
def test_encoding_is_deterministic(qp) -> None:
    levels = smooth_levels([(4, 3, 20, 30), (4, 3, 10, 15)], 2)
    assert gc.encode_levels(levels, qp=qp) == gc.encode_levels(levels, qp=qp)


@needs_x265
def test_gray_hevc_parameters() -> None:
    canv = gc.pack_levels(smooth_levels([(2, 1, 10, 10)]))
    data = gc.encode_canvases(canv, qp=None)
    sps = [n for n in gc._nal_units(data) if (n[0] >> 1) & 0x3F == 33]
    assert len(sps) == 1
    assert gc._sps_info(sps[0]) == (0, 128, 128, 8, 128, 128)  # 4:0:0, 8-bit, the canvas size


# ----------------------------------------------------------------- validation


@pytest.fixture(scope="module")
def stream() -> tuple[bytes, np.ndarray]:
    canv = gc.pack_levels(smooth_levels([(3, 2, 30, 40)], 3))
    if "libx265" not in av.codecs_available:
        pytest.skip("PyAV without libx265")
    return gc.encode_canvases(canv, qp=30), canv


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
        gc.decode_canvases(mutate(data), *canv.shape)


def test_wrong_geometry_is_refused(stream) -> None:
    data, canv = stream
    n, h, w = canv.shape
    with pytest.raises(BitstreamError, match="expects"):
        gc.decode_canvases(data, n, h + 8, w)
    with pytest.raises(BitstreamError, match="more than"):
        gc.decode_canvases(data, n - 1, h, w)
    with pytest.raises(BitstreamError, match="holds 3 frames, expected 4"):
        gc.decode_canvases(data, n + 1, h, w)


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
        out = gc.decode_canvases(bytes(b), *canv.shape)
    except BitstreamError:
        return
    assert out.shape == canv.shape and out.dtype == np.uint8


@needs_x265
def test_oversized_coded_pictures_are_refused(monkeypatch) -> None:
    canv = gc.pack_levels(smooth_levels([(1, 1, 136, 20)]))
    data = gc.encode_canvases(canv, qp=None, preset="ultrafast")  # codes 144 rows, crops to 136
    monkeypatch.setattr(gc, "_MAX_PAD", 0)
    with pytest.raises(BitstreamError, match="codes 128x144"):
        gc.decode_canvases(data, 1, 136, 128)


def test_missing_libx265_raises_dependency_error(monkeypatch) -> None:
    monkeypatch.setattr(av, "codecs_available", set())
    with pytest.raises(DependencyError, match="libx265"):
        gc.encode_canvases(np.zeros((1, 128, 128), np.uint8), qp=None)


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
