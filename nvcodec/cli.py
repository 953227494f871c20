"""The `nvcodec` command: parses options, calls nvcodec.api, reports.

Conventions shared by every command: -o/--output, -y/--overwrite, --json (exactly
one JSON object on stdout; human text and progress on stderr), -q/--quiet.
Exit codes: 0 ok, 2 usage error, 1 any other error, 130 interrupted. Errors are
one line on stderr; --debug shows the traceback.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import signal
import sys
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .defaults import (DEFAULT_BPP, DEFAULT_CRF, DEFAULT_EVAL_METRICS, DEFAULT_INBETWEEN, DEFAULT_MAX_DECODE_MACS,
                       DEFAULT_PRESET, DEFAULT_SEGMENT_PIXELS, INBETWEEN_MODES, SEGMENT_RETRIES,
                       DEMO_BPP, DEMO_TIME_BUDGET, EVAL_METRICS)
from .effort import PRESETS, describe_presets
from .tunes import TUNES
from .errors import Interrupted, NvcodecError, WorkersLost


# ---------------------------------------------------------------- option parsing

def _parse_size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        w, h = value.lower().split("x")
        size = (int(w), int(h))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, got {value!r}") from None
    if size[0] <= 0 or size[1] <= 0:
        raise click.BadParameter(f"sizes must be positive, got {value!r}")
    return size


def _parse_rational(value: str | None) -> Fraction | None:
    if value is None:
        return None
    try:
        r = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"expected a number or a ratio like 30000/1001, got {value!r}") from None
    if r <= 0:
        raise click.BadParameter(f"must be positive, got {value!r}")
    return r


def _parse_range(value: str | None) -> tuple[int | None, int | None] | None:
    """`A:B` (frames A..B-1, either end optional) or `N` (the first N frames, as x265's --frames)."""
    if value is None:
        return None
    parts = value.split(":")
    if len(parts) == 1:
        parts = ["", value]
        if not value.strip().isdigit() or int(value) <= 0:
            raise click.BadParameter(f"expected a frame count N > 0 or a range A:B, got {value!r}")
    if len(parts) != 2:
        raise click.BadParameter(f"expected N (a frame count) or A:B (frames A..B-1), got {value!r}")
    try:
        a = int(parts[0]) if parts[0] else None
        b = int(parts[1]) if parts[1] else None
    except ValueError:
        raise click.BadParameter(f"expected integers in A:B, got {value!r}") from None
    if (a is not None and a < 0) or (b is not None and b < 0) or (a is not None and b is not None and b <= a):
        raise click.BadParameter(f"need 0 <= A < B, got {value!r}")
    return (a, b)


def _raw_spec(size: str | None, fps: str | None, pix_fmt: str | None):
    """A RawSpec when the raw-YUV options are given, else None."""
    if size is None and fps is None and pix_fmt is None:
        return None
    from .video import RawSpec

    wh = _parse_size(size)
    if wh is None:
        raise click.UsageError("raw .yuv input needs --input-size WxH (and --input-fps, --input-pix-fmt)")
    return RawSpec(width=wh[0], height=wh[1], fps=_parse_rational(fps) or Fraction(25), pix_fmt=pix_fmt or "yuv420p")


def _json_default(o: Any):
    if isinstance(o, Fraction):
        return f"{o.numerator}/{o.denominator}"
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean_json(o: Any) -> Any:
    """inf/nan are not JSON: map them to null."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean_json(v) for v in o]
    return o


#: the version of the JSON every command prints; its keys are the ones README's "JSON output" lists
JSON_SCHEMA_VERSION = 1


def emit_json(command: str, input_path: Any, body: dict) -> None:
    """Exactly one JSON object on stdout: schema_version, command, input, then the command's keys."""
    obj = {"schema_version": JSON_SCHEMA_VERSION, "command": command, "input": str(input_path), **body}
    sys.stdout.write(json.dumps(_clean_json(obj), default=_json_default, allow_nan=False) + "\n")
    sys.stdout.flush()


def say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        click.echo(msg, err=True)


def _fmt(v: Any, unit: str = "", digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}" if math.isfinite(v) else f"inf{unit}"
    return f"{v}{unit}"


json_opt = click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout.")
quiet_opt = click.option("-q", "--quiet", is_flag=True, help="No progress or human text on stderr.")
overwrite_opt = click.option("-y", "--overwrite", is_flag=True, help="Replace an existing output file.")
device_opt = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run the network: auto picks CUDA when present.",
)
# the input's geometry when it has no header (raw .yuv); the short names are the old ones, kept
# where they can only mean the input (decode's --size/--fps are its output's)
raw_opts = [
    click.option("--input-size", "--size", "raw_size", metavar="WxH", help="Raw .yuv input only: frame size."),
    click.option("--input-fps", "--fps", "raw_fps", metavar="R",
                 help="Raw .yuv input only: frame rate (e.g. 30000/1001) [default: 25]."),
    click.option("--input-pix-fmt", "--pix-fmt", "raw_pix_fmt", metavar="FMT",
                 help="Raw .yuv input only: yuv420p (default), yuv422p, yuv444p, gray, or their 10le/12le/16le forms."),
]
threads_opt = click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
                           help="CPU threads for the network (default: torch's, usually one per core).")


