"""Rate-distortion of nvcodec against x264 and x265 on real clips, with BD-rate / BD-PSNR.

Per clip: nvcodec at each --bpp (the same --time or --steps per point; bpp from the
file), and x264/x265 at each preset over a CRF sweep, encoded and decoded in memory
through PyAV (8-bit 4:2:0 in, bpp from the bytes of the elementary stream, SPS/PPS
included). Every decoded clip is measured the same way with nvcodec.metrics: PSNR of Y,
U, V, PSNR-YUV 6:1:1, RGB PSNR and MS-SSIM (PSNR of the clip's mean MSE).

BD-rate / BD-PSNR of nvcodec against each anchor (bjontegaard, PCHIP), per clip and
averaged over clips. Negative BD-rate = nvcodec needs fewer bits for the same quality.
Points that are not on the rising RD curve are left out of the BD fit; values are
flagged where the curves overlap on less than 75 % of the quality (or rate) range and
left empty (NaN) where they do not overlap at all.

Also plots the published UVG 1080p points of benchmarks/anchors/uvg.py, on a separate
figure marked as another dataset.

    python -m benchmarks.bdrate --frames 30 --time 60
"""

from __future__ import annotations

import math
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import common
from .commit_encode import EncodeFailed, commit_tree, drop_tree, run_encode, short_commit
from .common import say

NAME = "bdrate"
DEFAULT_CLIPS = ("foreman_cif", "mobile_cif", "carphone_qcif", "cars_320x240")
CODEC_NAMES = {"x264": ("libx264", "h264"), "x265": ("libx265", "hevc")}
METRICS = ("psnr_yuv", "psnr_rgb", "ms_ssim_db")
METRIC_LABELS = {"psnr_yuv": "PSNR-YUV 6:1:1 (dB)", "psnr_rgb": "PSNR-RGB (dB)", "ms_ssim_db": "MS-SSIM (dB)"}
MIN_OVERLAP = 0.75
COLUMNS = ("clip", "width", "height", "frames", "method", "codec", "preset", "setting", "target_bpp",
           "bytes", "bpp", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb", "ms_ssim", "ms_ssim_db",
           "encode_seconds", "time_budget", "steps", "fit_steps", "report_psnr_yuv", "commit", "psnr_float",
           "psnr_quantized", "passes", "error")
BD_COLUMNS = ("clip", "method", "anchor", "metric", "bd_rate", "bd_psnr", "overlap_quality", "overlap_rate",
              "points_test", "points_anchor", "flag")


# ------------------------------------------------------------------ measurement

@dataclass
class Clip:
    """A clip held in memory: its info, YUV frames and float RGB."""

    name: str
    path: Path
    info: Any
    frames: list
    rgb: np.ndarray


@dataclass(frozen=True)
class Budget:
    """How every nvcodec point is fitted: --time or --steps, seed, torch threads per encode, device."""

    time: float | None
    steps: int | None
    seed: int
    threads: int
    device: str


def load(path: Path) -> Clip:
    info, frames, rgb = common.load_clip(path)
    return Clip(common.clip_label(path), path, info, frames, rgb)


