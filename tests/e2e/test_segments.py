"""Long clips as segments: planning, joining, decoding by segment, the same bytes for any worker count."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from nvcodec import api
from nvcodec.bitstream.format import Chunk, Container, Segment, StreamHeader
from nvcodec.bitstream.reader import read_container
from nvcodec.bitstream.segments import join_segments, segment_at
from nvcodec.compress import model_codec
from nvcodec.errors import BitstreamError, InputError
from nvcodec.metrics.quality import combine_quality
from nvcodec.segment import plan_segments
from nvcodec.video import open_video


def test_plan_cuts_whole_gops_and_keeps_small_clips_whole():
    assert plan_segments(60, 352, 288, 10) == [(0, 60)]  # 6 Mpixel: one segment by default
    assert plan_segments(300, 1280, 720, 10) == [(a, 60) for a in range(0, 300, 60)]  # 64 Mpixel each
    assert plan_segments(95, 64, 64, 10, segment_frames=25) == [(0, 20), (20, 20), (40, 20), (60, 20), (80, 15)]
    assert plan_segments(95, 64, 64, 10, segment_frames=3) == [(a, min(10, 95 - a)) for a in range(0, 95, 10)]
    assert plan_segments(95, 64, 64, 10, segment_frames=0) == [(0, 95)]
    assert plan_segments(20, 64, 64, 10, segment_frames=40) == [(0, 20)]
    assert plan_segments(64, 64, 64, 10, segment_frames=20) == [(0, 20), (20, 20), (40, 24)]  # a short rest joins


def test_join_relabels_each_part_and_times_find_their_segment():
    header = StreamHeader(width=8, height=8, frames=5, fps_num=25)
    parts = [Container(dataclasses.replace(header, frames=n), [Segment(0, 0, n)], [Chunk("MCFB", bytes([k]))])
             for k, n in enumerate((2, 2, 1))]
    joined = join_segments(header, parts)
    assert joined.header.version_minor == 2 and [c.segment for c in joined.chunks] == [0, 1, 2]
    assert [(s.first_frame, s.frame_count) for s in joined.segments] == [(0, 2), (2, 2), (4, 1)]
    assert [segment_at(joined.segments, t).id for t in (-0.5, 0, 1.5, 1.99, 2, 3.5, 4, 4.5, 9)] == [0, 0, 0, 0, 1, 1, 2, 2, 2]
    assert join_segments(dataclasses.replace(header, frames=2), parts[:1]).header.version_minor == 2


def test_combined_quality_is_that_of_the_mean_mse():
    def q(mse_y, mse_rgb):
        p = lambda m, peak: 10 * np.log10(peak ** 2 / m)  # noqa: E731
        return {"psnr_y": p(mse_y, 255), "psnr_u": p(4.0, 255), "psnr_v": p(4.0, 255), "psnr_rgb": p(mse_rgb, 1),
                "psnr_yuv": None, "psnr_float": p(mse_rgb, 1), "psnr_quantized": p(mse_rgb, 1)}

    out = combine_quality([(30, q(10.0, 1e-3)), (10, q(50.0, 5e-3))], 8)
    assert out["psnr_y"] == pytest.approx(10 * np.log10(255 ** 2 / 20.0))  # (30*10 + 10*50) / 40
    assert out["psnr_rgb"] == pytest.approx(10 * np.log10(1 / 2e-3))
    assert out["psnr_yuv"] == pytest.approx((6 * out["psnr_y"] + 2 * out["psnr_u"]) / 8)


def test_three_segments_round_trip_with_the_reported_psnr(segment_clip, segmented, tmp_path):
    out, _, report = segmented
    nvc = out / "w1.nvc"
    assert [(s["first_frame"], s["frames"]) for s in report.segments] == [(0, 4), (4, 4), (8, 4)]
    container = read_container(nvc.read_bytes(), known_types=model_codec.KNOWN_TYPES)
    assert container.header.version_minor == 2 and len(container.segments) == 3
    assert report.bytes == nvc.stat().st_size <= 1.5 * 64 * 48 * 12 / 8 * 1.03
    api.decode(nvc, tmp_path / "d.y4m", api.DecodeOptions(device="cpu", progress=False))
    ev = api.evaluate(segment_clip, tmp_path / "d.y4m", metrics=["psnr"], device="cpu")
    assert ev["psnr_yuv"] == pytest.approx(report.psnr_yuv, abs=0.01)
    info = api.info(nvc)
    assert [s["frame_count"] for s in info["segments"]] == [4, 4, 4] and all(s["bytes"] > 0 for s in info["segments"])


def test_a_range_across_a_boundary_decodes_as_the_whole(segmented, tmp_path):
    out, _, _ = segmented
    nvc = out / "w1.nvc"
    api.decode(nvc, tmp_path / "all.y4m", api.DecodeOptions(device="cpu", progress=False, fps_mult=2))
    api.decode(nvc, tmp_path / "mid.y4m", api.DecodeOptions(device="cpu", progress=False, fps_mult=2,
                                                            frame_range=(3, 6)))
    with open_video(tmp_path / "all.y4m") as a, open_video(tmp_path / "mid.y4m") as m:
        assert len(m) == 6  # source frames 3, 3.5, 4, 4.5, 5, 5.5: two segments
        for i in range(len(m)):
            assert all(np.array_equal(x, y) for x, y in zip(a.read(6 + i).planes, m.read(i).planes)), i


def test_workers_give_the_same_bytes(segment_clip, segmented):
    out, opts, _ = segmented
    api.encode(segment_clip, out / "w2.nvc", dataclasses.replace(opts, workers=2))
    assert (out / "w2.nvc").read_bytes() == (out / "w1.nvc").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["w1.nvc", "w2.nvc"]  # no segment checkpoints left


def test_cli_segments_and_workers(sample_crop, tmp_path):
    clip = sample_crop(tmp_path / "c16.y4m", 64, 48, 16)
    r = subprocess.run([sys.executable, "-m", "nvcodec", "encode", str(clip), "-o", str(tmp_path / "o.nvc"), "--bpp",
                        "1.5", "--steps", "3", "--segment-frames", "10", "--workers", "2", "--device", "cpu"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2 segments of up to 10 frames" in r.stderr and "segment 2/2:" in r.stderr
    info = json.loads(subprocess.run([sys.executable, "-m", "nvcodec", "info", str(tmp_path / "o.nvc"), "--json"],
                                     capture_output=True, text=True, timeout=120).stdout)
    assert info["version"] == "1.2" and [s["frame_count"] for s in info["segments"]] == [10, 6]


def test_a_version_1_0_file_of_several_segments_is_refused(segmented):
    out, _, _ = segmented
    container = read_container((out / "w1.nvc").read_bytes(), known_types=model_codec.KNOWN_TYPES)
    old = dataclasses.replace(container, header=dataclasses.replace(container.header, version_minor=0))
    with pytest.raises(BitstreamError, match="holds one segment"):
        model_codec.decode_model(old, 1)


def test_masks_stay_one_segment(segment_clip, tmp_path):
    with pytest.raises(InputError, match="one segment"):
        api.encode(segment_clip, tmp_path / "o.nvc", api.EncodeOptions(steps=1, mask_boxes=(1, 8), segment_frames=4,
                                                                       progress=False))


def test_ctrl_c_in_a_later_segment_keeps_what_was_fitted_and_resumes(segment_clip, segmented, tmp_path,
                                                                     monkeypatch):
    """Interrupted in segment 2's rate search: segments 1 and 2 keep their finished fits and
    segment 1 its record; the resumed encode skips segment 1 entirely and writes the very file
    an uninterrupted one does."""
    import nvcodec.rate.search as search
    import nvcodec.segment as segment
    from nvcodec.errors import Interrupted

    out, opts, _ = segmented
    real, calls = search.search_rate, []

    def second_segment_interrupted(*a, **k):
        if k.get("progress") is not None:  # the final rate search of a segment (not the fit's)
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(search, "search_rate", second_segment_interrupted)
    dst = tmp_path / "o.nvc"
    with pytest.raises(Interrupted, match=r"after fitting .*o\.nvc\.ckpt\.1") as e:
        api.encode(segment_clip, dst, opts)
    assert e.value.checkpoint.endswith(".ckpt.1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.nvc.ckpt.0", "o.nvc.ckpt.0.done", "o.nvc.ckpt.1"]
    monkeypatch.setattr(search, "search_rate", real)
    encoded, real_segment = [], segment.encode_segment
    monkeypatch.setattr(segment, "encode_segment", lambda *a, **k: encoded.append(1) or real_segment(*a, **k))
    api.encode(segment_clip, dst, dataclasses.replace(opts, resume=True))
    assert len(encoded) == 2  # segments 2 and 3: segment 1 came from its record
    assert dst.read_bytes() == (out / "w1.nvc").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.nvc"]


def test_worker_pools_are_handed_a_few_segments_at_a_time(monkeypatch):
    """A pool gets at most workers + 1 segments before one is finished: a job that reads its
    frames when asked (a pipe's) is not read all at once."""
    import nvcodec.parallel as parallel

    asked: list[int] = []
    log: list[tuple[str, int]] = []

    class Jobs:
        def __getitem__(self, k):
            asked.append(k)
            log.append(("read", k))
            return k

    class Pool:
        def submit(self, fn, job, options, fit):
            from concurrent.futures import Future

            f = Future()
            f.set_result(job)
            return f

        def shutdown(self, **kw):
            pass

    monkeypatch.setattr(parallel, "_new_pool", lambda workers: Pool())
    done: list[int] = []
    left = list(range(6))
    parallel._pool_run(left, Jobs(), None, [None] * 6,
                       lambda k, code: (done.append(k), log.append(("done", k))), workers=2)
    assert sorted(done) == list(range(6)) and left == [] and asked == list(range(6))
    assert log[:3] == [("read", 0), ("read", 1), ("read", 2)] and log[3][0] == "done"
    for i, (what, k) in enumerate(log):  # never more than 3 read and not finished
        if what == "read":
            assert sum(1 for w, j in log[:i + 1] if w == "read") - sum(1 for w, j in log[:i] if w == "done") <= 3
