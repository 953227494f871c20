"""YUV4MPEG2 (.y4m) streaming reader and writer, bit-exact on reader -> writer.

Header tokens understood: W, H, F, I, A, C and X. Chroma (C) tokens: 420jpeg, 420mpeg2,
420paldv, 420 (= jpeg siting), 422, 444, mono, and high bit depth forms such as 420p10,
422p12, 444p16, mono10 (samples are little-endian uint16). A missing C token means
420jpeg; a missing or 0:0 F token means 25 fps (as ffmpeg does).

Colour metadata, since y4m has no matrix field: `matrix` is 'bt601' for width <= 1024 and
height <= 576 and 'bt709' above; `color_range` is 'limited' unless XCOLORRANGE=FULL.
Siting: C420/C420jpeg -> 'jpeg', C420mpeg2 -> 'mpeg2', C420paldv -> 'paldv'; the high
bit depth 4:2:0 tokens (C420p10 ...) carry no siting and are read as 'jpeg' like C420;
422/444/mono have siting ''.

`VideoInfo.extra` keeps every X token of the header verbatim and in order (XYSCSS and
XCOLORRANGE included), so the writer reproduces the header byte for byte; when writing, the
values of XYSCSS and XCOLORRANGE are refreshed from the info's chroma and range so they
never contradict them, and XCOLORRANGE=FULL is added for full-range video that lacks it.
The only inputs not reproduced verbatim are non-canonical headers (missing I/A/C/F tokens,
`I?` written as `Ip`, `C420` as `C420jpeg`, an unreduced F such as `F50:2` as `F25:1`,
unknown non-X tokens) and frame-header parameters (frames are written as bare `FRAME`).

Interlaced input (It, Ib, Im) is refused: the codec models progressive frames only.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

from ..errors import InputError, OutputError
from ._planar import PlanarFileReader, PlanarFileWriter
from .base import check_dimensions, check_input_path, default_matrix, frame_bytes
from .frame import VideoInfo

MAGIC = b"YUV4MPEG2"
FRAME_MARKER = b"FRAME\n"
_MAX_HEADER = 4096  # longest stream header line we accept
_MAX_FRAME_HEADER = 1024  # longest FRAME line (with parameters) we accept

_CHROMA_8BIT = {
    "420jpeg": ("420", "jpeg"),
    "420": ("420", "jpeg"),
    "420mpeg2": ("420", "mpeg2"),
    "420paldv": ("420", "paldv"),
    "422": ("422", ""),
    "444": ("444", ""),
    "mono": ("mono", ""),
}
_CHROMA_HIGH = re.compile(r"^(420|422|444)p(\d+)$|^mono(\d+)$")
_INTERLACE_NAMES = {"t": "top field first", "b": "bottom field first", "m": "mixed"}


def parse_chroma_token(value: str, source: str) -> tuple[str, str, int]:
    """C token value -> (chroma, siting, bit depth)."""
    if value in _CHROMA_8BIT:
        chroma, siting = _CHROMA_8BIT[value]
        return chroma, siting, 8
    m = _CHROMA_HIGH.match(value)
    if m:
        chroma = m.group(1) or "mono"
        depth = int(m.group(2) or m.group(3))
        if not 8 <= depth <= 16:
            raise InputError(f"{source}: unsupported bit depth {depth} in chroma token C{value}")
        return chroma, ("jpeg" if chroma == "420" else ""), depth
    raise InputError(
        f"{source}: unsupported y4m chroma format C{value} "
        "(supported: 420jpeg, 420mpeg2, 420paldv, 420, 422, 444, mono and their pNN forms)"
    )


def chroma_token(info: VideoInfo) -> str:
    """The C token value that describes `info` (inverse of parse_chroma_token)."""
    depth = info.bit_depth
    if info.chroma == "mono":
        return "mono" if depth == 8 else f"mono{depth}"
    if depth > 8:
        return f"{info.chroma}p{depth}"
    if info.chroma == "420":
        return "420" + (info.chroma_siting if info.chroma_siting in ("jpeg", "mpeg2", "paldv") else "jpeg")
    return info.chroma


def _parse_ratio(value: str, token: str, source: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+):(\d+)", value)
    if not m:
        raise InputError(f"{source}: malformed y4m header token {token}{value} (expected {token}n:d)")
    return int(m.group(1)), int(m.group(2))


def parse_header(line: bytes, source: str, file_size: int) -> VideoInfo:
    """Stream header line (without newline) -> VideoInfo with frames=0."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"{source}: y4m header contains non-ASCII bytes") from None
    tokens = [t for t in text.split(" ") if t]
    if not tokens or tokens[0] != "YUV4MPEG2":
        raise InputError(f"{source}: not a YUV4MPEG2 file (bad magic)")
    width = height = None
    fps = Fraction(25)
    interlace = "p"
    aspect = (0, 0)
    chroma, siting, depth = "420", "jpeg", 8
    color_range = "limited"
    extra: list[str] = []
    for tok in tokens[1:]:
        key, value = tok[0], tok[1:]
        if key in "WH":
            if not value.isdigit():
                raise InputError(f"{source}: malformed y4m header token {tok}")
            if key == "W":
                width = int(value)
            else:
                height = int(value)
        elif key == "F":
            num, den = _parse_ratio(value, "F", source)
            if num > 0 and den > 0:
                fps = Fraction(num, den)
        elif key == "I":
            if value in _INTERLACE_NAMES:
                raise InputError(
                    f"{source}: interlaced y4m (I{value}, {_INTERLACE_NAMES[value]}) is not supported; "
                    "deinterlace it first (e.g. ffmpeg -vf bwdif)"
                )
            if value not in ("p", "?"):
                raise InputError(f"{source}: malformed y4m interlace token I{value}")
        elif key == "A":
            aspect = _parse_ratio(value, "A", source)
        elif key == "C":
            chroma, siting, depth = parse_chroma_token(value, source)
        elif key == "X":
            extra.append(tok)
            name, _, val = tok[1:].partition("=")
            if name.upper() == "COLORRANGE":
                if val.upper() == "FULL":
                    color_range = "full"
                elif val.upper() == "LIMITED":
                    color_range = "limited"
        # other single-letter tokens are reserved by the format: ignore them as readers must
    if width is None or height is None:
        missing = " and ".join(k for k, v in (("W", width), ("H", height)) if v is None)
        raise InputError(f"{source}: y4m header lacks the {missing} token")
    check_dimensions(width, height, source)
    return VideoInfo(
        width=width,
        height=height,
        frames=0,
        fps=fps,
        chroma=chroma,
        chroma_siting=siting,
        bit_depth=depth,
        color_range=color_range,
        matrix=default_matrix(width, height),
        interlace=interlace,
        aspect=aspect,
        extra=tuple(extra),
        bytes=file_size,
    )


