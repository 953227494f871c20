"""Choosing where the network runs."""

from __future__ import annotations

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
