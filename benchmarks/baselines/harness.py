"""The timing harness shared by every method of the speed benchmark.

Each method fits for a wall-clock budget T and, each time its clock passes a checkpoint,
the harness evaluates the full-clip RGB PSNR with the clock *paused*: evaluation time is
never charged to the method. Methods read time only from the `PausableClock` they are
given (nvcodec's own `fit` takes it as `FitOptions.clock`), and they anneal
their learning-rate schedule over T, so one run gives every checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import torch
from torch import Tensor

#: on_step(elapsed seconds on the method's clock, steps done)
StepHook = Callable[[float, int], None]


class PausableClock:
    """perf_counter() that stands still inside `paused()` blocks."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None

    def perf_counter(self) -> float:
        now = time.perf_counter() if self._frozen_at is None else self._frozen_at
        return now - self._offset

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        self._frozen_at = start
        try:
            yield
        finally:
            self._frozen_at = None
            self._offset += time.perf_counter() - start


class Method(Protocol):
    """What the harness needs from a method (NVTM, NeRV, NVP)."""

    name: str

    def num_parameters(self) -> int: ...

    def train(self, video: Tensor, budget_s: float, clock: PausableClock, on_step: StepHook) -> int: ...

    def psnr(self, video: Tensor) -> float: ...


@dataclass
class Checkpoint:
    checkpoint_s: float
    elapsed_s: float
    steps: int
    psnr: float
    eval_seconds: float


@dataclass
class TimedRun:
    method: str
    params: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    total_steps: int = 0


def warm_up(device: str = "cpu") -> None:
    """Pay one-time process costs (lazy imports such as torch._dynamo on the first optimizer,
    cv2, CUDA context) before any clock starts, so that they fall on no method."""
    import cv2  # noqa: F401  (nvcodec's optical flow)

    dev = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    for fused in (False, True):
        p = torch.nn.Parameter(torch.zeros(8, device=dev))
        opt = torch.optim.Adam([p], **({"fused": True} if fused else {}))
        torch.nn.functional.conv2d(p.view(1, 2, 2, 2), torch.ones(1, 2, 1, 1, device=dev)).sum().backward()
        opt.step()


def run_timed(method: Method, video: Tensor, times: list[float]) -> TimedRun:
    """Fit `method` for max(times) seconds; full-clip PSNR at each time (clock paused)."""
    clock = PausableClock()
    pending = sorted(times)
    run = TimedRun(method.name, method.num_parameters())
    last = {"elapsed": 0.0, "steps": 0}

    def evaluate(checkpoint: float, elapsed: float, steps: int) -> None:
        with clock.paused():
            t0 = time.perf_counter()
            p = method.psnr(video)
            run.checkpoints.append(Checkpoint(checkpoint, elapsed, steps, p, time.perf_counter() - t0))

    def on_step(elapsed: float, steps: int) -> None:
        last.update(elapsed=elapsed, steps=steps)
        if pending and elapsed >= pending[0] and torch.cuda.is_available():
            torch.cuda.synchronize()  # queued training work is charged before the clock pauses
        while pending and elapsed >= pending[0]:
            evaluate(pending.pop(0), elapsed, steps)

    run.total_steps = method.train(video, max(times), clock, on_step)
    for t in list(pending):  # a run that stopped just short of its budget
        evaluate(t, last["elapsed"], last["steps"])
    return run


def time_to_reach(run: TimedRun, target_db: float) -> tuple[float | None, float | None]:
    """(first checkpoint with PSNR >= target, estimate between checkpoints) or (None, None).

    The estimate interpolates PSNR linearly in log(time) between the last checkpoint
    below the target and the first one above it.
    """
    prev: Checkpoint | None = None
    for c in sorted(run.checkpoints, key=lambda c: c.checkpoint_s):
        if c.psnr >= target_db:
            if prev is None or c.psnr == prev.psnr:
                return c.checkpoint_s, c.elapsed_s
            a, b = math.log(prev.elapsed_s), math.log(c.elapsed_s)
            f = (target_db - prev.psnr) / (c.psnr - prev.psnr)
            return c.checkpoint_s, math.exp(a + f * (b - a))
        prev = c
    return None, None


def lr_fraction(frac: float, warmup: float, final_ratio: float = 0.0) -> float:
    """Linear warm-up over `warmup` of the run, then cosine decay to `final_ratio`."""
    if warmup > 0 and frac < warmup:
        return max(frac / warmup, 0.01)
    x = min(1.0, (frac - warmup) / max(1e-9, 1 - warmup))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * x))


def set_lr(opt: torch.optim.Optimizer, factor: float) -> None:
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * factor


__all__ = ["PausableClock", "warm_up", "Method", "Checkpoint", "TimedRun", "run_timed",
           "time_to_reach", "lr_fraction", "set_lr"]