def measure(clip: Clip, decoded: Sequence) -> dict[str, float | None]:
    """PSNR Y/U/V/YUV/RGB (PSNR of the mean MSE) and MS-SSIM of decoded frames against the clip."""
    from nvcodec.metrics import PsnrAccumulator, frame_errors, ms_ssim_rgb
    from nvcodec.video.color import yuv_to_rgb

    if len(decoded) != len(clip.frames):
        raise RuntimeError(f"{clip.name}: decoded {len(decoded)} frames, expected {len(clip.frames)}")
    acc = PsnrAccumulator(clip.info.bit_depth)
    ssim = []
    for t, (ref, dist) in enumerate(zip(clip.frames, decoded)):
        dist_rgb = yuv_to_rgb(dist, clip.info)
        acc.add(frame_errors(ref, dist, clip.info.bit_depth, clip.rgb[t], dist_rgb))
        ssim.append(float(ms_ssim_rgb(clip.rgb[t], dist_rgb)[0]))
    s = acc.summary()
    out = {k: s[k] for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb")}
    out["ms_ssim"] = float(np.mean(ssim))
    out["ms_ssim_db"] = -10.0 * math.log10(max(1e-12, 1.0 - out["ms_ssim"]))
    return out


# ------------------------------------------------------------------ x264 / x265 in memory

def _to_av_frame(av: Any, frame: Any, width: int, height: int, pts: int) -> Any:
    vf = av.VideoFrame(width, height, "yuv420p")
    for plane, arr in zip(vf.planes, frame.planes):
        buf = np.frombuffer(plane, dtype=np.uint8)
        view = buf[: plane.height * plane.line_size].reshape(plane.height, plane.line_size)
        view[:, : plane.width] = arr
    vf.pts = pts
    return vf


def _from_av_frame(vf: Any) -> Any:
    from nvcodec.video import Frame

    planes = []
    for plane in vf.planes[:3]:
        buf = np.frombuffer(plane, dtype=np.uint8)
        arr = buf[: plane.height * plane.line_size].reshape(plane.height, plane.line_size)
        planes.append(np.ascontiguousarray(arr[:, : plane.width]))
    return Frame(tuple(planes))


def encoder_options(codec: str, preset: str, crf: int, width: int, height: int, tune: str | None) -> dict[str, str]:
    """libx264/libx265 private options for one CRF point."""
    opts = {"preset": preset, "crf": str(crf)}
    if tune:
        opts["tune"] = tune
    if codec == "libx265":
        params = "log-level=error"
        if min(width, height) < 64:  # see nvcodec.video.pyav_io: x265 AQ + cu-tree on tiny frames
            params += ":aq-mode=0:cutree=0"
        opts["x265-params"] = params
    return opts


def x26x_roundtrip(clip: Clip, codec: str, decoder: str, preset: str, crf: int,
                   tune: str | None = None) -> tuple[int, list, float]:
    """(coded bytes, decoded frames, encode seconds) of the clip through libx264/libx265."""
    import av

    info = clip.info
    if info.chroma != "420" or info.bit_depth != 8:
        raise SystemExit(f"{clip.name}: the anchors need 8-bit 4:2:0 input (got {info.chroma}, {info.bit_depth} bit)")
    fps = Fraction(info.fps) if info.fps and info.fps > 0 else Fraction(25)
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt = info.width, info.height, "yuv420p"
    enc.time_base = 1 / fps
    enc.framerate = fps
    enc.options = encoder_options(codec, preset, crf, info.width, info.height, tune)
    t0 = time.perf_counter()
    packets = []
    for i, f in enumerate(clip.frames):
        packets += enc.encode(_to_av_frame(av, f, info.width, info.height, i))
    packets += enc.encode(None)
    seconds = time.perf_counter() - t0
    data = [bytes(p) for p in packets]
    dec = av.CodecContext.create(decoder, "r")
    out = []
    for d in data:
        out += [_from_av_frame(vf) for vf in dec.decode(av.Packet(d))]
    out += [_from_av_frame(vf) for vf in dec.decode(None)]
    return sum(len(d) for d in data), out, seconds


def anchor_rows(clip: Clip, codecs: Sequence[str], presets: Sequence[str], crfs: Sequence[int],
                tune: str | None) -> list[dict[str, Any]]:
    rows = []
    for name in codecs:
        codec, decoder = CODEC_NAMES[name]
        for preset in presets:
            for crf in crfs:
                nbytes, decoded, secs = x26x_roundtrip(clip, codec, decoder, preset, crf, tune)
                row = base_row(clip, f"{name}-{preset}", codec, preset, f"crf={crf}")
                row.update(bytes=nbytes, bpp=nbytes * 8 / clip.info.pixels, encode_seconds=secs,
                           **measure(clip, decoded))
                say(f"  {row['method']:>14} crf {crf:2d}: {row['bpp']:.4f} bpp, {row['psnr_yuv']:.2f} dB YUV")
                rows.append(row)
    return rows


def base_row(clip: Clip, method: str, codec: str, preset: str, setting: str) -> dict[str, Any]:
    i = clip.info
    return {"clip": clip.name, "width": i.width, "height": i.height, "frames": i.frames, "method": method,
            "codec": codec, "preset": preset, "setting": setting}


# ------------------------------------------------------------------ nvcodec

def nvcodec_rows(clip: Clip, bpps: Sequence[float], budget: Budget, sides: dict[str, tuple[str, Path]],
                 jobs: int, work: Path) -> list[dict[str, Any]]:
    """Encode the clip at each bpp with each side's code (`sides`: method -> (commit, source
    tree)), decode the file, measure the decoded video. The sides of one bpp run at the same
    time when `jobs` > 1, so a drift of the machine is shared by both."""
    work.mkdir(parents=True, exist_ok=True)
    points = [(bpp, method, commit, tree) for bpp in bpps for method, (commit, tree) in sides.items()]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda p: nvcodec_point(clip, budget, work, *p), points))


