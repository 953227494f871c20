"""The .nvc container: constants, data model and the validation both sides share.

Byte layout (normative, see ``bitstream_spec/NVC.md``): a fixed file header with
its own CRC, then typed chunks ``type | flags | segment | length | payload | crc``
until an ``NEND`` chunk that ends the file. Little-endian everywhere. The writer
runs the very checks the reader runs, so nvcodec never writes a file it refuses.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import BitstreamError, UnsupportedVersionError

MAGIC = b"\x8bNVC\r\n\x1a\n"  # PNG-style: high bit, CR-LF, ^Z and LF catch text-mode mangling
VERSION_MAJOR = 1
VERSION_MINOR = 2  # what this writer writes, one segment or several: 1.2, the compact model chunks (spec 6)
SEGMENTS_MINOR = 1  # the first minor version whose files may hold several segments (spec section 10.8)

# file header: magic, major, minor, flags, header_size, width, height, frames, fps_num,
# fps_den, chroma, siting, bit depth, matrix, range, 3 reserved bytes; then its CRC32
HEADER_STRUCT = struct.Struct("<8sBBHIIIIII BBBBB3x")
HEADER_SIZE = HEADER_STRUCT.size + 4  # 48 bytes in version 1.0
# chunk header: type, flags, segment, payload length; payload follows, then CRC32
CHUNK_STRUCT = struct.Struct("<4sIIQ")
CHUNK_OVERHEAD = CHUNK_STRUCT.size + 4  # 24 bytes
CRC_STRUCT = struct.Struct("<I")

FLAG_REQUIRED = 0x1
GLOBAL_SEGMENT = 0xFFFFFFFF  # segment id of chunks that belong to the whole file

SIDX = "SIDX"  # segment index: first chunk, exactly one
NEND = "NEND"  # end of file: last chunk, empty payload
RESERVED_TYPES = frozenset({SIDX, NEND})
SIDX_ENTRY = struct.Struct("<III")  # segment id, first frame, frame count

# limits a reader enforces before allocating anything
MAX_DIMENSION = 16384
MAX_FRAMES = 10_000_000
MAX_HEADER_SIZE = 4096
MAX_CHUNKS = 1 << 20
MAX_SEGMENTS = 1 << 20
MAX_FILE_SIZE = 4 << 30  # 4 GiB
MIN_BIT_DEPTH, MAX_BIT_DEPTH = 8, 16

CHROMA_CODES = {"420": 0, "422": 1, "444": 2, "mono": 3}
SITING_CODES = {"": 0, "jpeg": 1, "mpeg2": 2, "paldv": 3}  # "" = unspecified
MATRIX_CODES = {"bt601": 0, "bt709": 1}
RANGE_CODES = {"limited": 0, "full": 1}
#: StreamHeader field -> (its name in messages, its code table): the header's enumerated fields
HEADER_ENUMS = {
    "chroma": ("chroma format", CHROMA_CODES),
    "chroma_siting": ("chroma siting", SITING_CODES),
    "matrix": ("colour matrix", MATRIX_CODES),
    "color_range": ("colour range", RANGE_CODES),
}
_HEADER_VALUES = {attr: {v: k for k, v in table.items()} for attr, (_, table) in HEADER_ENUMS.items()}

CHUNK_TYPE_RE = re.compile(r"[A-Za-z0-9]{4}")


def crc32(data: bytes | memoryview, previous: int = 0) -> int:
    """zlib's CRC-32 (ISO-HDLC: reflected 0x04C11DB7, init and xorout 0xFFFFFFFF), chainable."""
    return zlib.crc32(data, previous) & 0xFFFFFFFF


def check_chunk_type(type_: str) -> str:
    """A chunk type is exactly 4 ASCII letters or digits."""
    if not isinstance(type_, str) or not CHUNK_TYPE_RE.fullmatch(type_):
        raise ValueError(f"chunk type must be 4 ASCII letters/digits, got {type_!r}")
    return type_


@dataclass(frozen=True)
class Chunk:
    """One typed payload. `required`: a decoder that does not know `type` must refuse the file."""

    type: str
    payload: bytes
    segment: int = 0
    required: bool = True

    def __post_init__(self) -> None:
        check_chunk_type(self.type)
        if not isinstance(self.payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"chunk {self.type!r} payload must be bytes")
        object.__setattr__(self, "payload", bytes(self.payload))
        if not 0 <= int(self.segment) <= GLOBAL_SEGMENT:
            raise ValueError(f"chunk {self.type!r} segment id {self.segment} is not a u32")


