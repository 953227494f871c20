"""Fitting kernels in C, compiled at first use: the dense kernel for a point set
(`point_set.c`), the bilinear grid lookup with its gradient (`grid_lookup.c`) and the grids'
coding-cost proxy with its gradient (`coding_cost.c`).

Eager torch ops left the dense kernel at 3.2-3.6x its arithmetic floor on CPU: between the
matrix products of a frame sit ~40 elementwise passes that no eager op fuses, and a grid lookup
is ~25 small ops per call (benchmarks/RESULTS.md, tenth and eleventh sessions). These need a C
compiler at encode time (`$CC`, else `cc`, `gcc` or `clang`); without one, or when a build
fails, the torch paths run and stderr says so once per process. `NVCODEC_NATIVE=0` always takes
the torch paths (to compare, or to rule the C out).

Each build (a source and, for the point-set kernel, one network shape) is specialised to the CPU it
runs on (`-march=native`) and cached under `$XDG_CACHE_HOME/nvcodec/kernels` (else
`~/.cache/...`) by a hash of the source, flags, compiler and CPU. The kernels' rounding does
not depend on the vector width the compiler picks (see the sources), so thread counts do not
change a result; it differs from the torch paths' in the last bits.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Iterator

import torch

HERE = Path(__file__).resolve().parent
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared", "-std=c11")
SWITCH = "NVCODEC_NATIVE"

_I64, _PTR, _F64 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
#: (restype, argtypes) of every exported function
_SIGNATURES = {
    "nvc_point_set": (_F64, [_I64, _I64] + [_PTR] * 6 + [_I64, _PTR, _I64, _PTR, _PTR, _PTR, _I64] + [_PTR] * 3),
    "nvc_sincos": (None, [_I64, _PTR, _PTR, _PTR]),
    "nvc_grid_forward": (None, [_I64] * 5 + [_PTR] * 5),
    "nvc_grid_backward": (None, [_I64] * 5 + [_PTR] * 5),
    "nvc_coding_cost": (_F64, [_I64] * 4 + [_PTR] + [_F64] * 3 + [_PTR]),
    "nvc_point_features": (None, [_I64] + [_PTR] * 2 + [_I64] * 3 + [_PTR] * 2 + [_I64] * 3 + [_PTR] * 5),
    "nvc_point_features_backward": (None, [_I64] * 7 + [_PTR] * 5),
}


def enabled() -> bool:
    """False when the environment rules the C kernels out (`NVCODEC_NATIVE=0`)."""
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc)
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _cpu_signature() -> str:
    """What -march=native depends on: the machine and, on Linux, the CPU's feature flags."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return platform.machine() + line
    except OSError:
        pass
    return platform.machine() + platform.processor()


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nvcodec" / "kernels"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"nvcodec-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _build(cc: str, source: Path, defines: tuple[str, ...]) -> Path:
    """The shared library of `source` with `defines`, compiled unless the cache holds it (written
    atomically, so concurrent encodes never load a half-written file)."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256("\0".join([source.read_text(), *FLAGS, *defines, version, _cpu_signature()])
                         .encode()).hexdigest()[:24]
    out_dir = _cache_dir()
    lib = out_dir / f"{source.stem}-{key}.so"
    if lib.exists():
        return lib
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        done = subprocess.run([cc, *FLAGS, *defines, "-o", tmp, str(source), "-lm"], capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise OSError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"{cc} failed")
        os.replace(tmp, lib)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


@functools.lru_cache(maxsize=None)
def _say_once(message: str) -> None:
    print(f"nvcodec: {message}", file=sys.stderr)


@functools.lru_cache(maxsize=None)
def _load(name: str, defines: tuple[str, ...]) -> ctypes.CDLL | None:
    cc = _compiler()
    if cc is None:
        _say_once("no C compiler found (set CC); fitting runs its slower torch path")
        return None
    try:
        lib = ctypes.CDLL(str(_build(cc, HERE / f"{name}.c", defines)))
    except (OSError, subprocess.SubprocessError) as err:
        _say_once(f"a fitting kernel did not build ({err}); fitting runs its slower torch path")
        return None
    for fn_name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, fn_name, None)
        if fn is not None:
            fn.restype, fn.argtypes = restype, argtypes
    return lib


def _set_library(width: int, mod_width: int, depth: int, latent: int) -> ctypes.CDLL | None:
    """None where the kernel does not apply. It runs on vectors of 4, 8 or 16 floats, so widths
    that are not multiples of 4 take the torch path: on one-float vectors the kernel ran at half
    its earlier scalar speed, and a 185-wide network (an unsized template) at ~1.7 s a step."""
    if not enabled() or not 0 < mod_width <= width or depth < 1 or latent < 1 or width % 4 or mod_width % 4:
        return None
    pow2 = 1 << max(0, (width - 1).bit_length())
    return _load("point_set", (f"-DNW={width}", f"-DNM={mod_width}", f"-DND={depth}", f"-DNZ={latent}",
                               f"-DNP={pow2}"))


def point_set(width: int, mod_width: int, depth: int, latent: int):
    """The compiled point-set kernel for this network shape and latent size, or None (the torch
    path then runs)."""
    lib = _set_library(width, mod_width, depth, latent)
    return None if lib is None else lib.nvc_point_set


def sincos(width: int = 32, mod_width: int = 32, depth: int = 3, latent: int = 8):
    """The point-set kernel's sine and cosine, nvc_sincos(n, x, s, c) on float32 buffers (for tests)."""
    lib = _set_library(width, mod_width, depth, latent)
    return None if lib is None else lib.nvc_sincos


_THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar("nvcodec_kernel_threads", default=None)


@contextlib.contextmanager
def threads_for_kernels(count: int) -> Iterator[None]:
    """Inside the block the kernels' calls run on up to `count` threads (`threads`), whatever
    torch's own thread count is: a fit runs torch's small ops on one thread while the kernels
    take every core (`fit.engines.DenseEngine`)."""
    token = _THREADS.set(max(1, int(count)))
    try:
        yield
    finally:
        _THREADS.reset(token)


def threads() -> int:
    """How many threads a kernel call may use: as `threads_for_kernels` set it, else torch's count."""
    count = _THREADS.get()
    return torch.get_num_threads() if count is None else count


@functools.lru_cache(maxsize=None)
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nvcodec-kernel")


def pool(workers: int) -> ThreadPoolExecutor:
    """Threads for kernel calls side by side (a ctypes call releases the GIL), one pool per size
    and process (a forked child never inherits its parent's threads)."""
    return _pool(workers, os.getpid())


def side_by_side(fn, items: list, workers: int) -> list:
    """[fn(x) for x in items] on up to `workers` threads, in order: this thread and `workers - 1`
    pool threads each take the next item not yet taken until none is left. One task per pool
    thread, not per item, and the caller working rather than waiting: a task handed to a sleeping
    pool thread costs ~0.1 ms on a 2-core VM. Taking items as they come, not in fixed shares,
    keeps both cores busy when the host slows one of them."""
    workers = min(len(items), workers)
    if workers <= 1:
        return [fn(x) for x in items]
    out: list = [None] * len(items)
    nexts, lock = iter(range(len(items))), threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                i = next(nexts, None)
            if i is None:
                return
            out[i] = fn(items[i])

    tasks = [pool(workers - 1).submit(drain) for _ in range(workers - 1)]
    try:
        drain()
    finally:
        wait(tasks)  # nothing may still write into the caller's buffers when this returns
    for task in tasks:
        task.result()
    return out


def grid_lookup():
    """The compiled grid lookup (nvc_grid_forward, nvc_grid_backward), or None."""
    lib = _load("grid_lookup", ()) if enabled() else None
    return None if lib is None else (lib.nvc_grid_forward, lib.nvc_grid_backward)


def point_features():
    """The compiled latent of points (nvc_point_features, nvc_point_features_backward), or None."""
    lib = _load("grid_lookup", ()) if enabled() else None
    return None if lib is None else (lib.nvc_point_features, lib.nvc_point_features_backward)


def coding_cost():
    """The compiled coding-cost proxy of one grid level (nvc_coding_cost), or None."""
    lib = _load("coding_cost", ()) if enabled() else None
    return None if lib is None else lib.nvc_coding_cost


__all__ = ["point_set", "sincos", "grid_lookup", "point_features", "coding_cost", "pool", "side_by_side", "threads",
           "threads_for_kernels", "enabled", "SWITCH"]
