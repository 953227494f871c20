"""Rate sizing: the chosen model fits the bit budget and the decoder's per-pixel cost cap."""

from __future__ import annotations

import pytest

from nvcodec.errors import EncodeError
from nvcodec.model.siren import synthesis_macs
from nvcodec.rate.sizing import (DEFAULT_MAX_DECODE_MACS, RateModel, base_widths, choose_config,
                                 weight_params)

GEOMETRIES = [(352, 288, 30, 0.1), (352, 288, 60, 0.3), (352, 288, 300, 0.1), (1280, 720, 60, 0.05),
              (160, 96, 12, 0.5)]


@pytest.mark.parametrize("w,h,f,bpp", GEOMETRIES)
def test_estimate_fits_the_budget_and_the_cost_cap(w, h, f, bpp):
    s = choose_config(w, h, f, bpp)
    assert s.est_weight_bits + s.est_grid_bits <= 1.02 * s.budget_bits
    assert s.est_weight_bits <= RateModel().weight_share * s.budget_bits
    assert s.weight_params == weight_params(s.config)
    assert synthesis_macs(s.config.base) <= DEFAULT_MAX_DECODE_MACS
    assert s.config.base.width in base_widths(185)


def test_uncapped_sizing_widens_the_network_with_the_budget_and_the_cap_moves_bits_to_grids():
    capped = choose_config(352, 288, 300, 0.1)
    free = choose_config(352, 288, 300, 0.1, max_decode_macs=None)
    assert free.config.base.width > capped.config.base.width
    assert synthesis_macs(free.config.base) > DEFAULT_MAX_DECODE_MACS
    # what the narrower network does not spend goes to the grids
    assert capped.grid_values > free.grid_values
    assert capped.est_weight_bits < free.est_weight_bits
    tight = choose_config(352, 288, 300, 0.1, max_decode_macs=1500)
    assert synthesis_macs(tight.config.base) <= 1500 < synthesis_macs(capped.config.base)


def test_bigger_budget_never_shrinks_the_grids():
    values = [choose_config(352, 288, 60, b).grid_values for b in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert values == sorted(values) and values[0] < values[-1]


def test_base_widths_are_matrix_friendly():
    assert base_widths(185) == [8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176]
    assert base_widths(40) == [8, 16, 24, 32]
    assert base_widths(5) == [5]


def test_no_room_for_a_model_is_an_encode_error():
    with pytest.raises(EncodeError, match="no room"):
        choose_config(16, 16, 1, 0.01)
