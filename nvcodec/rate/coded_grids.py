"""The grids as the file will hold them, for fitting against the codec (HEVC in the loop).

The fit's last phase evaluates the model on the grids a decoder will rebuild: the first round
trip rate-searches the current model exactly as the encoder does after fitting (same target,
tolerance, x265 preset and weight step); later ones code the grids at the settings that search
chose (one HEVC encode instead of a search: on a 360x240x47 clip at 0.3 bpp a search takes
~2.3 s, an encode ~0.3 s). The chosen file's reconstructed grids come back as float tensors.
Only the grids are taken: the weights keep training and are quantised by the fit's own fake
quantiser.

The encoder's own search after the fit starts where the round trips left off (`start_qp`) and
reuses their grid streams (`payloads`): the fine-tuning trains the weights alone, so the grids
it ends with are the ones the last round trip coded, and at 720p each x265 encode of them
takes about a second.
"""

from __future__ import annotations

import torch

from ..bitstream.format import StreamHeader
from ..compress import model_codec
from ..model.nvtm import NVTM
from .search import RateChoice, build_choice, search_rate


class FileGrids:
    """Callable model -> {grid name: decoded grid} (on the model's device, channels-last like the
    model's grids): on the first call for the file the rate search would write for `model` now,
    afterwards at that search's settings."""

    def __init__(self, header: StreamHeader, target_bytes: float, *, weight_rel_step: float, tolerance: float,
                 preset: str) -> None:
        self.header, self.target_bytes = header, target_bytes
        self.weight_rel_step, self.tolerance, self.preset = weight_rel_step, tolerance, preset
        self.payloads = model_codec.GridPayloads()  # every grid stream the round trips coded
        self.choice: RateChoice | None = None  # the settings of the round trips

    @property
    def start_qp(self) -> int | None:
        """Where the encoder's final search starts: the round trips' latent QP (None before any)."""
        return None if self.choice is None else self.choice.latent_qp

    def __call__(self, model: NVTM) -> dict[str, torch.Tensor]:
        c = self.choice
        if c is None:
            c = self.choice = search_rate(lambda step: model_codec.quantize_model(model, step), self.header,
                                          self.target_bytes, weight_rel_step=self.weight_rel_step,
                                          tolerance=self.tolerance, preset=self.preset, payloads=self.payloads)
            recon = c.recon
        else:
            recon = build_choice(model_codec.quantize_model(model, c.weight_rel_step), self.header, c.latent_qp,
                                 c.static_qp, c.weight_rel_step, self.preset, payloads=self.payloads).recon
        grids = model.grid_tensors()
        return {k: t.to(device=grids[k].device, dtype=grids[k].dtype).contiguous(memory_format=torch.channels_last)
                for k, t in model_codec.dequantized_grids(recon).items()}


__all__ = ["FileGrids"]
