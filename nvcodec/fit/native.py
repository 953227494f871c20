"""The dense kernel's frames loop as C (`csrc/point_frames.c`), compiled at first use.

Eager torch ops left the dense kernel at 3.2-3.6x its arithmetic floor on CPU: between the
matrix products of a frame sit ~40 elementwise passes that no eager op fuses
(benchmarks/RESULTS.md, tenth session). The C loop does the products, sines and modulations of a
block of points in one pass. It needs a C compiler at encode time (`$CC`, else `cc` or `gcc`);
without one, or when a build fails, the torch path runs and stderr says so once per process.
`NVCODEC_NATIVE=0` always takes the torch path (to compare the two, or to rule the C out).

Each network shape (width, modulated units, depth) is its own build, specialised to the CPU it
runs on (`-march=native`) and cached under `$XDG_CACHE_HOME/nvcodec/kernels` (else
`~/.cache/...`) by a hash of the source, flags, compiler and CPU. The kernel's rounding does not
depend on the vector width the compiler picks (see the source), so thread counts and CPUs with
the same C library give the same floats; they differ from the torch path's in the last bits.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

SOURCE = Path(__file__).with_name("csrc") / "point_frames.c"
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared", "-std=c11")
SWITCH = "NVCODEC_NATIVE"
_ARGS = ("i64", "i64") + ("ptr",) * 7 + ("i64", "ptr", "i64") + ("ptr",) * 12


def enabled() -> bool:
    """False when the environment rules the C kernel out (`NVCODEC_NATIVE=0`)."""
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
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "nvcodec" / "kernels"


def _defines(width: int, mod_width: int, depth: int) -> list[str]:
    pow2 = 1 << max(0, (width - 1).bit_length())
    return [f"-DNW={width}", f"-DNM={mod_width}", f"-DND={depth}", f"-DNP={pow2}"]


def _build(cc: str, defines: list[str]) -> Path:
    """The shared library for `defines`, compiled unless the cache holds it (written atomically)."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), *FLAGS, *defines, version, _cpu_signature()])
                         .encode()).hexdigest()[:24]
    out_dir = _cache_dir()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        out_dir = Path(tempfile.gettempdir()) / f"nvcodec-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"
        out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / f"point_frames-{key}.so"
    if lib.exists():
        return lib
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        done = subprocess.run([cc, *FLAGS, *defines, "-o", tmp, str(SOURCE), "-lm"], capture_output=True,
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
def _load(width: int, mod_width: int, depth: int) -> ctypes.CDLL | None:
    cc = _compiler()
    if cc is None:
        _say_once("no C compiler found (set CC); the fitting engine runs its slower torch path")
        return None
    try:
        lib = ctypes.CDLL(str(_build(cc, _defines(width, mod_width, depth))))
    except (OSError, subprocess.SubprocessError) as err:
        _say_once(f"the fitting kernel did not build ({err}); the fitting engine runs its slower torch path")
        return None
    fn = lib.nvc_point_frames
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_int64 if a == "i64" else ctypes.c_void_p for a in _ARGS]
    lib.nvc_sincos.restype = None
    lib.nvc_sincos.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return lib


def _library(width: int, mod_width: int, depth: int) -> ctypes.CDLL | None:
    if not enabled() or not 0 < mod_width <= width or depth < 1:
        return None
    return _load(width, mod_width, depth)


def point_frames(width: int, mod_width: int, depth: int) -> Callable[..., float] | None:
    """The compiled frames loop for this network shape, or None (the torch path then runs)."""
    lib = _library(width, mod_width, depth)
    return None if lib is None else lib.nvc_point_frames


def sincos(width: int, mod_width: int, depth: int) -> Callable[..., None] | None:
    """The kernel's sine and cosine, nvc_sincos(n, x, s, c) on float32 buffers (for tests)."""
    lib = _library(width, mod_width, depth)
    return None if lib is None else lib.nvc_sincos


__all__ = ["point_frames", "sincos", "enabled", "SWITCH"]