def _with_raw(f):
    for opt in reversed(raw_opts):
        f = opt(f)
    return f


# ---------------------------------------------------------------- commands

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nvcodec")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
def cli(debug: bool) -> None:
    """nvcodec: a neural video codec (NVTM) with a real, versioned bitstream.

    \b
    nvcodec encode in.y4m -o out.nvc --bpp 0.1 --time 120
    nvcodec decode out.nvc -o out.y4m --scale 2 --fps-mult 2
    nvcodec info out.nvc
    nvcodec eval in.y4m out.y4m
    """


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_with_raw
@json_opt
def info(input_path: Path, raw_size, raw_fps, raw_pix_fmt, as_json: bool) -> None:
    """Describe a video (.y4m, .yuv, anything PyAV reads; - for stdin) or an .nvc file."""
    from .probe import info as describe  # torch-free for videos: answers at once

    result = describe(input_path, raw=_raw_spec(raw_size, raw_fps, raw_pix_fmt))
    if as_json:
        emit_json("info", input_path, result)
        return
    for key, value in result.items():
        if isinstance(value, (list, dict)):
            click.echo(f"{key}:")
            rows = value if isinstance(value, list) else [f"{k}: {v}" for k, v in value.items()]
            for row in rows:
                click.echo(f"  {row}")
        else:
            click.echo(f"{key}: {value}")


@cli.command(name="eval")
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("dist", type=click.Path(path_type=Path))
@_with_raw
@click.option("--metrics", default=",".join(DEFAULT_EVAL_METRICS), show_default=True, metavar="LIST",
              help=f"Comma-separated, from {', '.join(EVAL_METRICS)} (PSNR is always measured).")