def nvcodec_point(clip: Clip, budget: Budget, work: Path, bpp: float, method: str, commit: str,
                  tree: Path) -> dict[str, Any]:
    from nvcodec.video import open_video

    side = method.replace("@", "_")  # methods differ even where commits do not (--previous HEAD)
    nvc, y4m = (work / f"{clip.name}_{bpp:g}bpp_{side}{ext}" for ext in (".nvc", ".decoded.y4m"))
    row = base_row(clip, method, "nvcodec", "-", f"bpp={bpp:g}")
    row.update(commit=commit, target_bpp=bpp, time_budget=budget.time, steps=budget.steps)
    try:
        r = run_encode(tree, clip.path, nvc, y4m, bpp, budget.time, budget.steps, budget.seed, budget.threads,
                       budget.device)
    except EncodeFailed as e:  # e.g. a bpp too low for the headers: record it, go on
        say(f"  {method:>14} bpp {bpp:g}: failed: {e}")
        return {**row, "error": " ".join(str(e).split())[-300:]}
    with open_video(y4m) as reader:
        decoded = [reader.read(i) for i in range(len(reader))]
    y4m.unlink(missing_ok=True)
    row.update({k: r.get(k) for k in ("bytes", "bpp", "encode_seconds", "fit_steps", "report_psnr_yuv",
                                      "psnr_float", "psnr_quantized", "passes")}, **measure(clip, decoded))
    say(f"  {method:>14} bpp {bpp:g}: {row['bpp']:.4f} bpp, {row['psnr_yuv']:.2f} dB YUV "
        f"({r['fit_steps']} steps, {r['encode_seconds']:.0f} s)")
    return row


def is_nvcodec(method: str) -> bool:
    """nvcodec's methods: this tree's (`nvcodec`) and a previous commit's (`nvcodec@COMMIT`)."""
    return method == "nvcodec" or method.startswith("nvcodec@")


