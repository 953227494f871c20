"""PSNR against encoding wall time: NVTM (nvcodec's model and fit) vs NeRV vs NVP.

One clip, one process, the methods run back to back. Each method fits for max(--times)
seconds with its learning-rate schedule annealed over that budget; at each checkpoint
the full-clip RGB PSNR (unquantised model, every pixel of every frame) is measured with
the method's clock paused, so evaluation never counts as encoding time. All methods get
the same parameter budget: NVTM's parameter count (grid values + network weights) at
--bpp from nvcodec's rate sizing, or --params (then NVTM's size is searched to match).

Reports the time each method takes to reach --target-db (30 dB), and tests the paper's
claim that NVTM reaches it at least 3x sooner than NeRV.

    python -m benchmarks.speed --clip foreman_cif --frames 30 --times 30,60,120,300,600
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from . import common
from .baselines.harness import (PausableClock, StepHook, TimedRun, run_timed, time_to_reach,
                                warm_up)
from .common import say

NAME = "speed"
CLAIM_RATIO = 3.0
COLUMNS = ("clip", "method", "params", "checkpoint_s", "elapsed_s", "steps", "psnr_rgb", "eval_seconds")
SUMMARY_COLUMNS = ("method", "params", "architecture", "total_steps", "first_checkpoint_at_target",
                   "time_to_target_s")


# ------------------------------------------------------------------ NVTM under the harness

def nvtm_config_for(width: int, height: int, frames: int, bpp: float | None, params: int | None):
    """(config, bpp) sized by nvcodec's rate sizing at bpp, or at the bpp whose model has ~params."""
    from nvcodec.rate.sizing import choose_config

    if params is None:
        return choose_config(width, height, frames, bpp).config, bpp
    lo, hi = 1e-3, 64.0
    for _ in range(40):  # bisection on log(bpp): parameter count grows with bpp
        mid = math.sqrt(lo * hi)
        s = choose_config(width, height, frames, mid)
        if s.weight_params + s.grid_values > params:
            hi = mid
        else:
            lo = mid
    return choose_config(width, height, frames, lo).config, lo


def nvtm_parameters(config, width: int, height: int, frames: int) -> int:
    from nvcodec.model.nvtm import NVTM

    return NVTM(config, width, height, frames, seed=None).num_parameters()["total"]


class NVTMMethod:
    """nvcodec's NVTM and `fit` (unquantised: no QAT), timed by the harness clock."""

    name = "NVTM"

    def __init__(self, config, width: int, height: int, frames: int, device: str = "cpu", seed: int = 0,
                 bpp: float | None = None):
        from nvcodec.model.nvtm import NVTM

        self.model = NVTM(config, width, height, frames, seed=seed)
        self.device, self.seed, self.bpp = device, seed, bpp

    def num_parameters(self) -> int:
        return self.model.num_parameters()["total"]

    def describe(self) -> str:
        c, n = self.model.config, self.model.num_parameters()
        return (f"bpp-sized at {self.bpp:.3g}: GOP {c.gop_size}, latent {c.latent.levels}x{c.latent.features} "
                f"(base {c.latent.base_resolution}), static {c.static.levels}x{c.static.features}, base net "
                f"{c.base.depth}x{c.base.width}; grids {n['grids']}, weights {n['weights']}")

    def train(self, video: Tensor, budget_s: float, clock: PausableClock, on_step: StepHook) -> int:
        from nvcodec.fit.loop import FitOptions, fit

        opts = FitOptions(time_budget=budget_s, device=self.device, seed=self.seed, progress_every_s=0.0,
                          eval_pixels=1024, clock=clock.perf_counter)
        res = fit(self.model, video, opts, progress=lambda p: on_step(p.elapsed, p.step))
        return res.steps

    def psnr(self, video: Tensor) -> float:
        from nvcodec.fit.loop import evaluate_psnr

        return evaluate_psnr(self.model, video, max_pixels=None)


