"""Grid levels <-> bytes: one kind of grid (every level, every channel) as one HEVC stream.

  encode: uint8 levels [N, C, H_l, W_l] --mosaic.pack_levels--> N canvases --hevc.encode_canvases--> stream
  decode: stream --hevc.decode_canvases--> N canvases --mosaic.unpack_levels--> levels

The canvas layout follows from the grid shapes (which the decoder knows from the model
configuration), so the stream is all that is stored. Normative: ``bitstream_spec/NVC.md``
("Grid payload").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import BitstreamError, EncodeError
from .hevc import decode_canvases, encode_canvases
from .mosaic import mosaic_layout, pack_levels, unpack_levels

__all__ = ["decode_levels", "encode_levels", "encode_levels_recon"]


def encode_levels_recon(
    levels: Sequence[np.ndarray], qp: int | None, preset: str = "medium"
) -> tuple[bytes, list[np.ndarray]]:
    """Encode grid levels and return (stream, what a decoder rebuilds), verified by decoding.

    Lossless mode (qp=None) raises EncodeError unless the round trip is bit-exact.
    """
    canv = pack_levels(levels)
    data = encode_canvases(canv, qp=qp, preset=preset)
    try:
        dec = decode_canvases(data, *canv.shape)
    except BitstreamError as exc:
        raise EncodeError(f"libx265 produced a grid stream this decoder refuses: {exc}") from exc
    shapes = [lv.shape for lv in levels]
    recon = unpack_levels(dec, shapes)
    if qp is None and not all(np.array_equal(a, b) for a, b in zip(levels, recon)):
        raise EncodeError("libx265 lossless mode did not reproduce the grids exactly")
    return data, recon


def encode_levels(levels: Sequence[np.ndarray], qp: int | None, preset: str = "medium") -> bytes:
    """Pack, HEVC-encode and self-check uint8 grid levels [N, C, H_l, W_l]."""
    return encode_levels_recon(levels, qp, preset)[0]


def decode_levels(data: bytes, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Decode an encode_levels stream back into uint8 levels of the given (trusted) shapes."""
    lay = mosaic_layout(shapes)
    n = int(shapes[0][0])
    return unpack_levels(decode_canvases(data, n, lay.height, lay.width), shapes)
