"""Helpers of the hardening tests: running the CLI in a subprocess and reading its stderr; a tiny fit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
SMALL = (128, 96, 4)  # the small clip: width, height, frames (a crop of the bundled clip)
SMALL_BPP = "2"  # enough for a model at that size
CLI_ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nvcodec", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=CLI_ENV)


def popen_cli(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nvcodec", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=CLI_ENV)


def one_line_error(stderr: str, returncode: int, expected_code: int | None = None) -> str:
    """The single stderr line of a failed command (asserting: one line, no traceback, exit code)."""
    if expected_code is None:
        assert returncode not in (0, 130), (returncode, stderr)
    else:
        assert returncode == expected_code, (returncode, stderr)
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("nvcodec: "), lines[0]
    return lines[0]


def wait_for(proc: subprocess.Popen, pattern: str, timeout: float = 120.0) -> bytes:
    """Read proc's stderr (non-blocking) until `pattern` (a bytes regex) shows up; return what was read."""
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = proc.stderr.read()
        if chunk:
            buf += chunk
            if re.search(pattern.encode(), buf):
                return buf
        elif proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"{pattern!r} never appeared on stderr (exit {proc.poll()}): {buf[-2000:]!r}")


def kill_and_reap(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.communicate(timeout=60)


def tiny_clip() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    base = torch.randint(0, 256, (1, 24, 32, 3), generator=g, dtype=torch.uint8)
    return torch.cat([torch.roll(base, shifts=t, dims=2) for t in range(4)])  # a moving pattern


def tiny_fit(tmp: Path, interrupt_at: int | None, resume: bool):
    """fit() of NVTMConfig.tiny() on a 32x24x4 clip, 12 steps with every phase (flow supervision,
    normalisation updates, QAT), checkpointing to tmp/fit.ckpt; a real SIGINT at step `interrupt_at`."""
    from nvcodec.fit.loop import FitOptions, fit
    from nvcodec.model.config import NVTMConfig
    from nvcodec.model.nvtm import NVTM

    video = tiny_clip()
    model = NVTM(NVTMConfig.tiny(), 32, 24, 4, seed=0)
    opts = FitOptions(steps=12, device="cpu", seed=0, frames_per_batch=2, pixels_per_frame=256,
                      qat_fraction=0.25, weight_rel_step=1 / 16, norm_update_every=2, aux_fraction=0.3,
                      checkpoint_path=str(tmp / "fit.ckpt"), resume=resume, progress_every_s=0,
                      checkpoint_every_s=1e9)

    def progress(p):
        if interrupt_at is not None and p.step == interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, caught by the loop's handler
            time.sleep(0)

    result = fit(model, video, opts, progress=progress)
    return model, result