# ------------------------------------------------------------------ report

def summary_rows(runs: Sequence[TimedRun], methods: Sequence[Any], target: float) -> list[dict[str, Any]]:
    out = []
    for run, m in zip(runs, methods):
        first, est = time_to_reach(run, target)
        out.append({"method": run.method, "params": run.params, "architecture": m.describe(),
                    "total_steps": run.total_steps,
                    "first_checkpoint_at_target": first if first is not None else "not reached",
                    "time_to_target_s": est if est is not None else "not reached"})
    return out


def claim_verdict(summary: Sequence[dict[str, Any]], budget: float, target: float) -> str:
    """Does NVTM reach the target >= 3x sooner than NeRV? (uses the interpolated times)."""
    by = {r["method"]: r["time_to_target_s"] for r in summary}
    if "NVTM" not in by or "NeRV" not in by:
        return "claim not tested (needs both NVTM and NeRV)."
    nvtm, nerv = by["NVTM"], by["NeRV"]
    if not isinstance(nvtm, float):
        return f"claim not supported here: NVTM did not reach {target:g} dB within {budget:g} s."
    if not isinstance(nerv, float):
        bound = budget / nvtm
        verdict = "holds" if bound >= CLAIM_RATIO else "undecided (run longer)"
        return (f"NeRV did not reach {target:g} dB within {budget:g} s; NVTM did in ~{nvtm:.0f} s, so the "
                f"speed-up is > {bound:.1f}x: claim (>= {CLAIM_RATIO:g}x) {verdict}.")
    ratio = nerv / nvtm
    verdict = "holds" if ratio >= CLAIM_RATIO else "does not hold"
    return (f"NVTM ~{nvtm:.0f} s vs NeRV ~{nerv:.0f} s to {target:g} dB: {ratio:.2f}x; claim "
            f"(>= {CLAIM_RATIO:g}x) {verdict} on this clip and machine.")


