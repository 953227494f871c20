"""The named model families (`model.presets`): each one is a valid, buildable config."""

from __future__ import annotations

import pytest
import torch

from nvcodec.model import presets
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM, pixel_centres


@pytest.mark.parametrize("name", sorted(presets.FAMILIES))
def test_every_family_validates_and_builds_a_model_on_a_tiny_clip(name):
    cfg = presets.family(name)
    assert cfg.validate() == cfg
    m = NVTM(cfg, 8, 6, 3, seed=0)
    xy = pixel_centres(8, 6)[None].expand(2, -1, -1)
    with torch.no_grad():
        rgb = m.forward_frames(xy, torch.tensor([0.0, 2.0]))
    assert rgb.shape == (2, 48, 3) and bool(torch.isfinite(rgb).all())


def test_family_returns_a_fresh_equal_config_each_call():
    assert presets.family("codec") == presets.family("codec")
    assert presets.family("codec") is not presets.family("codec")


def test_families_differ_where_their_docstrings_say():
    assert presets.paper() == NVTMConfig()
    assert presets.no_flow() == presets.paper().replace(alignment="none")
    assert presets.codec().alignment == "none" and presets.codec().latent_mode == "modulation"
    assert NVTMConfig.paper() == presets.paper() and NVTMConfig.tiny() == presets.tiny()


def test_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown model family 'papers'.*paper, no_flow, codec, tiny"):
        presets.family("papers")
