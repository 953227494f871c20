"""One segment of an encode: fit its model, code it to its share of the bytes, and measure the
quality of those bytes as the decoder reads them. A clip is one or more segments
(`plan_segments`), each independent, so they can be fitted in any order, in parallel, and
joined (`bitstream.segments.join_segments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from .bitstream.format import StreamHeader
from .bitstream.reader import read_container
from .compress import model_codec
from .compress.model_codec import byte_split
from .defaults import DEFAULT_SEGMENT_PIXELS
from .metrics.quality import measure_quality
from .progress import ProgressLine, bar
from .rate.bits import bytes_for_bpp
from .video import VideoInfo
from .video.color import rgb_to_uint8, yuv_to_rgb

if TYPE_CHECKING:
    from .rate.coded_grids import FileGrids


def plan_segments(frames: int, width: int, height: int, gop: int,
                  segment_frames: int | None = None) -> list[tuple[int, int]]:
    """(first frame, frame count) of each segment: `segment_frames` each (None: from the clip's size,
    0: one segment), rounded down to whole GOPs; the last segment takes what is left, and a rest
    under half a segment joins the one before (a model of a few frames cannot pay for itself)."""
    if segment_frames is None:
        segment_frames = max(gop, DEFAULT_SEGMENT_PIXELS // (width * height) // gop * gop)
    elif segment_frames > 0:
        segment_frames = max(gop, segment_frames // gop * gop)
    if segment_frames <= 0 or segment_frames >= frames:
        return [(0, frames)]
    starts = list(range(0, frames, segment_frames))
    if len(starts) > 1 and frames - starts[-1] < segment_frames / 2:
        starts.pop()
    return [(a, (starts[i + 1] if i + 1 < len(starts) else frames) - a) for i, a in enumerate(starts)]


class SegmentFrames(Sequence):
    """The (VideoInfo, frames) job of each segment of an open source, read when it is asked for:
    for a source only this process can read (a pipe), so that memory holds the segments being
    fitted, not the clip."""

    def __init__(self, reader: Any, info: VideoInfo, plan: list[tuple[int, int]], first_frame: int = 0):
        self._reader, self._info, self._plan, self._first = reader, info, plan, first_frame

    def __len__(self) -> int:
        return len(self._plan)

    def __getitem__(self, k: int) -> tuple[VideoInfo, list]:  # type: ignore[override]
        first, count = self._plan[k]
        start = self._first + first
        return self._info.replace(frames=count), [self._reader.read(i) for i in range(start, start + count)]


@dataclass
class SegmentCode:
    """One segment's one-segment container bytes and what its encode measured."""

    data: bytes
    frames: int
    quality: dict[str, float | None]
    fit: dict[str, Any]  # seconds, steps, samples, samples_per_second, passes, engine
    model: dict[str, Any]  # what sizing chose (rate.sizing.describe)
    rate: dict[str, Any]  # grid QPs, weight step, under_target (rate.search.describe)
    byte_split: dict[str, int]


def encode_segment(info: VideoInfo, frames: list, options: Any, *, checkpoint: str | None,
                   device: torch.device, mask: np.ndarray | None = None,
                   fitted: Callable[[int], None] | None = None) -> SegmentCode:
    """Fit, code and measure the frames of one segment (`options`: api.EncodeOptions);
    `fitted(steps)` is told when the fit is done (its checkpoint then holds the finished fit)."""
    from .fit import fit
    from .model.nvtm import NVTM
    from .rate.coded_grids import FileGrids
    from .rate.search import describe as describe_rate
    from .rate.sizing import describe

    sizing = segment_sizing(info.width, info.height, info.frames, options)
    model = NVTM(sizing.config, info.width, info.height, info.frames, seed=options.seed)
    header = StreamHeader.from_video_info(info)
    target = bytes_for_bpp(options.bpp, info.pixels)
    as_file = FileGrids(header, target, weight_rel_step=options.rate_model.weight_rel_step,
                        tolerance=options.tolerance, preset=options.x265_preset)
    result = fit(model, torch.from_numpy(fit_target(frames, info)), _fit_options(options, as_file, checkpoint, device),
                 mask=None if mask is None else torch.from_numpy(mask))
    if fitted is not None:
        fitted(result.steps)
    model = model.eval()  # stays on the fitting device: quantize_model copies to the CPU
    choice = _code(model, header, target, options, result.steps, as_file)
    # honest report: parse the bytes we are about to write, exactly as the decoder does
    container = read_container(choice.data, known_types=model_codec.KNOWN_TYPES)
    decoded = model_codec.model_from_container(container, device)
    # where the decibels go: the fitted model, its 8-bit grids and quantised weights (grids
    # coded losslessly), the file (HEVC grids)
    quantized = model_codec.model_from_quantized(model_codec.quantize_model(model, choice.weight_rel_step), device)
    with ProgressLine("quality check", enabled=options.progress) as line:
        quality = measure_quality(decoded, {"float": model, "quantized": quantized}, info, frames, mask,
                                  device=device, progress=lambda i, n: line.update(f"{bar(i / n)} {i}/{n} frames",
                                                                                     force=i == n))
    fit_summary = {"seconds": result.seconds, "steps": result.steps, "samples": result.samples,
                   "samples_per_second": result.samples_per_second, "passes": result.passes, "engine": result.engine}
    return SegmentCode(choice.data, info.frames, quality, fit_summary, describe(sizing), describe_rate(choice),
                       byte_split(container))


