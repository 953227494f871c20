"""The library API behind the CLI: encode, decode, info, evaluate.

The encoder's reported quality comes from the model rebuilt from the very bytes it
writes (the decoder's code path), never from the float model it fitted.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from . import __version__
from .bitstream.format import StreamHeader, chunk_table
from .bitstream.reader import read_container, read_container_file
from .compress import grid_codec, model_codec
from .device import resolve_device
from .errors import InputError, Interrupted
from .fsutil import atomic_write_bytes, check_output_path
from .metrics.psnr import PsnrAccumulator, frame_errors, json_value
from .model.config import NVTMConfig
from .model.siren import synthesis_macs
from .rate.sizing import DEFAULT_MAX_DECODE_MACS, RateModel
from .render import output_size, output_times, render_frames
from .video import RawSpec, VideoInfo, create_writer, open_video, probe
from .video.color import rgb_to_yuv, yuv_to_rgb
from .video.images import is_png_target, write_png_frames

#: fitting time when neither --time nor --steps is given
DEFAULT_TIME_BUDGET = 60.0


# ------------------------------------------------------------------ options / reports

@dataclass
class EncodeOptions:
    bpp: float = 0.1
    time_budget: float | None = None
    steps: int | None = None
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
    output: str
    bytes: int
    bpp: float
    target_bpp: float
    psnr: float | None  # RGB, from the decoded file
    psnr_yuv: float | None
    psnr_y: float | None
    psnr_u: float | None
    psnr_v: float | None
    psnr_unquantized: float | None  # RGB of the float model, before quantisation (same pixels)
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


@dataclass
class DecodeReport:
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

def _frame_span(frames: int, frame_range: tuple[int | None, int | None] | None) -> tuple[int, int]:
    a, b = 0, frames
    if frame_range is not None:
        a = frame_range[0] or 0
        b = frames if frame_range[1] is None else min(frame_range[1], frames)
    if not 0 <= a < b:
        raise InputError(f"frame range {a}:{b} selects no frame of a {frames}-frame video")
    return a, b


def load_source(src: str | os.PathLike, raw: RawSpec | None = None,
                frame_range: tuple[int | None, int | None] | None = None) -> tuple[VideoInfo, list]:
    """The source frames (YUV planes) and their VideoInfo (frames = the selected count)."""
    with open_video(src, raw) as reader:
        info = reader.info
        if info.frames <= 0:
            raise InputError(f"{src}: the video has no frames")
        a, b = _frame_span(info.frames, frame_range)
        frames = [reader.read(i) for i in range(a, b)]
    return info.replace(frames=len(frames)), frames


def encode(src: str | os.PathLike, dst: str | os.PathLike, options: EncodeOptions,
           raw: RawSpec | None = None) -> EncodeReport:
    """Fit NVTM to `src` and write `dst` (.nvc) at options.bpp; returns the honest report."""
    from .fit import fit, fit_preset
    from .masks import build_mask
    from .model.nvtm import NVTM
    from .rate.coded_grids import coded_grids
    from .rate.search import describe as describe_rate
    from .rate.search import search_rate
    from .rate.sizing import choose_config, describe

    t0 = time.perf_counter()
    dst = check_output_path(dst, options.overwrite)
    device = resolve_device(options.device)
    info, frames = load_source(src, raw, options.frame_range)
    _say(options.progress, f"nvcodec: {src}: {info.width}x{info.height}, {info.frames} frames, "
                           f"{float(info.fps):.3f} fps, fitting on {device}")
    rgb = np.stack([yuv_to_rgb(f, info) for f in frames])  # float32 [T, H, W, 3]
    video = torch.from_numpy(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
    mask = build_mask(options.mask_path, options.mask_boxes, info, seed=options.seed)

    rate = options.rate_model
    sizing = choose_config(info.width, info.height, info.frames, options.bpp, rate=rate,
                           template=options.model_template, max_decode_macs=options.max_decode_macs)
    model = NVTM(sizing.config, info.width, info.height, info.frames, seed=options.seed)
    budget = options.time_budget if options.time_budget is not None or options.steps else DEFAULT_TIME_BUDGET
    ckpt = options.checkpoint_path or Path(str(dst) + ".ckpt")
    header = StreamHeader.from_video_info(info)
    target_bytes = options.bpp * info.pixels / 8
    as_file = coded_grids(header, target_bytes, weight_rel_step=rate.weight_rel_step, tolerance=options.tolerance,
                          preset=options.x265_preset)
    fit_opts = fit_preset(
        "encode", steps=options.steps, time_budget=budget, device=str(device), seed=options.seed,
        weight_rel_step=rate.weight_rel_step, checkpoint_path=str(ckpt), resume=options.resume,
        progress_bar=options.progress, **{"grid_codec": as_file, **options.fit_overrides})
    try:
        fit_result = fit(model, video, fit_opts, mask=None if mask is None else torch.from_numpy(mask))
    except Interrupted as e:
        raise Interrupted(f"{e}; resume with: {_resume_command(src, dst, options, ckpt, raw)}") from None

    try:
        model = model.eval()  # stays on the fitting device: quantize_model copies to the CPU
        encoder_info = {"encoder": f"nvcodec {__version__}", "target_bpp": options.bpp,
                        "fit_steps": fit_result.steps, "seed": options.seed}
        choice = search_rate(lambda step: model_codec.quantize_model(model, step), header, target_bytes,
                             weight_rel_step=rate.weight_rel_step, tolerance=options.tolerance,
                             preset=options.x265_preset, encoder_info=encoder_info)

        # honest report: parse the bytes we are about to write, exactly as the decoder does
        container = read_container(choice.data, known_types=model_codec.KNOWN_TYPES)
        decoded = model_codec.model_from_container(container, device)
        # where the decibels go: the fitted model, its 8-bit grids and quantised weights (grids
        # coded losslessly), the file (HEVC grids)
        quantized = model_codec.model_from_quantized(model_codec.quantize_model(model, choice.weight_rel_step), device)
        quality = measure_quality(decoded, {"float": model, "quantized": quantized}, info, frames, rgb, mask,
                                  device=device)

        atomic_write_bytes(dst, choice.data, overwrite=options.overwrite)
    except KeyboardInterrupt:  # the checkpoint holds the finished fit: resuming skips straight here
        raise Interrupted(f"interrupted after fitting ({fit_result.steps} steps; checkpoint saved to {ckpt}); "
                          f"resume with: {_resume_command(src, dst, options, ckpt, raw)}") from None
    except BaseException:
        if options.checkpoint_path is None:  # our own checkpoint: no resume is offered, so no litter
            with contextlib.suppress(OSError):
                Path(ckpt).unlink()
        raise
    if Path(ckpt).exists() and options.checkpoint_path is None:
        Path(ckpt).unlink()
    size = len(choice.data)
    return EncodeReport(
        output=str(dst), bytes=size, bpp=size * 8 / info.pixels, target_bpp=options.bpp,
        psnr=quality["psnr_rgb"], psnr_yuv=quality["psnr_yuv"], psnr_y=quality["psnr_y"],
        psnr_u=quality["psnr_u"], psnr_v=quality["psnr_v"], psnr_unquantized=quality["psnr_float"],
        encode_seconds=time.perf_counter() - t0, fit_seconds=fit_result.seconds, fit_steps=fit_result.steps,
        samples_per_second=fit_result.samples_per_second, passes=fit_result.passes, fit_engine=fit_result.engine,
        width=info.width, height=info.height, frames=info.frames,
        fps=f"{info.fps.numerator}/{info.fps.denominator}", device=str(device),
        byte_split=byte_split(container), model=describe(sizing), rate=describe_rate(choice),
        masked_psnr=quality.get("masked_psnr"),
        psnr_stages={"float": quality["psnr_float"], "quantized": quality["psnr_quantized"],
                     "decoded": quality["psnr_rgb"]},
    )


def _resume_command(src, dst, options: EncodeOptions, ckpt, raw: RawSpec | None = None) -> str:
    """The shell command (quoted) that repeats this encode from its checkpoint: every option that
    shapes the clip, the model or the fit is repeated, so the checkpoint matches."""
    parts = ["nvcodec", "encode", str(src), "-o", str(dst), "--bpp", str(options.bpp)]
    if options.time_budget is not None:
        parts += ["--time", str(options.time_budget)]
    if options.steps is not None:
        parts += ["--steps", str(options.steps)]
    parts += ["--seed", str(options.seed)]
    if options.max_decode_macs != DEFAULT_MAX_DECODE_MACS:
        parts += ["--max-decode-macs", str(options.max_decode_macs or 0)]
    if options.device != "auto":
        parts += ["--device", options.device]
    if options.frame_range is not None:
        a, b = options.frame_range
        parts += ["--frames", f"{'' if a is None else a}:{'' if b is None else b}"]
    if options.mask_path is not None:
        parts += ["--mask", str(options.mask_path)]
    if options.mask_boxes is not None:
        parts += ["--mask-boxes", f"{options.mask_boxes[0]}:{options.mask_boxes[1]}"]
    if raw is not None:
        parts += ["--size", f"{raw.width}x{raw.height}", "--fps", f"{raw.fps.numerator}/{raw.fps.denominator}",
                  "--pix-fmt", raw.pix_fmt]
    if options.checkpoint_path is not None:  # the default (OUTPUT.ckpt) follows from -o
        parts += ["--checkpoint", str(ckpt)]
    parts.append("--resume")
    if options.overwrite:
        parts.append("-y")
    if not options.progress:
        parts.append("-q")
    return shlex.join(parts)


def measure_quality(decoded: torch.nn.Module, references: Mapping[str, torch.nn.Module], info: VideoInfo,
                    frames: list, rgb: np.ndarray, mask: np.ndarray | None = None,
                    device: torch.device | str = "cpu") -> dict[str, float | None]:
    """PSNR of the decoded model's output as the decoder writes it (YUV at the source's format),
    and the RGB PSNR (`psnr_<name>`) of each model of `references` (the stages before the file)."""
    acc = PsnrAccumulator(info.bit_depth)
    ref_mse: dict[str, list[float]] = {name: [] for name in references}
    masked_se, masked_n = 0.0, 0
    times = [float(t) for t in range(len(frames))]
    decoded_frames = render_frames(decoded, times, info.width, info.height, device=device)
    ref_frames = {name: render_frames(m, times, info.width, info.height, device=device) for name, m in references.items()}
    for t, src_frame in enumerate(frames):
        out_yuv = rgb_to_yuv(next(decoded_frames), info)
        out_rgb = yuv_to_rgb(out_yuv, info)  # the RGB of the file a decoder writes (rounded to its format)
        acc.add(frame_errors(src_frame, out_yuv, info.bit_depth, rgb[t], out_rgb))
        for name, it in ref_frames.items():
            ref_mse[name].append(float(np.mean((next(it).astype(np.float64) - rgb[t]) ** 2)))
        if mask is not None and mask[t].any():
            d = (out_rgb[mask[t]].astype(np.float64) - rgb[t][mask[t]]) ** 2
            masked_se += float(d.sum())
            masked_n += d.size
    s = acc.summary()
    out = {k: s[k] for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "psnr_rgb")}
    for name, mses in ref_mse.items():
        out[f"psnr_{name}"] = float(10 * np.log10(1 / max(np.mean(mses), 1e-12)))
    if masked_n:
        out["masked_psnr"] = float(10 * np.log10(1 / max(masked_se / masked_n, 1e-12)))
    return out


def byte_split(container) -> dict[str, int]:
    """Bytes of the file by role: header (file header, index, config, state), grids, weights, other.

    Each chunk counts with its overhead, so the parts add up to the file size.
    """
    split = {"header": 0, "grids": 0, "weights": 0, "other": 0}
    roles = {model_codec.LATENT: "grids", model_codec.STATIC: "grids", model_codec.WEIGHTS: "weights",
             model_codec.CONFIG: "header", model_codec.STATE: "header", "header": "header", "SIDX": "header"}
    for row in chunk_table(container):
        split[roles.get(row["type"], "other")] += int(row["bytes"])
    return split


# ------------------------------------------------------------------ decode

def decode(src: str | os.PathLike, dst: str | os.PathLike, options: DecodeOptions,
           progress: Callable[[int, int], None] | None = None) -> DecodeReport:
    """Render an .nvc file to a video at any size, frame rate and frame range."""
    grid_codec.require_pyav()  # loading the HEVC library is start-up, like importing torch: not timed
    t0 = time.perf_counter()
    dst_path = Path(dst)
    png = is_png_target(dst_path)
    if not png:
        check_output_path(dst_path, options.overwrite)
    device = resolve_device(options.device)
    container = read_container_file(src, known_types=model_codec.KNOWN_TYPES)
    model = model_codec.model_from_container(container, device)
    h = container.header
    src_info = VideoInfo(width=h.width, height=h.height, frames=h.frames, fps=h.fps, chroma=h.chroma,
                         chroma_siting=h.chroma_siting, bit_depth=h.bit_depth, color_range=h.color_range,
                         matrix=h.matrix)
    width, height = output_size(h.width, h.height, h.chroma, scale=options.scale, size=options.size)
    grid = output_times(h.frames, h.fps, fps_mult=options.fps_mult, fps=options.fps,
                        frame_range=options.frame_range)
    out_info = src_info.replace(width=width, height=height, frames=len(grid.times), fps=grid.fps)
    frames = render_frames(model, grid.times, width, height, device=device)
    if png:
        write_png_frames(dst_path, frames, len(grid.times), overwrite=options.overwrite)
    else:
        with create_writer(dst_path, out_info, overwrite=options.overwrite) as writer:
            for i, rgb in enumerate(frames):
                writer.write(rgb_to_yuv(rgb, out_info))
                if progress:
                    progress(i + 1, len(grid.times))
    seconds = time.perf_counter() - t0
    return DecodeReport(output=str(dst), frames=len(grid.times), width=width, height=height, fps=grid.fps,
                        decode_seconds=seconds, frames_per_second=len(grid.times) / max(seconds, 1e-9),
                        device=str(device))


# ------------------------------------------------------------------ info / eval

def _looks_like_nvc(path: Path) -> bool:
    from .bitstream.format import MAGIC

    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def info(path: str | os.PathLike, raw: RawSpec | None = None) -> dict[str, Any]:
    """Facts about a video or an .nvc file (for `nvcodec info`)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    if p.suffix.lower() == ".nvc" or _looks_like_nvc(p):
        return nvc_info(p)
    return probe(p, raw)


