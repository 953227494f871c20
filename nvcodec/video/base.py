"""What every reader and writer shares: the protocols, path checks and frame validation.

The protocols let the encoder, decoder and metrics treat a y4m file, a raw .yuv file and
an mp4 the same way; the helpers keep error messages identical across formats.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError, OutputError
from .frame import Frame, VideoInfo

#: refuse headers declaring more than this per side, before allocating anything
MAX_DIMENSION = 16384
#: ... or more luma samples than this per frame
MAX_PIXELS = 1 << 28


@runtime_checkable
class VideoReader(Protocol):
    """Random-access source of frames; `info.frames == len(reader)`."""

    info: VideoInfo

    def __len__(self) -> int: ...

    def read(self, index: int) -> Frame: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> "VideoReader": ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class VideoWriter(Protocol):
    """Sink of frames; nothing appears at `path` until `close()` succeeds."""

    path: Path
    info: VideoInfo

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def __enter__(self) -> "VideoWriter": ...

    def __exit__(self, *exc: object) -> None: ...


class ClosesOrAborts:
    """A writer as a context manager: a block that ends normally closes it (the output is
    complete), one that raises aborts it (a file output is removed, a stream just stops)."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def frame_span(frames: int, frame_range: tuple[int | None, int | None] | None) -> tuple[int, int]:
    """(A, B) of a range A:B (either end optional) of a `frames`-frame video, B clipped to its end."""
    a, b = 0, frames
    if frame_range is not None:
        a = frame_range[0] or 0
        b = frames if frame_range[1] is None else min(frame_range[1], frames)
    if not 0 <= a < b:
        raise InputError(f"frame range {a}:{b} selects no frame of a {frames}-frame video")
    return a, b


def check_input_path(path: str | os.PathLike) -> Path:
    """Refuse, with one sentence naming the path, anything we cannot read as a file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"input video not found: {p}")
    if p.is_dir():
        raise InputError(f"input video is a directory, not a file: {p}")
    if not p.is_file():
        raise InputError(f"input video is not a regular file: {p}")
    if not os.access(p, os.R_OK):
        raise InputError(f"input video is not readable (permission denied): {p}")
    return p


def check_dimensions(width: int, height: int, source: str) -> None:
    """Refuse absurd sizes before any allocation (a corrupt header must not OOM us)."""
    if width <= 0 or height <= 0:
        raise InputError(f"{source}: invalid frame size {width}x{height}")
    if width > MAX_DIMENSION or height > MAX_DIMENSION or width * height > MAX_PIXELS:
        raise InputError(
            f"{source}: frame size {width}x{height} is too large "
            f"(limit {MAX_DIMENSION} per side and {MAX_PIXELS} pixels)"
        )


def default_matrix(width: int, height: int) -> str:
    """BT.601 for SD (<= 1024x576), BT.709 above: what untagged content usually is."""
    return "bt601" if width <= 1024 and height <= 576 else "bt709"


def plane_shapes(info: VideoInfo) -> list[tuple[int, int]]:
    """(rows, cols) of each plane of a frame of `info`."""
    shapes = [(info.height, info.width)]
    if info.chroma != "mono":
        cw, ch = info.chroma_size
        shapes += [(ch, cw), (ch, cw)]
    return shapes


def frame_bytes(info: VideoInfo) -> int:
    """Payload size of one frame in a planar file (y4m payload or raw .yuv)."""
    itemsize = 1 if info.bit_depth <= 8 else 2
    return sum(r * c for r, c in plane_shapes(info)) * itemsize


def validate_frame(frame: Frame, info: VideoInfo, where: str) -> tuple[np.ndarray, ...]:
    """Check a frame against `info` and return its planes as contiguous arrays of info.dtype.

    Integer planes of another dtype are accepted when their values fit the bit depth, so
    that callers may hand us int32 results without a manual cast.
    """
    shapes = plane_shapes(info)
    if len(frame.planes) != len(shapes):
        raise OutputError(
            f"{where}: frame has {len(frame.planes)} planes, expected {len(shapes)} for chroma {info.chroma}"
        )
    maxval = (1 << info.bit_depth) - 1
    out = []
    for k, (plane, shape) in enumerate(zip(frame.planes, shapes)):
        arr = np.asarray(plane)
        if arr.shape != shape:
            raise OutputError(f"{where}: plane {k} has shape {arr.shape}, expected {shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise OutputError(f"{where}: plane {k} has non-integer dtype {arr.dtype}")
        if arr.dtype != info.dtype or info.bit_depth not in (8, 16):
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) > maxval):
                raise OutputError(
                    f"{where}: plane {k} has values outside [0, {maxval}] for {info.bit_depth}-bit video"
                )
            arr = arr.astype(info.dtype)
        out.append(np.ascontiguousarray(arr))
    return tuple(out)
