"""Unquantised fitting quality vs wall-clock budget: what `--time T` buys.

One independent fit per budget (each run's schedule anneals over its own budget, as
`nvcodec encode --time T` does), full-clip RGB PSNR of the float model afterwards
(evaluation not counted). Model: nvcodec's sizing at a rate (`--config bpp:0.1`, what
`nvcodec encode --bpp 0.1` fits), or a family of `nvcodec.model.presets` at its own sizes, e.g.
`paper` (the paper's full-size model) or `codec` (the encoder's default family: no alignment flow,
latent as modulation, at the paper's sizes).
"""

from __future__ import annotations

import time

from nvcodec.fit.loop import FitOptions, evaluate_psnr, fit
from nvcodec.model import presets
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.sizing import choose_config

from .common import (apply_threads, base_parser, find_clips, float_list, load_clip, machine_description,
                     markdown_table, rgb_uint8_tensor, say, str_list, write_csv, write_markdown, write_meta)

COLUMNS = ["clip", "config", "budget_s", "fit_seconds", "steps", "psnr_rgb", "grid_values", "weights"]


def config_for(name: str, width: int, height: int, frames: int) -> NVTMConfig:
    if name in presets.FAMILIES:
        return presets.family(name)
    if name.startswith("bpp:"):
        return choose_config(width, height, frames, float(name[4:])).config
    raise SystemExit(f"unknown --config {name!r}: use bpp:<value> or a family ({', '.join(presets.FAMILIES)})")


def main(argv: list[str] | None = None) -> None:
    p = base_parser("fit_quality", __doc__.split("\n\n")[0])
    p.add_argument("--clips", type=str_list, default=["foreman_cif", "mobile_cif"])
    p.add_argument("--budgets", type=float_list, default=[30, 60, 120, 300], help="fitting seconds, one run each")
    p.add_argument("--config", type=str_list, default=["bpp:0.1"], help="bpp:<value> and/or families (paper, codec, ...)")
    a = p.parse_args(argv)
    apply_threads(a.threads)
    meta = machine_description(a.device)
    rows = []
    for clip in find_clips(a.clips, a.clips_dir):
        info, _, rgb = load_clip(clip)
        video = rgb_uint8_tensor(rgb)
        for cname in a.config:
            cfg = config_for(cname, info.width, info.height, info.frames)
            for budget in a.budgets:
                say(f"fit_quality: {clip.stem} {cname} {budget:g} s")
                model = NVTM(cfg, info.width, info.height, info.frames, seed=a.seed)
                t0 = time.perf_counter()
                res = fit(model, video, FitOptions(time_budget=budget, device=a.device, seed=a.seed))
                seconds = time.perf_counter() - t0
                n = model.num_parameters()
                rows.append({"clip": clip.stem, "config": cname, "budget_s": budget, "fit_seconds": seconds,
                             "steps": res.steps, "psnr_rgb": evaluate_psnr(model, video),
                             "grid_values": n["grids"], "weights": n["weights"]})
                write_csv(a.out / "fit_quality.csv", rows, COLUMNS)
    write_meta(a.out, meta, vars(a))
    write_markdown(a.out / "fit_quality.md", "Fitting quality vs time (unquantised RGB PSNR)", [
        "One fit per budget; fit_seconds includes the optical-flow computation and set-up inside `fit`.",
        markdown_table(rows, COLUMNS, digits=2)], meta)


if __name__ == "__main__":
    main()
