"""rate.coded_grids: the grids the file will hold, through the real x265 round trip."""

from __future__ import annotations

from fractions import Fraction

import torch

from nvcodec.bitstream.format import StreamHeader
from nvcodec.compress import model_codec
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.coded_grids import coded_grids
from nvcodec.rate.search import build_choice, search_rate
from nvcodec.video import VideoInfo

W, H, T = 48, 32, 4


def test_the_grids_are_those_of_the_searched_file_then_of_its_settings():
    m = NVTM(NVTMConfig.tiny().replace(alignment="none"), W, H, T, seed=0)
    with torch.no_grad():
        for p in m.grid_tensors().values():
            p.uniform_(-1, 1)
    header = StreamHeader.from_video_info(VideoInfo(width=W, height=H, frames=T, fps=Fraction(25)))
    target = 5000.0  # between the coarsest file (QP 51: ~2.9 kB) and the lossless one (~22 kB)
    codec = coded_grids(header, target, weight_rel_step=1 / 64, tolerance=0.03, preset="medium")
    got = codec(m)
    choice = search_rate(lambda s: model_codec.quantize_model(m, s), header, target, weight_rel_step=1 / 64)
    want = model_codec.dequantized_grids(choice.recon)
    assert choice.latent_qp is not None  # a lossy file: the round trip is HEVC's, not the 8-bit rounding
    assert got.keys() == m.grid_tensors().keys() == want.keys()
    for k, g in got.items():
        assert torch.equal(g, want[k]) and g.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():  # the model moves on: the next round trip codes it at the same settings
        m.grid_tensors()["latent.0"].mul_(0.5)
    again = codec(m)
    ref = build_choice(model_codec.quantize_model(m, choice.weight_rel_step), header, choice.latent_qp,
                       choice.static_qp, choice.weight_rel_step, "medium")
    assert all(torch.equal(again[k], v) for k, v in model_codec.dequantized_grids(ref.recon).items())
