"""Decoding speed of `nvcodec decode` on a real file: frames/s per CPU thread count and output size.

Encodes the clip at --bpp with the encoder's defaults (or takes --nvc), then times the CLI
decode to .y4m in a fresh process per run (torch threads set through OMP_NUM_THREADS),
writing the output included, exactly what a user runs. Reports the best of --repeats runs
and the median.

    python -m benchmarks.decode_speed --clip foreman_cif_60f --bpp 0.1 --time 60 --decode-threads 1,2
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from . import common
from .common import say

NAME = "decode_speed"
COLUMNS = ("clip", "bpp", "base_width", "decode_macs_per_pixel", "threads", "output", "frames", "width", "height",
           "best_seconds", "median_seconds", "best_frames_per_second", "median_frames_per_second")
OUTPUTS = {"native": (), "scale2_fps2": ("--scale", "2", "--fps-mult", "2"), "scale0.5": ("--scale", "0.5")}


def run_cli(args: Sequence[str], threads: int | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    quiet = [] if args[0] == "info" else ["-q"]
    r = subprocess.run([sys.executable, "-m", "nvcodec", *args, "--json", *quiet], capture_output=True, text=True,
                       env=env)
    if r.returncode != 0:
        raise SystemExit(f"nvcodec {' '.join(args)} failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def build_parser():
    p = common.base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--clip", default="foreman_cif_60f", help="clip name (prefix in --clips-dir) or path")
    p.add_argument("--nvc", type=Path, default=None, help="decode this file instead of encoding the clip")
    p.add_argument("--bpp", type=float, default=0.1, help="target bpp of the encode")
    p.add_argument("--time", type=float, default=60.0, help="fitting seconds of the encode")
    p.add_argument("--max-decode-macs", type=int, default=None,
                   help="the encode's --max-decode-macs (default: the encoder's)")
    p.add_argument("--decode-threads", dest="thread_counts", type=common.int_list, default=[1, 2],
                   help="torch thread counts to decode with")
    p.add_argument("--outputs", type=common.str_list, default=["native"],
                   help=f"decode variants, from: {', '.join(OUTPUTS)}")
    p.add_argument("--repeats", type=int, default=3, help="decodes per setting")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unknown = [o for o in args.outputs if o not in OUTPUTS]
    if unknown:
        raise SystemExit(f"unknown output(s) {unknown}; choose from {', '.join(OUTPUTS)}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.nvc is not None:
        nvc, label = args.nvc, args.nvc.stem
    else:
        src = common.find_clips([args.clip], args.clips_dir)[0]
        label = common.clip_label(src)
        nvc = out / f"{label}_{args.bpp:g}.nvc"
        say(f"encoding {src.name} at {args.bpp:g} bpp for {args.time:g} s")
        cap = [] if args.max_decode_macs is None else ["--max-decode-macs", str(args.max_decode_macs)]
        enc = run_cli(["encode", str(src), "-o", str(nvc), "--bpp", str(args.bpp), "--time", str(args.time),
                       "--device", "cpu", "-y", *cap])
        say(f"  {enc['bytes']} bytes = {enc['bpp']:.4f} bpp, PSNR-YUV {enc['psnr_yuv']:.2f} dB")
    info = run_cli(["info", str(nvc)])
    base = info["model"]["base"]
    rows: list[dict[str, Any]] = []
    for variant in args.outputs:
        for threads in args.thread_counts:
            runs = [run_cli(["decode", str(nvc), "-o", str(out / "decoded.y4m"), "-y", "--device", "cpu",
                             *OUTPUTS[variant]], threads) for _ in range(args.repeats)]
            secs = [r["decode_seconds"] for r in runs]
            frames = runs[0]["frames"]
            row = {"clip": label, "bpp": info["bpp"], "base_width": base["width"],
                   "decode_macs_per_pixel": info["decode_macs_per_pixel"], "threads": threads, "output": variant,
                   "frames": frames, "width": runs[0]["width"], "height": runs[0]["height"],
                   "best_seconds": min(secs), "median_seconds": statistics.median(secs),
                   "best_frames_per_second": frames / min(secs),
                   "median_frames_per_second": frames / statistics.median(secs)}
            say(f"{variant} {threads} thread(s): {row['median_frames_per_second']:.1f} frames/s median, "
                f"{row['best_frames_per_second']:.1f} best ({frames} frames {row['width']}x{row['height']})")
            rows.append(row)
            common.write_csv(out / f"{NAME}.csv", rows, COLUMNS)
    (out / "decoded.y4m").unlink(missing_ok=True)
    meta = common.machine_description("cpu")
    settings = {k: getattr(args, k) for k in ("clip", "bpp", "time", "max_decode_macs", "thread_counts", "outputs",
                                               "repeats")}
    settings["nvc"] = str(nvc)
    sections = [
        f"`{nvc.name}`: {info['width']}x{info['height']}x{info['frames']}, {info['bpp']:.4f} bpp, base network "
        f"{base['depth']}x{base['width']} ({info['decode_macs_per_pixel']} multiply-adds per pixel and frame). "
        f"`nvcodec decode` to .y4m in a fresh process per run (writing included), {args.repeats} runs each.",
        common.markdown_table(rows, ("output", "threads", "frames", "width", "height", "median_seconds",
                                     "median_frames_per_second", "best_frames_per_second"),
                              ("output", "torch threads", "frames", "width", "height", "median s",
                               "median frames/s", "best frames/s"), digits=2),
    ]
    common.write_markdown(out / f"{NAME}.md", "Decoding speed of nvcodec decode", sections, meta)
    common.write_meta(out, meta, settings)
    say(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