@click.option("--no-lpips", is_flag=True, help="Leave LPIPS out even when --metrics names it.")
@click.option("--frames", "frame_range", metavar="N|A:B", help="Compare the first N frames, or frames A..B-1.")
@click.option("--per-frame", is_flag=True, help="Also give per-frame values (in --json: `per_frame`).")
@device_opt
@threads_opt
@json_opt
@quiet_opt
def eval_cmd(ref: Path, dist: Path, raw_size, raw_fps, raw_pix_fmt, metrics: str, no_lpips: bool, frame_range,
             per_frame: bool, device: str, threads, as_json: bool, quiet: bool) -> None:
    """Compare DIST with REF (either may be - for stdin): PSNR (Y, U, V, YUV 6:1:1, RGB), MS-SSIM, LPIPS."""
    from . import api

    names = [m.strip() for m in metrics.split(",") if m.strip() and not (no_lpips and m.strip() == "lpips")]
    result = api.evaluate(ref, dist, raw=_raw_spec(raw_size, raw_fps, raw_pix_fmt), metrics=names,
                          frame_range=_parse_range(frame_range), device=device, threads=threads, progress=not quiet)
    frames = result.pop("per_frame")
    if as_json:
        emit_json("eval", dist, {**result, **({"per_frame": frames} if per_frame else {})})
        return
    click.echo(
        f"frames {result['frames']}  PSNR Y {_fmt(result['psnr_y'])}  U {_fmt(result['psnr_u'])}  "
        f"V {_fmt(result['psnr_v'])}  YUV {_fmt(result['psnr_yuv'])}  RGB {_fmt(result['psnr_rgb'])} dB"
        + (f"  MS-SSIM {_fmt(result['msssim'], digits=4)}" if "msssim" in names else "")
        + (f"  LPIPS {_fmt(result['lpips'], digits=4)}" if "lpips" in names else "")
    )
    if result.get("identical"):
        click.echo("the two videos are identical (PSNR is infinite)")
    if "lpips" in names and result["lpips"] is None:
        say(f"LPIPS unavailable: {result['lpips_unavailable_reason']}", quiet)
    if per_frame:
        for row in frames:
            click.echo(f"{row['frame']:5d}  " + "  ".join(f"{k} {_fmt(v, digits=4)}" for k, v in row.items()
                                                       if k != "frame" and v is not None))


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Output .nvc file.")
@click.option("--bpp", type=click.FloatRange(min=0.001, max=24.0), default=DEFAULT_BPP, show_default=True,
              help="Target bits per pixel: file bytes x 8 / (W x H x frames).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default=DEFAULT_PRESET, show_default=True,
              help=f"Encoder effort in fitting seconds per million pixels of the clip ({describe_presets()}).")
@click.option("--tune", type=click.Choice(list(TUNES)), default="none", show_default=True,
              help="motion: also fit the frames half-way between frames, so that the model itself follows motion "
                   "between frames (decode --inbetween model); costs the coded frames some quality at equal size, "
                   "and decode's default in-between frames do better without it (RESULTS.md).")
@click.option("--time", "time_budget", type=click.FloatRange(min=0.5), default=None,
              help="Wall-clock seconds for fitting, instead of the preset's (the grids' HEVC round trips "
                   "during the fit and the rate search after it come on top).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Fitting steps (deterministic), instead of the preset's time.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed. With --steps, the same options give identical bytes on the same machine and torch "
                   "build; another CPU may round floats differently, so its file can differ in the last bits.")
@click.option("--max-decode-macs", type=click.IntRange(min=0), default=None, metavar="N",
              help="Decoding cost cap: the base network's multiply-adds per pixel and frame "
                   f"[default: {DEFAULT_MAX_DECODE_MACS}, a 3x32 network, ~27-35 CIF frames/s on 2 CPU cores; "
                   "0: no cap, the network widens with the budget].")
@device_opt
@click.option("--frames", "frame_range", metavar="N|A:B", help="Encode the first N source frames, or frames A..B-1.")
@click.option("--segment-frames", type=click.IntRange(min=0), default=None, metavar="N",
              help="Frames a segment (whole GOPs): each segment is its own model, fitted with its own --time "
                   f"and read on its own [default: as many as stay under {DEFAULT_SEGMENT_PIXELS // 10**6} "
                   "Mpixel; 0: one segment].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Segments fitted side by side, each in its own process with its share of the cores; a "
                   f"process that dies is replaced and its segment resumed (up to {SEGMENT_RETRIES} times).")
@click.option("--ray", "ray_address", metavar="auto|ADDRESS",
              help="Fit the segments as Ray tasks: on the cluster at ADDRESS, or on a local Ray that `auto` starts "
                   "(one GPU a task where the cluster has GPUs, else its share of the cores). Needs "
                   '`pip install "nvcodec[ray]"`; not with --workers.')
@click.option("--mask", "mask_path", type=click.Path(path_type=Path),
              help="Inpainting: a mask video/image; white pixels are left out of fitting.")
