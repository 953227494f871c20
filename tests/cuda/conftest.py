"""Fixtures of the CUDA tests: a tiny y4m and its encodes, made once per module and device."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(scope="module")
def tiny_y4m(tmp_path_factory, sample_crop) -> Path:
    return sample_crop(tmp_path_factory.mktemp("clip") / "tiny.y4m")


@pytest.fixture(scope="module")
def encoded(tiny_y4m: Path, tmp_path_factory) -> Callable:
    """encoded(device, family="codec") -> (nvc path, EncodeReport); each combination encoded once.

    family "codec" is the encoder's default model (no alignment flow), "paper" the full NVTM
    (`NVTMConfig.paper()`: alignment flow, optical-flow targets, per-frame grid lookups)."""
    from nvcodec import api
    from nvcodec.model.config import NVTMConfig

    cache: dict = {}
    root = tmp_path_factory.mktemp("nvc")

    def get(device: str, family: str = "codec"):
        key = (device, family)
        if key not in cache:
            nvc = root / f"{family}_{device}.nvc"
            template = NVTMConfig.paper() if family == "paper" else None
            rep = api.encode(tiny_y4m, nvc, api.EncodeOptions(bpp=2.0, steps=60, seed=0, device=device,
                                                             model_template=template, progress=False))
            cache[key] = (nvc, rep)
        return cache[key]

    return get
