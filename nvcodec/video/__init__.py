"""Video I/O: one reader/writer interface over y4m, raw .yuv and compressed files.

`open_video` picks the reader from the content and extension: a file starting with the
YUV4MPEG2 magic (or named .y4m) is read as y4m; a .yuv file (or any other file when a RawSpec
is given) as raw planar video; anything else through PyAV (mp4, mkv, mov, ...). A RawSpec
given for a file that carries its own geometry (y4m, a container extension) is an error.
`create_writer` picks the writer from the output extension and always writes atomically:
nothing appears at the target until `close()` succeeds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..fsutil import is_stdio
from .base import VideoReader, VideoWriter, check_input_path, default_matrix
from .color import rgb_to_yuv, yuv_to_rgb
from .frame import Frame, VideoInfo
from .rawyuv import RawSpec, RawYUVReader, RawYUVWriter
from .y4m import MAGIC, Y4MReader, Y4MWriter

SAMPLE_CLIP_NAME = "cars_320x240_16f.y4m"
_PYAV_OUTPUTS = (".mp4", ".mkv", ".mov")
#: inputs whose extension says they carry their own geometry (PyAV reads them); raw-geometry
#: options on them would otherwise silently force raw reading
CONTAINER_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m2ts", ".mts", ".flv", ".wmv",
                                  ".mpg", ".mpeg", ".m4v", ".3gp", ".ogv", ".mxf", ".264", ".h264", ".265", ".hevc",
                                  ".ivf", ".y4m"})


def open_video(path: str | os.PathLike, raw: RawSpec | None = None, *, max_frames: int | None = None) -> VideoReader:
    """Open a video for reading (see the module docstring for how the format is chosen).
    `-` is stdin (y4m, or raw planes with a RawSpec): a pipe is read in order, so
    `max_frames` says where a caller that wants fewer frames may stop it."""
    if is_stdio(path):
        from .stream import StreamReader

        return StreamReader(raw=raw, max_frames=max_frames)
    p = check_input_path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(MAGIC))
    except OSError as e:
        raise InputError(f"cannot read input video {p}: {e.strerror or e}") from e
    ext = p.suffix.lower()
    if raw is not None and carries_own_geometry(p):
        kind = "y4m" if head == MAGIC or ext == ".y4m" else ext
        raise InputError(f"{p}: --input-size/--input-fps/--input-pix-fmt describe headerless raw input, "
                         f"but this {kind} file carries its own; leave them out")
    if head == MAGIC or ext == ".y4m":
        return Y4MReader(p)
    if raw is not None or ext == ".yuv":
        if raw is None:
            raise InputError(
                f"{p}: a raw .yuv file has no header, so it needs --size/--fps/--pix-fmt "
                "(frame size, frame rate and pixel format)"
            )
        return RawYUVReader(p, raw)
    if not head:
        raise InputError(f"{p}: file is empty")
    from .pyav_io import PyAVReader

    return PyAVReader(p)


def carries_own_geometry(path: str | os.PathLike) -> bool:
    """Whether a file says its own size and format (y4m by name or magic, a container by its
    extension), so that raw-geometry options have nothing to describe."""
    p = Path(path)
    if is_stdio(p):
        return False  # a pipe says nothing until read: raw options describe it
    if p.suffix.lower() in CONTAINER_EXTENSIONS:
        return True
    try:
        with open(p, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def create_writer(path: str | os.PathLike, info: VideoInfo, *, overwrite: bool, crf: int | None = None) -> VideoWriter:
    """Writer chosen by extension: .y4m, .yuv, .mp4/.mkv/.mov; atomic (see module docstring).
    `crf`: the x264/x265 quality of .mp4/.mkv/.mov output (an error for the lossless formats)."""
    if is_stdio(path):
        from .stream import StreamWriter

        if crf is not None:
            raise OutputError("--crf applies to .mp4/.mkv/.mov output; stdout gets y4m")
        return StreamWriter(info)
    ext = Path(path).suffix.lower()
    if crf is not None and ext not in _PYAV_OUTPUTS:
        raise OutputError(f"--crf applies to .mp4/.mkv/.mov output; {ext or 'this output'} is written losslessly")
    if ext == ".y4m":
        return Y4MWriter(path, info, overwrite=overwrite)
    if ext == ".yuv":
        return RawYUVWriter(path, info, overwrite=overwrite)
    if ext in _PYAV_OUTPUTS:
        from .pyav_io import PyAVWriter

        return PyAVWriter(path, info, overwrite=overwrite, crf=crf)
    raise OutputError(f"unsupported output video extension {ext or '(none)'!r} for {path} (use .y4m, .yuv, .mp4, .mkv or .mov)")


def probe(path: str | os.PathLike, raw: RawSpec | None = None) -> dict[str, Any]:
    """Facts about a video for `nvcodec info --json` (VideoInfo.to_json plus format/codec)."""
    with open_video(path, raw) as reader:
        out = reader.info.to_json()
        if isinstance(reader, Y4MReader):
            out["format"], out["codec"] = "y4m", "rawvideo"
        elif isinstance(reader, RawYUVReader):
            out["format"], out["codec"] = "yuv", "rawvideo"
            out["pix_fmt"] = reader.spec.pix_fmt
        else:
            out["format"] = getattr(reader, "format_name", "unknown")
            out["codec"] = getattr(reader, "codec_name", "unknown")
    return out


def read_rgb(
    path_or_reader: str | os.PathLike | VideoReader,
    frames: slice | None = None,
    *,
    raw: RawSpec | None = None,
) -> np.ndarray:
    """Frames as float32 RGB [T, H, W, 3] in [0, 1]; a reader passed in is left open."""
    if isinstance(path_or_reader, (str, os.PathLike)):
        with open_video(path_or_reader, raw) as reader:
            return read_rgb(reader, frames)
    reader = path_or_reader
    info = reader.info
    indices = range(len(reader))[frames] if frames is not None else range(len(reader))
    out = np.empty((len(indices), info.height, info.width, 3), dtype=np.float32)
    for k, i in enumerate(indices):
        out[k] = yuv_to_rgb(reader.read(i), info)
    return out


def sample_clip_path() -> Path:
    """The bundled 16-frame 320x240 clip (MIT, see data/SOURCES.md) for demos and tests."""
    p = Path(__file__).resolve().parent / "data" / SAMPLE_CLIP_NAME
    if not p.is_file():
        raise InputError(f"bundled sample clip is missing from the installation: {p}")
    return p


__all__ = [
    "VideoInfo",
    "Frame",
    "RawSpec",
    "VideoReader",
    "VideoWriter",
    "open_video",
    "create_writer",
    "carries_own_geometry",
    "probe",
    "read_rgb",
    "sample_clip_path",
    "yuv_to_rgb",
    "rgb_to_yuv",
    "default_matrix",
]
