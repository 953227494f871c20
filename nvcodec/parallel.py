"""Fitting an encode's segments: one after the other in this process, or side by side in
worker processes (`--workers N`), each with its share of the CPU cores.

A segment's bytes depend only on its frames and the options (seed and `--steps` included),
never on which process fitted it or how many ran at once, so the file is the same for any
worker count. Each worker reads its own segment's frames from the source, so no process holds
more than one segment.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any, Sequence

from .progress import eta
from .segment import SegmentCode

#: a job: (source path, RawSpec or None, (first, end) frames) to read, or (VideoInfo, frames) in memory
Job = tuple


def run_segments(jobs: Sequence[Job], options: Any, checkpoints: Sequence[str | None], t0: float,
                 progress: bool) -> list[SegmentCode]:
    """Every segment's code, in order (with `progress`, a line on stderr as each one is done)."""
    n = len(jobs)
    workers = max(1, min(options.workers, n))
    if workers == 1:
        codes = []
        for k, (job, ckpt) in enumerate(zip(jobs, checkpoints)):
            codes.append(_encode_job(job, options, ckpt))
            _told(progress, k + 1, n, codes[-1], t0)
        return codes
    threads = options.threads or max(1, (os.cpu_count() or 1) // workers)
    quiet = replace(options, progress=False, threads=threads, workers=1)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_encode_job, job, quiet, ckpt) for job, ckpt in zip(jobs, checkpoints)]
        codes = []
        for k, f in enumerate(futures):
            codes.append(f.result())
            _told(progress, k + 1, n, codes[-1], t0)
        return codes


def _encode_job(job: Job, options: Any, checkpoint: str | None) -> SegmentCode:
    """One segment, in whatever process runs it: read its frames (if not given), fit, code."""
    from .device import cpu_threads, resolve_device
    from .fit.checkpoint import EncodeCheckpoint
    from .segment import encode_segment
    from .video import open_video

    if len(job) == 3:
        src, raw, (a, b) = job
        with open_video(src, raw) as reader:
            info, frames = reader.info.replace(frames=b - a), [reader.read(i) for i in range(a, b)]
    else:
        info, frames = job
    # the segment checkpoints stay until the whole file is written (the caller removes them), so
    # that a resume skips every segment fitted so far straight to its coding
    with cpu_threads(options.threads), EncodeCheckpoint(checkpoint, owned=False) as ckpt:
        return encode_segment(info, frames, options, checkpoint=ckpt.path, device=resolve_device(options.device),
                              fitted=ckpt.fitted)


def _told(progress: bool, done: int, total: int, code: SegmentCode, t0: float) -> None:
    if not progress:
        return
    left = eta(time.perf_counter() - t0, done / total)
    print(f"segment {done}/{total}: {code.frames} frames, {len(code.data)} bytes, PSNR-YUV "
          f"{code.quality['psnr_yuv']:.2f} dB" + (f", {left}" if left else ""), file=sys.stderr, flush=True)
