"""The CUDA path in one run: environment, the CUDA tests, fitting throughput and quality, decode speed, memory.

    python -m benchmarks.gpu_check --out DIR [--device cuda|cpu] [--quick]

One process, in this order (each phase's wall time goes into the results):

1. environment: torch and CUDA versions, the GPU (name, capability, memory), the TF32 flags;
2. the CUDA test subset, `pytest -m cuda` in a subprocess (before this process touches the GPU),
   plus the older GPU-only tests of tests/metrics and tests/video (skipif-guarded, not marked);
3. one untimed warm-up encode of a tiny crop (CUDA context, cuBLAS, kernel loading);
4. `nvcodec.api.encode` of the clip (default the 720p shared clip `bbb_1280x720_30f`) at each
   `--points` BPP@SECONDS (default 0.1@60, 0.3@60, 0.1@180: both rates at 60 s and the 180 s budget at
   one rate, 300 s of fitting in all): file bpp, decoded PSNR-YUV (the encoder measures the bytes it
   writes with the decoder's code), steps/s, samples/s and passes (from the report when the fitting
   engine provides them), the GPU's peak memory;
5. `nvcodec.api.decode` of the first point's file to .y4m at the source size and at `scale=1.5`
   (1280x720 -> 1920x1080), writing included, after a one-frame warm-up: median and best frames/s of
   `--decode-repeats` runs, peak memory; the native output is evaluated against the source;
6. cross-device agreement: the first `--cross-frames` frames decoded on the CPU and on `--device`,
   each evaluated against the source (PSNR-YUV difference, largest sample difference).

Planned length of the default full run on an H100/H200: ~45 s of tests + ~10 s warm-up + 300 s of
fitting + ~3 x 10 s of rate search and quality measurement + ~20 s of decoding and checks, about
6.5 minutes (`--points 0.1@60,0.3@60` for a ~3.5 minute rerun). `--quick` is the CI smoke test:
a 128x128 crop of 4 frames (the bundled sample clip when the shared clip is absent), 100 steps, one
rate, one decode repeat; it takes seconds on a CPU.

Writes into --out: `gpu_check.json` (everything), `gpu_check.md` (the tables for RESULTS.md),
`gpu_check_encode.csv`, `gpu_check_decode.csv`, `pytest_cuda.log`, `meta.json`, the encoded `.nvc`
files; temporaries go to `<out>/work` (removed unless --keep-work).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import common
from .common import say

NAME = "gpu_check"
DEFAULT_CLIP = "bbb_1280x720"
DEFAULT_POINTS = "0.1@60,0.3@60,0.1@180"
#: the decode outputs measured: label -> DecodeOptions.scale
DECODE_SCALES = {"native": None, "scale1.5": 1.5}
#: --quick: a textured 128x128 patch of bbb (x, y: its top-left corner, clamped into smaller clips), 4 frames
QUICK = {"width": 128, "height": 128, "x": 384, "y": 512, "frames": 4, "steps": 100, "points": "0.3@0"}
#: fitting seconds of the CPU encode made when no encode succeeds on the device (decoding is measured on it)
FALLBACK_SECONDS = 20.0
#: the warm-up encode's rate (a 128x128x4 crop reaches it with its container overhead)
QUICK_BPP_WARMUP = 0.5
#: GPU-only tests written before the `cuda` marker existed (skipif-guarded): run by node id
OTHER_GPU_TESTS = ("tests/metrics/test_metrics_evaluate.py::test_evaluate_on_cuda_matches_cpu",
                   "tests/video/test_video_color.py::test_torch_conversion_on_cuda")

ENCODE_COLUMNS = ("clip", "device", "target_bpp", "time_budget", "step_budget", "bpp", "bytes", "psnr_yuv",
                  "psnr_y", "psnr_u", "psnr_v", "psnr_rgb", "psnr_unquantized", "fit_steps", "fit_seconds",
                  "encode_seconds", "steps_per_second", "samples_per_second", "samples_source", "passes",
                  "fit_engine", "base_width", "base_depth", "grid_values", "peak_memory_mib", "nvc")
DECODE_COLUMNS = ("clip", "device", "output", "scale", "width", "height", "frames", "repeats", "median_seconds",
                  "best_seconds", "median_frames_per_second", "best_frames_per_second", "peak_memory_mib",
                  "psnr_yuv_vs_source", "report_psnr_yuv", "delta_db")


# ------------------------------------------------------------------ small helpers

def parse_points(text: str) -> list[tuple[float, float]]:
    """'0.1@60,0.3@60' -> [(0.1, 60.0), (0.3, 60.0)] (bpp, fitting seconds; 0 s: use --steps)."""
    out = []
    for item in common.str_list(text):
        bpp, sep, secs = item.partition("@")
        try:
            b, s = float(bpp), float(secs) if sep else 60.0
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected BPP@SECONDS items, got {item!r}") from e
        if not b > 0 or s < 0:
            raise argparse.ArgumentTypeError(f"bpp must be > 0 and seconds >= 0 in {item!r}")
        out.append((b, s))
    if not out:
        raise argparse.ArgumentTypeError("no points given")
    return out


def crop_clip(src: Path, dst: Path, width: int, height: int, frames: int, x: int | None = None,
              y: int | None = None) -> dict[str, Any]:
    """width x height at (x, y) (default: the centre; moved inside the picture where it would cross
    an edge) of the first `frames` frames of `src` as a y4m; offsets even, so 4:2:0 chroma is cut on
    sample boundaries. Returns where the crop sits."""
    from nvcodec.video import Frame, create_writer, open_video

    with open_video(src) as reader:
        info = reader.info
        w, h = min(width, info.width), min(height, info.height)
        n = min(frames, len(reader))
        x0 = (info.width - w) // 2 if x is None else min(max(0, x), info.width - w)
        y0 = (info.height - h) // 2 if y is None else min(max(0, y), info.height - h)
        x0, y0 = x0 // 2 * 2, y0 // 2 * 2
        dst.parent.mkdir(parents=True, exist_ok=True)
        with create_writer(dst, info.replace(width=w, height=h, frames=n), overwrite=True) as writer:
            for i in range(n):
                planes = reader.read(i).planes
                luma = planes[0]
                cut = []
                for p in planes:
                    sx, sy = luma.shape[1] // p.shape[1], luma.shape[0] // p.shape[0]
                    cut.append(np.ascontiguousarray(p[y0 // sy:(y0 + h) // sy, x0 // sx:(x0 + w) // sx]))
                writer.write(Frame(tuple(cut)))
    return {"source": str(src), "x": x0, "y": y0, "width": w, "height": h, "frames": n}


def resolve_clip(name: str, clips_dir: Path, quick: bool) -> Path:
    """The clip to measure; in --quick mode the bundled sample clip when the shared clip is absent."""
    try:
        return common.find_clips([name], clips_dir)[0]
    except SystemExit:
        if not quick:
            raise
        from nvcodec.video import sample_clip_path

        say(f"clip {name!r} not found in {clips_dir}: using the bundled sample clip")
        return Path(sample_clip_path())


def cuda_in_use(device: str) -> bool:
    return device.startswith("cuda")


def reset_peak(device: str) -> None:
    if cuda_in_use(device):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_mib(device: str) -> float | None:
    """torch.cuda.max_memory_allocated since the last reset_peak, in MiB (None on the CPU)."""
    if not cuda_in_use(device):
        return None
    import torch

    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / (1 << 20)


def _flag(read) -> Any:
    """A torch numeric setting, or why it cannot be read (torch >= 2.9 raises on reading a legacy TF32
    flag once the new `fp32_precision` API has set it)."""
    try:
        return read()
    except (AttributeError, RuntimeError) as e:
        return f"unreadable: {str(e).splitlines()[0][:80]}"


def environment(device: str) -> dict[str, Any]:
    """torch / CUDA versions, the GPU and the numeric flags the measurements ran under."""
    import torch

    env: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "float32_matmul_precision": _flag(torch.get_float32_matmul_precision),
        "matmul_fp32_precision": _flag(lambda: torch.backends.cuda.matmul.fp32_precision),
        "matmul_allow_tf32": _flag(lambda: bool(torch.backends.cuda.matmul.allow_tf32)),
        "cudnn_allow_tf32": _flag(lambda: bool(torch.backends.cudnn.allow_tf32)),
        "device": device,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update({
            "gpu_count": torch.cuda.device_count(),
            "gpu": props.name,
            "gpu_capability": f"{props.major}.{props.minor}",
            "gpu_memory_gib": props.total_memory / (1 << 30),
            "gpu_multiprocessors": props.multi_processor_count,
        })
        try:
            r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            env["driver"] = r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            env["driver"] = None
    return env


# ------------------------------------------------------------------ phase 2: the CUDA tests

_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)")


def run_pytest(label: str, targets: Sequence[str], marker: str | None, log: Path,
               timeout: float) -> dict[str, Any]:
    """pytest in a subprocess from the repository root; counts, exit status, the output's tail."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
           "--continue-on-collection-errors", *(["-m", marker] if marker else []), *targets]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(common.REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    say(f"[{label}] {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=common.REPO_ROOT, capture_output=True, text=True, env=env, timeout=timeout)
        rc, text = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        rc = None
        text = ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""))
        text += f"\n[gpu_check] pytest killed after {timeout:g} s\n"
    seconds = time.perf_counter() - t0
    with open(log, "a") as fh:
        fh.write(f"===== {label}: {' '.join(cmd[1:])}\n{text}\n")
    summary = [ln for ln in text.strip().splitlines() if _COUNT.search(ln)]
    counts: dict[str, int] = {}
    if summary:
        for n, kind in _COUNT.findall(summary[-1]):
            counts["errors" if kind.startswith("error") else kind] = int(n)
    skip_reasons = sorted({m.group(1).strip() for m in re.finditer(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$",
                                                                    text, re.MULTILINE)})
    # 0: all passed (or skipped); 5: nothing selected
    ok = rc in (0, 5) and counts.get("failed", 0) == 0 and counts.get("errors", 0) == 0
    res = {"label": label, "command": " ".join(["python", *cmd[1:]]), "returncode": rc, "ok": ok,
           "seconds": seconds, "counts": counts, "skip_reasons": skip_reasons,
           "summary": summary[-1].strip("= ") if summary else None, "tail": text[-4000:]}
    say(f"[{label}] exit {rc}, {res['summary']} ({seconds:.1f} s)")
    return res


