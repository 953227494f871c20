from __future__ import annotations

import json

import pytest

from nvcodec.errors import BitstreamError
from nvcodec.model.config import BaseNetConfig, FlowConfig, GridConfig, NVTMConfig


def test_paper_preset_values():
    c = NVTMConfig.paper()
    assert c.gop_size == 10 and c.neighbors == (0, 1)
    assert (c.latent.base_resolution, c.latent.levels, c.latent.scale, c.latent.features) == (16, 7, 1.8, 4)
    assert (c.static.base_resolution, c.static.levels, c.static.features) == (16, 16, 2)
    assert c.static.scale is None  # growth chosen so the finest level reaches the frame
    assert (c.flow.layers, c.flow.hidden, c.flow.hyper_layers) == (5, 8, 1)
    assert (c.base.depth, c.base.width) == (3, 185)
    assert c.normalization == "adaptive" and c.norm_threshold == 0.5
    assert c.latent_mode == "modulation" and c.use_static_grid and c.alignment == "flow"
    assert c.latent_dim == 2 * 7 * 4 + 16 * 2


@pytest.mark.parametrize("cfg", [NVTMConfig.paper(), NVTMConfig.tiny(),
                                 NVTMConfig.tiny().replace(neighbors=(0,), normalization="clip",
                                                           latent_mode="input", use_static_grid=False,
                                                           alignment="none")])
def test_json_round_trip(cfg):
    d = json.loads(json.dumps(cfg.to_dict()))
    back = NVTMConfig.from_dict(d)
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()


def test_alignment_may_be_absent_and_means_flow():
    """Spec 10.1: MCFG written before the `alignment` member existed still decodes."""
    d = json.loads(json.dumps(NVTMConfig.tiny().to_dict()))
    del d["alignment"]
    assert NVTMConfig.from_dict(d).alignment == "flow"
    d["alignment"] = "none"
    assert NVTMConfig.from_dict(d).alignment == "none"


def _paper_dict():
    return json.loads(json.dumps(NVTMConfig.paper().to_dict()))


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(gop_size=0),
    lambda d: d.update(gop_size=2.5),
    lambda d: d.update(gop_size=True),
    lambda d: d.update(neighbors=[0, 2]),
    lambda d: d.update(neighbors=[False, True]),
    lambda d: d.update(neighbors="01"),
    lambda d: d.update(normalization="zscore"),
    lambda d: d.update(latent_mode=1),
    lambda d: d.update(alignment="optical"),
    lambda d: d.update(use_static_grid=1),
    lambda d: d.update(norm_threshold=0.0),
    lambda d: d.update(norm_threshold=float("nan")),
    lambda d: d.update(extra_field=1),
    lambda d: d.pop("flow"),
    lambda d: d["latent"].update(levels=0),
    lambda d: d["latent"].update(levels=1000),
    lambda d: d["latent"].update(scale=0.5),
    lambda d: d["latent"].update(scale="1.8"),
    lambda d: d["static"].update(features=-1),
    lambda d: d["base"].update(width=0),
    lambda d: d["base"].update(modulator_width=186),
    lambda d: d["base"].update(omega=float("inf")),
    lambda d: d["flow"].update(layers=1),
    lambda d: d.update(base=[1, 2]),
])
def test_validation_errors(mutate):
    d = _paper_dict()
    mutate(d)
    with pytest.raises(BitstreamError):
        NVTMConfig.from_dict(d)


def test_not_a_dict():
    with pytest.raises(BitstreamError):
        NVTMConfig.from_dict([1, 2])


def test_int_accepted_for_float_fields():
    d = _paper_dict()
    d["base"]["omega"] = 30
    assert NVTMConfig.from_dict(d).base.omega == 30.0


def test_resolutions_capped_and_static_reaches_frame():
    c = NVTMConfig.paper()
    lat = c.latent.resolutions(352, 288)
    assert lat[0] == (16, 16) and lat[1] == (28, 28)
    assert lat[-1] == (352, 288)  # capped at the frame size
    st = c.static.resolutions(352, 288)
    assert len(st) == 16 and st[0] == (16, 16)
    assert st[-1] == (352, 288)
    assert all(a[0] <= b[0] for a, b in zip(st, st[1:]))
    assert GridConfig(base_resolution=4, levels=3, scale=None).resolutions(3, 2) == [(3, 2)] * 3


def test_sub_configs_round_trip():
    for c in (GridConfig(), FlowConfig(), BaseNetConfig(modulator_width=64)):
        assert type(c).from_dict(c.to_dict()) == c


def test_section_fields_carry_their_checks():
    d = BaseNetConfig(width=64, modulator_width=64).to_dict()
    d["modulator_width"] = 65  # the bound is the width parsed before it
    with pytest.raises(BitstreamError, match=r"base\.modulator_width: 65 outside \[1, 64\]"):
        BaseNetConfig.from_dict(d)
    with pytest.raises(BitstreamError, match=r"config\.flow\.omega: 0\.0 outside \(0\.0, 10000\.0\]"):
        FlowConfig.from_dict({**FlowConfig().to_dict(), "omega": 0}, "config.flow")
    assert GridConfig.from_dict(GridConfig(scale=None).to_dict()).scale is None
    assert GridConfig(scale=None).validate() == GridConfig(scale=None)
