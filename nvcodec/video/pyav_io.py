"""Compressed video files (mp4, mkv, mov, anything FFmpeg reads) through PyAV.

Reading keeps the source's chroma and bit depth for yuv420p/422p/444p/gray and their
10/12/16-bit little-endian forms (yuvj* = same layout, full range). Other YUV layouts are
converted by swscale to the nearest kept one (4:2:0 when chroma is subsampled, else
4:4:4, at 8/10/12/16 bits); RGB and palette sources are converted to 8-bit 4:4:4 with
nvcodec's own matrices (BT.601 limited for SD, BT.709 limited for HD). The frame count is
honest: the whole stream is decoded once when the file is opened (container metadata is
often missing or wrong). Random access decodes forward from the start when seeking back.

Writing is for viewable outputs, not archival: libx264 CRF 12 preset medium yuv420p for
8-bit; libx265 CRF 12 yuv420p10le / yuv420p12le above 8 bits (9 bits is stored as 10,
11 as 12, 13..16 rounded down to 12; x265 needs at least 16x16, and frames narrower or
shorter than 64 are encoded without AQ/cu-tree because the bundled x265 crashes on widths
33..48 otherwise). Odd widths or heights cannot be 4:2:0 in H.264/HEVC and are written as
4:4:4 instead. Chroma planes are passed through as they are (a 'jpeg'-sited y4m keeps
its samples; the stream is tagged as the H.264 default 'left' siting). Colour range and
matrix are tagged in the stream.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..defaults import DEFAULT_CRF
from ..errors import DependencyError, InputError, OutputError
from ._planar import AtomicFileWriter
from .base import check_dimensions, check_input_path, default_matrix
from .color import _downsample_axis, downsample_chroma, rgb_to_yuv, siting_offsets, upsample_chroma
from .frame import Frame, VideoInfo

CONTAINER_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}
_KEEP = re.compile(r"^(yuv420p|yuv422p|yuv444p|gray)(10le|12le|16le)?$")
_JPEG_FORMATS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
_CHROMA_OF = {"yuv420p": "420", "yuv422p": "422", "yuv444p": "444", "gray": "mono"}
# AVColorSpace values (libavutil/pixfmt.h)
_SPC_BT709 = 1
_SPC_BT601 = (5, 6)  # BT470BG, SMPTE170M
_RANGE_MPEG, _RANGE_JPEG = 1, 2
# FFmpeg's "text art" demuxers/decoders turn any text file (.txt, .nfo, ...) into frames: not video
_TEXT_ART_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
_TEXT_ART_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


def _import_av() -> Any:
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is a hard dependency
        raise DependencyError(f"PyAV (package 'av') is required for this video format: {e}") from e
    return av


def _target_format(fmt: Any) -> tuple[str, str]:
    """Source VideoFormat -> (mode, target pix_fmt); mode in keep/reformat/rgb."""
    name = fmt.name
    if _KEEP.match(name):
        return "keep", name
    if name in _JPEG_FORMATS:
        return "keep", _JPEG_FORMATS[name]
    if fmt.is_rgb or fmt.has_palette or fmt.is_bayer:
        return "rgb", "yuv444p"
    comps = fmt.components
    bits = max(c.bits for c in comps) if comps else 8
    depth = "" if bits <= 8 else "10le" if bits <= 10 else "12le" if bits <= 12 else "16le"
    if len(comps) <= 2:  # gray or gray + alpha
        return "reformat", "gray" + depth
    full = fmt.chroma_width(64) == 64 and fmt.chroma_height(64) == 64
    return "reformat", ("yuv444p" if full else "yuv420p") + depth


def _info_from_stream(path: Path, stream: Any, first: Any, frames: int, mode: str, target: str) -> VideoInfo:
    width, height = first.width, first.height
    check_dimensions(width, height, str(path))
    m = _KEEP.match(target)
    assert m
    chroma = _CHROMA_OF[m.group(1)]
    depth = int(m.group(2)[:-2]) if m.group(2) else 8
    full = first.format.name in _JPEG_FORMATS or int(first.color_range or 0) == _RANGE_JPEG
    spc = int(first.colorspace or 2)
    if mode == "rgb":
        full, matrix = False, default_matrix(width, height)
    elif spc == _SPC_BT709:
        matrix = "bt709"
    elif spc in _SPC_BT601:
        matrix = "bt601"
    else:
        matrix = default_matrix(width, height)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = Fraction(rate) if rate and rate > 0 else Fraction(25)
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    aspect = (sar.numerator, sar.denominator) if sar else (0, 0)
    return VideoInfo(
        width=width,
        height=height,
        frames=frames,
        fps=fps,
        chroma=chroma,
        chroma_siting="mpeg2" if chroma == "420" else "",  # H.264/HEVC default (left)
        bit_depth=depth,
        color_range="full" if full else "limited",
        matrix=matrix,
        aspect=aspect,
        bytes=path.stat().st_size,
    )


def _planes_of(vf: Any, count: int, itemsize: int) -> tuple[np.ndarray, ...]:
    """Copy the first `count` planes out of a decoded frame, dropping line padding."""
    dtype = np.dtype(np.uint8) if itemsize == 1 else np.dtype("<u2")
    out = []
    for plane in vf.planes[:count]:
        arr = np.frombuffer(plane, dtype=dtype)
        arr = arr[: plane.height * (plane.line_size // itemsize)].reshape(plane.height, plane.line_size // itemsize)
        out.append(np.ascontiguousarray(arr[:, : plane.width]))
    return tuple(out)


class PyAVReader:
    """Frames of the first video stream of any file FFmpeg can demux and decode."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_input_path(path)
        self._av = _import_av()
        self._container: Any = None
        self._frames_iter: Iterator[Any] | None = None
        self._next = 0
        container = self._open()
        try:
            stream = container.streams.video[0]
            suffix = self.path.suffix.lower().lstrip(".")
            names = container.format.name.split(",")
            self.format_name = suffix if suffix in names or suffix in ("mkv", "mov", "mp4") else names[0]
            self.codec_name = stream.codec_context.name
            if set(names) & _TEXT_ART_FORMATS or self.codec_name in _TEXT_ART_CODECS:
                raise InputError(f"{self.path}: not a video file (FFmpeg would render it as text art)")
            first = None
            count = 0
            for vf in container.decode(stream):
                if first is None:
                    first = vf
                count += 1
            if first is None:
                raise InputError(f"{self.path}: video stream contains no decodable frames")
            self._mode, self._target = _target_format(first.format)
            self.info = _info_from_stream(self.path, stream, first, count, self._mode, self._target)
        except self._av.FFmpegError as e:
            raise InputError(f"{self.path}: cannot decode video ({e})") from e
        finally:
            container.close()

    def _open(self) -> Any:
        try:
            container = self._av.open(str(self.path), mode="r")
        except (self._av.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise InputError(f"{self.path}: not a readable video file ({e})") from e
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.path}: file has no video stream")
        container.streams.video[0].thread_type = "AUTO"
        return container

    def __len__(self) -> int:
        return self.info.frames

    def read(self, index: int) -> Frame:
        """Frame `index`; sequential reads are cheap, going back re-decodes from the start."""
        n = self.info.frames
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames in {self.path}")
        if self._frames_iter is None or index < self._next:
            self._restart()
        assert self._frames_iter is not None
        try:
            while True:
                vf = next(self._frames_iter, None)
                if vf is None:
                    raise InputError(f"{self.path}: stream ended at frame {self._next} of {n} (file changed?)")
                self._next += 1
                if self._next - 1 == index:
                    return self._convert(vf)
        except self._av.FFmpegError as e:
            raise InputError(f"{self.path}: cannot decode frame {self._next} ({e})") from e

    def _restart(self) -> None:
        self.close()
        self._container = self._open()
        self._frames_iter = iter(self._container.decode(self._container.streams.video[0]))
        self._next = 0

    def _convert(self, vf: Any) -> Frame:
        info = self.info
        if (vf.width, vf.height) != (info.width, info.height):
            raise InputError(
                f"{self.path}: frame size changes mid-stream ({vf.width}x{vf.height} vs "
                f"{info.width}x{info.height}), which is not supported"
            )
        nplanes = 1 if info.chroma == "mono" else 3
        itemsize = 1 if info.bit_depth <= 8 else 2
        name = vf.format.name
        if name == self._target or _JPEG_FORMATS.get(name) == self._target:
            return Frame(planes=_planes_of(vf, nplanes, itemsize))
        if self._mode == "rgb" or vf.format.is_rgb or vf.format.has_palette:
            rgb = vf.to_ndarray(format="rgb24").astype(np.float32) / 255.0
            return rgb_to_yuv(rgb, info)
        return Frame(planes=_planes_of(vf.reformat(format=self._target), nplanes, itemsize))

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.info.frames):
            yield self.read(i)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._frames_iter = None

    def __enter__(self) -> "PyAVReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _encoder_layout(info: VideoInfo) -> tuple[str, str, int]:
    """(codec, pix_fmt, bit depth) of the viewable output for `info`."""
    depth = 8 if info.bit_depth <= 8 else 10 if info.bit_depth <= 10 else 12
    codec = "libx264" if depth == 8 else "libx265"
    chroma = info.chroma if info.chroma in ("422", "444") else "420"  # mono: a grey 4:2:0 picture
    if info.width % 2 or info.height % 2:
        chroma = "444"  # 4:2:0 and 4:2:2 need even sizes
    pix = f"yuv{chroma}p" + ("" if depth == 8 else f"{depth}le")
    return codec, pix, depth


