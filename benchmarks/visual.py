"""A picture of one clip: source | nvcodec | x265 at the same size, and PSNR frame by frame.

    python -m benchmarks.visual foreman_cif --bpp 0.1 --time 60

nvcodec encodes the clip at --bpp (the file decoded by `nvcodec decode`, as a user gets it);
x265 (--x265-preset, in memory through PyAV) is run over its CRF range and the point whose
stream is closest in bytes to nvcodec's file is kept, so both pictures cost about the same.
Writes `crops_<clip>.png` (the same region of one frame from each: --frame, default the
middle one; --crop W:H:X:Y, default the centre half), `per_frame_<clip>.png` (PSNR-Y of each
frame for both codecs) and the per-frame values as CSV, with meta.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import bdrate, common
from .common import say

NAME = "visual"
COLUMNS = ("clip", "frame", "codec", "bytes", "bpp", "psnr_y", "psnr_yuv", "psnr_rgb")


def nvcodec_frames(clip: bdrate.Clip, bpp: float, time_budget: float | None, steps: int | None, device: str,
                   seed: int, work: Path) -> tuple[int, list]:
    """(file bytes, decoded YUV frames) of nvcodec at `bpp`: the file, decoded as a user decodes it."""
    from nvcodec.api import DecodeOptions, EncodeOptions, decode, encode
    from nvcodec.video import open_video

    work.mkdir(parents=True, exist_ok=True)
    nvc, y4m = work / f"{clip.name}.nvc", work / f"{clip.name}.decoded.y4m"
    report = encode(clip.path, nvc, EncodeOptions(bpp=bpp, time_budget=time_budget, steps=steps, seed=seed,
                                                  device=device, overwrite=True, progress=False))
    decode(nvc, y4m, DecodeOptions(device=device, overwrite=True, progress=False))
    with open_video(y4m) as reader:
        return report.bytes, [reader.read(i) for i in range(len(reader))]


def x265_at(clip: bdrate.Clip, target_bytes: int, preset: str) -> tuple[int, int, list]:
    """(CRF, bytes, decoded frames) of x265 closest in size to `target_bytes` (bisection on CRF)."""
    lo, hi, best = 0, 51, None
    while lo <= hi:
        crf = (lo + hi) // 2
        size, frames, _ = bdrate.x26x_roundtrip(clip, "libx265", "hevc", preset, crf)
        if best is None or abs(size - target_bytes) < abs(best[1] - target_bytes):
            best = (crf, size, frames)
        if size > target_bytes:
            lo = crf + 1
        else:
            hi = crf - 1
    assert best is not None
    return best


def per_frame(clip: bdrate.Clip, decoded: Sequence, codec: str, nbytes: int) -> list[dict[str, Any]]:
    from nvcodec.metrics import frame_errors
    from nvcodec.rate.bits import bpp_of
    from nvcodec.video.color import yuv_to_rgb

    rows = []
    for t, (ref, dist) in enumerate(zip(clip.frames, decoded)):
        e = frame_errors(ref, dist, clip.info.bit_depth, clip.rgb[t], yuv_to_rgb(dist, clip.info)).psnr()
        rows.append({"clip": clip.name, "frame": t, "codec": codec, "bytes": nbytes,
                     "bpp": bpp_of(nbytes, clip.info.pixels), "psnr_y": e["psnr_y"], "psnr_yuv": e["psnr_yuv"],
                     "psnr_rgb": e["psnr_rgb"]})
    return rows


def crop_box(spec: str | None, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) from `W:H:X:Y`, default the centre half of the frame."""
    if spec is None:
        w, h = width // 2, height // 2
        return (width - w) // 2, (height - h) // 2, w, h
    w, h, x, y = (int(v) for v in spec.split(":"))
    if not (0 <= x < x + w <= width and 0 <= y < y + h <= height):
        raise SystemExit(f"--crop {spec} does not fit a {width}x{height} frame")
    return x, y, w, h


