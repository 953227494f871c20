"""Segment fits as Ray tasks (`encode --ray auto|ADDRESS`): on the cluster at ADDRESS, on a
local Ray that `auto` starts (and stops after), or on the Ray this process already joined.

The driver reads each segment's frames from the source and hands them to its task through
the object store (a node of the cluster need not see the source), a bounded window of
segments at a time, so the driver never holds the whole clip. A task takes one GPU when the
cluster has GPUs, else its share of the CPU cores (torch threads to match). Results are taken
as they complete and recorded at once (`parallel.run_segments`), so a lost driver or worker
loses no finished segment. Ray retries a task whose worker died (`SEGMENT_RETRIES` times);
a task fits from its first step (its node may not see the fit checkpoints of the driver's
disk): on Ray the unit of resume is the finished segment.

Every node needs the same nvcodec and torch versions as the driver; for byte-identical
files, the same CPU kind too (or the same GPU, torch and CUDA build).
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from dataclasses import replace
from typing import Any, Iterator, Sequence

from .defaults import SEGMENT_RETRIES
from .errors import DependencyError, InputError
from .parallel import Finished, Job, fit_segment, read_job, workers_lost
from .segment import SegmentCode


def check_ray_options(options: Any) -> None:
    """Refuse `--ray` before any work when Ray is missing or `--workers` asks for local processes."""
    if not options.ray:
        return
    if options.workers > 1:
        raise InputError("--ray runs the segments on the Ray cluster's workers: leave --workers out")
    _import_ray()


def run_on_ray(todo: list[int], jobs: Sequence[Job], options: Any, fits: list[str | None],
               finished: Finished) -> None:
    """Fit the segments `todo` as Ray tasks, telling `finished` of each as it completes
    (`fits` are not used: see the module's docstring)."""
    ray = _import_ray()
    with _connected(ray, options.ray):
        resources, threads, slots = _task_shape(ray, options, len(todo))
        task = ray.remote(_fit_task).options(max_retries=SEGMENT_RETRIES, **resources)
        quiet = replace(options, progress=False, threads=threads, workers=1, ray=None)
        waiting, running = deque(todo), {}
        try:
            while waiting or running:
                while waiting and len(running) <= slots:  # one segment more than can run, ready to start
                    k = waiting.popleft()
                    info, frames = read_job(jobs[k])
                    running[task.remote(info, ray.put(frames), quiet)] = k
                    del frames
                [ref], _ = ray.wait(list(running), num_returns=1)
                k = running.pop(ref)
                finished(k, _result(ray, ref, k, fits[k] is not None))
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise


def _fit_task(info: Any, frames: list, options: Any) -> SegmentCode:
    """A Ray task: one segment from the frames the driver sent."""
    return fit_segment((info, frames), options, None)


def _task_shape(ray: Any, options: Any, segments: int) -> tuple[dict[str, float], int, int]:
    """(Ray resources of a task, its torch threads, tasks the cluster runs at once)."""
    total = ray.cluster_resources()
    cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0)]
    smallest = int(min(cpus, default=1)) or 1  # a task must fit on any node that has cores
    gpus = int(total.get("GPU", 0)) if options.device != "cpu" else 0
    if gpus:
        threads = options.threads or max(1, min(smallest, int(total.get("CPU", 1)) // gpus))
        return {"num_gpus": 1, "num_cpus": threads}, threads, gpus
    threads = options.threads or max(1, min(smallest, int(total.get("CPU", 1)) // segments))
    return {"num_cpus": threads}, threads, max(1, int(total.get("CPU", 1)) // threads)


def _result(ray: Any, ref: Any, k: int, kept: bool) -> SegmentCode:
    """A finished task's segment; its failure as the error it raised, or WorkersLost when the
    worker or node running it died more often than Ray retries."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:  # our code raised in the task: that error, as if raised here
        raise (e.cause if isinstance(e.cause, BaseException) else e) from None
    except ray.exceptions.RayError as e:
        why = (str(e).strip().splitlines() or [""])[0]
        raise workers_lost(f"segment {k + 1}'s Ray task failed {SEGMENT_RETRIES + 1} times ({type(e).__name__}: "
                           f"{why})", kept) from None


@contextlib.contextmanager
def _connected(ray: Any, address: str) -> Iterator[None]:
    """Ray for the encode: the session this process already has, else `auto` starts a local one
    (quiet, no dashboard) and an ADDRESS joins that cluster; what this opened, it closes."""
    if ray.is_initialized():
        yield
        return
    local = address == "auto"
    ray.init(address=None if local else address, logging_level=logging.ERROR, log_to_driver=False,
             **({"include_dashboard": False} if local else {}))
    try:
        yield
    finally:
        ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DependencyError('--ray needs Ray, an optional extra: pip install "nvcodec[ray]"') from None
    return ray