def segment_sizing(width: int, height: int, frames: int, options: Any):
    """The model sizing picks for a segment of `frames` frames (`rate.sizing.choose_config`)."""
    from .rate.sizing import choose_config

    return choose_config(width, height, frames, options.bpp, rate=options.rate_model,
                         template=options.model_template, max_decode_macs=options.max_decode_macs)


def fit_fields(options: Any) -> dict[str, Any]:
    """The FitOptions fields an encode sets over the "encode" recipe: its tune's, then the overrides."""
    from .tunes import tune

    return {**tune(options.tune), **options.fit_overrides}


def estimated_peak(info: VideoInfo, frames: int, options: Any, workers: int = 1) -> int:
    """nvcodec.memory's estimate of an encode's peak with segments of `frames` frames."""
    from .memory import encode_peak_bytes, segment_peak_bytes

    config = segment_sizing(info.width, info.height, frames, options).config
    inbetween = fit_fields(options).get("inbetween_weight", 0) > 0
    return encode_peak_bytes(segment_peak_bytes(info.width, info.height, frames, config, inbetween), workers)


def check_segment_memory(info: VideoInfo, plan: list[tuple[int, int]], options: Any, gop: int, *,
                         splittable: bool = True) -> None:
    """Refuse (one clear line, before any work) an encode of these segments that would not fit in
    the free memory; the message names the --segment-frames that would (nvcodec.memory)."""
    from .memory import MemoryPlan, available_bytes, check_memory

    def longest(segment_frames: int) -> int:
        return max(n for _, n in plan_segments(info.frames, info.width, info.height, gop, segment_frames))

    frames = max(n for _, n in plan)
    workers = max(1, min(options.workers, len(plan)))
    memory = MemoryPlan(estimated_peak(info, frames, options, workers), available_bytes(), frames, workers)
    if memory.fits:
        return
    candidates = range(frames // gop * gop, 0, -gop) if splittable else ()
    shorter = next((f for f in candidates if estimated_peak(info, longest(f), options) <= memory.available), None)
    check_memory(memory, shorter)


def fit_target(frames: list, info: VideoInfo) -> np.ndarray:
    """The segment as the fit sees it: 8-bit RGB [T, H, W, 3], converted a frame at a time (a
    float copy of a 720p segment of 60 frames would be 0.66 GB more at the encode's peak)."""
    out = np.empty((len(frames), info.height, info.width, 3), np.uint8)
    for t, frame in enumerate(frames):
        out[t] = rgb_to_uint8(yuv_to_rgb(frame, info))
    return out


def fit_budget(options: Any, pixels: int) -> float | None:
    """Fitting seconds of a segment: --time, else none when --steps decides, else the preset's."""
    from .effort import effort

    if options.time_budget is not None or options.steps:
        return options.time_budget
    return effort(options.preset).fit_seconds(pixels)


def _fit_options(options: Any, as_file: FileGrids, checkpoint: str | None, device: torch.device):
    """The encode preset of the fit, with the file's own grid codec in the loop."""
    from .fit import fit_preset

    budget = fit_budget(options, VideoInfo(**as_file.header.video_fields()).pixels)
    return fit_preset(
        "encode", steps=options.steps, time_budget=budget, device=str(device), seed=options.seed,
        weight_rel_step=options.rate_model.weight_rel_step, checkpoint_path=checkpoint, resume=options.resume,
        progress_bar=options.progress, **{"grid_codec": as_file, **fit_fields(options)})


def _code(model: torch.nn.Module, header: StreamHeader, target_bytes: float, options: Any, fit_steps: int,
          as_file: FileGrids):
    """The segment's bytes: the grid QP and weight step that land the size on the target (the
    search starts from the fit's codec round trips and reuses their grid streams)."""
    from . import __version__
    from .rate.search import search_rate

    encoder_info = {"encoder": f"nvcodec {__version__}", "target_bpp": options.bpp, "fit_steps": fit_steps,
                    "seed": options.seed}
    with ProgressLine("rate search", enabled=options.progress) as line:
        return search_rate(lambda step: model_codec.quantize_model(model, step), header, target_bytes,
                           weight_rel_step=options.rate_model.weight_rel_step, tolerance=options.tolerance,
                           preset=options.x265_preset, encoder_info=encoder_info, progress=line.update,
                           start_qp=as_file.start_qp, payloads=as_file.payloads)
