"""Video over pipes: y4m (or raw planes with a RawSpec) on stdin, y4m on stdout.

`-` names the standard stream, as in ffmpeg: `ffmpeg -i in.mp4 -f yuv4mpegpipe - | nvcodec
encode - -o out.nvc` and `nvcodec decode out.nvc -o - | ffplay -`. A pipe cannot seek, so
the reader takes the frames in order as they come, each as its planes (8- or 16-bit samples,
the size of the source: what the encoder keeps of its input anyway) and never a temporary
copy of the stream; `max_frames` stops reading once the frames asked for have arrived.
The writer writes straight to the stream: there is no file to replace atomically, and a
reader at the other end sees frames as they are rendered.
"""

from __future__ import annotations

import sys
import tempfile
from typing import BinaryIO, Iterator

from ..errors import InputError, OutputError
from ..fsutil import STDIO
from ._planar import planes_from_buffer
from .base import ClosesOrAborts, frame_bytes, validate_frame
from .frame import Frame, VideoInfo
from .rawyuv import RawSpec
from .y4m import _MAX_FRAME_HEADER, _MAX_HEADER, FRAME_MARKER, MAGIC, format_header, parse_header

def _read_line(fh: BinaryIO, limit: int, what: str) -> bytes | None:
    """One header line without its newline; None at a clean end of stream."""
    line = fh.readline(limit + 1)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise InputError(f"stdin: {what} is not terminated within {limit} bytes (not y4m, or truncated)")
    return line[:-1]


def _read_frame(fh: BinaryIO, n: int, index: int, may_end: bool) -> bytearray | None:
    """The next `n` payload bytes; None when the stream ends cleanly before them (`may_end`)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = fh.readinto(view[got:])
        if not k:
            if got == 0 and may_end:
                return None
            raise InputError(f"stdin: frame {index} is truncated ({got} of {n} bytes)")
        got += k
    return buf


#: bytes of a pipe's frames kept in memory; later frames wait in an unnamed temporary file
#: (removed when the reader closes, or by the system if the process dies), so a long stream
#: costs disk, not memory
MEMORY_BYTES = 256 << 20


class StreamReader:
    """The frames of a y4m stream (or of raw planes described by `raw`) read from `fh`, in order.

    The whole stream is read up front (a pipe tells its length only at its end, and the encoder
    plans its segments from it); frames past `memory_bytes` are spilled to a temporary file and
    read back by index, so any frame can be read again, in any order."""

    def __init__(self, fh: BinaryIO | None = None, raw: RawSpec | None = None, max_frames: int | None = None,
                 memory_bytes: int = MEMORY_BYTES) -> None:
        self.path = STDIO
        fh = fh if fh is not None else sys.stdin.buffer
        if raw is None:
            head = _read_line(fh, _MAX_HEADER, "the y4m header")
            if head is None:
                raise InputError("stdin: no video arrived (empty stream)")
            if not head.startswith(MAGIC):
                raise InputError("stdin: not a y4m stream (bad magic); pipe y4m (ffmpeg -f yuv4mpegpipe -) "
                                 "or give --input-size/--input-fps/--input-pix-fmt for raw planes")
            info = parse_header(head, "stdin", 0)
        else:
            info = raw.to_info()
        self.format_name, self.codec_name = ("y4m" if raw is None else "yuv"), "rawvideo"
        self._info, self._payload = info, frame_bytes(info)
        self._frames: list[Frame] = []
        self._spill: BinaryIO | None = None
        self._spilled = 0
        self._take(self._payloads_of(fh, info, raw is None, max_frames), max(1, memory_bytes // self._payload))
        if not len(self):
            raise InputError("stdin: the stream holds no frames")
        self.info = info.replace(frames=len(self), bytes=0)

    def _take(self, payloads: Iterator[bytearray], keep: int) -> None:
        for buf in payloads:
            if len(self._frames) < keep:
                self._frames.append(planes_from_buffer(buf, self._info))
                continue
            try:
                if self._spill is None:
                    self._spill = tempfile.TemporaryFile(prefix="nvcodec-stdin-")
                self._spill.write(buf)
            except OSError as e:
                raise InputError(f"stdin: cannot keep the stream's frames in a temporary file "
                                 f"({e.strerror or e}): set TMPDIR to a disk with room") from None
            self._spilled += 1

    @staticmethod
    def _payloads_of(fh: BinaryIO, info: VideoInfo, y4m: bool, limit: int | None) -> Iterator[bytearray]:
        payload = frame_bytes(info)
        index = 0
        while limit is None or index < limit:
            if y4m:
                marker = _read_line(fh, _MAX_FRAME_HEADER, f"the FRAME header of frame {index}")
                if marker is None:
                    return
                if marker.split(b" ", 1)[0] != FRAME_MARKER.strip():
                    raise InputError(f"stdin: expected a FRAME marker for frame {index} (garbage or wrong frame size)")
            buf = _read_frame(fh, payload, index, may_end=not y4m)
            if buf is None:
                return
            yield buf
            index += 1

    def __len__(self) -> int:
        return len(self._frames) + self._spilled

    def read(self, index: int) -> Frame:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames in {self.path}")
        if index < len(self._frames):
            return self._frames[index]
        assert self._spill is not None
        self._spill.seek((index - len(self._frames)) * self._payload)
        buf = bytearray(self._payload)
        self._spill.readinto(buf)
        return planes_from_buffer(buf, self._info)

    def __iter__(self) -> Iterator[Frame]:
        return (self.read(i) for i in range(len(self)))

    def close(self) -> None:
        self._frames = []
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self._spilled = 0

    def __enter__(self) -> "StreamReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamWriter(ClosesOrAborts):
    """y4m frames written to `fh` (stdout) as they come."""

    def __init__(self, info: VideoInfo, fh: BinaryIO | None = None) -> None:
        self.path = STDIO
        self.info = info
        self.frames_written = 0
        self._fh = fh if fh is not None else sys.stdout.buffer
        self._put(format_header(info))

    def _put(self, data: bytes | memoryview) -> None:
        try:
            self._fh.write(data)
        except BrokenPipeError:
            raise OutputError("stdout: the reader of the pipe went away") from None
        except OSError as e:
            raise OutputError(f"stdout: {e.strerror or e}") from None

    def write(self, frame: Frame) -> None:
        planes = validate_frame(frame, self.info, "stdout")
        self._put(FRAME_MARKER)
        for p in planes:
            self._put(memoryview(p.astype("<u2", copy=False) if p.dtype.itemsize > 1 else p).cast("B"))
        self.frames_written += 1

    def close(self) -> None:
        try:
            self._fh.flush()
        except BrokenPipeError:
            raise OutputError("stdout: the reader of the pipe went away") from None

    def abort(self) -> None:
        """A partial stream cannot be taken back: stop writing (the reader sees it end)."""
        try:
            self._fh.flush()
        except OSError:
            pass