@click.option("--mask-boxes", metavar="N:SIZE", help="Inpainting: N random SIZExSIZE boxes per frame left out of fitting.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Checkpoint file (default: OUTPUT.ckpt).")
@click.option("--resume", is_flag=True,
              help="Continue fitting from the checkpoint (segments already finished are not fitted again).")
@_with_raw
@threads_opt
@overwrite_opt
@json_opt
@quiet_opt
def encode(input_path: Path, output: Path, bpp: float, preset: str, tune: str, time_budget, steps, seed: int, max_decode_macs,
           device: str, frame_range, segment_frames, workers: int, ray_address, mask_path, mask_boxes, checkpoint,
           resume: bool, raw_size, raw_fps, raw_pix_fmt,
           threads, overwrite: bool, as_json: bool, quiet: bool) -> None:
    """Fit NVTM to a video and write it as an .nvc file at a target bpp.

    INPUT `-` reads y4m from stdin (raw planes with --input-size ...); -o - writes the .nvc to stdout."""
    from . import api
    from .ray_engine import check_ray_options

    _stdout_is_for_data(output, as_json)
    options = api.EncodeOptions(
        bpp=bpp,
        preset=preset,
        tune=tune,
        threads=threads,
        time_budget=time_budget,
        steps=steps,
        seed=seed,
        device=device,
        frame_range=_parse_range(frame_range),
        segment_frames=segment_frames,
        workers=workers,
        ray=ray_address,
        **({} if max_decode_macs is None else {"max_decode_macs": max_decode_macs or None}),
        mask_path=mask_path,
        mask_boxes=_parse_boxes(mask_boxes),
        checkpoint_path=checkpoint,
        resume=resume,
        overwrite=overwrite,
        progress=not quiet,
    )
    check_ray_options(options)  # before reading anything (a clip of one segment is fitted here, not on Ray)
    report = api.encode(input_path, output, options, raw=_raw_spec(raw_size, raw_fps, raw_pix_fmt))
    if as_json:
        emit_json("encode", input_path, report.to_json())
        return
    say(_encode_summary(report), quiet)
    if report.rate.get("under_target"):
        say(f"note: the file is more than {options.tolerance:.0%} below the target: {report.rate['under_target']}", quiet)


def _encode_summary(r) -> str:
    """The last line of an encode, as x265 ends one: frames and speed, rate, quality, the file."""
    return (f"encoded {r.frames} frames in {r.encode_seconds:.1f} s ({r.frames / max(r.encode_seconds, 1e-9):.2f} fps), "
            f"{r.kbps:.2f} kb/s, {r.bpp:.4f} bpp (target {r.target_bpp:g}), PSNR-YUV {_fmt(r.psnr_yuv)} dB "
            f"(Y {_fmt(r.psnr_y)} U {_fmt(r.psnr_u)} V {_fmt(r.psnr_v)}), RGB {_fmt(r.psnr_rgb)} dB "
            f"-> {r.output} ({r.bytes} bytes)")


def _stdout_is_for_data(output: Path, as_json: bool) -> None:
    if str(output) == "-" and as_json:
        raise click.UsageError("-o - writes the output to stdout, so --json cannot print there too")


def _parse_boxes(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        n, size = (int(v) for v in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"expected N:SIZE, got {value!r}") from None
    if n <= 0 or size <= 0:
        raise click.BadParameter(f"N and SIZE must be positive, got {value!r}")
    return (n, size)


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output: .y4m (default), .yuv, .mp4/.mkv/.mov, or a PNG pattern like frames/%05d.png.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True, max=16), help="Spatial scale factor (any float > 0).")
@click.option("--size", "out_size", metavar="WxH", help="Output size instead of --scale.")
@click.option("--fps-mult", type=click.FloatRange(min=0, min_open=True, max=64), help="Frame-rate multiplier (duration kept).")
@click.option("--fps", "out_fps", metavar="R", help="Output frame rate instead of --fps-mult (duration kept).")
@click.option("--inbetween", type=click.Choice(INBETWEEN_MODES), default=DEFAULT_INBETWEEN, show_default=True,
              help="Frames between the coded ones (--fps-mult, --fps): motion = interpolated from the decoded "
                   "frames around them along their optical flow; model = the model evaluated at that time "
                   "(it cross-fades).")
