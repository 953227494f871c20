"""Decoded quality of real encodes while one encoder setting varies, everything else fixed.

Each variant is a JSON object: `fit` (FitOptions fields over the encoder's "encode" preset,
e.g. {"grid_smoothness": 0}), `rate` (RateModel fields, e.g. {"weight_rel_step":
0.0625, "bits_per_weight": 6}) and/or `encode` (EncodeOptions fields over the sweep's, e.g.
{"preset": "fast", "time_budget": null}: the preset's budget instead of --time). Every variant encodes the same clip at the same --bpp and
--time; reported: the file's bpp, decoded PSNR-YUV and RGB (from the written file), the
encoder's stages (fitted model, 8-bit grids + quantised weights, file), grid QPs, weight
step, fit steps, samples per second. Variants run in order, then again in reverse order when
--rounds 2 (A B B A), so that a drift of the machine does not favour the first.

    python -m benchmarks.encode_sweep --clip basketballpass@360x240x47 --bpp 0.3 --time 120 --threads 1 \\
        --variants '{}' '{"fit": {"grid_smoothness": 0, "grid_steadiness": 0}}'
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .common import (base_parser, clip_label, machine_description, markdown_table, remove_work, say, write_csv,
                     write_markdown, write_meta)
from .engine_ab import resolve_clip

NAME = "encode_sweep"
COLUMNS = ("clip", "variant", "round", "bpp_target", "time_s", "bpp", "psnr_yuv", "psnr_rgb", "stage_float",
           "stage_quantized", "latent_qp", "static_qp", "weight_rel_step", "weight_bytes", "fit_steps",
           "fit_seconds", "encode_seconds", "samples_per_second")


def parse_variant(text: str) -> dict[str, dict[str, Any]]:
    v = json.loads(text)
    if not isinstance(v, dict) or set(v) - {"fit", "rate", "encode"}:
        raise SystemExit(f"a variant is a JSON object with keys 'fit', 'rate' and/or 'encode', got {text!r}")
    return {"fit": dict(v.get("fit", {})), "rate": dict(v.get("rate", {})), "encode": dict(v.get("encode", {}))}


def run_variant(src, work, variant: dict, bpp: float, time_s: float, seed: int, threads: int | None) -> dict:
    from nvcodec import api
    from nvcodec.rate.sizing import RateModel

    nvc, dec = work / "sweep.nvc", work / "sweep.y4m"
    fit = {**({"threads": threads} if threads else {}), **variant["fit"]}
    options = {"bpp": bpp, "time_budget": time_s, "seed": seed, "device": "cpu", "overwrite": True, "progress": False,
               "rate_model": RateModel(**variant["rate"]), "fit_overrides": fit, **variant.get("encode", {})}
    rep = api.encode(src, nvc, api.EncodeOptions(**options))
    api.decode(nvc, dec, api.DecodeOptions(device="cpu", overwrite=True, progress=False))
    ev = api.evaluate(src, dec, device="cpu")
    return {"bpp": rep.bpp, "psnr_yuv": ev["psnr_yuv"], "psnr_rgb": ev["psnr_rgb"],
            "stage_float": rep.psnr_stages.get("float"), "stage_quantized": rep.psnr_stages.get("quantized"),
            "latent_qp": rep.rate.get("latent_qp"), "static_qp": rep.rate.get("static_qp"),
            "weight_rel_step": rep.rate.get("weight_rel_step"), "weight_bytes": rep.byte_split.get("weights"),
            "fit_steps": rep.fit_steps, "fit_seconds": rep.fit_seconds, "encode_seconds": rep.encode_seconds,
            "samples_per_second": rep.samples_per_second}


def main(argv: list[str] | None = None) -> int:
    p = base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--clip", default="basketballpass@360x240x47", help="clip name or path; NAME@WxHxT: a centre crop")
    p.add_argument("--bpp", type=float, default=0.3)
    p.add_argument("--time", type=float, default=120.0, help="--time of every encode (fitting seconds)")
    p.add_argument("--variants", nargs="+", default=["{}"], help="JSON objects (see the module doc)")
    p.add_argument("--rounds", type=int, default=1, help="2: the variants again in reverse order")
    a = p.parse_args(argv)
    variants = [parse_variant(v) for v in a.variants]
    meta = machine_description("cpu")
    work = a.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    src = resolve_clip(a.clip, a.clips_dir, work)
    rows: list[dict[str, Any]] = []
    try:
        for rnd in range(a.rounds):
            order = list(enumerate(variants)) if rnd % 2 == 0 else list(reversed(list(enumerate(variants))))
            for i, v in order:
                label = json.dumps(v, sort_keys=True)
                say(f"{NAME}: {clip_label(src)} {a.bpp} bpp {a.time:g} s, round {rnd + 1}, variant {i}: {label}")
                r = run_variant(src, work, v, a.bpp, a.time, a.seed, a.threads)
                rows.append({"clip": clip_label(src), "variant": label, "round": rnd + 1, "bpp_target": a.bpp,
                             "time_s": a.time, **r})
                say(f"  {r['psnr_yuv']:.3f} dB YUV at {r['bpp']:.4f} bpp, grid QP {r['latent_qp']}/{r['static_qp']}")
                write_csv(a.out / f"{NAME}.csv", rows, COLUMNS)
    finally:
        remove_work(a.out)
    write_meta(a.out, meta, vars(a))
    write_markdown(a.out / f"{NAME}.md", f"Encoder setting sweep on {clip_label(src)}", [
        f"`--bpp {a.bpp} --time {a.time:g}`, {a.rounds} round(s); PSNR from the decoded file.",
        markdown_table(rows, COLUMNS[1:], digits=3)], meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
