"""Fixtures shared by the benchmark tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def small_sample_clip(tmp_path, sample_crop) -> Path:
    """64x48, 3 frames of the bundled clip: enough for a real encode of a second or two."""
    return sample_crop(tmp_path / "tiny.y4m", 64, 48, 3)
