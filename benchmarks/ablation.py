"""NVTM ablations of the paper's Tables 5 and 6 on our clips, at an equal fitting budget.

Variants (NVTMConfig fields): adaptive normalisation vs clipping and the static grid on/off
(Table 5a), the latent as modulation vs as input (5b), the neighbour set P = {0} vs {0, 1}
(5c) and the GOP size 5 / 10 / 20 (6); and ours: no alignment flow at all (the keyframe
grids looked up at the unmoved point). Every variant fits for the same --time (or
--steps) on the same clip; the score is the unquantised RGB PSNR of the full clip.

Sizing: by default each variant is sized by nvcodec's rate sizing at --bpp with the
variant as the template (what the codec would build; like the paper's Table 6, the GOP
variants keep a similar parameter count). `--sizing shared` sizes the paper's config once
and only flips the field. Parameter counts are reported either way.

    python -m benchmarks.ablation --frames 30 --time 120
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from . import common
from .common import say

NAME = "ablation"
DEFAULT_CLIPS = ("foreman_cif", "basketballpass")
#: name -> (paper table, NVTMConfig changes)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "paper": ("-", {}),
    "clip_norm": ("5a", {"normalization": "clip"}),
    "no_static": ("5a", {"use_static_grid": False}),
    "clip_norm_no_static": ("5a", {"normalization": "clip", "use_static_grid": False}),
    "latent_input": ("5b", {"latent_mode": "input"}),
    "p0": ("5c", {"neighbors": (0,)}),
    "gop5": ("6", {"gop_size": 5}),
    "gop20": ("6", {"gop_size": 20}),
    "no_alignment": ("ours", {"alignment": "none"}),
}
COLUMNS = ("clip", "variant", "table", "changes", "params_total", "params_grids", "params_weights", "base_width",
           "steps", "fit_seconds", "psnr_rgb", "delta_vs_paper")


def variant_config(name: str, width: int, height: int, frames: int, bpp: float, sizing: str):
    """The NVTMConfig of a variant (see the module docstring for the two sizing modes)."""
    from nvcodec.model import presets
    from nvcodec.rate.sizing import choose_config

    changes = VARIANTS[name][1]
    paper = presets.paper()
    if sizing == "variant":
        return choose_config(width, height, frames, bpp, template=paper.replace(**changes)).config
    return choose_config(width, height, frames, bpp, template=paper).config.replace(**changes)


def run_variant(name: str, video, width: int, height: int, frames: int, args) -> dict[str, Any]:
    """Fit one variant; its parameter counts, steps and full-clip RGB PSNR."""
    from nvcodec.fit.loop import FitOptions, evaluate_psnr, fit
    from nvcodec.model.nvtm import NVTM

    cfg = variant_config(name, width, height, frames, args.bpp, args.sizing)
    model = NVTM(cfg, width, height, frames, seed=args.seed)
    n = model.num_parameters()
    opts = FitOptions(steps=args.steps, time_budget=None if args.steps else args.time, device=args.device,
                      seed=args.seed, eval_pixels=1024)
    res = fit(model, video, opts)
    psnr = evaluate_psnr(model, video, max_pixels=None)
    table, changes = VARIANTS[name]
    return {"variant": name, "table": table, "changes": ", ".join(f"{k}={v}" for k, v in changes.items()) or "-",
            "params_total": n["total"], "params_grids": n["grids"], "params_weights": n["weights"],
            "base_width": cfg.base.width, "steps": res.steps, "fit_seconds": res.seconds, "psnr_rgb": psnr}


def add_deltas(rows: list[dict[str, Any]]) -> None:
    """delta_vs_paper = PSNR - the paper config's PSNR on the same clip."""
    ref = {r["clip"]: r["psnr_rgb"] for r in rows if r["variant"] == "paper"}
    for r in rows:
        r["delta_vs_paper"] = r["psnr_rgb"] - ref[r["clip"]] if r["clip"] in ref else math.nan


def plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: PSNR change against the paper config, per variant and clip."""
    plt = common.pyplot()
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    variants = [v for v in dict.fromkeys(r["variant"] for r in rows) if v != "paper"]
    fig, ax = plt.subplots(figsize=(1.2 * max(4, len(variants)) + 2, 4))
    width = 0.8 / max(1, len(clips))
    for i, clip in enumerate(clips):
        vals = [next((r["delta_vs_paper"] for r in rows if r["clip"] == clip and r["variant"] == v), math.nan)
                for v in variants]
        ax.bar([j + i * width for j in range(len(variants))], vals, width, label=clip)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks([j + width * (len(clips) - 1) / 2 for j in range(len(variants))])
    ax.set_xticklabels(variants, rotation=20, fontsize=8)
    ax.set_ylabel("RGB PSNR - paper config (dB)")
    ax.set_title("NVTM ablations (equal fitting budget, unquantised)", fontsize=10)
    ax.legend(fontsize=8)
    return common.save_figure(fig, path)


def build_parser():
    p = common.base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--clips", type=common.str_list, default=list(DEFAULT_CLIPS),
                   help="comma-separated clip names (prefix of a file in --clips-dir) or paths")
    p.add_argument("--frames", type=int, default=None, help="use only the first N frames")
    p.add_argument("--variants", type=common.str_list, default=list(VARIANTS),
                   help=f"subset of: {', '.join(VARIANTS)}")
    p.add_argument("--bpp", type=float, default=0.2, help="model size from nvcodec's rate sizing at this bpp")
    p.add_argument("--sizing", choices=("variant", "shared"), default="variant",
                   help="size each variant at --bpp, or size the paper config once and flip the field")
    p.add_argument("--time", type=float, default=120.0, help="fitting seconds per variant")
    p.add_argument("--steps", type=int, default=None, help="fitting steps per variant (instead of --time)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.apply_threads(args.threads)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    variants = ["paper"] + [v for v in args.variants if v != "paper"]
    out: Path = args.out
    meta = common.machine_description(args.device)
    rows: list[dict[str, Any]] = []
    for src in common.find_clips(args.clips, args.clips_dir):
        info, _, rgb = common.load_clip(common.prepare_clip(src, args.frames, out / "work"))
        video = common.rgb_uint8_tensor(rgb)
        name = common.clip_label(src)
        for v in variants:
            row = {"clip": name, **run_variant(v, video, info.width, info.height, info.frames, args)}
            say(f"{name} {v:>20}: {row['psnr_rgb']:.2f} dB ({row['params_total']:,} params, {row['steps']} steps)")
            rows.append(row)
            common.write_csv(out / f"{NAME}.csv", rows, COLUMNS)
    add_deltas(rows)
    common.write_csv(out / f"{NAME}.csv", rows, COLUMNS)
    plot(rows, out / f"{NAME}.png")
    budget = f"{args.steps} steps" if args.steps else f"{args.time:g} s"
    settings = {"clips": args.clips, "frames": args.frames, "variants": variants, "bpp": args.bpp,
                "sizing": args.sizing, "time": args.time, "steps": args.steps, "seed": args.seed,
                "device": args.device}
    sections = [
        f"Every variant fits for {budget} (no quantisation-aware phase); RGB PSNR of the full clip, unquantised. "
        f"Sizing: `{args.sizing}` at {args.bpp:g} bpp. Paper references: Table 5a (normalisation, static grid), "
        "5b (modulation vs input), 5c (P), 6 (GOP size).",
        common.markdown_table(rows, ("clip", "variant", "table", "changes", "params_total", "base_width", "steps",
                                     "psnr_rgb", "delta_vs_paper"),
                              ("clip", "variant", "table", "changes", "params", "base width", "steps",
                               "PSNR-RGB", "delta vs paper"), digits=2),
    ]
    common.write_markdown(out / f"{NAME}.md", "NVTM ablations (paper Tables 5 and 6)", sections, meta)
    return common.finish(out, meta, settings)


if __name__ == "__main__":
    raise SystemExit(main())
