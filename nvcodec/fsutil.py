"""Atomic output files: a reader of our outputs never sees a partial file.

Every file nvcodec writes is first written to a hidden temporary file in the
target directory, flushed and fsync'ed, then renamed over the target. A process
killed at any moment leaves either the previous file or none.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError


#: the path that names the standard stream, as in ffmpeg (stdout to write, stdin to read)
STDIO = "-"


def is_stdio(path: object) -> bool:
    return str(path) == STDIO


def check_output_path(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse early (before any work) an output we could not or must not write."""
    p = Path(path)
    if is_stdio(p):
        return p
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"output directory does not exist: {parent}")
    if not parent.is_dir():
        raise OutputError(f"output directory is not a directory: {parent}")
    if p.exists():
        if p.is_dir():
            raise OutputError(f"output path is a directory: {p}")
        if not overwrite:
            raise OutputError(f"output exists: {p} (use -y/--overwrite to replace it)")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output directory is not writable: {parent}")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path` atomically.

    The caller writes the temporary file by any means (PyAV, open(), ...). On an
    exception the temporary file is removed and the target is left untouched.
    """
    target = check_output_path(path, overwrite)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists() and not overwrite:
            raise OutputError(f"output exists: {target} (use -y/--overwrite to replace it)")
        os.chmod(tmp, _output_mode(target))
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
    """Write `data` to `path` atomically and return the final path (`-`: to stdout, whole)."""
    if is_stdio(path):
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as e:
            raise OutputError(f"stdout: {e.strerror or e}") from None
        return Path(path)
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def _output_mode(target: Path) -> int:
    """The permissions the output gets: those of the file it replaces, else what open() would
    give a new file under the user's umask (mkstemp's temporary is private, 0600)."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(target.stat().st_mode)
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
