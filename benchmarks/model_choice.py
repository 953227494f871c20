"""Which model family and grid sizing should the encoder use: decoded quality at the target size.

For each clip and candidate, the model is sized by nvcodec's rate sizing at --bpp (with
that candidate's family and `bits_per_grid_value`), fitted for --time seconds as
`nvcodec encode` does (quantisation-aware last phase), then quantised: the grids are coded
as HEVC at every QP of --qps (plus lossless) and the whole model rebuilt from the coded
grids. The score is the RGB PSNR at the target size, interpolated between the QPs that
bracket it (what rate control's QP search lands near); the float and 8-bit PSNRs show
where the decibels go between the fitted model and the file.

Candidates: families of `nvcodec.model.presets` (by default `paper`, `no_flow`: paper without the
alignment flow, and `codec`: the encoder's default, no flow, latent as modulation), each at the
`bits_per_grid_value` values of --grid-bits, the base-network caps of --decode-macs
(multiply-adds per pixel and frame; 0: uncapped) and the base-network depths of --depths
(0: the family's).

    python -m benchmarks.model_choice --clips foreman_cif,basketballpass,mobile_cif --frames 30 --time 60
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import common
from .common import say

NAME = "model_choice"
DEFAULT_CLIPS = ("foreman_cif", "basketballpass", "mobile_cif")
DEFAULT_FAMILIES = ("paper", "no_flow", "codec")
COLUMNS = ("clip", "family", "grid_bits", "decode_macs", "base_depth", "grid_values", "weight_params", "base_width", "steps", "psnr_float",
           "psnr_8bit", "qp_curve", "psnr_at_target", "qp_at_target")


def at_target(curve: Sequence[tuple[float, float, int | None]]) -> tuple[float, float]:
    """(PSNR, QP) at size ratio 1 by linear interpolation over (size ratio, PSNR, QP) points;
    NaN when the target is outside the curve (every point too big, or all too small)."""
    pts = sorted((r, p, q) for r, p, q in curve if q is not None)
    ratios = [p[0] for p in pts]
    if not pts or ratios[0] > 1.0 or ratios[-1] < 1.0:
        return float("nan"), float("nan")
    return (float(np.interp(1.0, ratios, [p[1] for p in pts])),
            float(np.interp(1.0, ratios, [float(p[2]) for p in pts])))


def run_candidate(family: str, grid_bits: float, video, args, max_macs: int = 0, depth: int = 0) -> dict[str, Any]:
    from nvcodec.bitstream.format import StreamHeader
    from nvcodec.compress import model_codec
    from nvcodec.fit.loop import FitOptions, evaluate_psnr, fit
    from nvcodec.model import presets
    from nvcodec.model.nvtm import NVTM
    from nvcodec.model.siren import synthesis_macs
    from nvcodec.rate.sizing import RateModel, choose_config

    frames, height, width = (int(s) for s in video.shape[:3])
    rate = RateModel(bits_per_grid_value=grid_bits)
    template = presets.family(family)
    if depth:
        template = template.replace(base=dataclasses.replace(template.base, depth=depth))
    sizing = choose_config(width, height, frames, args.bpp, rate=rate, template=template,
                           max_decode_macs=max_macs or None)
    model = NVTM(sizing.config, width, height, frames, seed=args.seed)
    res = fit(model, video, FitOptions(steps=args.steps, time_budget=None if args.steps else args.time,
                                       device=args.device, seed=args.seed, qat_fraction=0.1,
                                       weight_rel_step=rate.weight_rel_step))
    model.eval()
    q = model_codec.quantize_model(model, rate.weight_rel_step)
    header = StreamHeader(width, height, frames, fps_num=25)  # the chunks' sizes do not depend on it
    target_bytes = args.bpp * width * height * frames / 8

    def psnr_of(quantized) -> float:
        return evaluate_psnr(model_codec.model_from_quantized(quantized, args.device), video)

    curve = []
    for qp in [None, *args.qps]:
        container, recon = model_codec.encode_model(q, header, latent_qp=qp, static_qp=qp)
        curve.append((sum(len(c.payload) for c in container.chunks) / target_bytes, psnr_of(recon), qp))
    psnr_t, qp_t = at_target(curve)
    return {"family": family, "grid_bits": grid_bits, "decode_macs": synthesis_macs(sizing.config.base),
            "base_depth": sizing.config.base.depth,
            "grid_values": sizing.grid_values,
            "weight_params": sizing.weight_params, "base_width": sizing.config.base.width, "steps": res.steps,
            "psnr_float": evaluate_psnr(model, video), "psnr_8bit": curve[0][1],
            "qp_curve": " ".join(f"{'lossless' if qp is None else qp}:{p:.2f}@{r:.2f}" for r, p, qp in curve),
            "psnr_at_target": psnr_t, "qp_at_target": qp_t}


def plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """PSNR against size / target, one panel per clip, one line per candidate."""
    plt = common.pyplot()
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    fig, axes = plt.subplots(1, len(clips), figsize=(4.5 * len(clips), 3.6), squeeze=False)
    for ax, clip in zip(axes[0], clips):
        for r in (r for r in rows if r["clip"] == clip):
            pts = [p.split(":")[1].split("@") for p in r["qp_curve"].split()[1:]]
            ax.plot([float(s) for _, s in pts], [float(p) for p, _ in pts], marker="o", markersize=3,
                    label=f"{r['family']} ({r['grid_bits']:g} b/value, {r['base_depth']}x{r['base_width']}, "
                          f"{r['decode_macs']} MAC/px)")
        ax.axvline(1.0, color="black", linewidth=0.8, linestyle=":")
        ax.set_xlabel("file size / target (grids at QPs)")
        ax.set_ylabel("RGB PSNR (dB)")
        ax.set_title(clip, fontsize=9)
        ax.legend(fontsize=7)
    return common.save_figure(fig, path)


def build_parser():
    p = common.base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--clips", type=common.str_list, default=list(DEFAULT_CLIPS),
                   help="comma-separated clip names (prefix of a file in --clips-dir) or paths")
    p.add_argument("--frames", type=int, default=30, help="use only the first N frames")
    p.add_argument("--families", type=common.str_list, default=list(DEFAULT_FAMILIES),
                   help=f"families of nvcodec.model.presets (default: {','.join(DEFAULT_FAMILIES)})")
    p.add_argument("--grid-bits", type=common.float_list, default=[1.0, 2.0],
                   help="bits_per_grid_value values of the rate sizing to compare")
    p.add_argument("--decode-macs", type=common.int_list, default=[0],
                   help="caps on the base network's multiply-adds per pixel and frame (0: uncapped)")
    p.add_argument("--depths", type=common.int_list, default=[0],
                   help="base-network depths to compare (0: the family's)")
    p.add_argument("--bpp", type=float, default=0.1, help="target bpp (sizing and the size the score is taken at)")
    p.add_argument("--qps", type=common.int_list, default=[16, 22, 28, 34, 40], help="HEVC QPs of the grids")
    p.add_argument("--time", type=float, default=60.0, help="fitting seconds per candidate")
    p.add_argument("--steps", type=int, default=None, help="fitting steps per candidate (instead of --time)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.apply_threads(args.threads)
    from nvcodec.model.presets import FAMILIES

    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        raise SystemExit(f"unknown famil(ies) {unknown}; choose from {', '.join(FAMILIES)}")
    out: Path = args.out
    meta = common.machine_description(args.device)
    rows: list[dict[str, Any]] = []
    for src in common.find_clips(args.clips, args.clips_dir):
        _, _, rgb = common.load_clip(src, frames=args.frames)
        video = common.rgb_uint8_tensor(rgb)
        name = common.clip_label(src)
        for family in args.families:
            for bits, macs, depth in ((b, m, d) for b in args.grid_bits for m in args.decode_macs
                                      for d in args.depths):
                row = {"clip": name, **run_candidate(family, bits, video, args, macs, depth)}
                say(f"{name} {family:>8} {bits:g} b/value {row['decode_macs']} MAC/px (base "
                    f"{row['base_depth']}x{row['base_width']}): {row['psnr_at_target']:.2f} dB at the target "
                    f"(float {row['psnr_float']:.2f}, 8-bit {row['psnr_8bit']:.2f}, {row['steps']} steps)")
                rows.append(row)
                common.write_csv(out / f"{NAME}.csv", rows, COLUMNS)
    plot(rows, out / f"{NAME}.png")
    budget = f"{args.steps} steps" if args.steps else f"{args.time:g} s"
    settings = {k: getattr(args, k) for k in ("clips", "frames", "families", "grid_bits", "decode_macs", "depths", "bpp", "qps", "time",
                                               "steps", "seed", "device")}
    sections = [
        f"Each candidate sized at {args.bpp:g} bpp, fitted for {budget} (last 10 % quantisation-aware), then its "
        "grids coded by HEVC at each QP; `psnr_at_target` interpolates RGB PSNR at the target size between "
        "the bracketing QPs (NaN: the target lies outside the sweep). `qp_curve`: QP:PSNR@size/target.",
        common.markdown_table(rows, ("clip", "family", "grid_bits", "decode_macs", "base_depth", "grid_values",
                                     "weight_params", "base_width", "steps", "psnr_float", "psnr_8bit", "psnr_at_target",
                                     "qp_at_target"),
                              ("clip", "family", "bits/grid value", "MAC/px", "depth", "grid values", "weights",
                               "base width",
                               "steps", "float", "8-bit", "at target", "QP at target"), digits=2),
    ]
    common.write_markdown(out / f"{NAME}.md", "Model family and grid sizing: decoded PSNR at the target size",
                          sections, meta)
    common.write_meta(out, meta, settings)
    say(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
