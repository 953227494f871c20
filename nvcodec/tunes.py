"""Encoder tunes (`encode --tune`): what a tune adds to the "encode" fitting recipe
(`fit.options.FIT_PRESETS`). torch-free, so that the CLI can list them without loading torch."""

from __future__ import annotations

from typing import Any

from .errors import InputError

#: What `encode --tune` adds to the "encode" recipe. "motion": the fit also learns the frames
#: half-way between frames (`fit.inbetween`), so the model itself follows motion between frames
#: (`decode --inbetween model`) instead of cross-fading; it costs the coded frames some quality
#: at equal size and time, and decode's default in-between frames (motion-compensated from the
#: decoded frames, `nvcodec.interpolation`) do better without it (benchmarks/RESULTS.md), so it
#: is an option, not the default.
TUNES: dict[str, dict[str, Any]] = {
    "none": {},
    "motion": {"inbetween_weight": 0.3},
}


def tune(name: str) -> dict[str, Any]:
    """The FitOptions fields `encode --tune name` sets."""
    if name not in TUNES:
        raise InputError(f"unknown tune {name!r} (one of {', '.join(TUNES)})")
    return TUNES[name]
