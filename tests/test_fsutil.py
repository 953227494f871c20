"""Output files: atomic, and with the permissions the user's umask asks for (not mkstemp's 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from nvcodec.fsutil import atomic_path, atomic_write_bytes


@pytest.fixture
def umask():
    old = os.umask(0o022)
    try:
        yield lambda m: os.umask(m)
    finally:
        os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_outputs_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    assert _mode(atomic_write_bytes(tmp_path / "o.nvc", b"x")) == mode
    with atomic_path(tmp_path / "o.y4m") as tmp:  # the path writers (PyAV, y4m) fill by themselves
        tmp.write_bytes(b"y")
    assert _mode(tmp_path / "o.y4m") == mode


def test_a_replaced_output_keeps_its_permissions(tmp_path, umask):
    target = tmp_path / "o.nvc"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write_bytes(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new" and _mode(target) == 0o640
