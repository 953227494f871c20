"""Choosing where the network runs."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from .errors import DependencyError


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available; 'cuda' without a GPU is an error, never a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DependencyError("--device cuda was asked for, but torch sees no CUDA GPU (install a CUDA build of torch)")
    if name not in ("cpu", "cuda"):
        raise DependencyError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


@contextlib.contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """TF32 CUDA matmuls inside the block when `enabled`; torch's settings are untouched
    otherwise (mixing its legacy `allow_tf32` flag with the newer `fp32_precision` setting
    raises, so only the API this torch has is read and written, and only when needed)."""
    if not enabled:
        yield
        return
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        before = matmul.fp32_precision
        matmul.fp32_precision = "tf32"
        try:
            yield
        finally:
            matmul.fp32_precision = before
    else:  # pragma: no cover - torch < 2.9
        before_flag = matmul.allow_tf32
        matmul.allow_tf32 = True
        try:
            yield
        finally:
            matmul.allow_tf32 = before_flag


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op CPU threads set to `threads` inside the block (unchanged when None)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
