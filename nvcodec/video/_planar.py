"""Frame access for planar files (y4m payloads, raw .yuv) and the atomic writer lifecycle.

Readers keep the file open and seek to each frame, so a clip of any length costs one
frame of memory; writers write to a hidden temporary file that replaces the target only
when `close()` succeeds (nvcodec.fsutil.atomic_path).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

from ..errors import InputError, OutputError
from ..fsutil import atomic_path
from .base import ClosesOrAborts, plane_shapes, validate_frame
from .frame import Frame, VideoInfo


def planes_from_buffer(buf: bytearray, info: VideoInfo) -> Frame:
    """Split one frame payload into writable plane views (little-endian for > 8 bit)."""
    dtype = np.dtype(np.uint8) if info.bit_depth <= 8 else np.dtype("<u2")
    flat = np.frombuffer(buf, dtype=dtype)
    planes = []
    pos = 0
    for rows, cols in plane_shapes(info):
        n = rows * cols
        planes.append(flat[pos : pos + n].reshape(rows, cols))
        pos += n
    return Frame(planes=tuple(planes))


class PlanarFileReader:
    """Random access to frames stored at known byte offsets of one file.

    Subclasses fill `info`, `_payload` (bytes per frame) and either the arithmetic layout
    (`_first`, `_stride`, `_marker`) or an explicit `_offsets` list of payload offsets.
    """

    info: VideoInfo
    path: Path

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = None
        self._payload = 0
        self._first = 0
        self._stride = 0
        self._marker = b""
        self._offsets: Sequence[int] | None = None
        self._count = 0

    # -- protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    def read(self, index: int) -> Frame:
        """Frame `index` (negative counts from the end); reads only that frame."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an int, not {type(index).__name__}")
        n = self._count
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames in {self.path}")
        fh = self._file()
        if self._offsets is not None:
            fh.seek(self._offsets[index])
            buf = bytearray(self._payload)
            got = fh.readinto(buf)
        else:
            fh.seek(self._first + index * self._stride)
            m = len(self._marker)
            if m:
                marker = fh.read(m)
                if marker != self._marker:
                    raise InputError(
                        f"{self.path}: frame {index} does not start with a FRAME marker "
                        "(file changed while open?)"
                    )
            buf = bytearray(self._payload)
            got = fh.readinto(buf)
        if got != self._payload:
            raise InputError(f"{self.path}: frame {index} is truncated (file changed while open?)")
        return planes_from_buffer(buf, self.info)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self._count):
            yield self.read(i)

    def read_all(self) -> list[Frame]:
        """Every frame in memory at once: only when the caller asks for it."""
        return [self.read(i) for i in range(self._count)]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self.close()

    def _file(self) -> BinaryIO:
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")
            except OSError as e:
                raise InputError(f"cannot open input video {self.path}: {e.strerror or e}") from e
        return self._fh


class _Discard(Exception):
    """Thrown into atomic_path to make it delete the temporary file."""


class AtomicFileWriter(ClosesOrAborts):
    """Lifecycle shared by writers: temp file now, rename on close, delete on abort/exception."""

    def __init__(self, path: str | os.PathLike, info: VideoInfo, overwrite: bool) -> None:
        self.path = Path(path)
        self.info = info
        self.frames_written = 0
        self._cm = atomic_path(self.path, overwrite)
        self._tmp: Path = self._cm.__enter__()
        self._done = False

    def _finish(self) -> None:
        """Subclass hook: flush and close whatever writes `self._tmp`."""

    def _release(self) -> None:
        """Subclass hook: close handles without caring about errors (abort path)."""

    def close(self) -> None:
        """Finish the file and move it into place; on any failure nothing is left behind."""
        if self._done:
            return
        try:
            if self.frames_written == 0:
                raise OutputError(f"no frames were written to {self.path}")
            self._finish()
        except BaseException:
            self.abort()
            raise
        self._done = True
        try:
            self._cm.__exit__(None, None, None)
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from e

    def abort(self) -> None:
        """Drop the output: the temporary file is removed and `path` is left untouched."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._release()
        self._cm.__exit__(_Discard, _Discard(), None)

    def __del__(self) -> None:  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self.abort()

    def _check(self, frame: Frame) -> tuple[np.ndarray, ...]:
        if self._done:
            raise OutputError(f"writer for {self.path} is already closed")
        return validate_frame(frame, self.info, str(self.path))


class PlanarFileWriter(AtomicFileWriter):
    """Writes optional header bytes, then per frame an optional marker and the planes."""

    def __init__(
        self, path: str | os.PathLike, info: VideoInfo, overwrite: bool, header: bytes, marker: bytes
    ) -> None:
        super().__init__(path, info, overwrite)
        self._marker = marker
        try:
            self._fh: BinaryIO | None = open(self._tmp, "wb")
            self._fh.write(header)
        except OSError as e:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from e

    def write(self, frame: Frame) -> None:
        planes = self._check(frame)
        assert self._fh is not None
        try:
            if self._marker:
                self._fh.write(self._marker)
            for p in planes:
                if p.dtype.itemsize > 1:
                    p = p.astype("<u2", copy=False)  # y4m/.yuv samples are little-endian
                self._fh.write(memoryview(p).cast("B"))
        except OSError as e:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from e
        self.frames_written += 1

    def _finish(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _release(self) -> None:
        self._finish()
