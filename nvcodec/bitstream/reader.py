"""Parse and validate .nvc bytes; never trust a stored length.

Every size is checked against the bytes actually present and against the fixed
limits of ``format`` before anything is sliced or allocated. Any malformed input
raises BitstreamError (UnsupportedVersionError for a newer major version or an
unknown required chunk) naming what is wrong and where; no other exception
escapes for any input bytes.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from ..errors import BitstreamError, InputError, UnsupportedVersionError
from .format import (
    CHUNK_OVERHEAD,
    CHUNK_STRUCT,
    CRC_STRUCT,
    FLAG_REQUIRED,
    GLOBAL_SEGMENT,
    HEADER_SIZE,
    MAGIC,
    MAX_CHUNKS,
    MAX_FILE_SIZE,
    MAX_HEADER_SIZE,
    MAX_SEGMENTS,
    NEND,
    SIDX,
    SIDX_ENTRY,
    Chunk,
    Container,
    Segment,
    StreamHeader,
    CHUNK_TYPE_RE,
    check_major_version,
    crc32,
    unpack_header,
    validate_header,
    validate_segments,
)

__all__ = ["read_container", "read_container_file", "read_header"]

def read_header(data: bytes | memoryview) -> tuple[StreamHeader, int]:
    """Parse and check the file header; return it and the offset of the first chunk."""
    mv = memoryview(data)
    if len(mv) == 0:
        raise BitstreamError("empty input: not an .nvc file")
    if len(mv) < len(MAGIC) or bytes(mv[: len(MAGIC)]) != MAGIC:
        raise BitstreamError("bad magic: not an .nvc file (or mangled by a text-mode transfer)")
    if len(mv) < 16:
        raise BitstreamError(f"truncated file header ({len(mv)} bytes)")
    check_major_version(mv[8])
    header_size = int.from_bytes(mv[12:16], "little")
    if not HEADER_SIZE <= header_size <= MAX_HEADER_SIZE:
        raise BitstreamError(f"header size {header_size} outside [{HEADER_SIZE}, {MAX_HEADER_SIZE}]")
    if len(mv) < header_size:
        raise BitstreamError(f"truncated file header ({len(mv)} of {header_size} bytes)")
    (stored_crc,) = CRC_STRUCT.unpack_from(mv, header_size - 4)
    if crc32(mv[: header_size - 4]) != stored_crc:
        raise BitstreamError("CRC mismatch in the file header")
    header = unpack_header(mv)
    validate_header(header)
    return header, header_size


def _parse_sidx(payload: bytes, at: int) -> list[Segment]:
    if len(payload) < 4:
        raise BitstreamError(f"segment index at byte {at} is shorter than its count")
    count = int.from_bytes(payload[:4], "little")
    if count > MAX_SEGMENTS:
        raise BitstreamError(f"segment index lists {count} segments, over the limit of {MAX_SEGMENTS}")
    if len(payload) != 4 + SIDX_ENTRY.size * count:
        expected = 4 + SIDX_ENTRY.size * count
        raise BitstreamError(f"segment index at byte {at} is {len(payload)} bytes, {expected} expected")
    return [Segment(*SIDX_ENTRY.unpack_from(payload, 4 + SIDX_ENTRY.size * i)) for i in range(count)]


def _read_chunk(mv: memoryview, pos: int) -> tuple[str, int, int, bytes, int]:
    """(type, flags, segment, payload, offset of the next chunk) of the chunk at byte `pos`, its
    framing and CRC checked against the bytes present."""
    end = len(mv)
    if pos == end:
        raise BitstreamError(f"missing end chunk '{NEND}': file truncated at byte {pos}")
    if end - pos < CHUNK_OVERHEAD:
        raise BitstreamError(f"truncated chunk header at byte {pos} ({end - pos} bytes left)")
    raw_type, flags, segment, length = CHUNK_STRUCT.unpack_from(mv, pos)
    try:
        type_ = raw_type.decode("ascii")
    except UnicodeDecodeError:
        type_ = ""
    if not CHUNK_TYPE_RE.fullmatch(type_):
        raise BitstreamError(f"invalid chunk type {raw_type!r} at byte {pos}")
    if length > end - pos - CHUNK_OVERHEAD:
        raise BitstreamError(
            f"truncated chunk '{type_}' at byte {pos}: {length} payload bytes announced, "
            f"{end - pos - CHUNK_OVERHEAD} present"
        )
    body_end = pos + CHUNK_STRUCT.size + length
    (stored,) = CRC_STRUCT.unpack_from(mv, body_end)
    if crc32(mv[pos:body_end]) != stored:
        raise BitstreamError(f"CRC mismatch in chunk '{type_}' at byte {pos}")
    return type_, flags, segment, bytes(mv[pos + CHUNK_STRUCT.size : body_end]), body_end + 4


def read_container(data: bytes | bytearray | memoryview, *, known_types: Collection[str] | None = None) -> Container:
    """Parse a whole .nvc file.

    known_types: the chunk types the caller can interpret. An unknown required chunk
    raises UnsupportedVersionError; an unknown optional one is skipped and listed in
    `Container.skipped`. None accepts every type (inspection, e.g. `nvcodec info`).
    """
    mv = memoryview(bytes(data))
    header, pos = read_header(mv)
    end = len(mv)
    segments: list[Segment] | None = None
    seg_ids: set[int] = set()
    chunks: list[Chunk] = []
    skipped: list[Chunk] = []
    count = 0
    while True:
        at = pos
        type_, flags, segment, payload, pos = _read_chunk(mv, at)
        count += 1
        if count > MAX_CHUNKS:
            raise BitstreamError(f"more than {MAX_CHUNKS} chunks")
        required = bool(flags & FLAG_REQUIRED)
        if count == 1:
            if type_ != SIDX:
                raise BitstreamError(f"first chunk is '{type_}' at byte {at}, expected the segment index '{SIDX}'")
            segments = _parse_sidx(payload, at)
            validate_segments(segments, header.frames)
            seg_ids = {s.id for s in segments}
            continue
        if type_ == SIDX:
            raise BitstreamError(f"duplicate segment index '{SIDX}' at byte {at}")
        if type_ == NEND:
            if payload:
                raise BitstreamError(f"end chunk '{NEND}' at byte {at} has a payload")
            if pos != end:
                extra = end - pos
                plural = "s" if extra != 1 else ""
                raise BitstreamError(f"{extra} byte{plural} of trailing garbage after the end chunk at byte {at}")
            break
        if segment != GLOBAL_SEGMENT and segment not in seg_ids:
            raise BitstreamError(f"chunk '{type_}' at byte {at} refers to segment {segment}, absent from the index")
        chunk = Chunk(type_, payload, segment, required)
        if known_types is None or type_ in known_types:
            chunks.append(chunk)
        elif required:
            raise UnsupportedVersionError(
                f"required chunk '{type_}' at byte {at} is unknown to this decoder (written by a newer nvcodec?)"
            )
        else:
            skipped.append(chunk)
    assert segments is not None
    return Container(header, segments, chunks, skipped)


def read_container_file(
    path: str | os.PathLike,
    *,
    known_types: Collection[str] | None = None,
    max_bytes: int = MAX_FILE_SIZE,
) -> Container:
    """Read and parse a .nvc file, refusing empty files and files over max_bytes before reading."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"no such file: {p}") from None
    except OSError as exc:
        raise InputError(f"cannot access {p}: {exc.strerror or exc}") from None
    if p.is_dir():
        raise InputError(f"input path is a directory: {p}")
    if st.st_size == 0:
        raise BitstreamError(f"{p} is empty: not an .nvc file")
    if st.st_size > max_bytes:
        raise BitstreamError(f"{p} is {st.st_size} bytes, over the {max_bytes}-byte limit of .nvc files")
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise BitstreamError(f"{p} grew past the {max_bytes}-byte limit while being read")
    return read_container(data, known_types=known_types)
