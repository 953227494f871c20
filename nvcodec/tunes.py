"""Encoder tunes (`encode --tune`): what a tune adds to the "encode" fitting recipe
(`fit.options.FIT_PRESETS`). torch-free, so that the CLI can list them without loading torch."""

from __future__ import annotations

from typing import Any

from .errors import InputError

#: What `encode --tune` adds to the "encode" recipe. "motion": the fit also learns the frames
#: half-way between frames (`fit.inbetween`), so decoding at a higher frame rate shows motion
#: instead of a cross-fade; it costs the coded frames some quality at equal size and time
#: (benchmarks/RESULTS.md, seventh session), so it is an option, not the default.
TUNES: dict[str, dict[str, Any]] = {
    "none": {},
    "motion": {"inbetween_weight": 0.3},
}


def tune(name: str) -> dict[str, Any]:
    """The FitOptions fields `encode --tune name` sets."""
    if name not in TUNES:
        raise InputError(f"unknown tune {name!r} (one of {', '.join(TUNES)})")
    return TUNES[name]
