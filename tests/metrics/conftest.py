"""Fixtures of the metrics tests: fake LPIPS weight files with the real keys and shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from nvcodec.metrics.lpips import LPIPS_CHANNELS

# torchvision alexnet().features conv layers: index -> weight shape
ALEX_SHAPES = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}


def _write_fake_weights(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """torch hub checkpoint + lpips package layout under `root`, random tensors."""
    g = torch.Generator().manual_seed(seed)
    backbone = {}
    for i, shape in ALEX_SHAPES.items():
        fan_in = shape[1] * shape[2] * shape[3]
        backbone[f"features.{i}.weight"] = torch.randn(shape, generator=g) / fan_in**0.5
        backbone[f"features.{i}.bias"] = torch.zeros(shape[0])
    backbone["classifier.1.weight"] = torch.zeros(4, 4)  # ignored, like the real file's head
    bb = root / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    bb.parent.mkdir(parents=True)
    torch.save(backbone, bb)
    cal = root / "site" / "lpips" / "weights" / "v0.1" / "alex.pth"
    cal.parent.mkdir(parents=True)
    (root / "site" / "lpips" / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(LPIPS_CHANNELS)}, cal)
    return bb, cal


@pytest.fixture
def write_fake_weights() -> Callable[..., tuple[Path, Path]]:
    """write_fake_weights(root, seed=0) -> (backbone path, calibration path)."""
    return _write_fake_weights
