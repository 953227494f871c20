"""The two ways a step computes its loss: random pixels of random frames (`PixelEngine`, any
model) or point sets of a GOP (`DenseEngine`, models without an alignment flow; `fit.dense`).

Both give the mean squared error over the samples they drew (and the per-pixel engine adds
the auxiliary optical-flow loss while it is on); `substitutes` replace model tensors by name
for one step (the fake-quantised grids and weights of quantisation-aware fitting).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import ContextManager, Iterator, Protocol

import torch
from torch import Tensor

from .. import native
from ..device import cpu_threads
from ..errors import InputError
from ..model.nvtm import NVTM
from .dense import PointSetSampler, dense_loss, gather_batch, pixel_major, runs_native, supports_dense
from .inbetween import midpoint_targets
from .optical_flow import FlowTargets, compute_flow_targets
from .options import FitOptions
from .sampler import PixelSampler


class Engine(Protocol):
    name: str

    def loss(self, model: NVTM, substitutes: dict[str, Tensor] | None, aux: bool) -> tuple[Tensor, Tensor, int]:
        """(reconstruction MSE, total loss to minimise, pixel samples in the batch)."""
        ...

    def fitting_threads(self) -> ContextManager[None]:
        """The CPU threading the steps run under (entered around the fitting loop)."""
        ...

    def update_threads(self) -> ContextManager[None]:
        """The CPU threading of the optimizer's update (entered around each `opt.step()`)."""
        ...


class PixelEngine:
    """F random frames x P random pixels per step (`PixelSampler`); the optical-flow targets of
    the auxiliary loss when the model has an alignment flow."""

    name = "pixel"

    def __init__(self, model: NVTM, video: Tensor, opts: FitOptions, gen: torch.Generator,
                 mask: Tensor | None, need_targets: bool):
        self.sampler = PixelSampler(video, opts.frames_per_batch, opts.pixels_per_frame, gen, mask)
        self.aux_weight = opts.aux_weight
        self.targets: FlowTargets | None = None
        if need_targets:
            cfg = model.config
            self.targets = compute_flow_targets(video, cfg.gop_size, cfg.neighbors, preset=opts.flow_preset,
                                                stride=opts.flow_stride, device=video.device)

    def fitting_threads(self) -> ContextManager[None]:
        return contextlib.nullcontext()

    def update_threads(self) -> ContextManager[None]:
        return contextlib.nullcontext()

    def loss(self, model: NVTM, substitutes: dict[str, Tensor] | None, aux: bool) -> tuple[Tensor, Tensor, int]:
        batch = self.sampler.next()
        if substitutes:
            mse, flow = torch.func.functional_call(model, substitutes, (batch.xy, batch.t), {"target": batch.rgb})
        else:
            mse, flow = model.fit_loss(batch.xy, batch.t, batch.rgb)
        total = mse
        if aux and self.targets is not None:
            of, wgt = self.targets.lookup(batch.frames, batch.pixels)
            aux_loss = ((flow - of).square() * wgt).sum() / (wgt.sum() * flow.shape[1]).clamp(min=1)
            total = total + self.aux_weight * aux_loss
        return mse, total, batch.rgb.shape[0] * batch.rgb.shape[1]


#: Grid values from which the dense engine's optimizer update runs on the kernels' threads. The
#: fitting step with the update on one thread instead of two, 2-core VM, in-process A/B, two
#: runs (benchmarks/results/step_threads): 1.04-1.15x at 0.2 and 0.75 M grid values (CIF at
#: 0.1 and 0.3 bpp), 1.01-1.06x at 0.55 M (a 360x240 crop at 0.3 bpp), 0.97-1.01x at 1.2 M
#: (720p at 0.1 bpp), 0.92-0.96x at 4 M (720p at 0.3 bpp).
PARALLEL_UPDATE_VALUES = 1_000_000