def float_to_file(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per nvcodec method: the loss from the fitted float model to the decoded file (RGB PSNR),
    median over all points and worst over small clips (<= 176x144)."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows if is_nvcodec(r["method"])):
        pts = [r for r in valid(rows, "psnr_float") if r["method"] == method and r.get("psnr_rgb") is not None]
        loss = [float(r["psnr_float"]) - float(r["psnr_rgb"]) for r in pts]
        small = [d for r, d in zip(pts, loss) if int(r["width"]) * int(r["height"]) <= 176 * 144]
        out.append({"method": method, "points": len(loss),
                    "median_loss_db": float(np.median(loss)) if loss else math.nan,
                    "max_loss_small_db": max(small) if small else math.nan})
    return out


# ------------------------------------------------------------------ BD metrics

def valid(rows: Sequence[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Rows that have a finite value of `metric` (failed points have none)."""
    return [r for r in rows if r.get(metric) is not None and math.isfinite(float(r[metric]))]


def rd_curve(rows: Sequence[dict[str, Any]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(rate, quality) sorted by rate, keeping only points better than every cheaper point."""
    pts = sorted((float(r["bpp"]), float(r[metric])) for r in valid(rows, metric))
    keep: list[tuple[float, float]] = []
    for rate, q in pts:
        if not keep or (q > keep[-1][1] and rate > keep[-1][0]):
            keep.append((rate, q))
    return np.array([p[0] for p in keep]), np.array([p[1] for p in keep])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of the union of two ranges that both cover (0 when disjoint)."""
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    span = max(a.max(), b.max()) - min(a.min(), b.min())
    return max(0.0, hi - lo) / span if span > 0 else 0.0


def bd_pair(anchor: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """BD-rate (%) and BD-quality (dB) of test vs anchor on one metric, with overlap flags."""
    import bjontegaard as bd

    ra, qa = rd_curve(anchor, metric)
    rt, qt = rd_curve(test, metric)
    out: dict[str, Any] = {"metric": metric, "points_test": len(rt), "points_anchor": len(ra),
                           "bd_rate": math.nan, "bd_psnr": math.nan, "overlap_quality": 0.0, "overlap_rate": 0.0}
    if len(ra) < 2 or len(rt) < 2:
        out["flag"] = "too few monotone points"
        return out
    out["overlap_quality"] = overlap(qa, qt)
    out["overlap_rate"] = overlap(np.log10(ra), np.log10(rt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if out["overlap_quality"] > 0:
            out["bd_rate"] = float(bd.bd_rate(ra, qa, rt, qt, method="pchip", require_matching_points=False,
                                              min_overlap=0))
        if out["overlap_rate"] > 0:
            out["bd_psnr"] = float(bd.bd_psnr(ra, qa, rt, qt, method="pchip", require_matching_points=False,
                                              min_overlap=0))
    out["flag"] = overlap_flag(out["overlap_quality"], out["overlap_rate"])
    return out


def overlap_flag(quality: float, rate: float) -> str:
    """'ok', 'no overlap', or which range (quality for BD-rate, rate for BD-PSNR) is short."""
    if quality <= 0 and rate <= 0:
        return "no overlap"
    parts = [f"{name}: " + ("none" if v <= 0 else f"partial ({100 * v:.0f}%)")
             for name, v in (("quality", quality), ("rate", rate)) if v < MIN_OVERLAP]
    return "; ".join(parts) or "ok"


def bd_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """BD of each nvcodec method vs every anchor method, per clip and metric, then the mean over clips."""
    out = []
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    tests = list(dict.fromkeys(r["method"] for r in rows if is_nvcodec(r["method"])))
    anchors = list(dict.fromkeys(r["method"] for r in rows if not is_nvcodec(r["method"])))
    for method in tests:
        for clip in clips:
            test = [r for r in rows if r["clip"] == clip and r["method"] == method]
            if not test:
                continue
            for anchor in anchors:
                ref = [r for r in rows if r["clip"] == clip and r["method"] == anchor]
                for metric in METRICS:
                    out.append({"clip": clip, "method": method, "anchor": anchor, **bd_pair(ref, test, metric)})
    return out + mean_bd(out)


def mean_bd(per_clip: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over clips of the finite BD values (the flag says how many clips entered)."""
    out = []
    keys = list(dict.fromkeys((r.get("method", "nvcodec"), r["anchor"], r["metric"]) for r in per_clip))
    for method, anchor, metric in keys:
        sel = [r for r in per_clip if (r.get("method", "nvcodec"), r["anchor"], r["metric"]) == (method, anchor, metric)]
        rates = [r["bd_rate"] for r in sel if math.isfinite(r["bd_rate"])]
        psnrs = [r["bd_psnr"] for r in sel if math.isfinite(r["bd_psnr"])]
        flagged = sum(r["flag"] != "ok" for r in sel)
        out.append({"clip": "MEAN", "method": method, "anchor": anchor, "metric": metric,
                    "bd_rate": float(np.mean(rates)) if rates else math.nan,
                    "bd_psnr": float(np.mean(psnrs)) if psnrs else math.nan,
                    "overlap_quality": min(r["overlap_quality"] for r in sel),
                    "overlap_rate": min(r["overlap_rate"] for r in sel),
                    "points_test": "", "points_anchor": "",
                    "flag": f"{len(rates)}/{len(sel)} clips" + (f", {flagged} flagged" if flagged else "")})
    return out


# ------------------------------------------------------------------ plots

def plot_clip(rows: Sequence[dict[str, Any]], clip: str, path: Path) -> Path:
    """RD curves of one clip: PSNR-YUV, PSNR-RGB and MS-SSIM (dB) against bpp."""
    plt = common.pyplot()
    sel = [r for r in rows if r["clip"] == clip]
    methods = list(dict.fromkeys(r["method"] for r in sel))
    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4))
    for ax, metric in zip(axes, METRICS):
        for m in methods:
            pts = sorted((float(r["bpp"]), float(r[metric])) for r in valid(sel, metric) if r["method"] == m)
            style = (dict(marker="o", linewidth=2.5, color="black") if m == "nvcodec" else
                     dict(marker="o", linewidth=1.5, color="grey", linestyle="--") if is_nvcodec(m) else
                     dict(marker="."))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=m, **style)
        common.log_axis(ax)
        ax.set_xlabel("bpp")
        ax.set_ylabel(METRIC_LABELS[metric])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    first = sel[0]
    fig.suptitle(f"{clip} ({first['width']}x{first['height']}, {first['frames']} frames)")
    return common.save_figure(fig, path)


