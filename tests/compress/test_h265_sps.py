"""H.265 parameter-set checks: what x265 writes parses as the canvas, and oversized pictures are refused."""

from __future__ import annotations

import pytest

from nvcodec.compress import h265_sps
from nvcodec.compress.hevc import decode_canvases, encode_canvases
from nvcodec.compress.mosaic import pack_levels
from nvcodec.errors import BitstreamError

av = pytest.importorskip("av")
needs_x265 = pytest.mark.skipif("libx265" not in av.codecs_available, reason="PyAV without libx265")


@needs_x265
def test_gray_hevc_parameters(smooth_levels) -> None:
    canv = pack_levels(smooth_levels([(2, 1, 10, 10)]))
    data = encode_canvases(canv, qp=None)
    sps = [n for n in h265_sps.nal_units(data) if (n[0] >> 1) & 0x3F == 33]
    assert len(sps) == 1
    assert h265_sps.sps_info(sps[0]) == (0, 128, 128, 8, 128, 128)  # 4:0:0, 8-bit, the canvas size


@needs_x265
def test_oversized_coded_pictures_are_refused(smooth_levels, monkeypatch) -> None:
    canv = pack_levels(smooth_levels([(1, 1, 136, 20)]))
    data = encode_canvases(canv, qp=None, preset="ultrafast")  # codes 144 rows, crops to 136
    monkeypatch.setattr(h265_sps, "_MAX_PAD", 0)
    with pytest.raises(BitstreamError, match="codes 128x144"):
        decode_canvases(data, 1, 136, 128)
