"""Raw planar .yuv files: no header, so size, frame rate and pixel format come from a RawSpec.

Supported pixel formats: yuv420p, yuv422p, yuv444p, gray and their 10le/12le/16le forms
(ffmpeg names). A raw file carries no colour metadata: the matrix defaults to BT.601 for
width <= 1024 and height <= 576 and BT.709 above, the range to limited, and 4:2:0 chroma
siting to 'mpeg2' (the MPEG/H.26x default that ffmpeg assumes for untagged video).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import InputError, OutputError
from ._planar import PlanarFileReader, PlanarFileWriter
from .base import check_dimensions, check_input_path, default_matrix, frame_bytes
from .frame import VideoInfo

_PIX_FMT = re.compile(r"^(yuv420p|yuv422p|yuv444p|gray)(10le|12le|16le)?$")
_CHROMA_OF = {"yuv420p": "420", "yuv422p": "422", "yuv444p": "444", "gray": "mono"}
_PIX_OF = {v: k for k, v in _CHROMA_OF.items()}
SUPPORTED_PIX_FMTS = tuple(
    base + suffix for base in _CHROMA_OF for suffix in ("", "10le", "12le", "16le")
)


def parse_pix_fmt(pix_fmt: str) -> tuple[str, int]:
    """ffmpeg pixel format name -> (chroma, bit depth); ValueError when unsupported."""
    m = _PIX_FMT.match(pix_fmt)
    if not m:
        raise ValueError(
            f"unsupported raw pixel format {pix_fmt!r} (supported: {', '.join(SUPPORTED_PIX_FMTS)})"
        )
    return _CHROMA_OF[m.group(1)], int(m.group(2)[:-2]) if m.group(2) else 8


def pix_fmt_of(info: VideoInfo) -> str:
    """The raw pixel format name storing `info`; other depths have no unambiguous name."""
    if info.bit_depth not in (8, 10, 12, 16):
        raise OutputError(f"raw .yuv output supports 8, 10, 12 or 16 bits, not {info.bit_depth}")
    base = _PIX_OF[info.chroma]
    return base if info.bit_depth == 8 else f"{base}{info.bit_depth}le"


def with_pix_fmt(info: VideoInfo, pix_fmt: str) -> VideoInfo:
    """`info` stored as `pix_fmt` (chroma layout and bit depth; size, rate and colour kept):
    the decoder's --pix-fmt. A new 4:2:0 layout takes MPEG-2 (left) chroma siting."""
    try:
        chroma, depth = parse_pix_fmt(pix_fmt)
    except ValueError as e:
        raise OutputError(str(e).replace("raw pixel format", "output pixel format")) from None
    siting = info.chroma_siting if chroma == info.chroma else "mpeg2" if chroma == "420" else ""
    return info.replace(chroma=chroma, bit_depth=depth, chroma_siting=siting)


@dataclass(frozen=True)
class RawSpec:
    """What a headerless .yuv file cannot tell: size, frame rate and pixel format."""

    width: int
    height: int
    fps: Fraction
    pix_fmt: str = "yuv420p"

    def __post_init__(self) -> None:
        try:
            parse_pix_fmt(self.pix_fmt)
        except ValueError as e:
            raise InputError(str(e)) from None
        if Fraction(self.fps) <= 0:
            raise InputError(f"raw video frame rate must be positive, got {self.fps}")
        object.__setattr__(self, "fps", Fraction(self.fps))
        check_dimensions(self.width, self.height, "raw video spec")

    @classmethod
    def parse(cls, size: str, fps: str, pix_fmt: str = "yuv420p") -> "RawSpec":
        """From CLI strings: size 'WxH', fps '30000/1001' or '25' or '29.97'."""
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if not m:
            raise InputError(f"invalid raw video size {size!r} (expected WxH, e.g. 352x288)")
        try:
            rate = Fraction(fps.strip()).limit_denominator(1_000_000)
        except (ValueError, ZeroDivisionError):
            raise InputError(f"invalid raw video frame rate {fps!r} (expected e.g. 25 or 30000/1001)") from None
        return cls(int(m.group(1)), int(m.group(2)), rate, pix_fmt)

    def to_info(self, frames: int = 0, nbytes: int = 0) -> VideoInfo:
        chroma, depth = parse_pix_fmt(self.pix_fmt)
        return VideoInfo(
            width=self.width,
            height=self.height,
            frames=frames,
            fps=self.fps,
            chroma=chroma,
            chroma_siting="mpeg2" if chroma == "420" else "",
            bit_depth=depth,
            color_range="limited",
            matrix=default_matrix(self.width, self.height),
            bytes=nbytes,
        )

    @classmethod
    def from_info(cls, info: VideoInfo) -> "RawSpec":
        return cls(info.width, info.height, Fraction(info.fps), pix_fmt_of(info))


class RawYUVReader(PlanarFileReader):
    """Streaming reader of a raw planar file; its size must be a whole number of frames."""

    def __init__(self, path: str | os.PathLike, spec: RawSpec) -> None:
        p = check_input_path(path)
        super().__init__(p)
        size = p.stat().st_size
        info = spec.to_info(0, size)
        self._payload = frame_bytes(info)
        if size == 0:
            raise InputError(f"{p}: raw video file is empty")
        if size % self._payload:
            raise InputError(
                f"{p}: size {size} bytes is not a whole number of {spec.width}x{spec.height} "
                f"{spec.pix_fmt} frames ({self._payload} bytes each); check --size/--pix-fmt"
            )
        self._first, self._stride, self._marker = 0, self._payload, b""
        self._count = size // self._payload
        self.info = info.replace(frames=self._count)
        self.spec = spec


class RawYUVWriter(PlanarFileWriter):
    """Writes planes back to back in the pixel format `pix_fmt_of(info)`."""

    def __init__(self, path: str | os.PathLike, info: VideoInfo, *, overwrite: bool = False) -> None:
        self.pix_fmt = pix_fmt_of(info)  # refuse before any temporary file exists
        super().__init__(path, info, overwrite, b"", b"")