def format_header(info: VideoInfo) -> bytes:
    """VideoInfo -> stream header line (with newline); see the module docstring."""
    ctok = chroma_token(info)
    fps = Fraction(info.fps)
    interlace = info.interlace if info.interlace in ("p", "?") else "p"
    tokens = [
        "YUV4MPEG2",
        f"W{info.width}",
        f"H{info.height}",
        f"F{fps.numerator}:{fps.denominator}",
        f"I{interlace}",
        f"A{info.aspect[0]}:{info.aspect[1]}",
        f"C{ctok}",
    ]
    has_range = False
    for tok in info.extra:
        if not tok.startswith("X") or not tok.isascii() or any(c.isspace() for c in tok):
            raise OutputError(f"invalid y4m extension token {tok!r} (must start with X, ASCII, no spaces)")
        name = tok[1:].partition("=")[0].upper()
        if name == "YSCSS":
            if info.chroma == "mono":
                continue
            tok = "XYSCSS=" + ctok.upper()
        elif name == "COLORRANGE":
            tok = "XCOLORRANGE=" + ("FULL" if info.color_range == "full" else "LIMITED")
            has_range = True
        tokens.append(tok)
    if info.color_range == "full" and not has_range:
        tokens.append("XCOLORRANGE=FULL")
    return (" ".join(tokens) + "\n").encode("ascii")


