"""The encoder's memory plan: what an encode holds at its peak, what the machine has free, and
the refusal before any work when it would not fit (an encode killed by the OOM killer an hour
in loses the hour; a clear line up front loses nothing).

The peak is a fitted model of measured peaks (RSS sampled every 50 ms through whole encodes on
the project's CPU machine, commit of this module): a process's fixed part, the segment's
pixels (its YUV frames, the fit's 8-bit RGB copy and its batches), the grids (each value with
its gradient and optimizer state, or three models' copies in the quality check) and the
decoder's per-GOP feature cache, which the quality check fills once per model it renders.
Measured (first build of this module, 50-ms samples) -> estimated now: foreman CIF x60 561 ->
780 MB, bikes 640x272x30 618 -> 850 MB, bbb 1280x720 x30 1603-1867 -> 1925 MB (two runs), x60
1884 -> 2260 MB. Segments fitted one after another in one process do not add up: each ends
with `release_memory` (without it the 300-frame 720p encode peaked at 2431 MB, 0.5 GB above
its first segment's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import EncodeError
from .model.config import NVTMConfig

#: the interpreter, torch, PyAV/x265 and the fit's and rate search's fixed working sets
PROCESS_BYTES = 600 << 20
#: per pixel of a segment: its YUV frames, the fit's RGB copy, the quality check's frames (12,
#: measured) and the dense engine's copy of the RGB laid out by pixel (3, `fit.dense.pixel_major`,
#: counted, not re-measured)
BYTES_PER_PIXEL = 15
#: per pixel more when the fit also learns the in-between times (`fit.inbetween`: their 8-bit targets)
BYTES_PER_PIXEL_INBETWEEN = 3
#: per grid value: the parameter, its gradient and Adam's two moments (float32)
BYTES_PER_GRID_VALUE = 16
#: the feature cache and what building it holds beside it (measured 2.1x the cache)
FEATURE_CACHE_FACTOR = 2.2
#: the main process while worker processes fit the segments (it reads the geometry and joins the parts)
DRIVER_BYTES = 300 << 20

_GB = 1 << 30


def segment_peak_bytes(width: int, height: int, frames: int, config: NVTMConfig, inbetween: bool = False) -> int:
    """Peak memory of one process encoding one segment of `frames` frames with `config`
    (`inbetween`: the fit also learns the times between frames)."""
    from .model.nvtm import synthesis_spec
    from .render import FEATURE_CACHE_BYTES, spec_feature_bytes

    features = spec_feature_bytes(synthesis_spec(config), width, height)
    cache = features if features <= FEATURE_CACHE_BYTES else 0  # too large: rendered without a cache
    per_pixel = BYTES_PER_PIXEL + (BYTES_PER_PIXEL_INBETWEEN if inbetween else 0)
    return int(PROCESS_BYTES + per_pixel * width * height * frames
               + BYTES_PER_GRID_VALUE * config.grid_shapes(width, height, frames).values
               + FEATURE_CACHE_FACTOR * cache)


def encode_peak_bytes(segment_bytes: int, workers: int) -> int:
    """Peak of the whole encode: one process, or the driver and `workers` processes at once."""
    return segment_bytes if workers <= 1 else DRIVER_BYTES + workers * segment_bytes


@dataclass(frozen=True)
class MemoryPlan:
    """An encode's estimated peak against what is free, and the segment length that would fit."""

    peak: int
    available: int | None  # None: unknown (not Linux): nothing is refused
    segment_frames: int
    workers: int

    @property
    def fits(self) -> bool:
        return self.available is None or self.peak <= self.available


def available_bytes() -> int | None:
    """Memory this process may still take: the kernel's MemAvailable, capped by the room left
    under a cgroup limit (containers, CI runners), plus what this process already holds."""
    room = [v for v in (_proc_bytes("/proc/meminfo", "MemAvailable"), _cgroup_room()) if v is not None]
    return None if not room else min(room) + (_proc_bytes("/proc/self/status", "VmRSS") or 0)


def check_memory(plan: MemoryPlan, shorter: int | None) -> None:
    """Refuse an encode whose estimated peak exceeds the free memory, naming what lowers it:
    `shorter`, the longest whole-GOP segment that would fit with one worker (None: none does)."""
    if plan.fits:
        return
    need = f"this encode needs ~{plan.peak / _GB:.1f} GB of memory at its peak (segments of " \
           f"{plan.segment_frames} frames" + (f", {plan.workers} workers" if plan.workers > 1 else "") + \
           f") and {plan.available / _GB:.1f} GB are free"
    if shorter is None:
        raise EncodeError(f"{need}; even one GOP a segment does not fit: free memory or encode a smaller size")
    fixes = ([f"--workers {plan.workers - 1}"] if plan.workers > 1 else []) + \
            ([f"--segment-frames {shorter}"] if shorter < plan.segment_frames else [])
    raise EncodeError(f"{need}: use {' or '.join(fixes) or '--workers 1'}")


def release_memory() -> None:
    """Hand the memory a finished segment freed back to the system. glibc keeps large freed
    blocks in its heaps once its mmap threshold has risen (after the first big free), so a
    process fitting segments one after another held ~0.5 GB more from its second 720p
    segment on; `malloc_trim` returns it. Elsewhere (no glibc) only the collector runs."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _proc_bytes(path: str, key: str) -> int | None:
    """The `key:  N kB` line of a /proc file, in bytes (None where there is no such file or line)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes left under this process's cgroup memory limit (v2, else v1); None without a limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 1 << 60:  # v1 writes a huge number for "no limit"
            return None
        return max(0, int(limit) - usage)
    return None