class PyAVWriter(AtomicFileWriter):
    """Viewable mp4/mkv/mov output (see the module docstring for codec choices)."""

    def __init__(self, path: str | os.PathLike, info: VideoInfo, *, overwrite: bool = False,
                 crf: int | None = None) -> None:
        suffix = Path(path).suffix.lower()
        if crf is not None and not 0 <= crf <= 51:
            raise OutputError(f"--crf {crf} is outside x264/x265's 0..51")
        if suffix not in CONTAINER_FORMATS:
            raise OutputError(f"unsupported output container {suffix!r} for {path} (use .mp4, .mkv or .mov)")
        av = _import_av()
        codec, pix_fmt, depth = _encoder_layout(info)
        if codec == "libx265" and min(info.width, info.height) < 16:
            raise OutputError(
                f"cannot write {info.width}x{info.height} {info.bit_depth}-bit video to {path}: "
                "x265 needs at least 16x16 (write .y4m instead)"
            )
        if codec not in av.codecs_available:
            raise DependencyError(
                f"this PyAV build lacks the {codec} encoder needed for {info.bit_depth}-bit {suffix} output; "
                "install a PyAV wheel with x264/x265, or write .y4m instead"
            )
        super().__init__(path, info, overwrite)
        self._av = av
        self._pix_fmt = pix_fmt
        self._out_info = info.replace(
            chroma=pix_fmt[3:6], bit_depth=depth, chroma_siting="mpeg2" if pix_fmt[3:6] == "420" else ""
        )
        self._container: Any = None
        try:
            self._container = av.open(str(self._tmp), mode="w", format=CONTAINER_FORMATS[suffix])
            options = {"crf": str(DEFAULT_CRF if crf is None else crf), "preset": "medium"}
            if codec == "libx265":
                params = "log-level=error"
                if info.width < 64 or info.height < 64:
                    # the bundled x265 corrupts its heap (abort) on widths 33..48 with
                    # AQ + cu-tree; on frames this small they buy nothing anyway
                    params += ":aq-mode=0:cutree=0"
                options["x265-params"] = params
            fps = Fraction(info.fps) if info.fps and info.fps > 0 else Fraction(25)
            self._stream = self._container.add_stream(codec, rate=fps, options=options)
            self._stream.width = info.width
            self._stream.height = info.height
            self._stream.pix_fmt = pix_fmt
            cc = self._stream.codec_context
            self._range = _RANGE_JPEG if info.color_range == "full" else _RANGE_MPEG
            tag = _SPC_BT709 if info.matrix == "bt709" else 6  # SMPTE170M for BT.601
            cc.color_range = self._range
            cc.colorspace = tag
            cc.color_primaries = tag
            cc.color_trc = tag
            if info.aspect[0] > 0 and info.aspect[1] > 0:
                cc.sample_aspect_ratio = Fraction(*info.aspect)
        except (av.FFmpegError, OSError, ValueError) as e:
            self.abort()
            raise OutputError(f"cannot create {path}: {e}") from e

    def _convert(self, planes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Planes of `info` -> planes of the encoder's layout (bit depth, then chroma)."""
        src, dst = self.info, self._out_info
        shift = dst.bit_depth - src.bit_depth
        if shift > 0:
            planes = tuple(p.astype(np.uint16) << shift for p in planes)
        elif shift < 0:
            top = (1 << dst.bit_depth) - 1
            planes = tuple(
                np.minimum((p.astype(np.uint32) + (1 << (-shift - 1))) >> -shift, top).astype(np.uint16)
                for p in planes
            )
        y = planes[0]
        dtype = dst.dtype
        if src.chroma == dst.chroma:
            return tuple(p.astype(dtype, copy=False) for p in planes)
        cw, ch = dst.chroma_size
        if src.chroma == "mono":
            mid = np.full((ch, cw), 1 << (dst.bit_depth - 1), dtype=dtype)
            return (y.astype(dtype, copy=False), mid, mid)
        top = (1 << dst.bit_depth) - 1
        out = [y.astype(dtype, copy=False)]
        for c in planes[1:]:
            f = c.astype(np.float32)
            if dst.chroma == "444":
                f = upsample_chroma(f, src)
            elif src.chroma == "444":
                f = downsample_chroma(f, dst)
            else:  # 4:2:2 -> 4:2:0: only the vertical direction changes
                f = _downsample_axis(f, siting_offsets(dst)[1], -2)
            out.append(np.clip(np.rint(f), 0, top).astype(dtype))
        return tuple(out)

    def write(self, frame: Frame) -> None:
        planes = self._convert(self._check(frame))
        av = self._av
        vf = av.VideoFrame(self.info.width, self.info.height, self._pix_fmt)
        for plane, arr in zip(vf.planes, planes):
            itemsize = arr.dtype.itemsize
            buf = np.frombuffer(plane, dtype=np.uint8 if itemsize == 1 else np.dtype("<u2"))
            view = buf[: plane.height * (plane.line_size // itemsize)].reshape(plane.height, -1)
            view[:, : plane.width] = arr
        vf.pts = self.frames_written
        vf.color_range = self._range
        try:
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        except av.FFmpegError as e:
            self.abort()
            raise OutputError(f"cannot encode frame {self.frames_written} to {self.path}: {e}") from e
        self.frames_written += 1

    def _finish(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except self._av.FFmpegError as e:
            raise OutputError(f"cannot finish {self.path}: {e}") from e
        self._container = None

    def _release(self) -> None:
        if self._container is not None:
            container, self._container = self._container, None
            container.close()