class Y4MReader(PlanarFileReader):
    """Streaming y4m reader: `read(i)` seeks to frame i; nothing is loaded until asked.

    Frames are located arithmetically when every frame header is a bare `FRAME`; when
    frame headers carry parameters (`FRAME Ixx`) the file is scanned once to index them.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        p = check_input_path(path)
        super().__init__(p)
        src = str(p)
        fh = self._file()
        try:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise InputError(f"{src}: file is empty")
            head = fh.read(_MAX_HEADER)
            if not head.startswith(MAGIC) or head[len(MAGIC) : len(MAGIC) + 1] not in (b" ", b"\n"):
                raise InputError(f"{src}: not a YUV4MPEG2 file (bad magic)")
            nl = head.find(b"\n")
            if nl < 0:
                raise InputError(f"{src}: y4m header line is not terminated (truncated or garbage)")
            info = parse_header(head[:nl], src, size)
            self._payload = frame_bytes(info)
            data_start = nl + 1
            if data_start >= size:
                raise InputError(f"{src}: y4m file contains no frames")
            self._index(fh, data_start, size, src)
            self.info = info.replace(frames=self._count)
        except BaseException:
            self.close()
            raise

    def _index(self, fh, start: int, size: int, src: str) -> None:
        fh.seek(start)
        first = fh.read(len(FRAME_MARKER))
        stride = len(FRAME_MARKER) + self._payload
        if first == FRAME_MARKER and (size - start) % stride == 0:
            n = (size - start) // stride
            fh.seek(start + (n - 1) * stride)
            if fh.read(len(FRAME_MARKER)) == FRAME_MARKER:
                self._first, self._stride, self._marker = start, stride, FRAME_MARKER
                self._count = n
                return
        self._offsets = self._scan(fh, start, size, src)
        self._count = len(self._offsets)

    def _scan(self, fh, pos: int, size: int, src: str) -> list[int]:
        """Walk FRAME headers one by one (frames with parameters, or a damaged file)."""
        offsets: list[int] = []
        while pos < size:
            fh.seek(pos)
            head = fh.read(_MAX_FRAME_HEADER)
            if not head.startswith(b"FRAME") or head[5:6] not in (b" ", b"\n"):
                raise InputError(f"{src}: expected a FRAME marker for frame {len(offsets)} at byte {pos} (garbage or wrong frame size)")
            nl = head.find(b"\n")
            if nl < 0:
                raise InputError(f"{src}: FRAME header of frame {len(offsets)} is not terminated")
            payload_at = pos + nl + 1
            have = size - payload_at
            if have < self._payload:
                raise InputError(
                    f"{src}: frame {len(offsets)} is truncated ({max(have, 0)} of {self._payload} bytes)"
                )
            offsets.append(payload_at)
            pos = payload_at + self._payload
        if not offsets:
            raise InputError(f"{src}: y4m file contains no frames")
        return offsets


class Y4MWriter(PlanarFileWriter):
    """y4m writer reproducing the header properties of `info` (see module docstring)."""

    def __init__(self, path: str | os.PathLike, info: VideoInfo, *, overwrite: bool = False) -> None:
        super().__init__(path, info, overwrite, format_header(info), FRAME_MARKER)


def read_y4m_info(path: str | os.PathLike) -> VideoInfo:
    """Header + frame count of a y4m file without reading any frame."""
    with Y4MReader(path) as r:
        return r.info


__all__ = [
    "Y4MReader",
    "Y4MWriter",
    "format_header",
    "parse_header",
    "chroma_token",
    "parse_chroma_token",
    "read_y4m_info",
]
