"""The named model families: every NVTMConfig that the codec, its tests and benchmarks name.

A family is a template: rate sizing (`rate.sizing.choose_config`) keeps its switches (alignment,
latent mode, neighbours, normalisation, GOP size) and chooses the grid and network sizes from the
bit budget; fitting a family as it is gives the paper's full-size model.
"""

from __future__ import annotations

from typing import Callable

from .config import BaseNetConfig, FlowConfig, GridConfig, NVTMConfig


def paper() -> NVTMConfig:
    """The paper's defaults (Sec. 4.1): GOP 10, P={0,1}, 7x4 latent levels x1.8,
    16x2 static levels, modulated SIREN 3x185, adaptive normalisation r_th=0.5."""
    return NVTMConfig()


def tiny() -> NVTMConfig:
    """A very small model for tests and smoke runs."""
    return NVTMConfig(
        gop_size=2,
        latent=GridConfig(base_resolution=4, levels=2, scale=2.0, features=2),
        static=GridConfig(base_resolution=4, levels=2, scale=None, features=2),
        flow=FlowConfig(layers=3, hidden=4, hyper_hidden=8),
        base=BaseNetConfig(depth=2, width=16, modulator_width=16),
    )


def no_flow() -> NVTMConfig:
    """The paper's family without the alignment flow: points look up the keyframe grids unmoved
    (alignment "none"; no flow network is stored)."""
    return paper().replace(alignment="none")


def codec() -> NVTMConfig:
    """The family the encoder sizes by default: the paper's, without the alignment flow (`no_flow`).

    Measured (benchmarks/RESULTS.md): at the fitting budgets of a CPU encode, looking the
    keyframe grids up at the unmoved point decodes 1.0-1.2 dB better at 0.1 bpp (foreman,
    basketballpass; 60 s) and fits 1.3-2.0 dB higher in the paper's Table-5 setting (ablation),
    as each step is cheaper and the flow's guidance does not pay for itself at these budgets.
    The latent stays a modulation: as an input of the first sine layer it was better in 60 s
    runs on 30 frames but became unstable in longer runs (foreman, 60 frames: 22.0 dB after
    300 s against 29.5 dB). `paper()` keeps the flow; `EncodeOptions.model_template`
    selects any family.
    """
    return no_flow()


#: family name -> a function returning a fresh config of that family
FAMILIES: dict[str, Callable[[], NVTMConfig]] = {
    "paper": paper,
    "no_flow": no_flow,
    "codec": codec,
    "tiny": tiny,
}


def family(name: str) -> NVTMConfig:
    """The config of the family called `name` (ValueError naming the known families otherwise)."""
    try:
        make = FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; choose from {', '.join(FAMILIES)}") from None
    return make()


__all__ = ["FAMILIES", "family", "paper", "tiny", "no_flow", "codec"]
