"""Serialise a Container into .nvc bytes (and files, atomically)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BitstreamError, EncodeError
from ..fsutil import atomic_write_bytes
from .format import (
    CHUNK_STRUCT,
    CRC_STRUCT,
    FLAG_REQUIRED,
    GLOBAL_SEGMENT,
    MAX_CHUNKS,
    MAX_FILE_SIZE,
    NEND,
    RESERVED_TYPES,
    SIDX,
    SIDX_ENTRY,
    VERSION_MAJOR,
    VERSION_MINOR,
    Container,
    StreamHeader,
    crc32,
    pack_header,
    validate_header,
    validate_segments,
)

__all__ = ["encode_chunk", "encode_header", "write_container", "write_container_file"]


def encode_header(h: StreamHeader) -> bytes:
    """The 48-byte file header (the layout of version 1.0), CRC included."""
    body = pack_header(h)
    return body + CRC_STRUCT.pack(crc32(body))


def encode_chunk(type_: str, payload: bytes, segment: int, required: bool) -> bytes:
    """type | flags | segment | length | payload | CRC32(all of the preceding)."""
    head = CHUNK_STRUCT.pack(type_.encode("ascii"), FLAG_REQUIRED if required else 0, segment, len(payload))
    return head + payload + CRC_STRUCT.pack(crc32(payload, crc32(head)))


def write_container(container: Container) -> bytes:
    """Serialise after running the reader's own checks (so every written file reads back).

    Contents the format cannot carry raise EncodeError.
    """
    h = container.header
    segments = list(container.segments)
    if (h.version_major, h.version_minor) != (VERSION_MAJOR, VERSION_MINOR):
        raise EncodeError(f"this writer writes version {VERSION_MAJOR}.{VERSION_MINOR} only")
    try:
        validate_header(h)
        validate_segments(segments, h.frames)
    except BitstreamError as exc:
        raise EncodeError(f"cannot write this container: {exc}") from exc
    ids = {s.id for s in segments}
    if len(container.chunks) + 2 > MAX_CHUNKS:
        raise EncodeError(f"too many chunks ({len(container.chunks)})")
    for c in container.chunks:
        if c.type in RESERVED_TYPES:
            raise EncodeError(f"chunk type {c.type!r} is reserved for the container itself")
        if c.segment != GLOBAL_SEGMENT and c.segment not in ids:
            raise EncodeError(f"chunk {c.type!r} refers to segment {c.segment}, which the index lacks")
    sidx = len(segments).to_bytes(4, "little") + b"".join(
        SIDX_ENTRY.pack(s.id, s.first_frame, s.frame_count) for s in segments
    )
    parts = [encode_header(h), encode_chunk(SIDX, sidx, GLOBAL_SEGMENT, True)]
    parts.extend(encode_chunk(c.type, c.payload, c.segment, c.required) for c in container.chunks)
    parts.append(encode_chunk(NEND, b"", GLOBAL_SEGMENT, True))
    out = b"".join(parts)
    if len(out) > MAX_FILE_SIZE:
        raise EncodeError(f"container of {len(out)} bytes exceeds the {MAX_FILE_SIZE}-byte limit")
    return out


def write_container_file(path: str | os.PathLike, container: Container, overwrite: bool = False) -> Path:
    """Serialise, then write atomically (a reader never sees a partial .nvc)."""
    data = write_container(container)
    return atomic_write_bytes(path, data, overwrite=overwrite)