@dataclass(frozen=True)
class Segment:
    """An independently decodable range of frames [first_frame, first_frame + frame_count)."""

    id: int
    first_frame: int
    frame_count: int


@dataclass(frozen=True)
class StreamHeader:
    """What a decoder needs before any chunk: picture format, frame count and rate, version."""

    width: int
    height: int
    frames: int
    fps_num: int
    fps_den: int = 1
    chroma: str = "420"
    chroma_siting: str = "mpeg2"
    bit_depth: int = 8
    matrix: str = "bt601"
    color_range: str = "limited"
    version_major: int = VERSION_MAJOR
    version_minor: int = VERSION_MINOR
    flags: int = 0

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    def video_fields(self) -> dict[str, Any]:
        """What the header says about the video, by the names nvcodec.video's VideoInfo uses
        (the decoder's output format: `VideoInfo(**header.video_fields())`)."""
        return {"width": self.width, "height": self.height, "frames": self.frames, "fps": self.fps,
                "chroma": self.chroma, "chroma_siting": self.chroma_siting, "bit_depth": self.bit_depth,
                "color_range": self.color_range, "matrix": self.matrix}

    @classmethod
    def from_video_info(cls, info: Any) -> "StreamHeader":
        """Build from an nvcodec.video VideoInfo (duck-typed: reads its attributes)."""
        fps = Fraction(info.fps)
        return cls(
            width=int(info.width),
            height=int(info.height),
            frames=int(info.frames),
            fps_num=fps.numerator,
            fps_den=fps.denominator,
            chroma=str(info.chroma),
            chroma_siting=str(info.chroma_siting),
            bit_depth=int(info.bit_depth),
            matrix=str(info.matrix),
            color_range=str(info.color_range),
        )


@dataclass
class Container:
    """A parsed or to-be-written .nvc file. `skipped`: unknown optional chunks a reader ignored."""

    header: StreamHeader
    segments: list[Segment]
    chunks: list[Chunk]
    skipped: list[Chunk] = field(default_factory=list)

    def segment_chunks(self, segment: int) -> list[Chunk]:
        """The chunks of one segment, in file order."""
        return [c for c in self.chunks if c.segment == segment]

    def find(self, type_: str, segment: int = 0) -> Chunk | None:
        """The first chunk of this type in this segment, or None."""
        return next((c for c in self.chunks if c.type == type_ and c.segment == segment), None)


def pack_header(h: StreamHeader) -> bytes:
    """The header's fields in the version 1.0 layout of HEADER_STRUCT (the CRC32 that follows
    them is not included); the enumerated fields as their codes."""

    def code(attr: str) -> int:
        return HEADER_ENUMS[attr][1][getattr(h, attr)]

    return HEADER_STRUCT.pack(MAGIC, VERSION_MAJOR, h.version_minor, h.flags, HEADER_SIZE, h.width, h.height,
                              h.frames, h.fps_num, h.fps_den, code("chroma"), code("chroma_siting"), h.bit_depth,
                              code("matrix"), code("color_range"))


def unpack_header(data: bytes | memoryview) -> StreamHeader:
    """The StreamHeader of the HEADER_STRUCT fields at the start of `data`; an unknown code of an
    enumerated field raises UnsupportedVersionError. The values are not checked (`validate_header`)."""
    f = HEADER_STRUCT.unpack_from(data, 0)

    def value(attr: str, code: int) -> str:
        try:
            return _HEADER_VALUES[attr][code]
        except KeyError:
            name = HEADER_ENUMS[attr][0]
            raise UnsupportedVersionError(f"unknown {name} code {code} (written by a newer nvcodec?)") from None

    return StreamHeader(
        width=f[5],
        height=f[6],
        frames=f[7],
        fps_num=f[8],
        fps_den=f[9],
        chroma=value("chroma", f[10]),
        chroma_siting=value("chroma_siting", f[11]),
        bit_depth=f[12],
        matrix=value("matrix", f[13]),
        color_range=value("color_range", f[14]),
        version_major=f[1],
        version_minor=f[2],
        flags=f[3],
    )


