"""The library API behind the CLI: encode, decode, info, evaluate.

The encoder's reported quality comes from the model rebuilt from the very bytes it
writes (the decoder's code path), never from the float model it fitted.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

from .defaults import DEFAULT_BPP, DEFAULT_INBETWEEN, DEFAULT_MAX_DECODE_MACS, DEFAULT_PRESET
from .bitstream.format import StreamHeader
from .bitstream.reader import read_container, read_container_file
from .compress import hevc, model_codec
from .compress.model_codec import byte_split
from .device import cpu_threads, resolve_device
from .effort import effort
from .tunes import tune
from .errors import InputError
from .fsutil import atomic_write_bytes, check_output_path, is_stdio
from .metrics.psnr import json_value
from .metrics.quality import combine_quality
from .segment import SegmentCode, SegmentFrames, check_segment_memory, encode_segment, fit_budget, plan_segments
from .fit.checkpoint import EncodeCheckpoint
from .model.config import NVTMConfig
from .rate.bits import bpp_of, kbps
from .rate.sizing import RateModel
from .playback import SegmentedClip
from .probe import info
from .progress import ProgressLine, bar, eta
from .render import output_size, output_times
from .video import RawSpec, VideoInfo, create_writer, open_video
from .video.base import frame_span
from .video.color import rgb_to_yuv
from .video.images import is_png_target, write_png_frames
from .video.rawyuv import with_pix_fmt

# ------------------------------------------------------------------ options / reports

@dataclass
class EncodeOptions:
    bpp: float = DEFAULT_BPP
    preset: str = DEFAULT_PRESET  # nvcodec.effort: the fitting budget per million pixels
    tune: str = "none"  # nvcodec.tunes: "motion" also fits the times between frames
    time_budget: float | None = None  # fitting seconds, over the preset's
    steps: int | None = None  # fitting steps (deterministic), over the preset's and time_budget
    threads: int | None = None  # torch CPU threads for the whole encode (None: torch's default)
    segment_frames: int | None = None  # frames a segment (whole GOPs); None: from the clip's size; 0: one segment
    workers: int = 1  # segments fitted side by side, each in its own process
    ray: str | None = None  # "auto" or a Ray cluster's address: segments fitted as Ray tasks (nvcodec.ray_engine)
    seed: int = 0
    device: str = "auto"
    frame_range: tuple[int | None, int | None] | None = None
    mask_path: Path | None = None
    mask_boxes: tuple[int, int] | None = None
    checkpoint_path: Path | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    tolerance: float = 0.03  # the file lands in target x (1 +- tolerance), never above target x (1 + tolerance)
    x265_preset: str = "medium"
    # the base network's multiply-adds per pixel and frame (decoding cost); None: no cap
    max_decode_macs: int | None = DEFAULT_MAX_DECODE_MACS
    # library/benchmark knobs (no CLI flag): the model family sizing picks from, and its constants
    model_template: NVTMConfig | None = None  # None: model.presets.codec()
    rate_model: RateModel = RateModel()
    fit_overrides: dict[str, Any] = field(default_factory=dict)  # FitOptions fields over the "encode" preset


@dataclass
class EncodeReport:
    input: str
    output: str
    bytes: int
    bpp: float
    kbps: float  # at the clip's frame rate
    target_bpp: float
    psnr_rgb: float | None  # from the decoded file
    psnr_yuv: float | None
    psnr_y: float | None
    psnr_u: float | None
    psnr_v: float | None
    encode_seconds: float
    fit_seconds: float
    fit_steps: int
    samples_per_second: float  # pixel samples the fit computed its loss on, per fitting second
    passes: float  # those samples / the clip's pixels: how often the fit saw each pixel
    fit_engine: str  # "dense" (point sets of a GOP) or "pixel" (random pixels of random frames)
    width: int
    height: int
    frames: int
    fps: str
    device: str
    byte_split: dict[str, int]
    model: dict[str, Any]
    rate: dict[str, Any]
    masked_psnr: float | None = None  # inpainting: RGB PSNR inside the mask (vs the unmasked source)
    # RGB PSNR of each stage from the fit to the file: the fitted model ("float"), its 8-bit
    # grids and quantised weights ("quantized"), the decoded file ("decoded", = psnr)
    psnr_stages: dict[str, float | None] = field(default_factory=dict)
    # each segment: first_frame, frames, bytes (of its one-segment part), psnr_yuv, fit_steps, rate
    segments: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: json_value(v) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class DecodeOptions:
    scale: float | None = None
    size: tuple[int, int] | None = None
    fps_mult: float | None = None
    fps: Fraction | None = None
    frame_range: tuple[int | None, int | None] | None = None
    device: str = "auto"
    overwrite: bool = False
    progress: bool = True
    pix_fmt: str | None = None  # output chroma layout and bit depth (ffmpeg's names); None: the source's
    crf: int | None = None  # x264/x265 quality of .mp4/.mkv/.mov output; None: near-transparent
    threads: int | None = None  # torch CPU threads (None: torch's default)
    inbetween: str = DEFAULT_INBETWEEN  # frames between the coded ones: "motion" or "model" (nvcodec.interpolation)


@dataclass
class DecodeReport:
    input: str
    output: str
    frames: int
    width: int
    height: int
    fps: Fraction
    decode_seconds: float
    frames_per_second: float
    device: str

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["fps_float"] = float(self.fps)
        return d


def _say(enabled: bool, msg: str) -> None:
    if enabled:
        print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ encode

def load_source(src: str | os.PathLike, raw: RawSpec | None = None,
                frame_range: tuple[int | None, int | None] | None = None,
                progress: bool = False) -> tuple[VideoInfo, list]:
    """The source frames (YUV planes) and their VideoInfo (frames = the selected count)."""
    with open_video(src, raw, max_frames=None if frame_range is None else frame_range[1]) as reader:
        info, a, b = _selected(reader, src, frame_range)
        return info, _read(reader, a, b, progress)


def _selected(reader, src, frame_range: tuple[int | None, int | None] | None) -> tuple[VideoInfo, int, int]:
    """The selected frames A..B-1 of an open video, and its VideoInfo with their count."""
    if reader.info.frames <= 0:
        raise InputError(f"{src}: the video has no frames")
    a, b = frame_span(reader.info.frames, frame_range)
    return reader.info.replace(frames=b - a), a, b


def _read(reader, a: int, b: int, progress: bool) -> list:
    with ProgressLine("read", enabled=progress) as line:
        frames = []
        for i in range(a, b):
            frames.append(reader.read(i))
            line.update(f"{bar((i + 1 - a) / (b - a))} {i + 1 - a}/{b - a} frames", force=i + 1 == b)
        return frames


def encode(src: str | os.PathLike, dst: str | os.PathLike, options: EncodeOptions,
           raw: RawSpec | None = None) -> EncodeReport:
    """Fit NVTM to `src` and write `dst` (.nvc) at options.bpp; returns the honest report.

    A long clip is cut into segments (`options.segment_frames`), each fitted on its own frames
    only, so memory holds one segment at a time; `options.workers` fits them side by side."""
    t0 = time.perf_counter()
    effort(options.preset)  # an unknown preset or tune fails before any work
    tune(options.tune)
    dst = check_output_path(dst, options.overwrite)
    with open_video(src, raw, max_frames=None if options.frame_range is None else options.frame_range[1]) as reader:
        info, a, b = _selected(reader, src, options.frame_range)
        plan = _plan(info, options)
        if len(plan) == 1:
            frames = _read(reader, a, b, options.progress)
            return encode_frames(info, frames, dst, options, name=str(src), started=t0)
        if is_stdio(src):  # only this process holds the pipe's frames: each segment's are handed on when due
            return _encode_segments(info, plan, SegmentFrames(reader, info, plan, a), dst, options, str(src), t0)
    jobs = [(src, raw, (a + first, a + first + count)) for first, count in plan]
    return _encode_segments(info, plan, jobs, dst, options, str(src), t0)


def encode_frames(info: VideoInfo, frames: list, dst: str | os.PathLike, options: EncodeOptions, *,
                  name: str = "frames", started: float | None = None) -> EncodeReport:
    """`encode` for frames already in memory: YUV planes (`video.Frame`) in the format `info`
    describes (`options.frame_range` was applied by whoever selected them)."""
    effort(options.preset)
    t0 = time.perf_counter() if started is None else started
    dst = check_output_path(dst, options.overwrite)
    plan = _plan(info, options)
    if len(plan) > 1:
        jobs = [(info.replace(frames=count), frames[first:first + count]) for first, count in plan]
        return _encode_segments(info, plan, jobs, dst, options, name, t0)
    from .masks import build_mask

    device = resolve_device(options.device)
    _say(options.progress, f"nvcodec: {name}: {info.width}x{info.height}, {info.frames} frames, "
                           f"{float(info.fps):.3f} fps, fitting on {device}")
    mask = build_mask(options.mask_path, options.mask_boxes, info, seed=options.seed)
    with cpu_threads(options.threads), \
            EncodeCheckpoint(_checkpoint_path(options, dst), owned=options.checkpoint_path is None) as ckpt:
        code = encode_segment(info, frames, options, checkpoint=ckpt.path, device=device, mask=mask,
                              fitted=ckpt.fitted)
        atomic_write_bytes(dst, code.data, overwrite=options.overwrite)
    return _encode_report(options, name, dst, info, device, [code], len(code.data), time.perf_counter() - t0)


def _plan(info: VideoInfo, options: EncodeOptions) -> list[tuple[int, int]]:
    """The segments (refused up front when their encode would not fit in memory)."""
    from .model.presets import codec

    masked = options.mask_path is not None or options.mask_boxes is not None
    if masked and options.segment_frames:
        raise InputError("inpainting masks are fitted as one segment: leave --segment-frames out")
    gop = (options.model_template or codec()).gop_size
    plan = [(0, info.frames)] if masked else plan_segments(info.frames, info.width, info.height, gop,
                                                           options.segment_frames)
    check_segment_memory(info, plan, options, gop, splittable=not masked)
    return plan


def _encode_segments(info: VideoInfo, plan: list[tuple[int, int]], jobs: list, dst: Path, options: EncodeOptions,
                     name: str, t0: float) -> EncodeReport:
    """Fit every segment (in order, in `options.workers` processes or as Ray tasks), join them, write the file."""
    from .bitstream.segments import join_segments
    from .bitstream.writer import write_container
    from .parallel import run_segments, segment_files

    device = resolve_device(options.device)
    budget = fit_budget(options, plan[0][1] * info.width * info.height)
    _say(options.progress, f"nvcodec: {name}: {info.width}x{info.height}, {info.frames} frames in {len(plan)} "
                           f"segments of up to {plan[0][1]} frames, fitting on {device} "
                           + (f"(~{budget * len(plan) / max(options.workers, 1):.0f} s of fitting in all)"
                              if budget else f"({options.steps} steps a segment)"))
    ckpt = _checkpoint_path(options, dst)
    codes = run_segments(jobs, plan, options, ckpt, t0)
    parts = [read_container(c.data, known_types=model_codec.KNOWN_TYPES) for c in codes]
    container = join_segments(StreamHeader.from_video_info(info), parts)
    data = write_container(container)
    atomic_write_bytes(dst, data, overwrite=options.overwrite)
    if ckpt is not None and options.checkpoint_path is None:
        for path in segment_files(ckpt, len(plan)):
            Path(path).unlink(missing_ok=True)
    return _encode_report(options, name, dst, info, device, codes, len(data), time.perf_counter() - t0, container)


def _checkpoint_path(options: EncodeOptions, dst: Path) -> str | None:
    """--checkpoint, else OUTPUT.ckpt beside the output; none for stdout unless asked for."""
    if options.checkpoint_path is not None:
        return str(options.checkpoint_path)
    return None if is_stdio(dst) else str(dst) + ".ckpt"


def _encode_report(options: EncodeOptions, name: str, dst, info: VideoInfo, device, codes: list[SegmentCode],
                   size: int, seconds: float, container=None) -> EncodeReport:
    """The report of the written file: one segment's own values, or the segments' combined."""
    quality = codes[0].quality if len(codes) == 1 else combine_quality([(c.frames, c.quality) for c in codes],
                                                                         info.bit_depth)
    fit_seconds = sum(c.fit["seconds"] for c in codes)
    samples = sum(c.fit["samples"] for c in codes)
    first = codes[0]
    return EncodeReport(
        input=name, output=str(dst), bytes=size, bpp=bpp_of(size, info.pixels),
        kbps=kbps(size, info.frames, info.fps), target_bpp=options.bpp,
        psnr_rgb=quality["psnr_rgb"], psnr_yuv=quality["psnr_yuv"], psnr_y=quality["psnr_y"],
        psnr_u=quality["psnr_u"], psnr_v=quality["psnr_v"],
        encode_seconds=seconds, fit_seconds=fit_seconds, fit_steps=sum(c.fit["steps"] for c in codes),
        samples_per_second=samples / max(fit_seconds, 1e-9), passes=samples / info.pixels,
        fit_engine=first.fit["engine"], width=info.width, height=info.height, frames=info.frames,
        fps=f"{info.fps.numerator}/{info.fps.denominator}", device=str(device),
        byte_split=byte_split(container) if container is not None else first.byte_split,
        model=first.model, rate=first.rate, masked_psnr=quality.get("masked_psnr"),
        psnr_stages={"float": quality["psnr_float"], "quantized": quality["psnr_quantized"],
                     "decoded": quality["psnr_rgb"]},
        segments=[{"first_frame": a, "frames": c.frames, "bytes": len(c.data), "psnr_yuv": c.quality["psnr_yuv"],
                   "fit_steps": c.fit["steps"], "rate": c.rate}
                  for c, a in zip(codes, itertools.accumulate([0] + [c.frames for c in codes]))],
    )


# ------------------------------------------------------------------ decode

def decode(src: str | os.PathLike, dst: str | os.PathLike, options: DecodeOptions,
           progress: Callable[[int, int], None] | None = None) -> DecodeReport:
    """Render an .nvc file to a video at any size, frame rate and frame range."""
    hevc.require_pyav()  # loading the HEVC library is start-up, like importing torch: not timed
    with cpu_threads(options.threads):
        return _decode(src, dst, options, progress)


def _decode(src: str | os.PathLike, dst: str | os.PathLike, options: DecodeOptions,
            progress: Callable[[int, int], None] | None) -> DecodeReport:
    t0 = time.perf_counter()
    dst_path = Path(dst)
    png = is_png_target(dst_path)
    if not png:
        check_output_path(dst_path, options.overwrite)
    device = resolve_device(options.device)
    container = read_container_file(src, known_types=model_codec.KNOWN_TYPES)
    clip = SegmentedClip(container, device)
    h = container.header
    out_format = VideoInfo(**h.video_fields())
    if options.pix_fmt is not None:
        out_format = with_pix_fmt(out_format, options.pix_fmt)
    width, height = output_size(h.width, h.height, out_format.chroma, scale=options.scale, size=options.size)
    grid = output_times(h.frames, h.fps, fps_mult=options.fps_mult, fps=options.fps,
                        frame_range=options.frame_range)
    out_info = out_format.replace(width=width, height=height, frames=len(grid.times), fps=grid.fps)
    n = len(grid.times)
    frames = _reporting(clip.render(grid.times, width, height, options.inbetween), n, t0, progress,
                        ProgressLine("decode", enabled=options.progress))
    if png:
        write_png_frames(dst_path, frames, n, overwrite=options.overwrite)
    else:
        with create_writer(dst_path, out_info, overwrite=options.overwrite, crf=options.crf) as writer:
            for rgb in frames:
                writer.write(rgb_to_yuv(rgb, out_info))
    seconds = time.perf_counter() - t0
    return DecodeReport(input=str(src), output=str(dst), frames=len(grid.times), width=width, height=height, fps=grid.fps,
                        decode_seconds=seconds, frames_per_second=len(grid.times) / max(seconds, 1e-9),
                        device=str(device))


def _reporting(frames, total: int, t0: float, callback: Callable[[int, int], None] | None, line: ProgressLine):
    """The frames, passed on as they come, with the decode's progress (frames, fps, ETA) told."""
    with line:
        for i, frame in enumerate(frames, 1):
            yield frame
            seconds = time.perf_counter() - t0
            line.update(f"{bar(i / total)} {i}/{total} frames, {i / max(seconds, 1e-9):.1f} fps "
                        f"{eta(seconds, i / total)}".rstrip(), force=i == total)
            if callback:
                callback(i, total)


# ------------------------------------------------------------------ eval

def evaluate(ref: str | os.PathLike, dist: str | os.PathLike, raw: RawSpec | None = None, *,
             metrics: Sequence[str] | None = None, frame_range: tuple[int | None, int | None] | None = None,
             device: str = "auto", threads: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Quality of `dist` against `ref` (`nvcodec eval`): PSNR always, MS-SSIM and LPIPS as
    `metrics` asks (default: psnr and msssim)."""
    from .metrics.evaluate import DEFAULT_METRICS, evaluate_files

    with cpu_threads(threads):
        return evaluate_files(ref, dist, raw=raw, metrics=DEFAULT_METRICS if metrics is None else metrics,
                              frame_range=frame_range, device=str(resolve_device(device)), progress=progress)


__all__ = ["EncodeOptions", "EncodeReport", "DecodeOptions", "DecodeReport", "encode", "encode_frames", "decode",
           "info", "evaluate", "load_source", "frame_span"]
