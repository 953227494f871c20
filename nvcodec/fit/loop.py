"""Fitting an NVTM model to a clip: `fit(model, video_rgb, options)`.

Loss = MSE(rgb) + aux_weight * MSE(alignment flow, optical flow) while the run is
in its first `aux_fraction` (paper: "at the beginning steps"); both flows in
normalised units. By default the reconstruction gradient does not reach the
alignment flow (`flow_grad_scale=0`) and the auxiliary loss stays on for the whole
run: measured on foreman (30 frames, 3 M samples), plain backprop through the
grid lookup lets the flow drift to ~260 px mean displacement (true motion ~6 px),
i.e. the grids stop being temporally coherent, for no PSNR gain (31.07 dB vs
31.38 dB with the default). Adam with three
parameter groups (grids, base network, flow network; grids want ~10x the MLP's
learning rate), linear warm-up then cosine (or exponential) decay. The schedule
follows the fraction of the run done, in steps or in wall-clock seconds of
`time_budget` (measured from the call, optical flow included), so a timed run ends
annealed. Adaptive normalisation bounds are re-estimated every
`norm_update_every` steps without gradient, then frozen for the last part of the
run. The last `qat_fraction` of the run sees fake-quantised grids (and weights
when `weight_rel_step` is set), with the bitstream's own quantisers.

Checkpoints (model tensors, optimizer, step, elapsed time, RNG state) are written
atomically every `checkpoint_every_s` and on Ctrl-C; `resume=True` continues the
same schedule. On CPU, a run with a fixed seed and `steps` is bit-reproducible,
and resuming from a checkpoint gives the same result as not stopping.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from ..compress.quantize import fake_quantize_grid, fake_quantize_weight, weight_step
from ..errors import BitstreamError, InputError, Interrupted
from ..model.nvtm import NVTM, pixel_centres
from .optical_flow import FlowTargets, compute_flow_targets
from .sampler import PixelSampler

CHECKPOINT_FORMAT = "nvcodec-fit-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class FitOptions:
    """How to fit. At least one of `steps` and `time_budget` must be set; with both,
    the run ends at whichever comes first and the schedule follows the larger
    fraction done."""

    steps: int | None = None
    time_budget: float | None = None  # wall-clock seconds, from the call of fit()
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    seed: int = 0
    frames_per_batch: int = 8  # small batches, many steps: best PSNR per second on CPU
    pixels_per_frame: int = 256
    lr_grid: float = 3e-2  # grids want ~30x the base network's rate (Instant-NGP-like)
    lr_base: float = 1e-3
    lr_flow: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-15
    warmup_fraction: float = 0.02
    final_lr_ratio: float = 0.05
    schedule: str = "cosine"  # "cosine" | "exp"
    aux_weight: float = 0.5
    # The alignment flow learns from the optical flow only (flow_grad_scale=0) for the
    # whole run (aux_fraction=1). With the reconstruction gradient reaching it
    # (flow_grad_scale=1, aux only early as in the paper's text) the flow drifts to
    # ~40x the true motion within a few thousand steps (a hash-like use of the
    # grids), for no PSNR gain; see the fitting report in the module doc.
    aux_fraction: float = 1.0
    flow_grad_scale: float = 0.0  # reconstruction gradient into the alignment flow (1: plain backprop)
    flow_preset: str = "medium"  # DIS preset: ultrafast | fast | medium
    flow_stride: int = 2  # optical flow kept at 1/stride resolution
    norm_update_every: int = 50  # steps between normalisation-bound updates
    norm_points: int = 4096  # lattice points per frame used for the bounds
    norm_freeze_fraction: float = 0.75  # bounds frozen after this fraction of the run
    qat_fraction: float = 0.0
    qat_noise: bool = False  # uniform noise instead of rounding for the grids
    weight_rel_step: float | None = None  # weight QAT step = rel_step * RMS (None: off)
    checkpoint_path: str | None = None
    checkpoint_every_s: float = 300.0
    resume: bool = False
    progress_every_s: float = 1.0  # progress callback period (0: every step)
    progress_bar: bool = False  # tqdm on stderr
    history_every_s: float = 1.0
    eval_pixels: int | None = 1 << 18  # final PSNR on this many random pixels (None: all)
    fused_chunk: int | None = None  # rows per fused chunk (None: 1024 on CPU, 65536 on CUDA)
    tf32: bool = False  # CUDA only: allow TF32 matmuls during the fit
    threads: int | None = None  # CPU: torch intra-op threads during the fit (None: unchanged).
    # On a CPU shared with other busy processes, 1 thread can be several times faster
    # than 2 (OpenMP barriers wait for descheduled threads at every op).

    def validate(self) -> "FitOptions":
        if self.steps is None and self.time_budget is None:
            raise InputError("fit needs a number of steps or a time budget")
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps < 0):
            raise InputError(f"steps must be >= 0, got {self.steps}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise InputError(f"time budget must be > 0, got {self.time_budget}")
        if self.schedule not in ("cosine", "exp"):
            raise InputError(f"unknown schedule {self.schedule!r}")
        for name in ("aux_fraction", "qat_fraction", "warmup_fraction", "norm_freeze_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {v}")
        if self.frames_per_batch < 1 or self.pixels_per_frame < 1:
            raise InputError("batch sizes must be positive")
        return self


@dataclass
class FitProgress:
    step: int
    total_steps: int | None
    elapsed: float
    remaining: float | None  # seconds, estimated
    psnr: float  # training PSNR (EMA over batches)
    phase: str  # "aux" | "main" | "qat"


@dataclass
class FitResult:
    steps: int
    seconds: float
    psnr: float  # RGB PSNR of the final model (eval_pixels sample or full clip)
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, train PSNR)
    resumed_from: int | None = None


def _resolve_device(name: str) -> torch.device:
    try:
        from ..device import resolve_device  # the CLI's rule, when present
        return resolve_device(name)
    except ImportError:  # pragma: no cover - only before nvcodec.device exists
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(name)


def lr_factor(frac: float, opts: FitOptions) -> float:
    """Learning-rate multiplier at fraction `frac` of the run."""
    w = opts.warmup_fraction
    if w > 0 and frac < w:
        return max(frac / w, 0.01)
    x = 0.0 if w >= 1 else min(1.0, (frac - w) / (1 - w))
    r = opts.final_lr_ratio
    if opts.schedule == "exp":
        return r ** x
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * x))


def _lattice(width: int, height: int, count: int, device: torch.device) -> Tensor:
    """About `count` pixel centres on a regular lattice (deterministic, no RNG)."""
    step = max(1, int(math.sqrt(width * height / max(1, count))))
    xy = pixel_centres(width, height, device).view(height, width, 2)
    return xy[step // 2::step, step // 2::step].reshape(-1, 2)


def _psnr(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def evaluate_psnr(model: NVTM, video_rgb: Tensor, *, device: torch.device | str | None = None,
                  tile_pixels: int = 1 << 16, max_pixels: int | None = None, seed: int = 0,
                  frames: list[int] | None = None) -> float:
    """RGB PSNR (outputs clamped to [0, 1]) of the model against the clip.

    max_pixels=None renders every pixel of every frame (or of `frames`) in tiles of
    `tile_pixels` (bounded memory); otherwise a seeded uniform sample of pixels.
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    T, H, W = (int(s) for s in video_rgb.shape[:3])
    flat = video_rgb.reshape(T, H * W, 3)
    frames = list(range(T)) if frames is None else frames
    sq, count = 0.0, 0
    if max_pixels is not None and max_pixels < len(frames) * H * W:
        gen = torch.Generator().manual_seed(seed)
        per = max(1, max_pixels // len(frames))
        for f in frames:
            pix = torch.randint(0, H * W, (per,), generator=gen).sort().values
            for c0 in range(0, per, tile_pixels):
                p = pix[c0:c0 + tile_pixels]
                sq, count = _accumulate(model, flat, f, p, W, H, dev, sq, count)
        return _psnr(sq / max(1, count))
    for f in frames:
        for c0 in range(0, H * W, tile_pixels):
            p = torch.arange(c0, min(H * W, c0 + tile_pixels))
            sq, count = _accumulate(model, flat, f, p, W, H, dev, sq, count)
    return _psnr(sq / max(1, count))


def _accumulate(model: NVTM, flat: Tensor, f: int, p: Tensor, W: int, H: int, dev: torch.device,
                sq: float, count: int) -> tuple[float, int]:
    xs = (p % W).float() + 0.5
    ys = torch.div(p, W, rounding_mode="floor").float() + 0.5
    xy = torch.stack([xs / W, ys / H], dim=-1).to(dev).unsqueeze(0)
    t = torch.tensor([float(f)], device=dev)
    rgb = model.forward_frames(xy, t)[0].clamp_(0.0, 1.0)
    ref = flat[f, p.to(flat.device)].to(dev).float().mul_(1.0 / 255.0)
    sq += float(torch.sum((rgb - ref) ** 2, dtype=torch.float64))
    return sq, count + rgb.numel()


class _Sigint:
    """Turn the first Ctrl-C (or SIGTERM, what `kill` and job schedulers send) into a flag
    checked between steps (a consistent state to checkpoint); a second one interrupts at
    once. Main thread only."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.hit = False
        self._old: dict = {}

    def __enter__(self) -> "_Sigint":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except ValueError:  # pragma: no cover
                    pass
        return self

    def _handle(self, signum, frame) -> None:  # pragma: no cover - exercised manually
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


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


def _param_groups(model: NVTM, opts: FitOptions, grids: list[Tensor]) -> list[dict]:
    flow = [p for k, p in model.weight_tensors().items() if k.startswith("flow.")]
    base = [p for k, p in model.weight_tensors().items() if not k.startswith("flow.")]
    groups = [
        {"params": grids, "lr": opts.lr_grid, "base_lr": opts.lr_grid, "name": "grids"},
        {"params": base, "lr": opts.lr_base, "base_lr": opts.lr_base, "name": "base"},
        {"params": flow, "lr": opts.lr_flow, "base_lr": opts.lr_flow, "name": "flow"},
    ]
    return [g for g in groups if g["params"]]


def _save_checkpoint(path: str, model: NVTM, opt: torch.optim.Optimizer, step: int, elapsed: float,
                     rng: Tensor, history: list, psnr_ema: float, norm_frozen: bool,
                     opts: FitOptions) -> None:
    from ..fsutil import atomic_path

    state = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": step,
        "elapsed": elapsed,
        "model": {k: v.detach().cpu() for k, v in model.all_tensors().items()},
        "optimizer": opt.state_dict(),
        "rng": rng.cpu(),
        "history": [list(h) for h in history],
        "psnr_ema": psnr_ema,
        "norm_frozen": norm_frozen,
        "config": model.config.to_dict(),
        "geometry": [model.width, model.height, model.frames],
        "seed": opts.seed,
    }
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
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


def fit(model: NVTM, video_rgb: Tensor, options: FitOptions, *, mask: Tensor | None = None,
        progress: Callable[[FitProgress], None] | None = None) -> FitResult:
    """Fit `model` to video_rgb [T, H, W, 3] uint8 in place (the model stays on the
    fitting device). mask: optional bool [T, H, W], True = pixel not used."""
    t_start = time.perf_counter()
    opts = options.validate()
    T, H, W = (int(s) for s in video_rgb.shape[:3])
    if (W, H, T) != (model.width, model.height, model.frames):
        raise InputError(f"clip is {W}x{H}x{T} but the model was built for "
                         f"{model.width}x{model.height}x{model.frames}")
    dev = _resolve_device(opts.device)
    model.to(dev)
    model.train()
    model.fused_chunk = opts.fused_chunk or (1024 if dev.type == "cpu" else 1 << 16)
    model.flow_grad_scale = opts.flow_grad_scale
    video = video_rgb.to(dev)
    gen = torch.Generator(device=dev).manual_seed(opts.seed)
    sampler = PixelSampler(video, opts.frames_per_batch, opts.pixels_per_frame, gen,
                           None if mask is None else mask.to(dev))
    aliases = _grid_aliases(model)
    opt = torch.optim.Adam(_param_groups(model, opts, [a for _, a in aliases]), betas=opts.betas, eps=opts.eps,
                           **({"fused": True} if dev.type in ("cpu", "cuda") else {}))

    step, elapsed0, history, psnr_ema, norm_frozen = 0, 0.0, [], None, False
    resumed_from = None
    ckpt = opts.checkpoint_path
    if opts.resume and ckpt and Path(ckpt).exists():
        st = load_checkpoint(ckpt)
        if st.get("geometry") != [W, H, T] or st.get("config") != model.config.to_dict():
            raise InputError(f"checkpoint {ckpt} belongs to another model or clip")
        try:
            model.load_tensors(st["model"])
            opt.load_state_dict(st["optimizer"])
            gen.set_state(st["rng"])
            step, elapsed0 = int(st["step"]), float(st["elapsed"])
            history = [tuple(h) for h in st["history"]]
            psnr_ema, norm_frozen = st["psnr_ema"], bool(st["norm_frozen"])
            if psnr_ema is not None:
                psnr_ema = float(psnr_ema)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError, BitstreamError) as e:
            raise InputError(f"checkpoint {ckpt} is damaged ({type(e).__name__}: {e})".splitlines()[0]) from None
        resumed_from = step
    else:
        with torch.no_grad():  # start the output at the clip's mean colour
            model.base.out_b.copy_(video.reshape(-1, 3).float().mean(0) / 255.0)
    cfg = model.config

    use_aux = opts.aux_weight > 0 and opts.aux_fraction > 0 and model.flow is not None
    targets: FlowTargets | None = None
    if use_aux and (opts.steps is None or step < opts.aux_fraction * opts.steps):
        targets = compute_flow_targets(video, cfg.gop_size, cfg.neighbors, preset=opts.flow_preset,
                                       stride=opts.flow_stride, device=dev)
    lattice = _lattice(W, H, opts.norm_points, dev)

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t_start

    def fraction(s: int) -> float:
        f = 0.0
        if opts.steps:
            f = s / opts.steps
        if opts.time_budget:
            f = max(f, elapsed() / opts.time_budget)
        return min(f, 1.0) if opts.steps != 0 else 1.0

    bar = None
    if opts.progress_bar:
        try:
            from tqdm import tqdm
            bar = tqdm(total=opts.steps, initial=step, file=sys.stderr, unit="step", dynamic_ncols=True,
                       leave=False)
        except ImportError:  # pragma: no cover
            bar = None

    last_ckpt = time.perf_counter()
    last_prog = -1e9
    last_hist = -1e9
    ema = None if psnr_ema is None else torch.tensor(10 ** (-psnr_ema / 10), dtype=torch.float64)
    rng_at_step = gen.get_state()
    in_step = False
    phase = "main"
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    if dev.type == "cuda" and opts.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    prev_threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)

    def save() -> None:
        if ckpt:
            _save_checkpoint(ckpt, model, opt, step, elapsed(), rng_at_step, history,
                             _psnr(float(ema)) if ema is not None else None, norm_frozen, opts)

    def report(force: bool = False) -> None:
        nonlocal last_prog, last_hist
        now = time.perf_counter()
        ps = _psnr(float(ema)) if ema is not None else 0.0
        if force or now - last_hist >= opts.history_every_s:
            history.append((step, elapsed(), ps))
            last_hist = now
        if force or now - last_prog >= opts.progress_every_s:
            last_prog = now
            frac = fraction(step)
            el = elapsed()
            remaining = el * (1 - frac) / frac if frac > 0 else None
            info = FitProgress(step, opts.steps, el, remaining, ps, phase)
            if bar is not None:
                bar.n = step
                bar.set_postfix_str(f"{ps:.2f} dB {el:.0f}s" + (f" ~{remaining:.0f}s left" if remaining else ""))
                bar.refresh()
            if progress is not None:
                progress(info)

    try:
        with _Sigint() as sigint:
            while True:
                frac = fraction(step)
                if frac >= 1.0:
                    break
                rng_at_step = gen.get_state()
                in_step = True
                lr = lr_factor(frac, opts)
                for g in opt.param_groups:
                    g["lr"] = g["base_lr"] * lr
                qat = opts.qat_fraction > 0 and frac >= 1 - opts.qat_fraction
                aux = targets is not None and frac < opts.aux_fraction
                phase = "qat" if qat else ("aux" if aux else "main")
                if (cfg.normalization != "clip" and not norm_frozen and step > 0
                        and step % opts.norm_update_every == 0):
                    if qat or frac >= opts.norm_freeze_fraction:
                        norm_frozen = True
                    else:
                        model.norm_bounds.copy_(model.estimate_bounds(lattice))
                batch = sampler.next()
                if qat:
                    over = {k: fake_quantize_grid(p, noise=opts.qat_noise)
                            for k, p in model.grid_tensors().items()}
                    if opts.weight_rel_step:
                        over.update({k: fake_quantize_weight(p, weight_step(p, opts.weight_rel_step))
                                     for k, p in model.weight_tensors().items()})
                    loss, flow = torch.func.functional_call(model, over, (batch.xy, batch.t),
                                                            {"target": batch.rgb})
                else:
                    loss, flow = model.fit_loss(batch.xy, batch.t, batch.rgb)
                total = loss
                if aux:
                    of, wgt = targets.lookup(batch.frames, batch.pixels)
                    aux_loss = ((flow - of).square() * wgt).sum() / (wgt.sum() * flow.shape[1]).clamp(min=1)
                    total = total + opts.aux_weight * aux_loss
                opt.zero_grad(set_to_none=True)
                total.backward()
                _hand_over_grads(aliases)
                opt.step()
                step += 1
                mse = loss.detach().double()
                ema = mse if ema is None else 0.95 * ema + 0.05 * mse
                in_step = False
                report()
                if sigint.hit:
                    raise KeyboardInterrupt
                if ckpt and time.perf_counter() - last_ckpt >= opts.checkpoint_every_s:
                    rng_at_step = gen.get_state()
                    save()
                    last_ckpt = time.perf_counter()
    except KeyboardInterrupt:
        # the state is the one after `step` completed steps (an interrupt inside a
        # step discards that step: parameters only change in opt.step(), and a
        # Ctrl-C landing there is deferred by the SIGINT flag)
        if not in_step:
            rng_at_step = gen.get_state()
        if ckpt:
            save()
            raise Interrupted(f"fitting interrupted at step {step}; checkpoint saved to {ckpt}") from None
        raise Interrupted(f"fitting interrupted at step {step} (no checkpoint path was set)") from None
    finally:
        if bar is not None:
            bar.close()
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32
        torch.set_num_threads(prev_threads)

    rng_at_step = gen.get_state()
    report(force=True)
    seconds = elapsed()
    if ckpt:
        save()
    model.eval()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        final = evaluate_psnr(model, video, max_pixels=opts.eval_pixels, seed=opts.seed + 1)
    finally:
        torch.set_num_threads(prev_threads)
    return FitResult(steps=step, seconds=seconds, psnr=final, history=history, resumed_from=resumed_from)


__all__ = ["FitOptions", "FitProgress", "FitResult", "fit", "evaluate_psnr", "load_checkpoint",
           "lr_factor"]
