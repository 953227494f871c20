"""The .nvc container: round trips, versioning, and every corruption class -> BitstreamError."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcodec.bitstream import (
    GLOBAL_SEGMENT,
    MAGIC,
    Chunk,
    Container,
    Segment,
    StreamHeader,
    chunk_table,
    read_container,
    read_container_file,
    write_container,
    write_container_file,
)
from nvcodec.bitstream import format as fmt
from nvcodec.bitstream.writer import encode_chunk
from nvcodec.errors import BitstreamError, EncodeError, InputError, OutputError, UnsupportedVersionError

KNOWN = {"GRDL", "WGTS", "META"}
HEADER = StreamHeader(width=352, height=288, frames=10, fps_num=30000, fps_den=1001, chroma="420",
                      chroma_siting="jpeg", bit_depth=10, matrix="bt709", color_range="full")


def sample() -> Container:
    return Container(
        HEADER,
        [Segment(0, 0, 6), Segment(1, 6, 4)],
        [
            Chunk("META", b'{"k": 1}', GLOBAL_SEGMENT),
            Chunk("GRDL", bytes(range(40)), 0),
            Chunk("WGTS", b"w" * 13, 0, required=False),
            Chunk("GRDL", b"", 1),
        ],
    )


def build(header: bytes, *chunks: bytes) -> bytes:
    return header + b"".join(chunks)


def sidx(*entries: tuple[int, int, int]) -> bytes:
    payload = struct.pack("<I", len(entries)) + b"".join(struct.pack("<III", *e) for e in entries)
    return encode_chunk("SIDX", payload, GLOBAL_SEGMENT, True)


NEND = encode_chunk("NEND", b"", GLOBAL_SEGMENT, True)


def header_bytes(**changes) -> bytes:
    """A v1.0 header with raw field overrides (re-CRC'ed), bypassing the writer's checks."""
    fields = dict(
        magic=MAGIC, major=1, minor=0, flags=0, size=48, width=352, height=288, frames=10,
        num=25, den=1, chroma=0, siting=2, depth=8, matrix=0, range=0,
    )
    fields.update(changes)
    body = fmt.HEADER_STRUCT.pack(*fields.values())
    return body + struct.pack("<I", zlib.crc32(body))


# ----------------------------------------------------------------- round trips


def test_roundtrip() -> None:
    c = sample()
    data = write_container(c)
    assert data.startswith(MAGIC) and len(data) == sum(r["bytes"] for r in chunk_table(c))
    back = read_container(data, known_types=KNOWN)
    assert back.header == c.header
    assert back.segments == c.segments
    assert back.chunks == c.chunks
    assert back.skipped == []
    assert back.find("GRDL", 1) == Chunk("GRDL", b"", 1)
    assert [ch.type for ch in back.segment_chunks(0)] == ["GRDL", "WGTS"]
    assert write_container(back) == data  # canonical


def test_header_layout() -> None:
    data = write_container(sample())
    assert data[:8] == b"\x8bNVC\r\n\x1a\n"
    assert data[8:10] == b"\x01\x02"  # version 1.2
    assert struct.unpack_from("<HIIIIII", data, 10) == (0, 48, 352, 288, 10, 30000, 1001)
    assert tuple(data[36:41]) == (0, 1, 10, 1, 1)  # 420, jpeg, 10 bit, bt709, full
    assert data[41:44] == b"\x00\x00\x00"
    assert struct.unpack_from("<I", data, 44)[0] == zlib.crc32(data[:44])
    assert data[48:52] == b"SIDX"
    assert data[-24:] == NEND


def test_file_roundtrip_and_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "a.nvc"
    write_container_file(p, sample())
    assert read_container_file(p, known_types=KNOWN).chunks == sample().chunks
    with pytest.raises(OutputError):
        write_container_file(p, sample())
    write_container_file(p, sample(), overwrite=True)
    assert [x.name for x in tmp_path.iterdir()] == ["a.nvc"]  # no temporary left behind


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_container_file(tmp_path / "missing.nvc")
    with pytest.raises(InputError, match="directory"):
        read_container_file(tmp_path)
    empty = tmp_path / "empty.nvc"
    empty.write_bytes(b"")
    with pytest.raises(BitstreamError, match="empty"):
        read_container_file(empty)
    big = tmp_path / "big.nvc"
    big.write_bytes(write_container(sample()))
    with pytest.raises(BitstreamError, match="limit"):
        read_container_file(big, max_bytes=100)


def test_unknown_chunks() -> None:
    data = write_container(sample())
    back = read_container(data, known_types={"GRDL", "META"})
    assert [c.type for c in back.skipped] == ["WGTS"]  # optional: skipped and reported
    assert sum(r["bytes"] for r in chunk_table(back)) == len(data)
    with pytest.raises(UnsupportedVersionError, match="required chunk 'GRDL'"):
        read_container(data, known_types={"META", "WGTS"})
    assert len(read_container(data).chunks) == 4  # None: accept all (inspection)


def test_versioning() -> None:
    body = build(header_bytes(major=2), sidx((0, 0, 10)), NEND)
    with pytest.raises(UnsupportedVersionError, match=r"newer nvcodec \(major 2\); this decoder supports 1"):
        read_container(body)
    with pytest.raises(UnsupportedVersionError):
        read_container(build(header_bytes(major=0), sidx((0, 0, 10)), NEND))
    # a newer minor version with a longer header (extra fields before the CRC) is accepted
    body = header_bytes(minor=7, size=56)[:-4] + b"\xaa" * 8
    newer = body + struct.pack("<I", zlib.crc32(body)) + sidx((0, 0, 10)) + NEND
    c = read_container(newer)
    assert c.header.version_minor == 7 and c.header.width == 352


def test_writer_refuses_what_the_reader_would() -> None:
    c = sample()
    for bad in (
        Container(StreamHeader(20000, 8, 1, 25), [Segment(0, 0, 1)], []),
        Container(HEADER, [Segment(0, 0, 5)], []),  # does not cover 10 frames
        Container(HEADER, [Segment(0, 0, 10)], [Chunk("GRDL", b"", 3)]),  # unknown segment
        Container(HEADER, [Segment(0, 0, 10)], [Chunk("SIDX", b"")]),  # reserved type
        Container(StreamHeader(8, 8, 1, 25, chroma="411"), [Segment(0, 0, 1)], []),
    ):
        with pytest.raises(EncodeError):
            write_container(bad)
    with pytest.raises(ValueError):
        Chunk("GRD", b"")
    with pytest.raises(ValueError):
        Chunk("GR D", b"")
    assert write_container(c)


# ----------------------------------------------------------------- corruption classes


GOOD = write_container(sample())


def flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    b = bytearray(data)
    b[at] ^= mask
    return bytes(b)


CHUNK0 = 48 + 24 + 4 + 2 * 12  # offset of the first chunk after SIDX


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"GIF89a" + GOOD[6:], "bad magic"),
        (GOOD.replace(b"\r\n", b"\n", 1), "bad magic"),  # text-mode mangling
        (GOOD[:30], "truncated file header"),
        (flip(GOOD, 20), "CRC mismatch in the file header"),
        (flip(GOOD, CHUNK0 + 30), "CRC mismatch in chunk 'META'"),
        (flip(GOOD, CHUNK0 + 28), "CRC mismatch in chunk 'META'"),  # the CRC field itself
        (GOOD[: CHUNK0 + 27], f"truncated chunk 'META' at byte {CHUNK0}"),
        (GOOD[: CHUNK0 + 10], f"truncated chunk header at byte {CHUNK0}"),
        (GOOD[:-24], "missing end chunk"),  # cut at a chunk boundary
        (GOOD + b"\x00", "1 byte of trailing garbage"),
        (GOOD[:CHUNK0] + b"ME\xffA" + GOOD[CHUNK0 + 4 :], "invalid chunk type"),
        (GOOD[:CHUNK0 + 12] + struct.pack("<Q", 2**63) + GOOD[CHUNK0 + 20 :], "truncated chunk 'META'"),
    ],
    ids=["empty", "magic", "crlf", "short-header", "header-crc", "payload-crc", "crc-field", "cut-payload",
         "cut-header", "cut-boundary", "trailing", "bad-type", "inflated-length"],
)
def test_corruption_raises_bitstream_error(data: bytes, message: str) -> None:
    with pytest.raises(BitstreamError, match=message):
        read_container(data, known_types=KNOWN)


@pytest.mark.parametrize(
    "header,chunks,message",
    [
        (dict(width=0), [sidx((0, 0, 10))], "width 0"),
        (dict(height=16385), [sidx((0, 0, 10))], "height 16385"),
        (dict(frames=10**7 + 1), [sidx((0, 0, 10))], "frame count"),
        (dict(frames=0), [sidx((0, 0, 10))], "frame count 0"),
        (dict(den=0), [sidx((0, 0, 10))], "frame rate"),
        (dict(depth=7), [sidx((0, 0, 10))], "bit depth"),
        (dict(size=20), [sidx((0, 0, 10))], "header size"),
        (dict(size=10**6), [sidx((0, 0, 10))], "header size"),
        ({}, [], "missing end chunk"),
        ({}, [encode_chunk("GRDL", b"", 0, True)], "expected the segment index"),
        ({}, [sidx()], "no segment"),
        ({}, [sidx((0, 0, 6), (1, 5, 5))], "starts at frame 5, expected 6"),  # overlap
        ({}, [sidx((0, 0, 6), (1, 7, 3))], "starts at frame 7"),  # gap
        ({}, [sidx((0, 0, 6), (0, 6, 4))], "listed twice"),
        ({}, [sidx((0, 0, 11))], "past the 10 frames"),
        ({}, [sidx((0, 0, 4))], "cover frames"),
        ({}, [sidx((0, 0, 10), (1, 10, 0))], "no frame"),
        ({}, [encode_chunk("SIDX", struct.pack("<I", 2**30), GLOBAL_SEGMENT, True)], "over the limit"),
        ({}, [encode_chunk("SIDX", struct.pack("<I", 2) + b"\x00" * 12, GLOBAL_SEGMENT, True)], "expected"),
        ({}, [sidx((0, 0, 10)), sidx((0, 0, 10))], "duplicate segment index"),
        ({}, [sidx((0, 0, 10)), encode_chunk("GRDL", b"x", 5, True)], "segment 5, absent"),
        ({}, [sidx((0, 0, 10)), encode_chunk("NEND", b"x", GLOBAL_SEGMENT, True)], "has a payload"),
    ],
)
def test_invalid_fields_raise_bitstream_error(header: dict, chunks: list[bytes], message: str) -> None:
    data = build(header_bytes(**header), *chunks, *([NEND] if chunks else []))
    with pytest.raises(BitstreamError, match=message):
        read_container(data, known_types=KNOWN)


@pytest.mark.parametrize("field,code", [("chroma", 9), ("siting", 4), ("matrix", 2), ("range", 2)])
def test_unknown_enum_codes(field: str, code: int) -> None:
    data = build(header_bytes(**{field: code}), sidx((0, 0, 10)), NEND)
    with pytest.raises(UnsupportedVersionError, match="newer nvcodec"):
        read_container(data)


def test_truncation_at_every_chunk_boundary() -> None:
    bounds, pos = [], 48
    while pos < len(GOOD):
        (length,) = struct.unpack_from("<Q", GOOD, pos + 12)
        bounds.append(pos)
        pos += 24 + length
    assert pos == len(GOOD) and len(bounds) == 6
    for b in bounds:
        with pytest.raises(BitstreamError, match="missing end chunk"):
            read_container(GOOD[:b], known_types=KNOWN)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.data())
def test_mutations_only_ever_raise_bitstream_error(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["flip", "truncate", "length", "random", "splice", "empty"]))
    b = bytearray(GOOD)
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(b) - 1))
            b[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        b = b[: data.draw(st.integers(0, len(b) - 1))]
    elif kind == "length":  # inflate or shrink one 8-byte length field (CRCs stay stale)
        offs = [48, CHUNK0]
        at = data.draw(st.sampled_from(offs)) + 12
        b[at : at + 8] = data.draw(st.integers(0, 2**64 - 1)).to_bytes(8, "little")
    elif kind == "random":
        b = bytearray(data.draw(st.binary(max_size=200)))
    elif kind == "splice":
        i = data.draw(st.integers(0, len(b)))
        b[i:i] = data.draw(st.binary(min_size=1, max_size=30))
    else:
        b = bytearray()
    try:
        c = read_container(bytes(b), known_types=data.draw(st.sampled_from([None, KNOWN, set()])))
    except BitstreamError:
        return
    assert isinstance(c, Container)


def test_header_video_fields_round_trip_through_video_info():
    from nvcodec.video import VideoInfo

    info = VideoInfo(width=36, height=20, frames=7, fps=Fraction(30000, 1001), chroma="422", chroma_siting="jpeg",
                     bit_depth=10, color_range="full", matrix="bt709")
    header = StreamHeader.from_video_info(info)
    assert VideoInfo(**header.video_fields()) == info
    assert StreamHeader.from_video_info(VideoInfo(**header.video_fields())) == header
