"""The decoder's size check counts a config's network weights exactly (`model.nvtm.weight_count`)."""

from __future__ import annotations

import dataclasses

import pytest

from nvcodec.compress.model_codec import MAX_WEIGHT_VALUES, check_model_size
from nvcodec.errors import BitstreamError
from nvcodec.model import presets
from nvcodec.model.nvtm import weight_count


def _with_base_width(width: int, alignment: str = "none"):
    cfg = presets.tiny().replace(alignment=alignment)
    return cfg.replace(base=dataclasses.replace(cfg.base, depth=2, width=width, modulator_width=1))


def test_the_weight_limit_is_on_the_exact_count():
    # depth 2: about width^2 weights; find the widest base network that stays within the limit
    lo, hi = 1, 4096
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if weight_count(_with_base_width(mid)) <= MAX_WEIGHT_VALUES else (lo, mid - 1)
    check_model_size(_with_base_width(lo), 13, 9, 5)
    with pytest.raises(BitstreamError, match=f"{weight_count(_with_base_width(lo + 1))} weights, over the"):
        check_model_size(_with_base_width(lo + 1), 13, 9, 5)


def test_a_flow_the_model_does_not_build_does_not_count():
    huge_flow = dataclasses.replace(presets.tiny().flow, layers=64, hidden=256, hyper_hidden=1024)
    cfg = presets.tiny().replace(flow=huge_flow)
    with pytest.raises(BitstreamError, match="weights, over the"):
        check_model_size(cfg, 13, 9, 5)
    check_model_size(cfg.replace(alignment="none"), 13, 9, 5)