# ------------------------------------------------------------------ phases 4-6: encode, decode, agree

def encode_point(src: Path, nvc: Path, bpp: float, seconds: float, steps: int | None, device: str,
                 seed: int, pixels: int, label: str) -> dict[str, Any]:
    from nvcodec import api

    opts = api.EncodeOptions(bpp=bpp, time_budget=seconds if seconds > 0 else None,
                             steps=steps if seconds <= 0 else None, seed=seed, device=device,
                             overwrite=True, progress=False)
    reset_peak(device)
    rep = api.encode(src, nvc, opts)
    peak = peak_mib(device)
    sps = getattr(rep, "samples_per_second", None)
    passes = getattr(rep, "passes", None)
    source = "report" if sps is not None else None
    if sps is None:  # an engine without the figure: its batch is FitOptions' default (api.encode sets none)
        from nvcodec.fit import FitOptions

        batch = getattr(FitOptions(), "frames_per_batch", None), getattr(FitOptions(), "pixels_per_frame", None)
        if all(isinstance(b, int) for b in batch) and rep.fit_seconds > 0:
            sps = rep.fit_steps * batch[0] * batch[1] / rep.fit_seconds
            source = f"estimate: steps x {batch[0]}x{batch[1]} (FitOptions batch)"
    if passes is None and sps is not None:
        passes = sps * rep.fit_seconds / pixels
    model = rep.model or {}
    return {
        "clip": label, "device": rep.device, "target_bpp": bpp, "time_budget": seconds if seconds > 0 else None,
        "step_budget": opts.steps, "bpp": rep.bpp, "bytes": rep.bytes, "psnr_yuv": rep.psnr_yuv,
        "psnr_y": rep.psnr_y, "psnr_u": rep.psnr_u, "psnr_v": rep.psnr_v, "psnr_rgb": rep.psnr_rgb,
        "psnr_unquantized": rep.psnr_stages["float"], "fit_steps": rep.fit_steps, "fit_seconds": rep.fit_seconds,
        "encode_seconds": rep.encode_seconds,
        "steps_per_second": rep.fit_steps / rep.fit_seconds if rep.fit_seconds > 0 else None,
        "samples_per_second": sps, "samples_source": source, "passes": passes,
        "fit_engine": getattr(rep, "fit_engine", None),
        "base_width": model.get("base_width"), "base_depth": model.get("base_depth"),
        "grid_values": model.get("grid_values"), "peak_memory_mib": peak, "nvc": nvc.name,
    }


