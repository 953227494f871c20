"""The grids as the file will hold them, for fitting against the codec (HEVC in the loop).

The fit's last phase evaluates the model on the grids a decoder will rebuild: the first round
trip rate-searches the current model exactly as the encoder does after fitting (same target,
tolerance, x265 preset and weight step); later ones code the grids at the settings that search
chose (one HEVC encode instead of a search: on a 360x240x47 clip at 0.3 bpp a search takes
~2.3 s, an encode ~0.3 s). The chosen file's reconstructed grids come back as float tensors. Only the grids are taken: the weights keep
training and are quantised by the fit's own fake quantiser.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..bitstream.format import StreamHeader
from ..compress import model_codec
from ..model.nvtm import NVTM
from .search import RateChoice, build_choice, search_rate

GridCodec = Callable[[NVTM], dict[str, torch.Tensor]]


def coded_grids(header: StreamHeader, target_bytes: float, *, weight_rel_step: float, tolerance: float,
                preset: str) -> GridCodec:
    """A function model -> {grid name: decoded grid} (on the model's device, channels-last like
    the model's grids): on the first call for the file the rate search would write for `model`
    now, afterwards at that search's settings."""
    last: list[RateChoice] = []

    def decode_as_file(model: NVTM) -> dict[str, torch.Tensor]:
        if not last:
            choice = search_rate(lambda step: model_codec.quantize_model(model, step), header, target_bytes,
                                 weight_rel_step=weight_rel_step, tolerance=tolerance, preset=preset)
            last[:] = [choice]
        else:
            c = last[0]
            choice = build_choice(model_codec.quantize_model(model, c.weight_rel_step), header, c.latent_qp,
                                  c.static_qp, c.weight_rel_step, preset)
        grids = model.grid_tensors()
        return {k: t.to(device=grids[k].device, dtype=grids[k].dtype).contiguous(memory_format=torch.channels_last)
                for k, t in model_codec.dequantized_grids(choice.recon).items()}

    return decode_as_file


__all__ = ["GridCodec", "coded_grids"]
