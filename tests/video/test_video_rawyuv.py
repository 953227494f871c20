"""Raw .yuv input/output with a RawSpec."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nvcodec.errors import InputError, OutputError
from nvcodec.video import Frame, RawSpec, VideoInfo, create_writer, open_video, probe
from nvcodec.video.rawyuv import SUPPORTED_PIX_FMTS, parse_pix_fmt


@pytest.mark.parametrize("pix_fmt", SUPPORTED_PIX_FMTS)
def test_raw_read_write_round_trip(tmp_path: Path, pix_fmt: str) -> None:
    chroma, depth = parse_pix_fmt(pix_fmt)
    w, h = 7, 5
    rng = np.random.default_rng(len(pix_fmt) + depth)
    dtype = np.uint8 if depth == 8 else np.uint16
    shapes = {"420": [(5, 7), (3, 4), (3, 4)], "422": [(5, 7), (5, 4), (5, 4)], "444": [(5, 7)] * 3, "mono": [(5, 7)]}[chroma]
    frames = [[rng.integers(0, 1 << depth, s).astype(dtype) for s in shapes] for _ in range(3)]
    src = tmp_path / "in.yuv"
    src.write_bytes(b"".join(p.astype("<u2" if depth > 8 else np.uint8).tobytes() for f in frames for p in f))
    spec = RawSpec(w, h, Fraction(30000, 1001), pix_fmt)
    with open_video(src, raw=spec) as r:
        assert (r.info.width, r.info.height, r.info.frames, r.info.chroma, r.info.bit_depth) == (w, h, 3, chroma, depth)
        assert r.info.chroma_siting == ("mpeg2" if chroma == "420" else "")
        for i in (2, 0, 1):
            for a, b in zip(r.read(i).planes, frames[i]):
                np.testing.assert_array_equal(a, b)
        out = tmp_path / "out.yuv"
        with create_writer(out, r.info, overwrite=False) as wr:
            for f in r:
                wr.write(f)
    assert out.read_bytes() == src.read_bytes()
    p = probe(src, raw=spec)
    assert (p["format"], p["pix_fmt"], p["frames"], p["fps"]) == ("yuv", pix_fmt, 3, "30000/1001")


def test_raw_size_must_be_whole_frames(tmp_path: Path) -> None:
    src = tmp_path / "bad.yuv"
    src.write_bytes(bytes(4 * 4 * 3 // 2 * 2 + 1))
    with pytest.raises(InputError, match="not a whole number"):
        open_video(src, raw=RawSpec(4, 4, Fraction(25)))
    src.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_video(src, raw=RawSpec(4, 4, Fraction(25)))


def test_raw_needs_spec(tmp_path: Path) -> None:
    src = tmp_path / "clip.yuv"
    src.write_bytes(bytes(24))
    with pytest.raises(InputError, match="--size/--fps/--pix-fmt"):
        open_video(src)


def test_rawspec_parse_and_validation() -> None:
    spec = RawSpec.parse("352x288", "30000/1001", "yuv420p10le")
    assert spec == RawSpec(352, 288, Fraction(30000, 1001), "yuv420p10le")
    assert RawSpec.parse("4X2", "29.97").fps == Fraction(2997, 100)
    for bad in (("352", "25", "yuv420p"), ("4x4", "abc", "yuv420p"), ("4x4", "25", "nv12"), ("4x4", "0", "yuv420p")):
        with pytest.raises(InputError):
            RawSpec.parse(*bad)
    with pytest.raises(InputError, match="too large"):
        RawSpec(20000, 10, Fraction(25))


def test_raw_writer_refuses_depth_without_name(tmp_path: Path) -> None:
    info = VideoInfo(2, 2, 1, Fraction(25), chroma="mono", bit_depth=9)
    with pytest.raises(OutputError, match="8, 10, 12 or 16"):
        create_writer(tmp_path / "x.yuv", info, overwrite=False)
    assert list(tmp_path.iterdir()) == []
    info = info.replace(bit_depth=8)
    with create_writer(tmp_path / "x.yuv", info, overwrite=False) as w:
        w.write(Frame((np.arange(4, dtype=np.uint8).reshape(2, 2),)))
    assert (tmp_path / "x.yuv").read_bytes() == bytes([0, 1, 2, 3])
