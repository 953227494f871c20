"""Land the file on the target size after fitting.

The weights are coded once; the grids' HEVC QP is then searched so that the whole
file is as large as possible without exceeding the target by more than the
tolerance. The static grid (read by every frame) gets a finer QP than the
per-GOP grids when that fills the budget better, and a finer weight step takes up
what is left when the coarsest step of QP would leave the file short.

The file is never above target x (1 + tolerance). It is below target x (1 - tolerance) only
when the model coded losslessly is that small, or when no setting tried lands in the window
(the next finer one overshoots, or the weight step was refined to about 1/8 of its start);
`RateChoice.under_target` then says which.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from ..bitstream.format import StreamHeader
from ..bitstream.writer import write_container
from ..compress import model_codec
from ..compress.model_codec import QuantizedModel
from ..errors import EncodeError

MAX_QP = 51
#: where a search without a hint starts: sizing aims the grids at ~QP 28 (RateModel), and the
#: latent QPs the encoder chose in benchmarks/RESULTS.md lie in 13-31, mostly 22-29
DEFAULT_START_QP = 27


@dataclass
class RateChoice:
    """One candidate file: its coding parameters, bytes and what a decoder rebuilds."""

    latent_qp: int | None
    static_qp: int | None
    weight_rel_step: float
    data: bytes
    recon: QuantizedModel
    under_target: str | None = None  # why the file is below target x (1 - tolerance); None when it is not

    @property
    def size(self) -> int:
        return len(self.data)


def build_choice(q: QuantizedModel, header: StreamHeader, latent_qp: int | None, static_qp: int | None,
                 rel_step: float, preset: str, encoder_info: dict | None = None,
                 payloads: model_codec.GridPayloads | None = None) -> RateChoice:
    """The file of `q` at these settings (one HEVC encode per grid kind not in `payloads`)."""
    container, recon = model_codec.encode_model(q, header, latent_qp=latent_qp, static_qp=static_qp, preset=preset,
                                                encoder_info=encoder_info, payloads=payloads)
    data = write_container(container)
    return RateChoice(latent_qp, static_qp, rel_step, data, recon)


def search_rate(quantize: Callable[[float], QuantizedModel], header: StreamHeader, target_bytes: float, *,
                weight_rel_step: float, tolerance: float = 0.03, preset: str = "medium",
                encoder_info: dict | None = None, progress: Callable[[str], None] | None = None,
                start_qp: int | None = None, payloads: model_codec.GridPayloads | None = None) -> RateChoice:
    """The largest file <= target x (1 + tolerance) among the settings tried; EncodeError when none
    exists. A result below target x (1 - tolerance) carries the reason in `under_target`.

    `quantize(rel_step)` returns the quantised model for a weight step (the caller
    owns the float model); `progress` hears of each setting tried and its size. `start_qp`:
    where the QP search begins (an earlier search's choice: two encodes when it still holds);
    `payloads`: grid streams coded earlier (by the fit's codec round trips), reused when the
    grids are the same.
    """
    upper = target_bytes * (1 + tolerance)
    lower = target_bytes * (1 - tolerance)
    q = quantize(weight_rel_step)
    cache: dict[tuple, RateChoice] = {}
    # settings that share a grid stream code it once
    payloads = model_codec.GridPayloads() if payloads is None else payloads

    def under(choice: RateChoice, why: str) -> RateChoice:
        """`choice`, with `why` recorded when it is below the window."""
        if choice.size >= lower:
            return choice
        return dataclasses.replace(choice, under_target=f"{choice.size} bytes, {choice.size / target_bytes - 1:+.1%} "
                                                        f"of the target: {why}")

    def build(lq: int | None, sq: int | None, step: float | None = None,
              qm: QuantizedModel | None = None) -> RateChoice:
        """The file for these settings; by default the current weight step and its quantised model."""
        step = weight_rel_step if step is None else step
        key = (lq, sq, step)
        if key not in cache:
            cache[key] = build_choice(qm or q, header, lq, sq, step, preset, encoder_info, payloads=payloads)
            if progress is not None:
                progress(_tried(cache[key], target_bytes, len(cache)))
        return cache[key]

    has_static = q.static is not None

    def fits(qp: int) -> bool:
        return build(qp, qp if has_static else None).size <= upper

    hi = smallest_fitting_qp(fits, DEFAULT_START_QP if start_qp is None else start_qp)
    if hi == 0:  # lossless grids when they fit: best quality the model can give
        lossless = build(None, None)
        if lossless.size <= upper:
            return under(lossless, _LOSSLESS_WHY)
    # weights too large for the budget even with the coarsest grids: coarser weight steps
    while hi is None and weight_rel_step < 1.0:
        weight_rel_step *= 1.5
        q = quantize(weight_rel_step)
        lossless = build(None, None)
        if lossless.size <= upper:
            return under(lossless, _LOSSLESS_WHY + f" at the coarser weight step {weight_rel_step:.3g}")
        hi = smallest_fitting_qp(fits, MAX_QP)  # None after one file when the coarsest does not fit
    if hi is None:
        coarsest = build(MAX_QP, MAX_QP if has_static else None)
        raise EncodeError(
            f"cannot reach {target_bytes:.0f} bytes: the smallest file this model allows is {coarsest.size} bytes "
            f"(~{coarsest.size / target_bytes:.1f}x the target); raise --bpp")
    best = build(hi, hi if has_static else None)
    # finer static grid while it still fits
    if has_static:
        for sq in range(hi - 1, max(-1, hi - 9), -1):
            cand = build(hi, sq)
            if cand.size > upper:
                break
            best = cand
    # finer weights take up what is left
    step = weight_rel_step
    why = ""
    while best.size < lower and step > weight_rel_step / 8:
        step /= 1.25
        qm = quantize(step)
        cand = build(best.latent_qp, best.static_qp, step, qm)
        if cand.size > upper:
            finer_grids = f"grid QP {hi - 1}" if hi > 0 else "lossless grids"
            why = f"the next finer settings ({finer_grids}; weight step {step:.3g}) exceed the target by over {tolerance:.0%}"
            break
        best = cand
    return under(best, why or f"the finest weight step tried ({step:.3g}) still leaves it short")


def smallest_fitting_qp(fits: Callable[[int], bool], start: int) -> int | None:
    """The smallest QP in [0, MAX_QP] for which `fits` holds (the file shrinks as the QP rises),
    None when not even MAX_QP fits: a gallop from `start` (strides 1, 2, 4, ...) brackets it, a
    bisection closes the bracket. A start at the answer costs two encodes; a bisection over the
    whole range always cost six, plus the lossless and coarsest files it began with."""
    start = min(max(int(start), 0), MAX_QP)
    stride = 1
    if fits(start):
        hi = start  # invariant: hi fits, lo does not
        while True:
            if hi == 0:
                return 0
            lo = max(0, hi - stride)
            if not fits(lo):
                break
            hi, stride = lo, stride * 2
    else:
        lo = start
        while True:
            if lo == MAX_QP:
                return None
            hi = min(MAX_QP, lo + stride)
            if fits(hi):
                break
            lo, stride = hi, stride * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


_LOSSLESS_WHY = "the model with lossless grids is this small (a larger model would be needed to fill the target)"


def _tried(choice: RateChoice, target_bytes: float, count: int) -> str:
    grids = "lossless grids" if choice.latent_qp is None else f"grid QP {choice.latent_qp}/{choice.static_qp}"
    return (f"{grids}, weight step {choice.weight_rel_step:.3g}: {choice.size} bytes "
            f"(target {target_bytes:.0f}; {count} tried)")


def describe(choice: RateChoice) -> dict:
    return {"latent_qp": choice.latent_qp, "static_qp": choice.static_qp,
            "weight_rel_step": choice.weight_rel_step, "under_target": choice.under_target}

