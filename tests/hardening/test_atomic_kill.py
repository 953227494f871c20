"""Atomic outputs: a reader never sees a partial file, whatever happens to the writer.

Every output goes to a hidden temporary file in the target directory
(`.NAME.<random>.tmp`, nvcodec/fsutil.py), is fsync'ed, then renamed over the target.

What a SIGKILL can leave (nothing can clean up after it):
* during `encode`: nothing while fitting (the .nvc is written once, at the very end); after
  a fit of more than 2 minutes a resumable checkpoint `OUTPUT.ckpt` (its own atomic write,
  so possibly also a hidden `.OUTPUT.ckpt.<random>.tmp` if killed during that write);
* during `decode`: the hidden `.OUTPUT.<random>.tmp` being written. It is never mistaken for
  the output: another name, hidden, `.tmp`; the output itself is the previous file or absent.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from hardening_util import SMALL_BPP, kill_and_reap, popen_cli, wait_for
from nvcodec import api, fsutil
from nvcodec.errors import EncodeError, OutputError


def files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_sigkill_mid_fit_leaves_nothing(small_clip, tmp_path):
    proc = popen_cli("encode", small_clip, "-o", tmp_path / "out.nvc", "--bpp", SMALL_BPP, "--steps", "1000",
                     "--device", "cpu")
    wait_for(proc, r"\b[1-9]\d*/1000\b")  # fitting has started (a progress line with steps done)
    kill_and_reap(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert files(tmp_path) == []  # no output, no temporary file, no checkpoint (none is due in 2 minutes)


def test_sigkill_mid_decode_keeps_the_previous_file(valid_nvc, tmp_path):
    out = tmp_path / "out.y4m"
    out.write_bytes(b"previous")
    # 32 frames of 640x480: several seconds of rendering, killed once the first frames are out
    proc = popen_cli("decode", valid_nvc, "-o", out, "-y", "--fps-mult", "8", "--scale", "2", "--device", "cpu")
    deadline = time.monotonic() + 120
    tmp = None
    while time.monotonic() < deadline and proc.poll() is None:
        tmps = [p for p in tmp_path.iterdir() if p.name != "out.y4m"]
        if tmps and tmps[0].stat().st_size > 640 * 480 * 3 // 2:  # at least one frame written
            tmp = tmps[0]
            break
        time.sleep(0.02)
    assert tmp is not None, f"decode ended (exit {proc.poll()}) before it could be killed mid-way"
    kill_and_reap(proc, signal.SIGKILL)
    assert out.read_bytes() == b"previous"
    left = [n for n in files(tmp_path) if n != "out.y4m"]
    assert len(left) == 1 and re.fullmatch(r"\.out\.y4m\.[A-Za-z0-9_]+\.tmp", left[0]), left
    assert left[0] == tmp.name


# ------------------------------------------------------------------ in-process, deterministic

def test_interrupted_decode_keeps_the_previous_file(valid_nvc, tmp_path):
    out = tmp_path / "out.y4m"
    out.write_bytes(b"previous")

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.decode(valid_nvc, out, api.DecodeOptions(overwrite=True, progress=False, device="cpu"), progress=stop)
    assert out.read_bytes() == b"previous"
    assert files(tmp_path) == ["out.y4m"]
    # and a clean run replaces it
    api.decode(valid_nvc, out, api.DecodeOptions(overwrite=True, progress=False, device="cpu"))
    assert out.read_bytes().startswith(b"YUV4MPEG2 W320 H240")
    assert files(tmp_path) == ["out.y4m"]


def test_ctrl_c_in_decode_is_one_line_exit_130(valid_nvc, tmp_path, capsys, monkeypatch):
    """Through the CLI entry point: click turns KeyboardInterrupt into Abort; same message."""
    from nvcodec import cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "decode", interrupted)
    assert cli.main(["decode", str(valid_nvc), "-o", str(tmp_path / "o.y4m")]) == 130
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert lines == ["nvcodec: interrupted"]


def test_write_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(fsutil.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(fsutil.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    fsutil.atomic_write_bytes(tmp_path / "f.bin", b"data")
    assert calls == ["fsync", "replace", "fsync"]  # the file, the rename, the directory
    assert (tmp_path / "f.bin").read_bytes() == b"data" and files(tmp_path) == ["f.bin"]


def test_failed_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    (tmp_path / "f.bin").write_bytes(b"previous")

    def broken(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", broken)
    with pytest.raises(OSError):
        fsutil.atomic_write_bytes(tmp_path / "f.bin", b"new", overwrite=True)
    assert (tmp_path / "f.bin").read_bytes() == b"previous"
    assert files(tmp_path) == ["f.bin"]


def test_output_created_meanwhile_is_not_clobbered(tmp_path):
    """Without -y, a file that appears at the target while we work is not replaced."""
    with pytest.raises(OutputError, match="output exists"):
        with fsutil.atomic_path(tmp_path / "f.bin") as tmp:
            tmp.write_bytes(b"ours")
            (tmp_path / "f.bin").write_bytes(b"theirs")
    assert (tmp_path / "f.bin").read_bytes() == b"theirs"
    assert files(tmp_path) == ["f.bin"]


def test_encode_failing_after_the_fit_leaves_no_checkpoint(small_clip, tmp_path, monkeypatch):
    """A failure after fitting (here: the rate target) leaves neither the output nor the
    default checkpoint (no resume is offered for it, so it would only be litter)."""
    import nvcodec.rate.search as search

    def impossible(*a, **k):
        raise EncodeError("cannot reach the target (simulated)")

    monkeypatch.setattr(search, "search_rate", impossible)
    with pytest.raises(EncodeError, match="simulated"):
        api.encode(small_clip, tmp_path / "o.nvc", api.EncodeOptions(bpp=2.0, steps=2, progress=False, device="cpu"))
    assert files(tmp_path) == []
