"""Fitting an NVTM model to a clip: `fit(model, video_rgb, options)`.

Loss = MSE(rgb) + aux_weight * MSE(alignment flow, optical flow) while the run is
in its first `aux_fraction` (paper: "at the beginning steps"); both flows in
normalised units. By default the reconstruction gradient does not reach the
alignment flow (`flow_grad_scale=0`) and the auxiliary loss stays on for the whole
run: measured on foreman (30 frames, 3 M samples), plain backprop through the
grid lookup lets the flow drift to ~260 px mean displacement (true motion ~6 px),
i.e. the grids stop being temporally coherent, for no PSNR gain (31.07 dB vs
31.38 dB with the default). Adam with three parameter groups (grids, base network,
flow network; grids want ~10x the MLP's learning rate), linear warm-up then cosine
(or exponential) decay. The schedule follows the fraction of the run done, in steps
or in seconds of `time_budget` on the fit's clock (measured from the call, optical
flow included), so a timed run ends annealed. The run's phases (`schedule.plan_phases`):
auxiliary loss, bounds frozen, quantisation-aware fitting (the last `qat_fraction`
sees fake-quantised grids, and weights when `weight_rel_step` is set, with the
bitstream's own quantisers).

A step's loss comes from one of two engines (`fit.engines`): point sets of a GOP for
models without an alignment flow (the encoder's default family; `fit.dense`), random
pixels otherwise. Adaptive normalisation bounds depend on the alignment flow only, so
without a flow they are estimated once; with one they are re-estimated every
`norm_update_every` steps until they freeze.

Checkpoints (`fit.checkpoint`) are written atomically every `checkpoint_every_s` and on
Ctrl-C; `resume=True` continues the same schedule. On CPU, a run with a fixed seed and
`steps` is bit-reproducible on the same machine, and resuming from a checkpoint gives the
same result as not stopping.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from ..compress.quantize import fake_quantize_grid, fake_quantize_weight, weight_step
from ..device import cpu_threads, resolve_device, tf32_matmuls
from ..errors import InputError, Interrupted
from ..metrics.psnr import mse_from_psnr
from ..progress import ProgressLine, bar, eta
from ..model.nvtm import NVTM, pixel_centres
from .checkpoint import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, FitState, load_checkpoint, restore_checkpoint,
                         save_checkpoint)
from .dense import prepare_kernels
from .engines import engine_name, engine_rates, make_engine
from .evaluate import evaluate_psnr, unit_psnr
from .interrupt import StopSignals
from .options import FIT_PRESETS, FitOptions, FitProgress, FitResult, fit_preset
from .regularize import coding_cost_proxy
from .schedule import Phase, codec_refresh_points, lr_factor, phase_at, plan_phases


def _lattice(width: int, height: int, count: int, device: torch.device) -> Tensor:
    """About `count` pixel centres on a regular lattice (deterministic, no RNG)."""
    step = max(1, int(math.sqrt(width * height / max(1, count))))
    xy = pixel_centres(width, height, device).view(height, width, 2)
    return xy[step // 2::step, step // 2::step].reshape(-1, 2)


def _grid_aliases(model: NVTM) -> list[tuple[Tensor, Tensor]]:
    """(parameter, NHWC alias) pairs for the grids.

    Grids are channels-last [N, C, H, W]; the optimizer works on contiguous NHWC
    aliases of the same storage (its fused kernel is ~2.5x slower on strided
    tensors). The lookup's gradients are channels-last too, so handing them over
    is free (see `_hand_over_grads`).
    """
    out = []
    for p in model.grid_tensors().values():
        alias = p.detach().permute(0, 2, 3, 1)
        if not alias.is_contiguous():  # e.g. a grid loaded as packed NCHW
            with torch.no_grad():
                p.data = p.data.contiguous(memory_format=torch.channels_last)
            alias = p.detach().permute(0, 2, 3, 1)
        out.append((p, alias))
    return out


def _hand_over_grads(aliases: list[tuple[Tensor, Tensor]]) -> None:
    for p, alias in aliases:
        g = p.grad
        alias.grad = None if g is None else g.permute(0, 2, 3, 1).contiguous()
        p.grad = None


def _param_groups(model: NVTM, grids: list[Tensor], lr_grid: float, lr_base: float, lr_flow: float) -> list[dict]:
    flow = [p for k, p in model.weight_tensors().items() if k.startswith("flow.")]
    base = [p for k, p in model.weight_tensors().items() if not k.startswith("flow.")]
    groups = [
        {"params": grids, "lr": lr_grid, "base_lr": lr_grid, "name": "grids"},
        {"params": base, "lr": lr_base, "base_lr": lr_base, "name": "base"},
        {"params": flow, "lr": lr_flow, "base_lr": lr_flow, "name": "flow"},
    ]
    return [g for g in groups if g["params"]]


def _qat_substitutes(model: NVTM, opts: FitOptions, phase: Phase, state: FitState) -> dict[str, Tensor] | None:
    """What replaces the model's tensors in one step of `phase`: nothing before QAT; then the
    grids fake-quantised to 8 bits, or as the codec returned them (`_refresh_codec`), and the
    weights fake-quantised at `weight_rel_step`."""
    if not phase.qat:
        return None
    grids = model.grid_tensors()
    if phase.coded and state.codec_exact:
        over = dict(state.codec_tensors)
    elif phase.coded and state.codec_tensors:  # straight through: the grid plus the codec's last error
        over = {k: p + state.codec_tensors[k] for k, p in grids.items()}
    else:
        over = {k: fake_quantize_grid(p, noise=opts.qat_noise) for k, p in grids.items()}
    if opts.weight_rel_step:
        over.update({k: fake_quantize_weight(p, weight_step(p, opts.weight_rel_step))
                     for k, p in model.weight_tensors().items()})
    return over


@torch.no_grad()
def _refresh_codec(model: NVTM, opts: FitOptions, state: FitState, points: list[float], frac: float,
                   clock: Callable[[], float]) -> None:
    """Round-trip the grids through the codec when the run has reached the next refresh point:
    keep the codec's error (straight-through offsets), or, at the last point (the grids freeze
    for the fine-tuning), the decoded grids themselves. A time budget's schedule stops while
    the round trip runs (`FitState.codec_seconds`): at 720p a first round trip (a full rate
    search) took 5-12 s, more than the 10 % of a 60-s budget left for the phases it starts."""
    if opts.grid_codec is None or state.codec_refreshes >= len(points) or frac < points[state.codec_refreshes]:
        return
    while state.codec_refreshes < len(points) and frac >= points[state.codec_refreshes]:
        state.codec_refreshes += 1  # a slow step skips points: one round trip for all of them
    exact = opts.finetune_fraction > 0 and state.codec_refreshes == len(points)
    t0 = clock()
    decoded = opts.grid_codec(model)
    grids = model.grid_tensors()
    state.codec_tensors = decoded if exact else {k: decoded[k] - p.detach() for k, p in grids.items()}
    state.codec_exact = exact
    state.codec_seconds += clock() - t0


class _Reporter:
    """Training-PSNR EMA, history, progress callback and the optional progress line."""

    def __init__(self, opts: FitOptions, state: FitState, clock: Callable[[], float],
                 elapsed: Callable[[], float], fraction: Callable[[int], float],
                 progress: Callable[[FitProgress], None] | None):
        self.opts, self.state, self.clock = opts, state, clock
        self.elapsed, self.fraction, self.progress = elapsed, fraction, progress
        self.ema = None if state.psnr_ema is None else torch.tensor(mse_from_psnr(state.psnr_ema), dtype=torch.float64)
        self.last_prog = self.last_hist = -1e9
        self.line = ProgressLine("fit", enabled=opts.progress_bar)

    def psnr(self) -> float | None:
        return unit_psnr(float(self.ema)) if self.ema is not None else None

    def add_loss(self, mse: Tensor) -> None:
        m = mse.detach().double()
        self.ema = m if self.ema is None else 0.95 * self.ema + 0.05 * m

    def report(self, phase: str, force: bool = False) -> None:
        now = self.clock()
        st = self.state
        ps = self.psnr() or 0.0
        if force or now - self.last_hist >= self.opts.history_every_s:
            st.history.append((st.step, self.elapsed(), ps))
            self.last_hist = now
        if force or now - self.last_prog >= self.opts.progress_every_s:
            self.last_prog = now
            frac, el = self.fraction(st.step), self.elapsed()
            remaining = el * (1 - frac) / frac if frac > 0 else None
            self.line.update(self._line(frac, el, ps), force=force)
            if self.progress is not None:
                self.progress(FitProgress(st.step, self.opts.steps, el, remaining, ps, phase, st.samples))

    def _line(self, frac: float, elapsed: float, psnr: float) -> str:
        """One clock: the wall-clock bar when the time budget drives the fit, steps otherwise."""
        if self.opts.steps is None:
            where = f"{elapsed:.0f}/{self.opts.time_budget:.0f} s, step {self.state.step}"
        else:
            where = f"step {self.state.step}/{self.opts.steps}, {elapsed:.0f} s"
        return f"{bar(frac)} {where}, {psnr:.2f} dB {eta(elapsed, frac)}".rstrip()

    def close(self) -> None:
        self.line.close()


def _check_geometry(model: NVTM, video_rgb: Tensor) -> None:
    T, H, W = (int(s) for s in video_rgb.shape[:3])
    if (W, H, T) != (model.width, model.height, model.frames):
        raise InputError(f"clip is {W}x{H}x{T} but the model was built for "
                         f"{model.width}x{model.height}x{model.frames}")


class _Run:
    """One fit in progress: the model on its device, the optimizer, the loop state, the engine,
    the schedule and the clock; `train` runs the steps, `result` measures the final model."""

    def __init__(self, model: NVTM, video_rgb: Tensor, opts: FitOptions, mask: Tensor | None,
                 progress: Callable[[FitProgress], None] | None):
        self.opts, self.model = opts, model
        self.clock = opts.clock or time.perf_counter
        _check_geometry(model, video_rgb)
        self.dev = dev = resolve_device(opts.device)
        prepare_kernels(model, dev)  # a first-use compile is not fitting time
        _import_optimizer_machinery()  # nor is a first-use import
        self.t_start = self.clock()
        model.to(dev)
        model.train()
        model.fused_chunk = opts.fused_chunk or (1024 if dev.type == "cpu" else 1 << 16)
        model.flow_grad_scale = opts.flow_grad_scale
        self.video = video_rgb.to(dev)
        self.gen = torch.Generator(device=dev).manual_seed(opts.seed)
        self.kind = engine_name(model, opts)
        self.aliases = _grid_aliases(model)
        lr_grid, lr_base = engine_rates(self.kind, opts)
        self.opt = torch.optim.Adam(_param_groups(model, [a for _, a in self.aliases], lr_grid, lr_base, opts.lr_flow),
                                    betas=opts.betas, eps=opts.eps,
                                    **({"fused": True} if dev.type in ("cpu", "cuda") else {}))
        self.ckpt = opts.checkpoint_path
        resumed = bool(opts.resume and self.ckpt and Path(self.ckpt).exists())
        if resumed:
            self.state = restore_checkpoint(self.ckpt, model, self.opt, self.gen)
        else:
            self.state = FitState()
            with torch.no_grad():  # start the output at the clip's mean colour
                model.base.out_b.copy_(mean_colour(self.video))
        self.resumed_from = self.state.step if resumed else None
        use_aux = opts.aux_weight > 0 and opts.aux_fraction > 0 and model.flow is not None
        need_targets = use_aux and (opts.steps is None or self.state.step < opts.aux_fraction * opts.steps)
        self.engine = make_engine(self.kind, model, self.video, opts, self.gen,
                                  None if mask is None else mask.to(dev), need_targets)
        self.phases = plan_phases(opts, use_aux)
        self.refresh_points = codec_refresh_points(self.phases, opts.codec_refreshes)
        self.lattice = _lattice(model.width, model.height, opts.norm_points, dev)
        self.elapsed0 = self.state.elapsed
        self.reporter = _Reporter(opts, self.state, self.clock, self.elapsed, self.fraction, progress)
        self.rng_at_step = self.gen.get_state()

    def elapsed(self) -> float:
        return self.elapsed0 + self.clock() - self.t_start

    def fraction(self, s: int) -> float:
        opts = self.opts
        f = s / opts.steps if opts.steps else 0.0
        if opts.time_budget:
            f = max(f, (self.elapsed() - self.state.codec_seconds) / opts.time_budget)
        return min(f, 1.0) if opts.steps != 0 else 1.0

    def save(self) -> None:
        if self.ckpt:
            self.state.elapsed, self.state.psnr_ema = self.elapsed(), self.reporter.psnr()
            save_checkpoint(self.ckpt, self.model, self.opt, self.state, self.rng_at_step, self.opts.seed)

    def update_bounds(self, phase: Phase) -> None:
        model, state = self.model, self.state
        if model.config.normalization == "clip" or state.norm_frozen:
            return
        if model.flow is None:  # the bounds depend on the flow alone: once is enough
            model.norm_bounds.copy_(model.estimate_bounds(self.lattice))
            state.norm_frozen = True
        elif state.step > 0 and state.step % self.opts.norm_update_every == 0:
            if phase.bounds_frozen:
                state.norm_frozen = True
            else:
                model.norm_bounds.copy_(model.estimate_bounds(self.lattice))

    def step(self, frac: float) -> Phase:
        """One optimizer step at fraction `frac` of the run."""
        model, opts, state = self.model, self.opts, self.state
        lr = lr_factor(frac, opts)
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * lr
        phase = phase_at(self.phases, frac)
        self.update_bounds(phase)
        _refresh_codec(model, opts, state, self.refresh_points, frac, self.clock)
        mse, total, samples = self.engine.loss(model, _qat_substitutes(model, opts, phase, state), phase.aux)
        every = opts.regularize_every
        if (opts.grid_smoothness or opts.grid_steadiness) and not phase.grids_frozen and state.step % every == 0:
            total = total + coding_cost_proxy(list(model.latent), list(model.static), every * opts.grid_smoothness,
                                              every * opts.grid_steadiness)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        _hand_over_grads(self.aliases)
        with self.engine.update_threads():
            self.opt.step()
        state.step += 1
        state.samples += samples
        self.reporter.add_loss(mse)
        return phase

    def train(self) -> Phase:
        """Steps until the run's fraction reaches 1; a Ctrl-C / SIGTERM saves the checkpoint
        (the state after the last completed step) and raises Interrupted."""
        phase, in_step = self.phases[0], False
        last_ckpt = self.clock()
        try:
            with StopSignals() as stop, tf32_matmuls(self.dev.type == "cuda" and self.opts.tf32), \
                    self.engine.fitting_threads():
                while (frac := self.fraction(self.state.step)) < 1.0:
                    self.rng_at_step = self.gen.get_state()
                    in_step = True
                    phase = self.step(frac)
                    in_step = False
                    self.reporter.report(phase.name)
                    if stop.hit:
                        raise KeyboardInterrupt
                    if self.ckpt and self.clock() - last_ckpt >= self.opts.checkpoint_every_s:
                        self.rng_at_step = self.gen.get_state()
                        self.save()
                        last_ckpt = self.clock()
        except KeyboardInterrupt:
            # the state is the one after `step` completed steps (an interrupt inside a step
            # discards that step: parameters only change in opt.step(), and a Ctrl-C landing
            # there is deferred by the stop flag)
            if not in_step:
                self.rng_at_step = self.gen.get_state()
            at = self.state.step
            if self.ckpt:
                self.save()
                raise Interrupted(f"fitting interrupted at step {at}; checkpoint saved to {self.ckpt}",
                                  checkpoint=self.ckpt) from None
            raise Interrupted(f"fitting interrupted at step {at} (no checkpoint path was set)") from None
        finally:
            self.reporter.close()
        return phase

    def result(self, phase: Phase) -> FitResult:
        self.rng_at_step = self.gen.get_state()
        self.reporter.report(phase.name, force=True)
        self.reporter.close()
        seconds = self.elapsed()
        self.save()
        self.model.eval()
        final = evaluate_psnr(self.model, self.video, max_pixels=self.opts.eval_pixels, seed=self.opts.seed + 1)
        T, H, W = (int(s) for s in self.video.shape[:3])
        st = self.state
        return FitResult(steps=st.step, seconds=seconds, psnr=final, history=st.history,
                         resumed_from=self.resumed_from, engine=self.kind, samples=st.samples, clip_samples=T * H * W)


def _import_optimizer_machinery() -> None:
    """Import what torch imports the first time an optimizer is built (torch._dynamo, for the
    optimizers' compile guards): 1.7-2.3 s on the 2-core CI-class VM, which was charged to the
    fit's time budget (2 % of a 120-s encode's steps at 720p, a third of a 6-s one)."""
    import torch._dynamo  # noqa: F401


def mean_colour(video_rgb: torch.Tensor) -> torch.Tensor:
    """The clip's mean RGB in [0, 1], summed a frame and a channel at a time in integers (exact,
    and no float copy of the clip: that copy was the fit's peak memory on long segments; one
    channel's sum over a frame is ~4x faster than the three-column reduction, which took 0.35 s
    of the fit's budget for a 30-frame 720p clip)."""
    sums = sum(torch.stack([frame[..., c].sum(dtype=torch.int64) for c in range(frame.shape[-1])])
               for frame in video_rgb)
    return sums.to(torch.float32) / (video_rgb[0].numel() // 3 * len(video_rgb)) / 255.0


def fit(model: NVTM, video_rgb: Tensor, options: FitOptions, *, mask: Tensor | None = None,
        progress: Callable[[FitProgress], None] | None = None) -> FitResult:
    """Fit `model` to video_rgb [T, H, W, 3] uint8 in place (the model stays on the
    fitting device). mask: optional bool [T, H, W], True = pixel not used."""
    opts = options.validate()
    run = _Run(model, video_rgb, opts, mask, progress)
    with cpu_threads(opts.threads):
        phase = run.train()
    with cpu_threads(opts.threads):
        return run.result(phase)


__all__ = ["FitOptions", "FitProgress", "FitResult", "FIT_PRESETS", "fit_preset", "fit", "evaluate_psnr",
           "load_checkpoint", "lr_factor", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]
