"""Fitting an encode's segments: one after the other in this process, side by side in worker
processes (`--workers N`, each with its share of the CPU cores), or as tasks on a Ray cluster
(`--ray`, `ray_engine`).

A segment's bytes depend only on its frames and the options (seed and `--steps` included),
never on which process fitted it or how many ran at once, so the file is the same for any
worker count or engine. Each local worker reads its own segment's frames from the source, so
no process holds more than one segment.

What is finished survives: each segment's fit keeps its checkpoint (`{checkpoint}.{k}`), and
each finished segment is recorded beside it (`{checkpoint}.{k}.done`, `segment_record`) as it
arrives, until the caller has written the file (`segment_files` names them all). A resume
skips recorded segments and continues the others' fits. A worker process that dies (SIGKILL,
out of memory) breaks its pool: a fresh pool resumes the unfinished segments from their
checkpoints, `SEGMENT_RETRIES` times at most, then the encode stops with `WorkersLost`.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from .defaults import SEGMENT_RETRIES
from .errors import Interrupted, WorkersLost
from .progress import eta
from .segment import SegmentCode
from .segment_record import read_record, record_key, write_record

#: a job: (source path, RawSpec or None, (first, end) frames) to read, or (VideoInfo, frames) in memory
Job = tuple
#: told each segment as it is finished: (index, code)
Finished = Callable[[int, SegmentCode], None]


def segment_files(checkpoint: str, segments: int) -> list[str]:
    """Every file the segments of an encode keep under `checkpoint`: fits and records."""
    return [f"{checkpoint}.{k}{end}" for k in range(segments) for end in ("", ".done")]


def run_segments(jobs: Sequence[Job], plan: Sequence[tuple[int, int]], options: Any, checkpoint: str | None,
                 t0: float) -> list[SegmentCode]:
    """Every segment's code, in order (with `options.progress`, a line on stderr as each one is
    done); `plan`: (first frame, count) of each; `checkpoint`: where fits and records are kept."""
    from .ray_engine import check_ray_options, run_on_ray

    check_ray_options(options)
    n = len(jobs)
    fits = [None if checkpoint is None else f"{checkpoint}.{k}" for k in range(n)]
    keys = [record_key(options, a, count) for a, count in plan]
    codes: dict[int, SegmentCode] = {}
    if checkpoint is not None and options.resume:
        codes = {k: c for k, f in enumerate(fits) if (c := read_record(f + ".done", keys[k])) is not None}
    elif checkpoint is not None:  # a fresh encode: nothing left from an older one may be resumed later
        for path in segment_files(checkpoint, n):
            Path(path).unlink(missing_ok=True)
    todo = [k for k in range(n) if k not in codes]
    for k in sorted(codes):
        _told(options.progress, k, n, codes[k], "finished before")

    def finished(k: int, code: SegmentCode) -> None:
        if fits[k] is not None:
            write_record(fits[k] + ".done", code, keys[k])
        codes[k] = code
        done = sum(1 for j in todo if j in codes)
        _told(options.progress, k, n, code, eta(time.perf_counter() - t0, done / len(todo)))

    engine = run_on_ray if options.ray else _one_by_one if min(options.workers, len(todo)) <= 1 else _in_processes
    try:
        if todo:
            engine(todo, jobs, options, fits, finished)
    except KeyboardInterrupt:  # a Ctrl-C reaching the driver (the fits take their own as Interrupted)
        if checkpoint is None:
            raise
        kept = f" (kept as {checkpoint}.K.done)" if codes else ""
        raise Interrupted(f"{len(codes)} of {n} segments finished{kept}", checkpoint=checkpoint) from None
    return [codes[k] for k in range(n)]


def _one_by_one(todo: list[int], jobs: Sequence[Job], options: Any, fits: list[str | None],
                finished: Finished) -> None:
    for k in todo:
        finished(k, fit_segment(jobs[k], options, fits[k]))


def _in_processes(todo: list[int], jobs: Sequence[Job], options: Any, fits: list[str | None],
                  finished: Finished) -> None:
    """The segments in `options.workers` spawned processes; a pool broken by a dead worker is
    replaced and the unfinished segments resume from their fit checkpoints."""
    workers = min(options.workers, len(todo))
    threads = options.threads or max(1, (os.cpu_count() or 1) // workers)
    quiet = replace(options, progress=False, threads=threads, workers=1)
    left = list(todo)
    for attempt in range(SEGMENT_RETRIES + 1):
        try:
            return _pool_run(left, jobs, quiet if attempt == 0 else replace(quiet, resume=True), fits, finished,
                             min(workers, len(left)))
        except BrokenProcessPool:
            _remove_partial_writes(fits)
    raise workers_lost(f"a worker process died {SEGMENT_RETRIES + 1} times (killed, or out of memory: fewer "
                       "--workers need less)", kept=fits[0] is not None)


def workers_lost(what: str, kept: bool) -> WorkersLost:
    """The error that ends an encode whose segments lost their workers too often; `kept`: the
    finished segments are recorded (a checkpoint path was set)."""
    return WorkersLost(what + ("; the finished segments are kept and --resume finishes the file" if kept else ""),
                       resumable=kept)


def _pool_run(left: list[int], jobs: Sequence[Job], options: Any, fits: list[str | None], finished: Finished,
              workers: int) -> None:
    """One pool's run over `left`, which loses each segment as it is finished. At most one
    segment more than the workers is handed over at a time: a job that carries its frames (a
    pipe's) is read only when its turn is near, so the driver never holds the clip."""
    pool = _new_pool(workers)
    queue = iter(list(left))
    futures: dict[Future, int] = {}

    def submit_next() -> None:
        k = next(queue, None)
        if k is not None:
            futures[pool.submit(fit_segment, jobs[k], options, fits[k])] = k

    def take(f: Future) -> None:
        finished(futures[f], f.result())
        left.remove(futures[f])

    try:
        for _ in range(workers + 1):
            submit_next()
        while pending := [f for f, k in futures.items() if k in left]:
            for f in wait(pending, return_when=FIRST_COMPLETED).done:
                take(f)
                submit_next()
    except BrokenProcessPool:
        for f in futures:  # what finished before the break still counts
            if futures[f] in left and f.done() and not f.cancelled() and f.exception() is None:
                take(f)
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: a forked torch (threads, CUDA) is not safe to use
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """A broken pool SIGTERMs its other workers, and a worker inside a fit takes SIGTERM as a
    Ctrl-C (it checkpoints, then waits for work that never comes): end them outright. The pool
    keeps its processes in `_processes` (CPython's, unchanged since 3.2)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.kill()


def _remove_partial_writes(fits: list[str | None]) -> None:
    """The temporary files of checkpoints that killed workers were writing (`fsutil.atomic_path`
    names them `.NAME.*.tmp`): a SIGKILL leaves them behind."""
    for fit in filter(None, fits):
        for tmp in Path(fit).parent.glob(f".{glob.escape(Path(fit).name)}.*.tmp"):
            tmp.unlink(missing_ok=True)


def read_job(job: Job) -> tuple[Any, list]:
    """A job's VideoInfo (frames = the segment's) and frames, read from the source if need be."""
    from .video import open_video

    if len(job) == 2:
        return job
    src, raw, (a, b) = job
    with open_video(src, raw) as reader:
        return reader.info.replace(frames=b - a), [reader.read(i) for i in range(a, b)]


def fit_segment(job: Job, options: Any, checkpoint: str | None) -> SegmentCode:
    """One segment, in whatever process runs it: read its frames (if not given), fit, code."""
    from .device import cpu_threads, resolve_device
    from .fit.checkpoint import EncodeCheckpoint
    from .memory import release_memory
    from .segment import encode_segment

    info, frames = read_job(job)
    # the segment checkpoints stay until the whole file is written (the caller removes them), so
    # that a resume skips every segment fitted so far straight to its coding
    with cpu_threads(options.threads), EncodeCheckpoint(checkpoint, owned=False) as ckpt:
        code = encode_segment(info, frames, options, checkpoint=ckpt.path, device=resolve_device(options.device),
                              fitted=ckpt.fitted)
    del frames
    release_memory()  # a process's next segment starts from what this one left, not from its peak
    return code


def _told(progress: bool, k: int, total: int, code: SegmentCode, note: str | None) -> None:
    if progress:
        print(f"segment {k + 1}/{total}: {code.frames} frames, {len(code.data)} bytes, PSNR-YUV "
              f"{code.quality['psnr_yuv']:.2f} dB" + (f", {note}" if note else ""), file=sys.stderr, flush=True)
