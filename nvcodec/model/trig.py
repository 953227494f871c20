"""Sines and cosines for the fitting kernels: NumPy's on CPU, torch's elsewhere.

The sines and cosines of the hidden layers are a quarter of a fitting step on CPU. NumPy's
float32 kernels (dispatched at run time to the CPU's widest vector unit) take ~0.43 ns per value
on the project's AVX-512 VM against torch 2.13's ~1.15 ns, to within one float32 ulp of
each other (benchmarks/RESULTS.md, tenth session). Both are deterministic and single-threaded
at the chunk sizes the kernels use, so thread counts still do not change an encode.

Only the fitting kernels use these; the decoder keeps torch's so that its samples stay those of
the conformance vectors' reference decodes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _numpy_ok(x: Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == torch.float32 and x.is_contiguous() and not x.requires_grad


def sin(x: Tensor) -> Tensor:
    """sin(x) as a new tensor."""
    if not _numpy_ok(x):
        return torch.sin(x)
    out = torch.empty_like(x)
    np.sin(x.numpy(), out=out.numpy())
    return out


def cos_(x: Tensor) -> Tensor:
    """cos(x) written into x."""
    if not _numpy_ok(x):
        return x.cos_()
    np.cos(x.numpy(), out=x.numpy())
    return x


__all__ = ["sin", "cos_"]
