"""The encoder's memory plan: a peak that depends on the segment, not the clip, and a clear
refusal before any work when it would not fit."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from nvcodec import api, memory
from nvcodec.cli import main
from nvcodec.errors import EncodeError
from nvcodec.model.presets import codec
from nvcodec.rate.sizing import choose_config
from nvcodec.segment import check_segment_memory, plan_segments
from nvcodec.video import VideoInfo

HD = VideoInfo(width=1280, height=720, frames=300, fps=Fraction(25))


def _peak(frames: int, workers: int = 1) -> int:
    config = choose_config(1280, 720, frames, 0.1).config
    return memory.encode_peak_bytes(memory.segment_peak_bytes(1280, 720, frames, config), workers)


def test_peak_grows_with_the_segment_and_the_workers_not_the_clip():
    assert _peak(30) < _peak(60) < _peak(120)
    assert _peak(60) - _peak(30) == pytest.approx(memory.BYTES_PER_PIXEL * 1280 * 720 * 30, rel=0.1)  # and the grids of 3 more GOPs
    assert _peak(60, 2) == memory.DRIVER_BYTES + 2 * _peak(60)
    # 300 frames or 3,000: the default plan's segments are the same, so is the estimate
    for frames in (300, 3000):
        plan = plan_segments(frames, 1280, 720, codec().gop_size)
        assert max(n for _, n in plan) == 60
    # measured 1.88 GB for one 60-frame 720p segment at 0.1 bpp (nvcodec.memory's docstring)
    assert 1.88 * 2**30 < _peak(60) < 1.3 * 1.88 * 2**30


def test_refusal_names_the_segment_length_that_fits(monkeypatch):
    plan = plan_segments(300, 1280, 720, 10)
    fits_30 = (_peak(30) + _peak(40)) // 2  # room for 30-frame segments (up to 40 with a joined rest), not 60
    monkeypatch.setattr(memory, "available_bytes", lambda: fits_30)
    with pytest.raises(EncodeError, match=r"needs ~2\.\d GB .*segments of 60 frames\) .*: use --segment-frames 30$"):
        check_segment_memory(HD, plan, api.EncodeOptions(), 10)
    with pytest.raises(EncodeError, match=r"60 frames, 2 workers\) .*: use --workers 1 or --segment-frames 30$"):
        check_segment_memory(HD, plan, api.EncodeOptions(workers=2), 10)
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 << 20)
    with pytest.raises(EncodeError, match="even one GOP a segment does not fit"):
        check_segment_memory(HD, plan, api.EncodeOptions(), 10)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # unknown: nothing is refused
    check_segment_memory(HD, plan, api.EncodeOptions(workers=8), 10)


def test_cli_refuses_in_one_line_before_reading(sample_crop, tmp_path, monkeypatch, capsys):
    clip = sample_crop(tmp_path / "c.y4m", 64, 48, 12)
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 << 20)
    assert main(["encode", str(clip), "-o", str(tmp_path / "o.nvc"), "--steps", "2", "--bpp", "2", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nvcodec: error: this encode needs ~0.") and "GB are free" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.y4m"]  # nothing written, no checkpoint


def test_free_memory_and_cgroup_limits(tmp_path: Path):
    free = memory.available_bytes()
    assert free is None or free > 0
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.current").write_text("1000\n")
    assert memory._cgroup_room(tmp_path) is None
    (tmp_path / "memory.max").write_text("5000\n")
    assert memory._cgroup_room(tmp_path) == 4000
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text(str(1 << 62))
    (v1 / "memory" / "memory.usage_in_bytes").write_text("7")
    assert memory._cgroup_room(v1) is None
    (v1 / "memory" / "memory.limit_in_bytes").write_text("10")
    assert memory._cgroup_room(v1) == 3
    assert memory._cgroup_room(tmp_path / "absent") is None



def test_learning_the_in_between_times_costs_their_targets():
    config = choose_config(1280, 720, 60, 0.1).config
    more = memory.segment_peak_bytes(1280, 720, 60, config, inbetween=True)
    assert more - memory.segment_peak_bytes(1280, 720, 60, config) == memory.BYTES_PER_PIXEL_INBETWEEN * 1280 * 720 * 60