def nvc_info(path: Path) -> dict[str, Any]:
    container = read_container_file(path, known_types=model_codec.KNOWN_TYPES)
    q = model_codec.quantized_from_container(container)  # validates the model chunks too
    h = container.header
    size = path.stat().st_size
    pixels = h.width * h.height * h.frames
    enc = container.find(model_codec.ENCODER_INFO, 0)
    return {
        "format": "nvc",
        "version": f"{h.version_major}.{h.version_minor}",
        "width": h.width, "height": h.height, "frames": h.frames,
        "fps": f"{h.fps_num}/{h.fps_den}", "fps_float": h.fps_num / h.fps_den,
        "chroma": h.chroma, "chroma_siting": h.chroma_siting, "bit_depth": h.bit_depth,
        "matrix": h.matrix, "color_range": h.color_range,
        "bytes": size, "bpp": size * 8 / pixels,
        "segments": [{"id": s.id, "first_frame": s.first_frame, "frame_count": s.frame_count}
                     for s in container.segments],
        "chunks": chunk_table(container),
        "byte_split": byte_split(container),
        "model": q.config.to_dict(),
        "decode_macs_per_pixel": synthesis_macs(q.config.base),
        "encoder": _json_or_none(enc.payload) if enc else None,
        "skipped_chunks": [c.type for c in container.skipped],
    }


def _json_or_none(payload: bytes) -> Any:
    import json

    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # informative chunk: any garbage is None
        return None


def evaluate(ref: str | os.PathLike, dist: str | os.PathLike, raw: RawSpec | None = None,
             lpips: bool = True, device: str = "auto") -> dict[str, Any]:
    from .metrics.evaluate import evaluate_files

    return evaluate_files(ref, dist, raw=raw, lpips=lpips, device=str(resolve_device(device)))


__all__ = ["EncodeOptions", "EncodeReport", "DecodeOptions", "DecodeReport", "encode", "decode", "info",
           "evaluate", "measure_quality", "load_source"]
