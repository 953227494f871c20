"""The shared-clip fixture: a missing clip skips on a workstation and fails under CI=true."""

from __future__ import annotations

import pytest


def test_missing_clip_skips_locally_and_fails_under_ci(shared_clip, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no_such_clip.y4m not present"):
        shared_clip("no_such_clip.y4m")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so a missing clip is a failure"):
        shared_clip("no_such_clip.y4m")
