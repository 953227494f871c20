"""Fitting checkpoints: model tensors, optimizer state, step, elapsed time, RNG state.

Written atomically (a killed process leaves the previous checkpoint), read with torch's
weights-only loader (tensors and plain data: a checkpoint handed to us runs no code).
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import BitstreamError, InputError, Interrupted
from ..fsutil import atomic_path
from ..model.nvtm import NVTM

CHECKPOINT_FORMAT = "nvcodec-fit-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class FitState:
    """What a fit carries from step to step besides the model and the optimizer."""

    step: int = 0
    elapsed: float = 0.0
    history: list = field(default_factory=list)
    psnr_ema: float | None = None
    norm_frozen: bool = False
    samples: int = 0
    # HEVC in the loop: round trips done so far, and what the last one gave: the codec's error
    # (decoded - grid at that moment) to add to the grids, or the decoded grids themselves
    # once the grids are frozen ("exact")
    codec_refreshes: int = 0
    codec_tensors: dict = field(default_factory=dict)
    codec_exact: bool = False
    # seconds the codec round trips took: a time budget's schedule does not count them
    codec_seconds: float = 0.0


def save_checkpoint(path: str, model: NVTM, opt: torch.optim.Optimizer, state: FitState, rng: torch.Tensor,
                    seed: int) -> None:
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": state.step,
        "elapsed": state.elapsed,
        "samples": state.samples,
        "model": {k: v.detach().cpu() for k, v in model.all_tensors().items()},
        "optimizer": opt.state_dict(),
        "rng": rng.cpu(),
        "history": [list(h) for h in state.history],
        "psnr_ema": state.psnr_ema,
        "norm_frozen": state.norm_frozen,
        "codec": {"refreshes": state.codec_refreshes, "exact": state.codec_exact,
                  "tensors": {k: v.detach().cpu() for k, v in state.codec_tensors.items()},
                  "seconds": float(state.codec_seconds)},
        "config": model.config.to_dict(),
        "geometry": [model.width, model.height, model.frames],
        "seed": seed,
    }
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a fitting checkpoint (our own format; weights_only loading)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is an input problem
        if type(e).__name__ == "UnpicklingError":  # weights_only refused objects (possibly code)
            raise InputError(f"{path} is not an nvcodec fitting checkpoint (not a tensors-and-plain-data "
                             "file; nothing in it was run)") from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"cannot read checkpoint {path}: {first}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path} is not an nvcodec fitting checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise InputError(f"{path}: unsupported checkpoint version {state.get('version')}")
    return state


def restore_checkpoint(path: str, model: NVTM, opt: torch.optim.Optimizer, gen: torch.Generator) -> FitState:
    """Load `path` into the model, the optimizer and the generator; the loop state it held."""
    st = load_checkpoint(path)
    if st.get("geometry") != [model.width, model.height, model.frames] or st.get("config") != model.config.to_dict():
        raise InputError(f"checkpoint {path} belongs to another model or clip")
    try:
        model.load_tensors(st["model"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["rng"])
        ema = st["psnr_ema"]
        codec = st.get("codec", {"refreshes": 0, "exact": False, "tensors": {}})
        grids = model.grid_tensors()
        tensors = {k: v.to(grids[k].device).contiguous(memory_format=torch.channels_last)
                   for k, v in codec["tensors"].items()}
        return FitState(step=int(st["step"]), elapsed=float(st["elapsed"]),
                        history=[tuple(h) for h in st["history"]],
                        psnr_ema=None if ema is None else float(ema), norm_frozen=bool(st["norm_frozen"]),
                        samples=int(st.get("samples", 0)), codec_refreshes=int(codec["refreshes"]),
                        codec_tensors=tensors, codec_exact=bool(codec["exact"]),
                        codec_seconds=_seconds(codec.get("seconds", 0.0)))
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError, BitstreamError) as e:
        raise InputError(f"checkpoint {path} is damaged ({type(e).__name__}: {e})".splitlines()[0]) from None


def _seconds(value: Any) -> float:
    seconds = float(value)
    if not (math.isfinite(seconds) and seconds >= 0.0):
        raise ValueError(f"codec seconds {value!r} out of range")
    return seconds


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "FitState", "save_checkpoint", "load_checkpoint",
           "restore_checkpoint"]


class EncodeCheckpoint:
    """An encode's checkpoint file from the first fitting step to the written output (a context
    manager around both).

    An interrupt keeps it and says so: during the fit the loop has saved the last step; after
    the fit (rate search, quality check) the file holds the finished fit, so a resume skips
    straight to coding. Otherwise it goes once the job ends, after success or after a failure
    past the fit, when it is the encoder's own (`owned`: no path given, so no resume is
    offered). A failure inside the fit leaves it as it is: it may be the very file a resume
    was asked to continue from.
    """

    def __init__(self, path: str | os.PathLike | None, owned: bool) -> None:
        self.path = None if path is None else str(path)  # None: the fit keeps no checkpoint
        self.owned = owned
        self._fitted_steps: int | None = None

    def fitted(self, steps: int) -> None:
        """The fit finished after `steps` steps (its checkpoint is saved)."""
        self._fitted_steps = steps

    def __enter__(self) -> "EncodeCheckpoint":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            self._remove_if_owned()
        elif self._fitted_steps is not None and isinstance(exc, KeyboardInterrupt) and self.path is not None:
            raise Interrupted(f"interrupted after fitting ({self._fitted_steps} steps; checkpoint saved to "
                              f"{self.path})", checkpoint=self.path) from None
        elif self._fitted_steps is not None and not isinstance(exc, Interrupted):
            self._remove_if_owned()
        return False

    def _remove_if_owned(self) -> None:
        if self.owned and self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
