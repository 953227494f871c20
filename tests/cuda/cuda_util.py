"""Shared pieces of the CUDA tests (tests/cuda): the device under test, the skip, tiny clips.

Every test here is marked `cuda` and skipped when torch sees no GPU, so `pytest -m "not slow"` on a
CPU machine only collects and skips them. `NVCODEC_CUDA_TESTS_DEVICE=cpu` runs the same tests with
the CPU standing in for the GPU (the cross-device checks then compare the CPU with itself): that is
how the tests themselves are checked on a machine without a GPU.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

#: where "on CUDA" runs: cuda, unless the tests are being checked on a CPU machine
DEVICE = os.environ.get("NVCODEC_CUDA_TESTS_DEVICE", "cuda")
NEEDS_DEVICE = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                                  reason="needs a CUDA GPU: torch.cuda.is_available() is False "
                                         f"(torch {torch.__version__}, CUDA build {torch.version.cuda})")
#: what each test module of tests/cuda sets as `pytestmark`
MARKS = [pytest.mark.cuda, NEEDS_DEVICE]

#: the issue's agreement bound: the same file decoded on two devices
AGREE_DB = 0.05


def mean_colour_psnr(video: torch.Tensor) -> float:
    """RGB PSNR of predicting every pixel by the clip's mean colour (what fitting starts from)."""
    v = video.double() / 255.0
    mse = float(((v - v.reshape(-1, 3).mean(0)) ** 2).mean())
    return 10 * math.log10(1.0 / mse)


def rgb_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1.0 / max(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)), 1e-12))


def read_planes(path: Path) -> list[tuple[np.ndarray, ...]]:
    from nvcodec.video import open_video

    with open_video(path) as r:
        return [r.read(i).planes for i in range(len(r))]