class DenseEngine:
    """`sets_per_step` sets of `points_per_set` random pixels x `frames_per_set` frames of one GOP
    per step (`fit.dense`). A mask is a per-sample weight; frames with no pixel left are never
    drawn.

    Where the C kernels run, the fitting loop gives them torch's thread count and runs torch's
    own ops on one thread: torch's idle intra-op threads would spin on the cores the kernels'
    threads need, the ops between the kernel calls are too small to gain from a second thread,
    and the fit's torch ops then do not depend on the thread count. (The speed gain was within
    the VM's noise: benchmarks/RESULTS.md, thirteenth session.)"""

    name = "dense"

    def __init__(self, model: NVTM, video: Tensor, opts: FitOptions, gen: torch.Generator, mask: Tensor | None):
        T, H, W = (int(s) for s in video.shape[:3])
        self.by_pixel = pixel_major(video)
        keep = None if mask is None else ~mask.to(video.device, torch.bool)
        valid = None if keep is None else keep.reshape(T, -1).any(1).nonzero().squeeze(1).tolist()
        self.keep = None if keep is None else pixel_major(keep)
        self.sampler = PointSetSampler(W, H, T, model.config.gop_size, opts.points_per_set, opts.frames_per_set,
                                       opts.sets_per_step, gen, valid)
        self.chunk = model.fused_chunk
        self.native = runs_native(model, video.device)
        self.grid_values = sum(p.numel() for p in model.grid_tensors().values())
        self.inbetween = InBetween(video, model.config.gop_size, opts, gen, self.native) \
            if opts.inbetween_weight > 0 and mask is None and T > 1 else None

    @contextlib.contextmanager
    def fitting_threads(self) -> Iterator[None]:
        if not self.native:
            yield
            return
        with native.threads_for_kernels(torch.get_num_threads()), cpu_threads(1):
            yield

    def update_threads(self) -> ContextManager[None]:
        """The kernels' threads for the update of large grids; one thread below
        `PARALLEL_UPDATE_VALUES` (waking torch's second thread, and that core reading half of the
        grids into its cache, cost more than it saved there)."""
        parallel = self.native and self.grid_values >= PARALLEL_UPDATE_VALUES
        return cpu_threads(native.threads()) if parallel else contextlib.nullcontext()

    def loss(self, model: NVTM, substitutes: dict[str, Tensor] | None, aux: bool) -> tuple[Tensor, Tensor, int]:
        batch = gather_batch(self.by_pixel, self.sampler.next(), self.keep, floats=not self.native)
        mse = dense_loss(model, batch, substitutes, self.chunk)
        samples = sum(t.samples for t in batch.sets)
        if self.inbetween is None:
            return mse, mse, samples
        between, n = self.inbetween.loss(model, substitutes, self.chunk)
        return mse, mse + self.inbetween.weight * between, samples + n


class InBetween:
    """Point sets at t + 1/2 against the motion-compensated in-between frames (`fit.inbetween`):
    mid-frame t lies in the GOP of frame t, so a set shares its GOP's latent as a frame's does."""

    def __init__(self, video: Tensor, gop: int, opts: FitOptions, gen: torch.Generator, native: bool):
        T, H, W = (int(s) for s in video.shape[:3])
        self.native = native
        self.mids = pixel_major(midpoint_targets(video))
        self.sampler = PointSetSampler(W, H, T - 1, gop, opts.points_per_set, opts.frames_per_set,
                                       opts.inbetween_sets, gen)
        self.weight = opts.inbetween_weight

    def loss(self, model: NVTM, substitutes: dict[str, Tensor] | None, chunk: int) -> tuple[Tensor, int]:
        sets = self.sampler.next()
        batch = gather_batch(self.mids, sets, floats=not self.native)
        batch.sets = [dataclasses.replace(s, frames=tuple(f + 0.5 for f in s.frames)) for s in sets]
        return dense_loss(model, batch, substitutes, chunk), sum(s.samples for s in sets)


def engine_name(model: NVTM, opts: FitOptions) -> str:
    """The engine `opts.engine` asks for: "dense" or "pixel" ("auto": dense when the model allows it)."""
    dense_ok = supports_dense(model)
    if opts.engine == "dense" and not dense_ok:
        raise InputError("the dense fitting engine needs a model without an alignment flow whose latent "
                         "is a modulation; use engine='pixel' (or 'auto')")
    return "dense" if opts.engine == "dense" or (opts.engine == "auto" and dense_ok) else "pixel"


def engine_rates(name: str, opts: FitOptions) -> tuple[float, float]:
    """(grid, base network) learning rates of engine `name`."""
    return (opts.dense_lr_grid, opts.dense_lr_base) if name == "dense" else (opts.lr_grid, opts.lr_base)


def make_engine(name: str, model: NVTM, video: Tensor, opts: FitOptions, gen: torch.Generator,
                mask: Tensor | None, need_targets: bool) -> Engine:
    if name == "dense":
        return DenseEngine(model, video, opts, gen, mask)
    return PixelEngine(model, video, opts, gen, mask, need_targets)


__all__ = ["Engine", "PixelEngine", "DenseEngine", "engine_name", "engine_rates", "make_engine"]
