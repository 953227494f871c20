"""Encoder presets: how hard the encoder works, in fitting seconds per million pixels of the clip.

An INR encoder's quality is bought with fitting time, and the time a clip needs grows with its
pixel count (W x H x frames): a fixed budget is a long fit for a QCIF clip and a glance at a
1080p one. A preset therefore names a rate of effort, so that `medium` means about the same
number of passes over any clip. `--time` / `--steps` override it.

What the effort buys, measured (benchmarks/RESULTS.md, "Presets"; foreman CIF at 0.1 bpp on
the project's 2-core CPU): `medium` fits ~12 passes over the clip (1.2 M pixel samples/s) and
decodes at 32.5 dB PSNR-YUV; `ultrafast` 27.0, `fast` 31.0, `slow` 33.0 dB: the gain is
largest at short budgets. The presets only set the fitting budget: the rate search and the
quality check are the same for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError

#: the shortest fit a preset asks for, whatever the clip (start-up dominates below it)
MIN_FIT_SECONDS = 1.0


@dataclass(frozen=True)
class Effort:
    name: str
    seconds_per_megapixel: float

    def fit_seconds(self, pixels: int) -> float:
        """The fitting budget for a clip of `pixels` (W x H x frames)."""
        return max(MIN_FIT_SECONDS, self.seconds_per_megapixel * pixels / 1e6)


#: the presets, fastest first (x265's names; each about 2.5-3x the effort of the one before)
PRESETS: dict[str, Effort] = {e.name: e for e in (
    Effort("ultrafast", 1.0),
    Effort("fast", 4.0),
    Effort("medium", 10.0),
    Effort("slow", 30.0),
    Effort("veryslow", 100.0),
)}


def effort(name: str) -> Effort:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}") from None


#: a clip everyone knows the size of, for saying what a preset means in seconds
_CIF_60 = 352 * 288 * 60


def describe_presets() -> str:
    """For the CLI's help: each preset's rate of effort, and what it means on a known clip."""
    rates = ", ".join(f"{e.name} {e.seconds_per_megapixel:g}" for e in PRESETS.values())
    example = ", ".join(f"{e.name} {e.fit_seconds(_CIF_60):.0f} s" for e in PRESETS.values())
    return f"{rates}; a 60-frame CIF clip: {example}"