def plot(runs: Sequence[TimedRun], target: float, title: str, path: Path) -> Path:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in runs:
        cs = sorted(r.checkpoints, key=lambda c: c.checkpoint_s)
        ax.plot([c.elapsed_s for c in cs], [c.psnr for c in cs], marker="o", label=f"{r.method} ({r.params:,} params)")
    ax.axhline(target, color="grey", linestyle=":", label=f"{target:g} dB")
    common.log_axis(ax)
    ax.set_xlabel("encoding (fitting) wall time, s")
    ax.set_ylabel("RGB PSNR, full clip, unquantised (dB)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return common.save_figure(fig, path)


def pivot(rows: Sequence[dict[str, Any]], times: Sequence[float]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per method, one PSNR column per checkpoint."""
    cols = [f"{t:g} s" for t in sorted(times)]
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = out.setdefault(r["method"], {"method": r["method"], "params": r["params"]})
        d[f"{r['checkpoint_s']:g} s"] = r["psnr_rgb"]
    return list(out.values()), cols


# ------------------------------------------------------------------ main

def build_parser():
    p = common.base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--clip", default="foreman_cif", help="clip name (prefix in --clips-dir) or path")
    p.add_argument("--frames", type=int, default=None, help="use only the first N frames")
    p.add_argument("--times", type=common.float_list, default=[30, 60, 120, 300, 600],
                   help="checkpoints in seconds of fitting; each method fits for the largest")
    p.add_argument("--methods", type=common.str_list, default=["nvtm", "nerv", "nvp"],
                   help="comma-separated, run in this order: nvtm, nerv, nvp")
    p.add_argument("--bpp", type=float, default=0.1, help="NVTM's size from nvcodec's rate sizing at this bpp")
    p.add_argument("--params", type=int, default=None, help="parameter budget for every method (overrides --bpp)")
    p.add_argument("--target-db", type=float, default=30.0, help="report the time to reach this RGB PSNR")
    return p


def build_methods(names: Sequence[str], width: int, height: int, frames: int, bpp: float, params: int | None,
                  device: str, seed: int) -> list[Any]:
    from .baselines.nerv import NeRVMethod
    from .baselines.nvp import NVPMethod

    config, used_bpp = nvtm_config_for(width, height, frames, bpp, params)
    budget = params if params is not None else nvtm_parameters(config, width, height, frames)
    makers = {"nvtm": lambda: NVTMMethod(config, width, height, frames, device, seed, used_bpp),
              "nerv": lambda: NeRVMethod(width, height, frames, budget, device, seed),
              "nvp": lambda: NVPMethod(width, height, frames, budget, device, seed)}
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown} (use nvtm, nerv, nvp)")
    return [makers[n]() for n in names]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.apply_threads(args.threads)
    out: Path = args.out
    src = common.find_clips([args.clip], args.clips_dir)[0]
    path = common.prepare_clip(src, args.frames, out / "work")
    info, _, rgb = common.load_clip(path)
    video = common.rgb_uint8_tensor(rgb)
    name = common.clip_label(src)
    meta = common.machine_description(args.device)
    methods = build_methods(args.methods, info.width, info.height, info.frames, args.bpp, args.params,
                            args.device, args.seed)
    warm_up(args.device)
    runs, rows = [], []
    for m in methods:
        say(f"{m.name}: {m.num_parameters():,} params ({m.describe()}), fitting {max(args.times):g} s")
        run = run_timed(m, video, list(args.times))
        runs.append(run)
        for c in run.checkpoints:
            say(f"  {c.checkpoint_s:>6g} s: {c.psnr:.2f} dB after {c.steps} steps")
            rows.append({"clip": name, "method": run.method, "params": run.params, "checkpoint_s": c.checkpoint_s,
                         "elapsed_s": c.elapsed_s, "steps": c.steps, "psnr_rgb": c.psnr,
                         "eval_seconds": c.eval_seconds})
        common.write_csv(out / f"{NAME}.csv", rows, COLUMNS)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    summary = summary_rows(runs, methods, args.target_db)
    verdict = claim_verdict(summary, max(args.times), args.target_db)
    common.write_csv(out / "summary.csv", summary, SUMMARY_COLUMNS)
    title = f"{name}: {info.width}x{info.height}, {info.frames} frames, device {args.device}"
    plot(runs, args.target_db, title, out / f"{NAME}.png")
    table, cols = pivot(rows, args.times)
    settings = {"clip": name, "frames": info.frames, "times": args.times, "methods": args.methods,
                "bpp": args.bpp, "params": args.params, "target_db": args.target_db, "seed": args.seed,
                "device": args.device}
    sections = [
        f"Clip `{name}` ({info.width}x{info.height}, {info.frames} frames). Each method fits for "
        f"{max(args.times):g} s (schedule annealed over that budget); RGB PSNR of the full clip, unquantised, "
        "measured at each checkpoint with the clock paused. Same parameter budget for all "
        f"({'--params ' + str(args.params) if args.params else 'NVTM at --bpp ' + str(args.bpp)}).",
        "## RGB PSNR (dB) at each checkpoint",
        common.markdown_table(table, ["method", "params", *cols], digits=2),
        f"## Time to {args.target_db:g} dB",
        common.markdown_table(summary, SUMMARY_COLUMNS,
                              ("method", "params", "architecture", "steps", "first checkpoint >= target (s)",
                               "interpolated time (s)"), digits=1),
        f"**Claim** (NVTM reaches {args.target_db:g} dB >= {CLAIM_RATIO:g}x sooner than NeRV): {verdict}",
        "Times are interpolated linearly in log(time) between the checkpoints around the target; only the "
        "checkpoints themselves were measured.",
    ]
    common.write_markdown(out / f"{NAME}.md", "Encoding speed: PSNR vs wall time", sections, meta)
    say(verdict)
    return common.finish(out, meta, settings)


if __name__ == "__main__":
    raise SystemExit(main())
