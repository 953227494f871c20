"""One exception hierarchy: the CLI turns any NvcodecError into one line and exit 1."""

from __future__ import annotations


class NvcodecError(Exception):
    """Base class of every error nvcodec raises on purpose."""


class InputError(NvcodecError):
    """The input video (or its path) is missing, malformed or unsupported."""


class OutputError(NvcodecError):
    """The output cannot be written (exists without overwrite, missing directory, ...)."""


class BitstreamError(NvcodecError):
    """A .nvc file is malformed, truncated, corrupt or inconsistent."""


class UnsupportedVersionError(BitstreamError):
    """A .nvc file uses a major version or a required feature this decoder lacks."""


class DependencyError(NvcodecError):
    """A runtime dependency is missing (x265 in PyAV, LPIPS weights, CUDA, ...)."""


class EncodeError(NvcodecError):
    """Encoding could not meet its constraints (rate target impossible, ...)."""


class Interrupted(NvcodecError):
    """The user interrupted a long job; `checkpoint` names the file it can resume from (None:
    nothing was saved). The CLI turns it into the command that resumes."""

    def __init__(self, message: str, checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class WorkersLost(NvcodecError):
    """Segment fits died with their process (killed, out of memory, a lost Ray node) more often
    than the encode retries them. `resumable`: the finished segments and fits are kept beside
    the output, so the same command with --resume finishes the file."""

    def __init__(self, message: str, resumable: bool) -> None:
        super().__init__(message)
        self.resumable = resumable
