"""PSNR on YUV planes and on RGB, per frame and per clip.

Conventions (state them when reporting numbers):
  - plane PSNR uses the bit depth's peak 2^n - 1 (255 for 8 bit, 1023 for 10 bit);
  - PSNR-YUV is the 6:1:1 weighting of the per-plane PSNRs: (6*Y + U + V) / 8 (the JVET/
    MPEG common-test-condition convention); for mono video it equals PSNR-Y;
  - RGB PSNR is computed on float RGB in [0, 1] (peak 1) over all three channels;
  - a clip's primary `psnr_*` is the PSNR of the mean MSE over frames (as much of the
    learned-codec literature does, it does not let one perfect frame dominate); the mean
    of per-frame PSNRs is reported too, as `frame_mean`.
The one zero-MSE convention (`psnr_from_mse`, used by every PSNR in nvcodec and the
benchmarks): identical inputs give MSE 0 and PSNR = float('inf') in Python; `json_value`
turns that into None (JSON null) and result dicts carry `"identical": true` so a reader can
tell "perfect" from "not computed". A caller that needs a finite number (the fit's training
loss, nvcodec.fit.evaluate.MSE_FLOOR) floors the MSE before calling it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..video.frame import Frame

PLANES = ("y", "u", "v")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error in float64 (uint inputs are widened first, no wrap-around)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d)) if d.size else 0.0


def psnr_from_mse(value: float, peak: float = 1.0) -> float:
    """10 log10(peak^2 / mse); inf for mse == 0 (identical inputs).

    `peak` is the largest sample value: 1.0 for [0, 1] floats, `peak_for_bit_depth(n)` for
    n-bit code values.
    """
    if value <= 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / value)


def mse_from_psnr(psnr: float, peak: float = 1.0) -> float:
    """The inverse of `psnr_from_mse` (inf -> 0): peak^2 / 10^(psnr / 10)."""
    return peak * peak * 10.0 ** (-psnr / 10.0)


def peak_for_bit_depth(bit_depth: int) -> float:
    return float((1 << bit_depth) - 1)


def combine_yuv(psnr_y: float | None, psnr_u: float | None, psnr_v: float | None) -> float | None:
    """6:1:1 weighted PSNR-YUV; PSNR-Y for mono (no chroma); None without luma."""
    if psnr_y is None:
        return None
    if psnr_u is None or psnr_v is None:
        return psnr_y
    return (6.0 * psnr_y + psnr_u + psnr_v) / 8.0


def json_value(x: float | None) -> float | None:
    """inf/nan -> None, so results serialise as strict JSON."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


@dataclass
class FrameErrors:
    """Squared errors of one frame: per-plane MSE in code values, RGB MSE in [0,1] units."""

    mse_y: float | None
    mse_u: float | None
    mse_v: float | None
    mse_rgb: float | None
    bit_depth: int

    def psnr(self) -> dict[str, float | None]:
        return _psnr_dict(self.mse_y, self.mse_u, self.mse_v, self.mse_rgb, self.bit_depth)

    @property
    def identical(self) -> bool:
        return all(m in (None, 0.0) for m in (self.mse_y, self.mse_u, self.mse_v, self.mse_rgb))


def _psnr_dict(
    my: float | None, mu: float | None, mv: float | None, mrgb: float | None, bit_depth: int
) -> dict[str, float | None]:
    peak = peak_for_bit_depth(bit_depth)
    py = None if my is None else psnr_from_mse(my, peak)
    pu = None if mu is None else psnr_from_mse(mu, peak)
    pv = None if mv is None else psnr_from_mse(mv, peak)
    return {
        "psnr_y": py,
        "psnr_u": pu,
        "psnr_v": pv,
        "psnr_yuv": combine_yuv(py, pu, pv),
        "psnr_rgb": None if mrgb is None else psnr_from_mse(mrgb, 1.0),
    }


def frame_errors(
    ref: Frame,
    dist: Frame,
    bit_depth: int,
    ref_rgb: np.ndarray | None = None,
    dist_rgb: np.ndarray | None = None,
) -> FrameErrors:
    """Per-plane MSE of two frames of the same layout (+ RGB MSE when RGB is given)."""
    if len(ref.planes) != len(dist.planes):
        raise ValueError("frames have different numbers of planes")
    m = [mse(a, b) for a, b in zip(ref.planes, dist.planes)]
    mrgb = None if ref_rgb is None or dist_rgb is None else mse(ref_rgb, dist_rgb)
    if len(m) == 1:
        return FrameErrors(m[0], None, None, mrgb, bit_depth)
    return FrameErrors(m[0], m[1], m[2], mrgb, bit_depth)


def frame_psnr(ref: Frame, dist: Frame, bit_depth: int) -> dict[str, float | None]:
    """psnr_y/u/v/yuv of one frame (psnr_rgb is None: no RGB given)."""
    return frame_errors(ref, dist, bit_depth).psnr()


def rgb_psnr(ref: np.ndarray, dist: np.ndarray) -> float:
    """PSNR of float RGB images in [0, 1] (peak 1)."""
    return psnr_from_mse(mse(ref, dist), 1.0)


@dataclass
class PsnrAccumulator:
    """Collects per-frame errors of a clip; `summary()` gives both clip means."""

    bit_depth: int
    frames: list[FrameErrors] = field(default_factory=list)

    def add(self, errors: FrameErrors) -> dict[str, float | None]:
        self.frames.append(errors)
        return errors.psnr()

    def summary(self) -> dict[str, Any]:
        """{psnr_* from the mean MSE, 'frame_mean': {mean of per-frame psnr_*}, 'identical'}."""
        if not self.frames:
            raise ValueError("no frames accumulated")

        def mean_of(attr: str) -> float | None:
            vals = [getattr(f, attr) for f in self.frames]
            return None if any(v is None for v in vals) else float(np.mean(vals))

        out: dict[str, Any] = _psnr_dict(
            mean_of("mse_y"), mean_of("mse_u"), mean_of("mse_v"), mean_of("mse_rgb"), self.bit_depth
        )  # type: ignore[arg-type]
        per_frame = [f.psnr() for f in self.frames]
        out["frame_mean"] = {k: _mean_psnr([p[k] for p in per_frame]) for k in out}
        out["identical"] = all(f.identical for f in self.frames)
        return out


def _mean_psnr(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return float(np.mean(values))  # inf if any frame is identical


__all__ = [
    "mse",
    "psnr_from_mse",
    "mse_from_psnr",
    "peak_for_bit_depth",
    "combine_yuv",
    "json_value",
    "FrameErrors",
    "frame_errors",
    "frame_psnr",
    "rgb_psnr",
    "PsnrAccumulator",
]