def decode_speed(nvc: Path, src: Path, work: Path, device: str, repeats: int, label: str,
                 report_psnr_yuv: float | None) -> list[dict[str, Any]]:
    from nvcodec import api

    rows = []
    for name, scale in DECODE_SCALES.items():
        out = work / f"decoded_{name}.y4m"
        # warm-up: one frame at this size (kernels, allocator), untimed
        api.decode(nvc, out, api.DecodeOptions(scale=scale, frame_range=(0, 1), device=device, overwrite=True,
                                               progress=False))
        runs, peaks = [], []
        for _ in range(repeats):
            reset_peak(device)
            runs.append(api.decode(nvc, out, api.DecodeOptions(scale=scale, device=device, overwrite=True,
                                                               progress=False)))
            peaks.append(peak_mib(device))
        secs = [r.decode_seconds for r in runs]
        row = {"clip": label, "device": runs[0].device, "output": name, "scale": scale, "width": runs[0].width,
               "height": runs[0].height, "frames": runs[0].frames, "repeats": repeats,
               "median_seconds": statistics.median(secs), "best_seconds": min(secs),
               "median_frames_per_second": runs[0].frames / statistics.median(secs),
               "best_frames_per_second": runs[0].frames / min(secs),
               "peak_memory_mib": None if peaks[0] is None else max(peaks),
               "psnr_yuv_vs_source": None, "report_psnr_yuv": None, "delta_db": None}
        if scale is None:  # the written file against the source: what the encoder reported?
            ev = api.evaluate(src, out, device=device)
            row["psnr_yuv_vs_source"] = ev["psnr_yuv"]
            row["report_psnr_yuv"] = report_psnr_yuv
            if ev["psnr_yuv"] is not None and report_psnr_yuv is not None:
                row["delta_db"] = ev["psnr_yuv"] - report_psnr_yuv
        say(f"  decode {name} {row['width']}x{row['height']}: {row['median_frames_per_second']:.1f} frames/s "
            f"median ({repeats} run(s), writing included), peak {common.fmt(row['peak_memory_mib'], 1)} MiB")
        out.unlink(missing_ok=True)
        rows.append(row)
    return rows