def plot_published(path: Path) -> Path:
    """The published UVG points (benchmarks/anchors/uvg.py), marked as another dataset."""
    from .anchors import uvg

    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, d in uvg.UVG_RESULTS.items():
        ax.plot(d["bpp"], d["psnr"], marker="o", linestyle="--" if d["type"] == "classical" else "-", label=name)
    common.log_axis(ax)
    ax.set_xlabel("bpp")
    ax.set_ylabel("PSNR (dB), as published")
    ax.set_title("UVG 1080p, another dataset (published numbers)\nnot comparable with our clips", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    w = uvg.TAKEN_FROM
    fig.text(0.01, 0.01, f"from {w['repository']}/{w['path']} @ {w['commit'][:12]}", fontsize=6)
    return common.save_figure(fig, path)


# ------------------------------------------------------------------ report

def settings_line(settings: dict[str, Any]) -> str:
    budget = (f"{settings['time']} s of fitting per point" if settings["steps"] is None
              else f"{settings['steps']} steps per point")
    tune = f", tune {settings['tune']}" if settings["tune"] else ""
    frames = f"first {settings['frames']}" if settings["frames"] else "all"
    return (f"Settings: nvcodec at bpp {settings['bpp']} with {budget}; anchors {settings['codecs']} at presets "
            f"{settings['presets']}, CRF {settings['crf']}{tune}; frames: {frames}.")


def markdown_sections(rows: Sequence[dict[str, Any]], bd: Sequence[dict[str, Any]],
                      settings: dict[str, Any]) -> list[str]:
    """The report's paragraphs and tables."""
    from .anchors import uvg

    w = uvg.TAKEN_FROM
    return [
        settings_line(settings),
        "BD-rate < 0: nvcodec needs fewer bits than the anchor for the same quality. BD-PSNR > 0: "
        "nvcodec is better at the same rate. PCHIP interpolation (bjontegaard package); "
        f"flagged where the curves overlap on less than {int(100 * MIN_OVERLAP)} % of the range, "
        "'-' where they do not overlap at all. Only points on the rising part of each curve enter.",
        "## Mean over clips (PSNR-YUV 6:1:1)",
        common.markdown_table([r for r in bd if r["clip"] == "MEAN" and r["metric"] == "psnr_yuv"],
                              ("method", "anchor", "bd_rate", "bd_psnr", "flag"),
                              ("method", "anchor", "BD-rate %", "BD-PSNR dB", "clips")),
        "## From the fitted model to the file (PSNR-RGB of the float model minus the decoded file's)",
        common.markdown_table(float_to_file(rows), ("method", "points", "median_loss_db", "max_loss_small_db"),
                              ("method", "points", "median loss dB", "worst on clips <= 176x144, dB")),
        "## Per clip and metric",
        common.markdown_table([r for r in bd if r["clip"] != "MEAN"],
                              ("clip", "method", "anchor", "metric", "bd_rate", "bd_psnr", "overlap_quality", "flag"),
                              ("clip", "method", "anchor", "metric", "BD-rate %", "BD-quality dB", "overlap", "flag"),
                              2),
        "## nvcodec points",
        common.markdown_table([r for r in rows if is_nvcodec(r["method"])],
                              ("clip", "method", "target_bpp", "bpp", "psnr_yuv", "psnr_rgb", "psnr_float",
                               "ms_ssim", "fit_steps", "passes", "encode_seconds", "error"),
                              ("clip", "method", "target bpp", "bpp", "PSNR-YUV", "PSNR-RGB", "PSNR-RGB fitted",
                               "MS-SSIM", "steps", "passes", "encode s", "error")),
        "## Published points for reference: UVG 1080p, another dataset",
        f"Plotted in `uvg_published.png`, copied from `{w['repository']}/{w['path']}` at commit `{w['commit']}` "
        "(see benchmarks/anchors/uvg.py for each point's source). Other content, resolution and machines: "
        "not comparable with the numbers above.",
        "All points: `bdrate.csv`; BD values: `bd.csv`; plots: `rd_<clip>.png`.",
    ]


def build_parser():
    p = common.base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--clips", type=common.str_list, default=list(DEFAULT_CLIPS),
                   help="comma-separated clip names (prefix of a file in --clips-dir) or paths")
    p.add_argument("--frames", type=int, default=None, help="use only the first N frames of each clip")
    p.add_argument("--bpp", type=common.float_list, default=[0.05, 0.1, 0.2, 0.4], help="nvcodec target bpps")
    p.add_argument("--time", type=float, default=60.0, help="nvcodec fitting seconds per point")
    p.add_argument("--steps", type=int, default=None, help="nvcodec fitting steps per point (instead of --time)")
    p.add_argument("--codecs", type=common.str_list, default=["x264", "x265"], help="anchors: x264, x265")
    p.add_argument("--presets", type=common.str_list, default=["medium", "veryslow"], help="x264/x265 presets")
    p.add_argument("--crf", type=common.int_list, default=[17, 21, 25, 29, 33, 37, 41, 45, 49],
                   help="CRF sweep of the anchors")
    p.add_argument("--tune", default=None, help="x264/x265 --tune (e.g. psnr); default none")
    p.add_argument("--skip-nvcodec", action="store_true", help="anchors only")
    p.add_argument("--previous", default=None,
                   help="also encode every point with this commit's code (a git worktree; method nvcodec@COMMIT)")
    p.add_argument("--jobs", type=int, default=1,
                   help="nvcodec encodes at once, each in its own process with --threads (default: the cores "
                        "shared out) torch threads; 2 with --previous runs both sides of a point together")
    p.add_argument("--keep", action="store_true", help="keep the .nvc files in <out>/work")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.apply_threads(args.threads)
    for c in args.codecs:
        if c not in CODEC_NAMES:
            raise SystemExit(f"unknown anchor codec {c!r} (use x264, x265)")
    out: Path = args.out
    work = out / "work"
    settings = {"clips": args.clips, "frames": args.frames, "bpp": args.bpp, "time": args.time,
                "steps": args.steps, "codecs": args.codecs, "presets": args.presets, "crf": args.crf,
                "tune": args.tune, "seed": args.seed, "device": args.device, "jobs": args.jobs}
    meta = common.machine_description(args.device)
    budget = Budget(None if args.steps else args.time, args.steps, args.seed,
                    args.threads or max(1, (os.cpu_count() or 1) // args.jobs), args.device)
    sides = {"nvcodec": (meta["commit"], common.REPO_ROOT)}
    if args.previous:
        prev = short_commit(args.previous)
        sides[f"nvcodec@{prev}"] = (prev, commit_tree(prev, work))
        settings["previous_commit"] = prev
    rows: list[dict[str, Any]] = []
    try:
        for src in common.find_clips(args.clips, args.clips_dir):
            clip = load(common.prepare_clip(src, args.frames, work))
            clip.name = common.clip_label(src)
            say(f"{clip.name}: {clip.info.width}x{clip.info.height}, {clip.info.frames} frames")
            if not args.skip_nvcodec:
                rows += nvcodec_rows(clip, args.bpp, budget, sides, args.jobs, work)
            rows += anchor_rows(clip, args.codecs, args.presets, args.crf, args.tune)
            common.write_csv(out / f"{NAME}.csv", rows, COLUMNS)  # keep what is done so far
            plot_clip(rows, clip.name, out / f"rd_{clip.name}.png")
    finally:
        for method, (_, tree) in sides.items():
            if method != "nvcodec":
                drop_tree(tree)
    bd = bd_rows(rows)
    common.write_csv(out / f"{NAME}.csv", rows, COLUMNS)
    common.write_csv(out / "bd.csv", bd, BD_COLUMNS)
    from .anchors import uvg

    common.write_csv(out / "uvg_published.csv", uvg.rows(),
                     ("method", "bpp", "psnr", "source", "reference", "taken_from"))
    plot_published(out / "uvg_published.png")
    common.write_markdown(out / f"{NAME}.md", "nvcodec vs x264 / x265: rate-distortion and BD-rate",
                          markdown_sections(rows, bd, settings), meta)
    return common.finish(out, meta, settings, keep_work=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
