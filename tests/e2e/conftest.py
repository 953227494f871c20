"""Fixtures shared by the segment tests (test_segments, test_segment_recovery, test_ray)."""

from __future__ import annotations

import pytest

from nvcodec import api


@pytest.fixture(scope="session")
def segment_clip(sample_crop, tmp_path_factory):
    return sample_crop(tmp_path_factory.mktemp("seg") / "c.y4m", 64, 48, 12)


@pytest.fixture(scope="session")
def segmented(segment_clip, tmp_path_factory):
    """12 frames in three segments of 4 (a family with 4-frame GOPs), 8 steps each, one worker."""
    from nvcodec.model.presets import codec

    out = tmp_path_factory.mktemp("seg_out")
    opts = api.EncodeOptions(bpp=1.5, steps=8, device="cpu", progress=False, segment_frames=4,
                             model_template=codec().replace(gop_size=4))
    report = api.encode(segment_clip, out / "w1.nvc", opts)
    return out, opts, report
