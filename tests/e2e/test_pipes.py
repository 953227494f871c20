"""ffmpeg-style pipelines: y4m on stdin -> encode -> .nvc; decode -> y4m on stdout -> eval from
stdin. Real pipes between real processes; stdout carries nothing but data."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvcodec.video import open_video

CLI = [sys.executable, "-m", "nvcodec"]


def ffmpeg_y4m(src: Path) -> bytes:
    """`src` re-muxed by FFmpeg's own yuv4mpegpipe muxer (through PyAV): the header a user's
    `ffmpeg -f yuv4mpegpipe -` writes, not nvcodec's."""
    import av

    buf = io.BytesIO()
    with open_video(src) as reader:
        info = reader.info
        out = av.open(buf, mode="w", format="yuv4mpegpipe")
        stream = out.add_stream("rawvideo", rate=int(info.fps))
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
        for i in range(info.frames):
            vf = av.VideoFrame(info.width, info.height, "yuv420p")
            for plane, arr in zip(vf.planes, reader.read(i).planes):
                view = np.frombuffer(plane, np.uint8)[: plane.height * plane.line_size].reshape(plane.height, -1)
                view[:, : plane.width] = arr
            out.mux(stream.encode(vf))
        out.mux(stream.encode(None))
        out.close()
    return buf.getvalue()


@pytest.fixture(scope="module")
def clip(sample_crop, tmp_path_factory) -> tuple[Path, bytes]:
    path = sample_crop(tmp_path_factory.mktemp("pipes") / "c.y4m", 64, 48, 4)
    return path, ffmpeg_y4m(path)


def test_ffmpeg_header_is_not_ours(clip):
    _, data = clip
    assert data.startswith(b"YUV4MPEG2 W64 H48 F25:1 Ip A0:0 C420jpeg XYSCSS=420JPEG\nFRAME\n")


def test_stdin_to_encode_to_stdout_decode_to_eval_from_stdin(clip, tmp_path):
    path, data = clip
    nvc = tmp_path / "o.nvc"
    enc = subprocess.run([*CLI, "encode", "-", "-o", str(nvc), "--bpp", "2", "--steps", "3", "--device", "cpu",
                          "--json"], input=data, capture_output=True, timeout=300)
    assert enc.returncode == 0, enc.stderr.decode()
    report = json.loads(enc.stdout)  # stdout: exactly the JSON object
    assert report["frames"] == 4 and report["bytes"] == nvc.stat().st_size
    assert b"fitting" in enc.stderr  # human text went to stderr

    decode = subprocess.Popen([*CLI, "decode", str(nvc), "-o", "-", "-q"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    evaluate = subprocess.run([*CLI, "eval", str(path), "-", "--json", "--no-lpips"], stdin=decode.stdout,
                              capture_output=True, timeout=300)
    decode.stdout.close()
    assert decode.wait(timeout=300) == 0, decode.stderr.read().decode()
    assert decode.stderr.read() == b""  # -q: nothing but the video, on stdout
    assert evaluate.returncode == 0, evaluate.stderr.decode()
    scores = json.loads(evaluate.stdout)
    assert scores["frames"] == 4
    # the pipe carried the very frames the encoder measured
    assert scores["psnr_yuv"] == pytest.approx(report["psnr_yuv"], abs=1e-6)


def test_encode_to_stdout_is_the_file(clip, tmp_path):
    path, data = clip
    args = ["--bpp", "2", "--steps", "2", "--device", "cpu", "-q"]
    piped = subprocess.run([*CLI, "encode", "-", "-o", "-", *args], input=data, capture_output=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == b"", piped.stderr.decode()
    written = tmp_path / "o.nvc"
    assert subprocess.run([*CLI, "encode", str(path), "-o", str(written), *args], timeout=300).returncode == 0
    assert piped.stdout == written.read_bytes()
    assert list(tmp_path.iterdir()) == [written]  # no checkpoint left for the stdout run either


def test_decode_to_stdout_equals_decode_to_file(clip, tmp_path):
    path, data = clip
    nvc = tmp_path / "o.nvc"
    subprocess.run([*CLI, "encode", str(path), "-o", str(nvc), "--bpp", "2", "--steps", "2", "-q"], check=True,
                   timeout=300)
    piped = subprocess.run([*CLI, "decode", str(nvc), "-o", "-", "--fps-mult", "2", "-q"], capture_output=True,
                           timeout=300)
    assert piped.returncode == 0, piped.stderr.decode()
    subprocess.run([*CLI, "decode", str(nvc), "-o", str(tmp_path / "d.y4m"), "--fps-mult", "2", "-q"], check=True,
                   timeout=300)
    assert piped.stdout == (tmp_path / "d.y4m").read_bytes()


@pytest.mark.parametrize("stdin, what", [(b"", "empty stream"), (b"not a video at all\n", "bad magic"),
                                         (b"YUV4MPEG2 W64 H48 F25:1\nFRAME\n" + bytes(100), "truncated")])
def test_bad_stdin_is_one_line_and_exit_1(stdin, what, tmp_path):
    r = subprocess.run([*CLI, "encode", "-", "-o", str(tmp_path / "o.nvc"), "--steps", "1"], input=stdin,
                       capture_output=True, timeout=120)
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and what in lines[0], r.stderr.decode()
    assert r.stdout == b"" and list(tmp_path.iterdir()) == []


def test_json_and_stdout_output_conflict(clip, tmp_path):
    r = subprocess.run([*CLI, "decode", "x.nvc", "-o", "-", "--json"], capture_output=True, timeout=120)
    assert r.returncode == 2 and b"--json" in r.stderr and r.stdout == b""


def test_raw_planes_on_stdin(clip, tmp_path):
    path, _ = clip
    with open_video(path) as reader:
        raw = b"".join(p.tobytes() for i in range(reader.info.frames) for p in reader.read(i).planes)
    r = subprocess.run([*CLI, "info", "-", "--input-size", "64x48", "--input-fps", "50", "--json"], input=raw,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    d = json.loads(r.stdout)
    assert (d["width"], d["height"], d["frames"], d["fps"]) == (64, 48, 4, "50/1")
    assert (d["format"], d["codec"]) == ("yuv", "rawvideo")


def test_a_pipe_of_several_segments_gives_the_file_s_bytes(sample_crop, tmp_path):
    path = sample_crop(tmp_path / "c.y4m", 64, 48, 16)
    args = ["--bpp", "2", "--steps", "2", "--device", "cpu", "--segment-frames", "10", "-q"]
    piped = subprocess.run([*CLI, "encode", "-", "-o", "-", *args], input=ffmpeg_y4m(path), capture_output=True,
                           timeout=300)
    assert piped.returncode == 0, piped.stderr.decode()
    written = tmp_path / "o.nvc"
    assert subprocess.run([*CLI, "encode", str(path), "-o", str(written), *args], timeout=300).returncode == 0
    assert piped.stdout == written.read_bytes()
    info = json.loads(subprocess.run([*CLI, "info", str(written), "--json"], capture_output=True, timeout=60).stdout)
    assert [s["frame_count"] for s in info["segments"]] == [10, 6]