def plot_crops(clip: bdrate.Clip, panels: Sequence[tuple[str, Any]], frame: int, box: tuple[int, int, int, int],
               path: Path) -> Path:
    from nvcodec.video.color import yuv_to_rgb

    x, y, w, h = box
    plt = common.pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2 * h / w + 0.6))
    for ax, (title, yuv) in zip(axes, panels):
        rgb = clip.rgb[frame] if yuv is None else yuv_to_rgb(yuv, clip.info)
        ax.imshow(np.clip(rgb[y:y + h, x:x + w], 0, 1), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return common.save_figure(fig, path)


def plot_per_frame(rows: Sequence[dict[str, Any]], clip: str, path: Path) -> Path:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for codec in dict.fromkeys(r["codec"] for r in rows):
        pts = [r for r in rows if r["codec"] == codec]
        ax.plot([r["frame"] for r in pts], [r["psnr_y"] for r in pts], marker=".", label=f"{codec} "
                f"({pts[0]['bpp']:.3f} bpp)")
    ax.set_xlabel("frame")
    ax.set_ylabel("PSNR-Y (dB)")
    ax.set_title(clip)
    ax.grid(alpha=0.3)
    ax.legend()
    return common.save_figure(fig, path)


def build_parser():
    p = common.base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("clip", help="a clip name of --clips-dir or a path")
    p.add_argument("--bpp", type=float, default=0.1)
    p.add_argument("--time", type=float, default=60.0, help="nvcodec fitting seconds")
    p.add_argument("--steps", type=int, default=None, help="nvcodec fitting steps instead of --time")
    p.add_argument("--frames", type=int, default=None, help="the first N frames only")
    p.add_argument("--frame", type=int, default=None, help="the frame of the crops (default: the middle one)")
    p.add_argument("--crop", default=None, metavar="W:H:X:Y", help="the crops' region (default: the centre half)")
    p.add_argument("--x265-preset", default="medium")
    p.add_argument("--keep", action="store_true", help="keep the work folder (cut clip, .nvc, decoded y4m)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.apply_threads(args.threads)
    out: Path = args.out
    work = out / "work"
    src = common.find_clips([args.clip], args.clips_dir)[0]
    clip = bdrate.load(common.prepare_clip(src, args.frames, work))
    clip.name = common.clip_label(src)
    say(f"{clip.name}: {clip.info.width}x{clip.info.height}, {clip.info.frames} frames; nvcodec at {args.bpp} bpp")
    nv_bytes, nv = nvcodec_frames(clip, args.bpp, None if args.steps else args.time, args.steps, args.device,
                                  args.seed, work)
    crf, x_bytes, xf = x265_at(clip, nv_bytes, args.x265_preset)
    say(f"  nvcodec {nv_bytes} bytes; x265 {args.x265_preset} CRF {crf}: {x_bytes} bytes")
    rows = per_frame(clip, nv, "nvcodec", nv_bytes) + per_frame(clip, xf, f"x265 {args.x265_preset} crf {crf}", x_bytes)
    frame = clip.info.frames // 2 if args.frame is None else args.frame
    box = crop_box(args.crop, clip.info.width, clip.info.height)
    by = {r["codec"]: r for r in rows if r["frame"] == frame}
    panels = [("source", None)] + [(f"{name}: {r['bpp']:.3f} bpp, {r['psnr_y']:.2f} dB Y", d)
                                   for (name, r), d in zip(by.items(), (nv[frame], xf[frame]))]
    plot_crops(clip, panels, frame, box, out / f"crops_{clip.name}.png")
    plot_per_frame(rows, clip.name, out / f"per_frame_{clip.name}.png")
    common.write_csv(out / f"per_frame_{clip.name}.csv", rows, COLUMNS)
    settings = {"clip": args.clip, "bpp": args.bpp, "time": args.time, "steps": args.steps, "frames": args.frames,
                "frame": frame, "crop": list(box), "x265_preset": args.x265_preset, "x265_crf": crf,
                "seed": args.seed, "device": args.device}
    return common.finish(out, common.machine_description(args.device), settings, keep_work=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