def cross_device(nvc: Path, src: Path, work: Path, device: str, frames: int) -> dict[str, Any]:
    """The first `frames` frames decoded on the CPU and on `device`, each against the source."""
    from nvcodec import api
    from nvcodec.video import open_video

    ref = common.prepare_clip(src, frames, work)
    res: dict[str, Any] = {"frames": frames, "devices": ["cpu", device]}
    outs = {}
    for dev in ("cpu", device):
        out = work / f"cross_{dev}.y4m"
        api.decode(nvc, out, api.DecodeOptions(frame_range=(0, frames), device=dev, overwrite=True, progress=False))
        res[f"psnr_yuv_{dev}"] = api.evaluate(ref, out, device="cpu")["psnr_yuv"]
        outs[dev] = out
    a, b = res["psnr_yuv_cpu"], res[f"psnr_yuv_{device}"]
    res["delta_db"] = None if a is None or b is None else b - a
    max_diff, differing, total = 0, 0, 0
    with open_video(outs["cpu"]) as ra, open_video(outs[device]) as rb:
        for i in range(len(ra)):
            for pa, pb in zip(ra.read(i).planes, rb.read(i).planes):
                d = np.abs(pa.astype(np.int32) - pb.astype(np.int32))
                max_diff = max(max_diff, int(d.max()))
                differing += int(np.count_nonzero(d))
                total += d.size
    res["max_sample_difference"] = max_diff
    res["differing_samples_fraction"] = differing / max(1, total)
    res["within_0_05_db"] = res["delta_db"] is not None and abs(res["delta_db"]) <= 0.05
    for out in outs.values():
        out.unlink(missing_ok=True)
    return res