@click.option("--frames", "frame_range", metavar="N|A:B",
              help="Decode the first N source frames, or frames A..B-1 (random access).")
@click.option("--pix-fmt", "pix_fmt", metavar="FMT",
              help="Output pixel format: yuv420p, yuv422p, yuv444p, gray, or their 10le/12le/16le forms "
                   "(.mp4/.mkv/.mov: 8 or 10 bits) [default: the source's].")
@click.option("--crf", type=click.IntRange(min=0, max=51), default=None,
              help=f".mp4/.mkv/.mov output: the x264/x265 constant-rate factor [default: {DEFAULT_CRF}, "
                   "near-transparent].")
@device_opt
@threads_opt
@overwrite_opt
@json_opt
@quiet_opt
def decode(input_path: Path, output: Path, scale, out_size, fps_mult, out_fps, inbetween: str, frame_range, pix_fmt,
           crf, device: str, threads, overwrite: bool, as_json: bool, quiet: bool) -> None:
    """Reconstruct video from an .nvc file at any size, frame rate and range (-o - : y4m on stdout)."""
    from . import api

    _stdout_is_for_data(output, as_json)
    if scale is not None and out_size is not None:
        raise click.UsageError("give --scale or --size, not both")
    if fps_mult is not None and out_fps is not None:
        raise click.UsageError("give --fps-mult or --fps, not both")
    options = api.DecodeOptions(
        scale=scale,
        size=_parse_size(out_size),
        fps_mult=fps_mult,
        fps=_parse_rational(out_fps),
        inbetween=inbetween,
        frame_range=_parse_range(frame_range),
        pix_fmt=pix_fmt,
        crf=crf,
        threads=threads,
        device=device,
        overwrite=overwrite,
        progress=not quiet,
    )
    report = api.decode(input_path, output, options)
    if as_json:
        emit_json("decode", input_path, report.to_json())
        return
    say(
        f"wrote {output}: {report.frames} frames {report.width}x{report.height} @ {_fmt(float(report.fps))} fps "
        f"in {report.decode_seconds:.1f} s ({report.frames_per_second:.1f} frames/s)",
        quiet,
    )


@cli.command()
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), default=Path("nvcodec-demo"),
              show_default=True, help="Folder for the demo's files (created; its demo files are replaced).")
@click.option("--bpp", type=click.FloatRange(min=0.001, max=24.0), default=DEMO_BPP, show_default=True)
@click.option("--time", "time_budget", type=click.FloatRange(min=0.5), default=DEMO_TIME_BUDGET, show_default=True,
              help="Wall-clock seconds for fitting.")
@device_opt
@json_opt
@quiet_opt
def demo(out_dir: Path, bpp: float, time_budget: float, device: str, as_json: bool, quiet: bool) -> None:
    """Encode the bundled sample clip, decode the file, and measure it: bpp and PSNR."""
    from . import api
    from .video import sample_clip_path

    src = sample_clip_path()
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    nvc, y4m = out_dir / "sample.nvc", out_dir / "sample_decoded.y4m"
    say(f"encoding {src.name} at {bpp} bpp for {time_budget:g} s ...", quiet)
    enc = api.encode(src, nvc, api.EncodeOptions(bpp=bpp, time_budget=time_budget, device=device,
                                                  overwrite=True, progress=not quiet))
    dec = api.decode(nvc, y4m, api.DecodeOptions(device=device, overwrite=True, progress=not quiet))
    ev = api.evaluate(src, y4m, device=device, progress=not quiet)
    result = {"nvc": str(nvc), "decoded": str(y4m), "bytes": enc.bytes, "bpp": enc.bpp, "kbps": enc.kbps,
              "target_bpp": bpp, **{k: ev[k] for k in ("psnr_rgb", "psnr_yuv", "psnr_y", "psnr_u", "psnr_v", "msssim")},
              "encoder": {"psnr_rgb": enc.psnr_rgb, "psnr_yuv": enc.psnr_yuv},
              "encode_seconds": enc.encode_seconds, "decode_seconds": dec.decode_seconds}
    if as_json:
        emit_json("demo", src, result)
        return
    click.echo(_encode_summary(enc))
    click.echo(f"decoded {y4m} in {dec.decode_seconds:.1f} s: PSNR-YUV {_fmt(ev['psnr_yuv'])} dB "
               f"(the encoder said {_fmt(enc.psnr_yuv)}), RGB {_fmt(ev['psnr_rgb'])} dB, "
               f"MS-SSIM {_fmt(ev['msssim'], digits=4)}")


