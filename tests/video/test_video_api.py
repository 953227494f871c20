"""open_video / create_writer / probe / read_rgb dispatch, and PyAV read/write."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nvcodec.errors import DependencyError, InputError, OutputError
from nvcodec.video import (
    Frame,
    VideoInfo,
    VideoReader,
    VideoWriter,
    create_writer,
    open_video,
    probe,
    read_rgb,
    sample_clip_path,
)
from nvcodec.video.color import rgb_to_yuv, yuv_to_rgb
from nvcodec.video.y4m import Y4MReader

PROBE_KEYS = {
    "width", "height", "frames", "fps", "fps_float", "chroma", "chroma_siting",
    "bit_depth", "color_range", "matrix", "bytes", "format",
}


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    m = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if m == 0 else 10 * np.log10(peak * peak / m)


def _smooth_frames(info: VideoInfo, n: int) -> list[Frame]:
    """Moving smooth colour pattern: realistic enough for a lossy codec to do well."""
    yy, xx = np.mgrid[0 : info.height, 0 : info.width].astype(np.float32)
    out = []
    for t in range(n):
        rgb = np.stack(
            [0.5 + 0.3 * np.sin(2 * np.pi * ((xx + 2 * t) / 40 + yy / 60) + 2.1 * k) for k in range(3)], -1
        )
        out.append(rgb_to_yuv(rgb, info))
    return out


def test_open_video_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        open_video(tmp_path / "missing.y4m")
    with pytest.raises(InputError, match="directory"):
        open_video(tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_video(empty)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(InputError, match=str(junk)):
        open_video(junk)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission")
def test_unreadable_path(tmp_path: Path) -> None:  # pragma: no cover - depends on user
    p = tmp_path / "locked.y4m"
    p.write_bytes(sample_clip_path().read_bytes()[:200])
    p.chmod(0)
    with pytest.raises(InputError, match="not readable"):
        open_video(p)


def test_y4m_detected_by_content_and_protocols(tmp_path: Path) -> None:
    odd = tmp_path / "clip.bin"
    odd.write_bytes(sample_clip_path().read_bytes())
    with open_video(odd) as r:
        assert isinstance(r, Y4MReader) and isinstance(r, VideoReader) and len(r) == 16
    p = probe(odd)
    assert PROBE_KEYS <= set(p) and p["format"] == "y4m" and p["fps"] == "25/1"
    with create_writer(tmp_path / "o.y4m", r.info, overwrite=False) as w:
        assert isinstance(w, VideoWriter)
        w.write(open_video(odd).read(0))


def test_create_writer_rejects_unknown_extension(tmp_path: Path) -> None:
    info = VideoInfo(4, 4, 1, Fraction(25))
    with pytest.raises(OutputError, match="extension"):
        create_writer(tmp_path / "x.avi", info, overwrite=False)
    with pytest.raises(OutputError, match="does not exist"):
        create_writer(tmp_path / "nodir" / "x.y4m", info, overwrite=False)


def test_read_rgb_shapes_and_slices() -> None:
    rgb = read_rgb(sample_clip_path(), slice(2, 8, 3))
    assert rgb.shape == (2, 240, 320, 3) and rgb.dtype == np.float32
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0 and rgb.std() > 0.05
    with open_video(sample_clip_path()) as r:
        np.testing.assert_array_equal(rgb[1], yuv_to_rgb(r.read(5), r.info))
        assert read_rgb(r).shape[0] == 16
        r.read(0)  # still open


def test_mp4_write_then_read(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    with open_video(sample_clip_path()) as r, create_writer(out, r.info, overwrite=False) as w:
        for i in range(6):
            w.write(r.read(i))
        ref = [r.read(i) for i in range(6)]
    p = probe(out)
    assert (p["width"], p["height"], p["frames"], p["fps"], p["format"], p["codec"]) == (320, 240, 6, "25/1", "mp4", "h264")
    assert (p["chroma"], p["bit_depth"], p["color_range"], p["matrix"]) == ("420", 8, "limited", "bt601")
    with open_video(out) as r:
        assert len(r) == 6
        for i in (5, 0, 3):  # backwards access re-decodes
            got = r.read(i)
            assert _psnr(got.y, ref[i].y, 255) > 35
            assert _psnr(got.planes[1], ref[i].planes[1], 255) > 35


def test_mp4_writer_atomic_on_exception(tmp_path: Path) -> None:
    info = VideoInfo(32, 16, 1, Fraction(25))
    with pytest.raises(KeyError):
        with create_writer(tmp_path / "x.mkv", info, overwrite=False) as w:
            w.write(_smooth_frames(info, 1)[0])
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_high_bit_depth_and_odd_sizes_via_pyav(tmp_path: Path) -> None:
    info = VideoInfo(48, 32, 3, Fraction(30000, 1001), chroma="420", bit_depth=10, matrix="bt709", color_range="full")
    frames = _smooth_frames(info, 3)
    out = tmp_path / "ten.mkv"
    with create_writer(out, info, overwrite=False) as w:
        for f in frames:
            w.write(f)
    with open_video(out) as r:
        assert (r.info.bit_depth, r.info.chroma, r.info.matrix, r.info.color_range, len(r)) == (10, "420", "bt709", "full", 3)
        assert r.info.fps == Fraction(30000, 1001) and probe(out)["codec"] == "hevc"
        assert _psnr(r.read(1).y, frames[1].y, 1023) > 35
    # odd size and 4:4:4 mono-less: written as 4:4:4 H.264
    info = VideoInfo(33, 17, 2, Fraction(25), chroma="422", chroma_siting="")
    frames = _smooth_frames(info, 2)
    out = tmp_path / "odd.mov"
    with create_writer(out, info, overwrite=False) as w:
        for f in frames:
            w.write(f)
    with open_video(out) as r:
        assert (r.info.width, r.info.height, r.info.chroma, len(r)) == (33, 17, "444", 2)
        assert _psnr(yuv_to_rgb(r.read(1), r.info), yuv_to_rgb(frames[1], info), 1.0) > 35


def test_mono_to_mp4_has_neutral_chroma(tmp_path: Path) -> None:
    info = VideoInfo(32, 16, 1, Fraction(25), chroma="mono", chroma_siting="")
    y = (np.mgrid[0:16, 0:32][1] * 6 + 30).astype(np.uint8)
    out = tmp_path / "mono.mp4"
    with create_writer(out, info, overwrite=False) as w:
        w.write(Frame((y,)))
    with open_video(out) as r:
        f = r.read(0)
    assert r.info.chroma == "420" and _psnr(f.y, y, 255) > 35
    assert np.abs(f.planes[1].astype(int) - 128).max() <= 1


@pytest.mark.skipif("ffv1" not in av.codecs_available, reason="ffv1 encoder not in this PyAV build")
def test_pyav_keeps_high_depth_444_and_converts_rgb(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    # lossless FFV1 yuv444p10le: read back exactly, chroma and depth kept
    y, u, v = (rng.integers(0, 1024, (8, 12)).astype(np.uint16) for _ in range(3))
    path = tmp_path / "ffv1.mkv"
    _encode_ffv1(path, "yuv444p10le", [y, u, v])
    with open_video(path) as r:
        assert (r.info.chroma, r.info.bit_depth, len(r)) == ("444", 10, 1)
        f = r.read(0)
        for a, b in zip(f.planes, (y, u, v)):
            np.testing.assert_array_equal(a, b)
    # an RGB source becomes 8-bit 4:4:4 through nvcodec's own matrix
    rgb = rng.integers(0, 256, (8, 12, 3)).astype(np.uint8)
    path = tmp_path / "rgb.mkv"
    _encode_ffv1(path, "bgr0", None, rgb=rgb)
    with open_video(path) as r:
        assert (r.info.chroma, r.info.bit_depth, r.info.color_range, r.info.matrix) == ("444", 8, "limited", "bt601")
        f = r.read(0)
        expect = rgb_to_yuv(rgb.astype(np.float32) / 255, r.info)
        for a, b in zip(f.planes, expect.planes):
            np.testing.assert_array_equal(a, b)


def _encode_ffv1(path: Path, pix_fmt: str, planes: list[np.ndarray] | None, rgb: np.ndarray | None = None) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        h, w = (planes[0].shape if planes is not None else rgb.shape[:2])
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if planes is not None:
            vf = av.VideoFrame(w, h, pix_fmt)
            for plane, arr in zip(vf.planes, planes):
                buf = np.frombuffer(plane, dtype="<u2").reshape(plane.height, -1)
                buf[:, : plane.width] = arr
        else:
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
        vf.pts = 0
        for pkt in s.encode(vf):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def test_missing_encoder_is_a_dependency_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(av, "codecs_available", set())
    info = VideoInfo(16, 16, 1, Fraction(25), bit_depth=10)
    with pytest.raises(DependencyError, match="libx265"):
        create_writer(tmp_path / "x.mp4", info, overwrite=False)
    assert list(tmp_path.iterdir()) == []