# ------------------------------------------------------------------ report

def markdown_sections(result: dict[str, Any]) -> list[str]:
    env, enc, dec = result["environment"], result["encode"], result["decode"]
    gpu = (f"GPU **{env['gpu']}** (compute {env['gpu_capability']}, {env['gpu_memory_gib']:.0f} GiB, driver "
           f"{env.get('driver') or '?'}), " if env.get("gpu") else "no GPU, ")
    out = [f"{gpu}torch {env['torch']} (CUDA {env['torch_cuda'] or '-'}, cuDNN {env['cudnn'] or '-'}), device "
           f"`{env['device']}`, float32 matmul precision `{env['float32_matmul_precision']}` (cuBLAS fp32 "
           f"`{env['matmul_fp32_precision']}` outside the fit). Clip `{result['clip']['label']}` "
           f"({result['clip']['width']}x{result['clip']['height']}x{result['clip']['frames']}). "
           f"{'Quick smoke run (tiny crop, step budgets): the figures mean nothing. ' if result['quick'] else ''}"
           f"Whole run {result['total_seconds']:.0f} s."]
    tests = ["| test run | exit | result | seconds |", "|---|---|---|---|"]
    for t in result["pytest"]:
        shown = t["command"].replace(" -q -rs -p no:cacheprovider --continue-on-collection-errors", "")
        tests.append(f"| `{shown.replace('python -m pytest', 'pytest')}` | {t['returncode']} | {t['summary'] or '-'} "
                     f"| {t['seconds']:.1f} |")
    reasons = sorted({r for t in result["pytest"] for r in t["skip_reasons"]})
    out.append("CUDA tests:\n\n" + "\n".join(tests) + ("\n\nSkip reasons: " + "; ".join(reasons) if reasons else ""))
    out.append("Encoding (`nvcodec.api.encode`, PSNR measured on the decoder's reconstruction of the written "
               "file; samples/s and passes from the encoder's report, or estimated where marked):\n\n"
               + common.markdown_table(
                   [{**r, "budget": f"{r['time_budget']:g} s" if r["time_budget"] else f"{r['step_budget']} steps",
                     "samples": common.fmt(r["samples_per_second"], 0)
                     + (" (est.)" if (r["samples_source"] or "").startswith("estimate") else "")} for r in enc],
                   ("target_bpp", "budget", "bpp", "psnr_yuv", "psnr_y", "psnr_unquantized", "fit_engine",
                    "fit_steps", "steps_per_second", "samples", "passes", "fit_seconds", "encode_seconds",
                    "peak_memory_mib"),
                   ("target bpp", "budget", "bpp", "PSNR-YUV", "PSNR-Y", "float PSNR-RGB", "engine", "steps",
                    "steps/s", "samples/s", "passes", "fit s", "encode s", "peak MiB"), digits=2))
    made = enc[0] if enc else result.get("fallback_encode")
    if made and not enc:
        out.append(f"No encode succeeded on `{env['device']}`: the decode figures below are of "
                   f"`{made['nvc']}`, encoded on the CPU.")
    out.append(f"Decoding `{made['nvc'] if made else 'the warm-up file'}` to .y4m (`nvcodec.api.decode`, model "
               "loading and writing included, after a one-frame warm-up):\n\n"
               + common.markdown_table(dec, ("output", "width", "height", "frames", "repeats",
                                             "median_frames_per_second", "best_frames_per_second",
                                             "peak_memory_mib", "psnr_yuv_vs_source", "delta_db"),
                                       ("output", "width", "height", "frames", "runs", "median frames/s",
                                        "best frames/s", "peak MiB", "PSNR-YUV of the file", "vs report dB"),
                                       digits=2))
    x = result.get("cross_device")
    if x:
        dev = x["devices"][1]
        out.append(f"Cross-device decode of the first {x['frames']} frames: PSNR-YUV {common.fmt(x['psnr_yuv_cpu'])} "
                   f"dB on the CPU, {common.fmt(x[f'psnr_yuv_{dev}'])} dB on `{dev}` (difference "
                   f"{common.fmt(x['delta_db'], 4)} dB, {'within' if x['within_0_05_db'] else 'NOT within'} 0.05 dB); "
                   f"largest sample difference {x['max_sample_difference']}, "
                   f"{100 * x['differing_samples_fraction']:.2f} % of samples differ.")
    for e in result.get("errors") or []:
        out.append(f"**Failed: {e['where']}**: `{e['error']}` (traceback in gpu_check.json)")
    out.append("Phase wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["phase_seconds"].items()))
    return out


# ------------------------------------------------------------------ main

def build_parser() -> argparse.ArgumentParser:
    p = common.base_parser(NAME, __doc__.split("\n\n")[0])
    p.set_defaults(device="cuda")
    p.add_argument("--clip", default=DEFAULT_CLIP, help="clip name (prefix in --clips-dir) or path")
    p.add_argument("--points", type=parse_points, default=None,
                   help=f"BPP@SECONDS encodes (default {DEFAULT_POINTS}; --quick: {QUICK['points']} with --steps)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"step budget of the points whose SECONDS is 0 (default {QUICK['steps']})")
    p.add_argument("--quick", action="store_true",
                   help=f"CI smoke run: {QUICK['width']}x{QUICK['height']} crop of {QUICK['frames']} frames, "
                        f"{QUICK['steps']} steps, one rate, tests/cuda only")
    p.add_argument("--decode-repeats", type=int, default=None, help="timed decodes per output (default 3, quick 1)")
    p.add_argument("--cross-frames", type=int, default=8,
                   help="frames decoded on both the CPU and --device for the agreement check (0: skip)")
    p.add_argument("--no-pytest", action="store_true", help="skip the CUDA test subset")
    p.add_argument("--pytest-timeout", type=float, default=300.0, help="seconds before the test run is killed")
    p.add_argument("--keep-work", action="store_true", help="keep <out>/work (cut clips, decoded videos)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t_start = time.perf_counter()
    phases: dict[str, float] = {}
    errors: list[dict[str, str]] = []

    def guarded(name: str, fn, *a, **k):
        """Run one measurement; a failure is recorded (the run goes on: GPU time is scarce) and gives None."""
        try:
            return fn(*a, **k)
        except Exception as e:  # noqa: BLE001 - everything the run finds broken is reported, not fatal
            import traceback

            say(f"!! {name} failed: {type(e).__name__}: {e}")
            errors.append({"where": name, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
            return None

    common.apply_threads(args.threads)
    from nvcodec.device import resolve_device
    from nvcodec.errors import DependencyError

    try:
        device = str(resolve_device(args.device))
    except DependencyError as e:
        raise SystemExit(f"gpu_check: {e}") from None
    out: Path = args.out
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    points = args.points or parse_points(QUICK["points"] if args.quick else DEFAULT_POINTS)
    steps = args.steps if args.steps is not None else QUICK["steps"]
    repeats = args.decode_repeats or (1 if args.quick else 3)
    src_full = resolve_clip(args.clip, args.clips_dir, args.quick)
    budgets = ", ".join(f"{b:g} bpp @ " + (f"{s:g} s" if s > 0 else f"{steps} steps") for b, s in points)
    say(f"gpu_check on {device}{' (quick)' if args.quick else ''}: {src_full.name}, encodes {budgets}")

    # 1. environment (this process then holds a CUDA context but no memory while pytest runs)
    t0 = time.perf_counter()
    env = environment(device)
    say("  " + ", ".join(f"{k}={v}" for k, v in env.items() if k in ("torch", "torch_cuda", "gpu", "driver")))

    def phase_end(name: str) -> None:  # the phase that began at the current t0
        phases[name] = time.perf_counter() - t0

    phase_end("environment")

    # 2. the CUDA tests
    t0 = time.perf_counter()
    log = out / "pytest_cuda.log"
    log.unlink(missing_ok=True)
    tests: list[dict[str, Any]] = []
    if not args.no_pytest:
        tests.append(run_pytest("cuda-marked", ["tests/cuda"] if args.quick else ["tests"], "cuda", log,
                                args.pytest_timeout))
        if not args.quick:
            tests.append(run_pytest("older GPU-only", list(OTHER_GPU_TESTS), None, log, args.pytest_timeout))
    phase_end("pytest")

    # the clip, and a tiny crop for the warm-up (with --quick, the clip measured)
    t0 = time.perf_counter()
    from nvcodec import api
    from nvcodec.video import open_video

    tiny = work / f"{src_full.stem}_crop{QUICK['width']}x{QUICK['height']}.y4m"
    tiny_info = crop_clip(src_full, tiny, QUICK["width"], QUICK["height"], QUICK["frames"], QUICK["x"], QUICK["y"])
    if args.quick:
        src, clip = tiny, dict(tiny_info)
    else:
        src = src_full
        with open_video(src) as r:
            clip = {"source": str(src), "x": 0, "y": 0, "width": r.info.width, "height": r.info.height,
                    "frames": len(r)}
    clip["label"] = common.clip_label(src_full) + (" (crop)" if args.quick else "")
    pixels = clip["width"] * clip["height"] * clip["frames"]

    # 3. warm-up: CUDA context, cuBLAS handles, the kernels of fit / rate search / decode (untimed)
    warm = work / "warmup.nvc"
    guarded("warm-up encode", api.encode, tiny, warm,
            api.EncodeOptions(bpp=QUICK_BPP_WARMUP, steps=5, seed=args.seed, device=device, overwrite=True,
                              progress=False))
    phase_end("warmup")

    # 4. encodes
    t0 = time.perf_counter()
    enc_rows: list[dict[str, Any]] = []
    for bpp, seconds in points:
        budget = f"{seconds:g} s" if seconds > 0 else f"{steps} steps"
        nvc = out / f"{common.clip_label(src)}_{bpp:g}bpp_{seconds:g}s.nvc"
        say(f"encode {src.name} at {bpp:g} bpp, {budget} on {device}")
        row = guarded(f"encode {bpp:g} bpp {budget}", encode_point, src, nvc, bpp, seconds, steps, device,
                      args.seed, pixels, clip["label"])
        if row is None:
            continue
        say(f"  {row['bpp']:.4f} bpp, PSNR-YUV {common.fmt(row['psnr_yuv'], 2)} dB, {row['fit_steps']} steps "
            f"({common.fmt(row['steps_per_second'], 1)}/s, {common.fmt(row['samples_per_second'], 0)} samples/s), "
            f"encode {row['encode_seconds']:.1f} s, peak {common.fmt(row['peak_memory_mib'], 1)} MiB")
        enc_rows.append(row)
        common.write_csv(out / f"{NAME}_encode.csv", enc_rows, ENCODE_COLUMNS)

    # no file from the device (fitting there is broken): one made on the CPU, so decoding is still measured
    fallback = None
    if not enc_rows:
        secs = 0.0 if args.quick else FALLBACK_SECONDS
        say(f"no encode succeeded on {device}: encoding {src.name} on the CPU "
            f"({f'{secs:g} s' if secs else f'{steps} steps'}) to measure decoding on the device")
        fallback = guarded("fallback CPU encode", encode_point, src,
                           out / f"{common.clip_label(src)}_cpu_fallback.nvc", points[0][0], secs, steps, "cpu",
                           args.seed, pixels, clip["label"])
    phase_end("encode")

    # 5. decode speed (and the written file's PSNR) of the first point's file (the warm-up's if none)
    t0 = time.perf_counter()
    made = enc_rows[0] if enc_rows else fallback
    if made:
        first, dec_src, ref_psnr = out / made["nvc"], src, made["psnr_yuv"]
    else:
        first, dec_src, ref_psnr = warm, tiny, None
    dec_rows: list[dict[str, Any]] = []
    if first.exists():
        dec_rows = guarded("decode", decode_speed, first, dec_src, work, device, repeats, clip["label"],
                           ref_psnr) or []
    common.write_csv(out / f"{NAME}_decode.csv", dec_rows, DECODE_COLUMNS)
    phase_end("decode")

    # 6. the same file decoded on the CPU and on the device
    t0 = time.perf_counter()
    cross = None
    if args.cross_frames > 0 and first.exists():
        with open_video(dec_src) as r:
            n = min(args.cross_frames, len(r))
        cross = guarded("cross-device decode", cross_device, first, dec_src, work, device, n)
        if cross:
            say(f"cross-device: CPU {common.fmt(cross['psnr_yuv_cpu'])} dB, {device} "
                f"{common.fmt(cross[f'psnr_yuv_{device}'])} dB, max sample difference "
                f"{cross['max_sample_difference']}")
    phase_end("cross_device")

    tests_ok = all(t["ok"] for t in tests) if tests else None
    result = {
        "name": NAME, "quick": args.quick, "device": device, "environment": env, "clip": clip,
        "points": [{"bpp": b, "seconds": s} for b, s in points], "pytest": tests, "tests_ok": tests_ok,
        "encode": enc_rows, "fallback_encode": fallback, "decode": dec_rows, "cross_device": cross, "errors": errors,
        "phase_seconds": phases, "total_seconds": time.perf_counter() - t_start,
    }
    result["ok"] = (not errors and tests_ok is not False and len(enc_rows) == len(points)
                    and (cross is None or cross["within_0_05_db"]))
    meta = common.machine_description(device)
    settings = {k: getattr(args, k) for k in ("clip", "quick", "steps", "cross_frames", "seed", "threads")}
    settings.update(points=result["points"], decode_repeats=repeats, device=device)
    result["meta"] = meta
    (out / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str))
    md = common.write_markdown(out / f"{NAME}.md", "The CUDA path measured (benchmarks/gpu_check.py)",
                               markdown_sections(result), meta)
    common.write_meta(out, meta, settings)
    if not args.keep_work:
        common.remove_work(out)
    print(md.read_text())
    say(f"results in {out} ({result['total_seconds']:.0f} s){'' if result['ok'] else ': SOME CHECKS FAILED'}")
    return 0 if result["ok"] else 1

if __name__ == "__main__":
    raise SystemExit(main())