# ---------------------------------------------------------------- entry point

def _line(e: BaseException) -> str:
    """An exception's message as exactly one line (a library's multi-line text included)."""
    return " ".join(str(e).split())


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminate_like_ctrl_c():
    """SIGTERM takes the Ctrl-C path (checkpoint, temp files removed, exit 130) instead of
    dying on the spot; the fitting loop installs its own handler for both."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def resume_command(args: list[str]) -> str:
    """The shell command (quoted) that continues an interrupted encode from its checkpoint: the
    user's own arguments, so every option that shaped the clip, the model and the fit is
    repeated and the checkpoint matches, plus --resume."""
    argv = list(args)
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(["nvcodec", *argv])


def _command_name(args: list[str]) -> str | None:
    """The subcommand of an argument list (the group's own options are flags)."""
    return next((a for a in args if not a.startswith("-")), None)


def _interrupted(e: Interrupted, args: list[str]) -> str:
    if e.checkpoint is not None and _command_name(args) == "encode":
        return f"interrupted: {_line(e)}; resume with: {resume_command(args)}"
    return f"interrupted: {_line(e)}"


def _workers_lost(e: WorkersLost, args: list[str]) -> str:
    if e.resumable and _command_name(args) == "encode":
        return f"error: {_line(e)}: {resume_command(args)}"
    return f"error: {_line(e)}"


#: how each failure reaches the user, first match wins: (exception type, exit code or None for
#: the exception's own, the line after "nvcodec: ", whether --debug shows the traceback instead)
_FAILURES: tuple[tuple[type[BaseException], int | None, Callable[[Any, list[str]], str], bool], ...] = (
    (click.exceptions.Abort, 130, lambda e, args: "interrupted", False),  # click's Ctrl-C outside the fit
    (click.ClickException, None, lambda e, args: f"error: {_line(e.format_message())}", True),  # usage: 2
    (Interrupted, 130, _interrupted, True),
    (WorkersLost, 1, _workers_lost, True),
    (NvcodecError, 1, lambda e, args: f"error: {_line(e)}", True),
    (KeyboardInterrupt, 130, lambda e, args: "interrupted", True),
    (MemoryError, 1, lambda e, args: "error: out of memory", True),
    # a bug of ours: still one line, never a traceback
    (Exception, 1, lambda e, args: f"internal error: {type(e).__name__}: {_line(e)} (run with --debug for details)",
     True),
)


def _forget_caught_interrupt() -> None:
    """CPython remembers a KeyboardInterrupt raised inside any exec of a string (dataclass and
    namedtuple creation, pybind11) even when it was caught, and under `python -m` then ends
    the process with SIGINT instead of our exit code; the next exec of a string resets that."""
    exec("")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; never lets a traceback reach the user unless --debug."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return _run(args)
    finally:
        _forget_caught_interrupt()


def _run(args: list[str]) -> int:
    try:
        with _terminate_like_ctrl_c():
            cli.main(args=args, prog_name="nvcodec", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except (Exception, KeyboardInterrupt) as e:
        kind, code, text, debug_raises = next(row for row in _FAILURES if isinstance(e, row[0]))
        if debug_raises and "--debug" in args:
            raise
        click.echo(f"nvcodec: {text(e, args)}", err=True)
        return e.exit_code if code is None else code
    return 0


if __name__ == "__main__":
    sys.exit(main())
