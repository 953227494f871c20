"""One intra-op thread for the model/fit tests: tiny tensors on a shared 2-core
machine are faster (and less noisy) without OpenMP hand-offs."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
