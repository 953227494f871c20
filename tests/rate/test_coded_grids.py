"""rate.coded_grids: the grids the file will hold, through the real x265 round trip."""

from __future__ import annotations

from fractions import Fraction

import torch

from nvcodec.bitstream.format import StreamHeader
from nvcodec.compress import model_codec
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.coded_grids import FileGrids
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
    codec = FileGrids(header, target, weight_rel_step=1 / 64, tolerance=0.03, preset="medium")
    assert codec.start_qp is None
    got = codec(m)
    choice = search_rate(lambda s: model_codec.quantize_model(m, s), header, target, weight_rel_step=1 / 64)
    want = model_codec.dequantized_grids(choice.recon)
    assert codec.start_qp == choice.latent_qp is not None  # a lossy file: the round trip is HEVC's, not the 8-bit rounding
    assert got.keys() == m.grid_tensors().keys() == want.keys()
    for k, g in got.items():
        assert torch.equal(g, want[k]) and g.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():  # the model moves on: the next round trip codes it at the same settings
        m.grid_tensors()["latent.0"].mul_(0.5)
    again = codec(m)
    ref = build_choice(model_codec.quantize_model(m, choice.weight_rel_step), header, choice.latent_qp,
                       choice.static_qp, choice.weight_rel_step, "medium")
    assert all(torch.equal(again[k], v) for k, v in model_codec.dequantized_grids(ref.recon).items())


def test_the_final_search_starts_at_the_round_trips_and_reuses_their_streams(monkeypatch):
    """The encoder's search after the fit (grids unchanged by the fine-tuning) re-codes none of
    the grid streams the round trips coded, and writes the file a search from scratch writes."""
    m = NVTM(NVTMConfig.tiny(), W, H, T, seed=0)
    with torch.no_grad():
        for p in m.grid_tensors().values():
            p.uniform_(-1, 1)
    header = StreamHeader.from_video_info(VideoInfo(width=W, height=H, frames=T, fps=Fraction(25)))
    target = 5000.0
    codec = FileGrids(header, target, weight_rel_step=1 / 64, tolerance=0.03, preset="medium")
    codec(m)
    codec(m)  # a later round trip at the same settings: nothing new to code
    after_fit = codec.payloads.encodes
    tried: list[str] = []
    quantize = lambda s: model_codec.quantize_model(m, s)  # noqa: E731
    final = search_rate(quantize, header, target, weight_rel_step=1 / 64, start_qp=codec.start_qp,
                        payloads=codec.payloads, progress=tried.append)
    scratch_tried: list[str] = []
    scratch = search_rate(quantize, header, target, weight_rel_step=1 / 64, progress=scratch_tried.append)
    assert final.data == scratch.data
    assert len(tried) <= len(scratch_tried)
    # the latent stream at the chosen QP and the static streams the first search tried all came back
    new = codec.payloads.encodes - after_fit
    assert new == 0, (new, tried)
