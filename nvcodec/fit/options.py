"""What a fit is asked to do (`FitOptions`), what it reports while running and at the end, and
the named recipes (`FIT_PRESETS`) that callers start from instead of spelling out overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import InputError

ENGINES = ("auto", "dense", "pixel")


@dataclass
class FitOptions:
    """How to fit. At least one of `steps` and `time_budget` must be set; with both,
    the run ends at whichever comes first and the schedule follows the larger
    fraction done."""

    steps: int | None = None
    time_budget: float | None = None  # wall-clock seconds from the call of fit(), codec round trips not counted
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    seed: int = 0
    # "dense": point sets, random pixels seen in several frames of one GOP (`fit.dense`; models
    # without an alignment flow); "pixel": random pixels of random frames (any model); "auto":
    # dense where it applies (2.3-3.5x the samples per second of the previous encoder's pixel
    # engine, +2.6 to +3.2 dB with the rest of the fifth session's changes: benchmarks/RESULTS.md).
    engine: str = "auto"
    # per-pixel engine: small batches, many steps (best PSNR per second on CPU for that engine)
    frames_per_batch: int = 8
    pixels_per_frame: int = 256
    # dense engine: `sets_per_step` sets of `points_per_set` pixels x `frames_per_set` frames
    # (~38 k samples per step on a 47-frame clip; 256-2048 points and 4-16 sets within noise)
    points_per_set: int = 512
    sets_per_step: int = 8
    frames_per_set: int = 10
    # in-between times (`fit.inbetween`): each dense step also fits `inbetween_sets` point sets at
    # t + 1/2 against the motion-compensated interpolation of source frames t and t + 1, their
    # MSE weighted `inbetween_weight` (0: off); the dense engine only, and not with a mask
    inbetween_weight: float = 0.0
    inbetween_sets: int = 2
    lr_grid: float = 3e-2  # grids want ~30x the base network's rate (Instant-NGP-like)
    lr_base: float = 1e-3
    lr_flow: float = 1e-3
    # the dense engine's steps hold ~20x the samples of a per-pixel step: they take larger rates
    dense_lr_grid: float = 6e-2
    dense_lr_base: float = 4e-3
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
    # grids), for no PSNR gain; see the fitting report in `fit.loop`.
    aux_fraction: float = 1.0
    flow_grad_scale: float = 0.0  # reconstruction gradient into the alignment flow (1: plain backprop)
    flow_preset: str = "medium"  # DIS preset: ultrafast | fast | medium
    flow_stride: int = 2  # optical flow kept at 1/stride resolution
    norm_update_every: int = 50  # steps between normalisation-bound updates (models with a flow)
    norm_points: int = 4096  # lattice points per frame used for the bounds
    norm_freeze_fraction: float = 0.75  # bounds frozen after this fraction of the run
    qat_fraction: float = 0.0
    qat_noise: bool = False  # uniform noise instead of rounding for the grids
    # HEVC in the loop: `grid_codec(model)` returns the grids as the file would hold them now
    # (`rate.coded_grids`). With it, the QAT phase sees those decoded grids (straight through:
    # the current grids plus the codec's error at the last round trip, refreshed
    # `codec_refreshes` times), and the last `finetune_fraction` of the run trains the weights
    # alone on the exactly decoded grids that the file will carry.
    grid_codec: Callable[[Any], dict[str, Any]] | None = field(default=None, compare=False, repr=False)
    # codec-friendly grids (`fit.regularize`): weight of the grids' spatial roughness and of
    # the latent's GOP-to-GOP change, added to the MSE (off at 0)
    grid_smoothness: float = 0.0
    grid_steadiness: float = 0.0
    # the proxy's cost grows with the grids (through autograd 110 ms of a 160 ms step at 720p,
    # 0.3 bpp, 1 thread; ~5 ms at 0.1 bpp in C): it is added every `regularize_every` steps,
    # weighted that many times more
    regularize_every: int = 8
    codec_refreshes: int = 4  # 2 and 6 were within noise of each other
    finetune_fraction: float = 0.0
    weight_rel_step: float | None = None  # weight QAT step = rel_step * RMS (None: off)
    checkpoint_path: str | None = None
    checkpoint_every_s: float = 300.0
    resume: bool = False
    progress_every_s: float = 1.0  # progress callback period (0: every step)
    progress_bar: bool = False  # a progress line on stderr (nvcodec.progress)
    history_every_s: float = 1.0
    eval_pixels: int | None = 1 << 18  # final PSNR on this many random pixels (None: all)
    fused_chunk: int | None = None  # rows per fused chunk (None: 1024 on CPU, 65536 on CUDA)
    tf32: bool = False  # CUDA only: allow TF32 matmuls during the fit
    threads: int | None = None  # CPU: torch intra-op threads during the fit (None: unchanged).
    # On a CPU shared with other busy processes, 1 thread can be several times faster
    # than 2 (OpenMP barriers wait for descheduled threads at every op).
    # the clock the budget and the schedule follow (seconds; a benchmark may pause it)
    clock: Callable[[], float] | None = field(default=None, compare=False, repr=False)

    def validate(self) -> "FitOptions":
        if self.steps is None and self.time_budget is None:
            raise InputError("fit needs a number of steps or a time budget")
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps < 0):
            raise InputError(f"steps must be >= 0, got {self.steps}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise InputError(f"time budget must be > 0, got {self.time_budget}")
        if self.schedule not in ("cosine", "exp"):
            raise InputError(f"unknown schedule {self.schedule!r}")
        if self.engine not in ENGINES:
            raise InputError(f"unknown fitting engine {self.engine!r} (one of {', '.join(ENGINES)})")
        if self.finetune_fraction > self.qat_fraction:
            raise InputError("finetune_fraction is part of the QAT phase: it cannot exceed qat_fraction")
        if self.regularize_every < 1:
            raise InputError("regularize_every must be >= 1")
        if self.codec_refreshes < 1:
            raise InputError("codec_refreshes must be >= 1")
        for name in ("aux_fraction", "qat_fraction", "warmup_fraction", "norm_freeze_fraction", "finetune_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {v}")
        if not self.inbetween_weight >= 0:
            raise InputError(f"inbetween_weight must be >= 0, got {self.inbetween_weight}")
        if min(self.frames_per_batch, self.pixels_per_frame, self.points_per_set, self.frames_per_set,
               self.sets_per_step, self.inbetween_sets) < 1:
            raise InputError("batch sizes must be positive")
        return self

    def replace(self, **changes: Any) -> "FitOptions":
        return dataclasses.replace(self, **changes)


#: Named recipes. "encode" is what `nvcodec encode` fits with: the last tenth of the run sees
#: the bitstream's quantisers (the HEVC-coded grids when the encoder passes `grid_codec`,
#: weights at the rate model's step), its last 3 % trains the weights on the file's grids, and
#: the grids are kept cheap to code: smoothness and steadiness 3e-3 each (against no term: grid
#: QP 27 -> 14 on a 360x240x47 crop at 0.3 bpp, +0.85 dB decoded at equal size). 3e-3 against
#: the fifth session's 1e-3: +0.2 dB decoded on average over four clips at 60 s (noisy), a tie at
#: 240 s (three clips x two rates), and at 240 s a median loss from the fitted model to the file
#: of 0.67 dB instead of 0.98 (benchmarks/RESULTS.md, ninth session).
FIT_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "encode": {"qat_fraction": 0.1, "finetune_fraction": 0.03, "checkpoint_every_s": 120.0,
               "grid_smoothness": 3e-3, "grid_steadiness": 3e-3},
}


def fit_preset(name: str, **overrides: Any) -> FitOptions:
    """FitOptions of the recipe `name` with `overrides` on top."""
    if name not in FIT_PRESETS:
        raise InputError(f"unknown fitting preset {name!r} (one of {', '.join(FIT_PRESETS)})")
    return FitOptions(**{**FIT_PRESETS[name], **overrides})


@dataclass
class FitProgress:
    step: int
    total_steps: int | None
    elapsed: float
    remaining: float | None  # seconds, estimated
    psnr: float  # training PSNR (EMA over batches)
    phase: str  # "aux" | "main" | "qat" | "codec" | "finetune"
    samples: int = 0  # pixel samples seen so far (one pixel of one frame = one sample)


@dataclass
class FitResult:
    steps: int
    seconds: float
    psnr: float  # RGB PSNR of the final model (eval_pixels sample or full clip)
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, train PSNR)
    resumed_from: int | None = None
    engine: str = "pixel"
    samples: int = 0  # pixel samples the fit computed its loss on (this call and any it resumed)
    clip_samples: int = 0  # pixels of the clip (frames x height x width)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    @property
    def passes(self) -> float:
        """How many times the fit saw each pixel of the clip, on average."""
        return self.samples / self.clip_samples if self.clip_samples else 0.0


__all__ = ["FitOptions", "FitProgress", "FitResult", "FIT_PRESETS", "fit_preset", "ENGINES"]