def check_major_version(major: int) -> None:
    """UnsupportedVersionError unless this decoder reads major version `major`."""
    if major != VERSION_MAJOR:
        raise UnsupportedVersionError(
            f"written by a newer nvcodec (major {major}); this decoder supports {VERSION_MAJOR}"
            if major > VERSION_MAJOR
            else f"unsupported container major version {major}; this decoder supports {VERSION_MAJOR}"
        )


def validate_header(h: StreamHeader) -> None:
    """Raise BitstreamError unless every header field is within the format's limits."""
    check_major_version(h.version_major)
    if not 0 <= h.version_minor <= 255 or not 0 <= h.flags <= 0xFFFF:
        raise BitstreamError("version minor or flags out of range")
    for name, v in (("width", h.width), ("height", h.height)):
        if not 1 <= v <= MAX_DIMENSION:
            raise BitstreamError(f"{name} {v} outside [1, {MAX_DIMENSION}]")
    if not 1 <= h.frames <= MAX_FRAMES:
        raise BitstreamError(f"frame count {h.frames} outside [1, {MAX_FRAMES}]")
    if not 1 <= h.fps_num <= 0xFFFFFFFF or not 1 <= h.fps_den <= 0xFFFFFFFF:
        raise BitstreamError(f"frame rate {h.fps_num}/{h.fps_den} must have positive u32 terms")
    if not MIN_BIT_DEPTH <= h.bit_depth <= MAX_BIT_DEPTH:
        raise BitstreamError(f"bit depth {h.bit_depth} outside [{MIN_BIT_DEPTH}, {MAX_BIT_DEPTH}]")
    for attr, (name, table) in HEADER_ENUMS.items():
        value = getattr(h, attr)
        if value not in table:
            raise BitstreamError(f"unknown {name} {value!r}")


def validate_segments(segments: list[Segment], frames: int) -> None:
    """Segments: 1..MAX_SEGMENTS, unique ids, ascending, contiguous, exactly covering [0, frames)."""
    if not segments:
        raise BitstreamError("the segment index lists no segment")
    if len(segments) > MAX_SEGMENTS:
        raise BitstreamError(f"{len(segments)} segments exceed the limit of {MAX_SEGMENTS}")
    ids: set[int] = set()
    expect = 0
    for s in segments:
        if not 0 <= s.id < GLOBAL_SEGMENT:
            raise BitstreamError(f"segment id {s.id} is out of range")
        if s.id in ids:
            raise BitstreamError(f"segment id {s.id} is listed twice")
        ids.add(s.id)
        if s.frame_count < 1:
            raise BitstreamError(f"segment {s.id} has no frame")
        if s.first_frame != expect:
            raise BitstreamError(
                f"segment {s.id} starts at frame {s.first_frame}, expected {expect} "
                "(segments must be ascending, non-overlapping and cover every frame)"
            )
        expect = s.first_frame + s.frame_count
        if expect > frames:
            raise BitstreamError(f"segment {s.id} ends at frame {expect}, past the {frames} frames of the stream")
    if expect != frames:
        raise BitstreamError(f"segments cover frames [0, {expect}) but the stream has {frames} frames")


def chunk_table(container: Container) -> list[dict]:
    """One row per stored unit (header, index, chunks, end) with its size in bytes incl. overhead.

    The byte counts add up to the size of the written file; for `nvcodec info`.
    """
    rows: list[dict] = [
        {"type": "header", "segment": None, "required": True, "bytes": HEADER_SIZE},
        {
            "type": SIDX,
            "segment": None,
            "required": True,
            "bytes": CHUNK_OVERHEAD + 4 + SIDX_ENTRY.size * len(container.segments),
        },
    ]
    rows += [_chunk_row(c) for c in container.chunks]
    rows += [{**_chunk_row(c), "skipped": True} for c in container.skipped]
    rows.append({"type": NEND, "segment": None, "required": True, "bytes": CHUNK_OVERHEAD})
    return rows


def _chunk_row(c: Chunk) -> dict:
    """The `chunk_table` row of a stored chunk."""
    return {
        "type": c.type,
        "segment": None if c.segment == GLOBAL_SEGMENT else c.segment,
        "required": c.required,
        "bytes": CHUNK_OVERHEAD + len(c.payload),
    }
