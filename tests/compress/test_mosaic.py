"""Grid mosaic: the layout (pinned: it is normative), packing and unpacking, padding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcodec.compress import mosaic

PYRAMID = [(7, 2, 48, 64), (7, 2, 24, 32), (7, 2, 12, 16), (7, 2, 6, 8), (7, 2, 3, 4), (7, 2, 2, 2), (7, 2, 1, 1)]


def _check_layout(shapes: list[tuple[int, int, int, int]]) -> mosaic.Layout:
    lay = mosaic.mosaic_layout(shapes)
    assert lay.width % 8 == 0 and lay.height % 8 == 0
    assert lay.width >= mosaic.MIN_CANVAS and lay.height >= mosaic.MIN_CANVAS
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
    a = mosaic.mosaic_layout([(3, 4, 20, 30), (3, 4, 10, 15)])
    mosaic._layout_cached.cache_clear()
    b = mosaic.mosaic_layout([[3, 4, 20, 30], [3, 4, 10, 15]])
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
def test_pack_unpack_identity(random_levels, n: int, dims: list, seed: int) -> None:
    shapes = [(n, c, h, w) for c, h, w in dims]
    _check_layout(shapes)
    levels = random_levels(shapes, seed)
    canv = mosaic.pack_levels(levels)
    back = mosaic.unpack_levels(canv, shapes)
    for a, b in zip(levels, back):
        np.testing.assert_array_equal(a, b)


def test_padding_replicates_edges() -> None:
    levels = [np.full((1, 1, 5, 5), 200, np.uint8)]
    canv = mosaic.pack_levels(levels)
    assert (canv == 200).all()  # the whole canvas is one flat colour: padding costs nothing


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        mosaic.pack_levels([np.zeros((2, 1, 4, 4), np.uint8), np.zeros((3, 1, 4, 4), np.uint8)])
    with pytest.raises(ValueError):
        mosaic.pack_levels([np.zeros((2, 1, 4, 4), np.float32)])
    with pytest.raises(ValueError):
        mosaic.mosaic_layout([])
