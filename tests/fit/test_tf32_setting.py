"""A fit leaves torch's TF32 settings as it found them, whichever API the caller used."""

from __future__ import annotations

import pytest
import torch

from nvcodec.device import tf32_matmuls
from nvcodec.fit import FitOptions, fit
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM


@pytest.mark.skipif(not hasattr(torch.backends.cuda.matmul, "fp32_precision"), reason="torch without fp32_precision")
def test_a_cpu_fit_works_after_the_caller_set_fp32_precision(make_clip):
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    try:
        matmul.fp32_precision = "tf32"  # reading the legacy allow_tf32 flag after this raises (torch 2.13)
        r = fit(NVTM(NVTMConfig.tiny(), 16, 16, 4, seed=0), make_clip(4, 16, 16),
                FitOptions(steps=3, device="cpu", tf32=True, eval_pixels=256))
        assert r.steps == 3 and matmul.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision = before


@pytest.mark.skipif(not hasattr(torch.backends.cuda.matmul, "fp32_precision"), reason="torch without fp32_precision")
def test_tf32_is_set_inside_and_restored_after():
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with tf32_matmuls(True):
        assert matmul.fp32_precision == "tf32"
    assert matmul.fp32_precision == before
    with tf32_matmuls(False):
        assert matmul.fp32_precision == before
