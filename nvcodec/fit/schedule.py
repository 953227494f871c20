"""The shape of a run over its fraction done: learning-rate factor and phases, as data.

A run is cut into phases at fixed fractions (the auxiliary optical-flow loss, the moment the
normalisation bounds freeze, quantisation-aware fitting at the end — against the real grid
codec when there is one, finishing with the weights alone on the file's grids); `plan_phases`
lists them so that the loop only asks which phase a fraction is in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .options import FitOptions


def lr_factor(frac: float, opts: FitOptions) -> float:
    """Learning-rate multiplier at fraction `frac` of the run: linear warm-up, then cosine (or
    exponential) decay to `final_lr_ratio`."""
    w = opts.warmup_fraction
    if w > 0 and frac < w:
        return max(frac / w, 0.01)
    x = 0.0 if w >= 1 else min(1.0, (frac - w) / (1 - w))
    r = opts.final_lr_ratio
    if opts.schedule == "exp":
        return r ** x
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * x))


@dataclass(frozen=True)
class Phase:
    """Fractions [start, end) of the run with one set of switches."""

    start: float
    end: float
    aux: bool  # the auxiliary optical-flow loss is on
    qat: bool  # the forward pass sees the bitstream's quantisers
    bounds_frozen: bool  # normalisation bounds are no longer re-estimated
    coded: bool = False  # the grids are the codec's round trip (FitOptions.grid_codec)
    grids_frozen: bool = False  # the grids are exactly the file's; only the weights train

    @property
    def name(self) -> str:
        if self.grids_frozen:
            return "finetune"
        if self.coded:
            return "codec"
        return "qat" if self.qat else ("aux" if self.aux else "main")


def plan_phases(opts: FitOptions, has_aux: bool) -> list[Phase]:
    """The phases of a run; `has_aux`: the model has an alignment flow and the aux loss is on."""
    aux_end = opts.aux_fraction if has_aux else 0.0
    qat_start = 1.0 - opts.qat_fraction if opts.qat_fraction > 0 else 1.0
    coded = opts.grid_codec is not None
    ft_start = 1.0 - opts.finetune_fraction if coded and opts.finetune_fraction > 0 else 1.0
    freeze = min(opts.norm_freeze_fraction, qat_start)
    cuts = sorted({c for c in (0.0, 1.0, aux_end, qat_start, freeze, ft_start) if 0.0 <= c <= 1.0})
    phases = []
    for a, b in zip(cuts, cuts[1:]):
        if b > a:
            qat = a >= qat_start
            phases.append(Phase(a, b, aux=a < aux_end, qat=qat, bounds_frozen=a >= freeze, coded=qat and coded,
                                grids_frozen=qat and a >= ft_start))
    return phases


def codec_refresh_points(phases: list[Phase], refreshes: int) -> list[float]:
    """Fractions of the run where the grids go through the codec again: `refreshes` evenly
    spaced over the coded phase before the fine-tuning, and once where the fine-tuning starts."""
    coded = [p for p in phases if p.coded and not p.grids_frozen]
    points = []
    if coded:
        a, b = coded[0].start, coded[-1].end
        points = [a + i * (b - a) / refreshes for i in range(refreshes)]
    points += [p.start for p in phases if p.grids_frozen][:1]
    return points


def phase_at(phases: list[Phase], frac: float) -> Phase:
    for p in phases:
        if frac < p.end:
            return p
    return phases[-1]


__all__ = ["lr_factor", "Phase", "plan_phases", "phase_at", "codec_refresh_points"]
