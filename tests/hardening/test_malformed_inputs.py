"""Malformed input to `encode` (and bad output paths): one clear line, exit 1 (2 for usage
errors), no traceback, and nothing written: no output, no temporary file, no checkpoint.

The matrix runs the CLI's entry point in-process (`nvcodec.cli.main`, exactly what
`python -m nvcodec` runs; a subprocess per case would cost ~3 s of imports each); a few
cases also run as real subprocesses.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from hardening_util import one_line_error, run_cli
from nvcodec import cli
from nvcodec.video import sample_clip_path

W, H = 64, 48
FRAME = b"FRAME\n" + bytes(W * H * 3 // 2)
HEAD = f"YUV4MPEG2 W{W} H{H} F25:1 Ip A1:1 C420jpeg\n".encode()

# name -> (file bytes, regex the one-line message must match)
CASES: dict[str, tuple[bytes, str]] = {
    "header_cut.y4m": (HEAD[:20], "not terminated|truncated"),
    "frame_cut.y4m": (HEAD + FRAME + FRAME[:100], "frame 1 is truncated"),
    "frame_cut_marker.y4m": (HEAD + FRAME + b"FRA", "truncated|FRAME marker"),
    "zero_frames.y4m": (HEAD, "no frames"),
    "bad_width.y4m": (b"YUV4MPEG2 W-64 H48\n" + FRAME, "malformed y4m header token W-64"),
    "bad_width_text.y4m": (b"YUV4MPEG2 Wabc H48\n" + FRAME, "malformed y4m header token Wabc"),
    "bad_rate.y4m": (b"YUV4MPEG2 W64 H48 Fx:y\n" + FRAME, "malformed y4m header token Fx:y"),
    "bad_aspect.y4m": (b"YUV4MPEG2 W64 H48 A1\n" + FRAME, "malformed y4m header token A1"),
    "bad_interlace.y4m": (b"YUV4MPEG2 W64 H48 Ix\n" + FRAME, "malformed y4m interlace token Ix"),
    "no_width.y4m": (b"YUV4MPEG2 H48\n" + FRAME, "lacks the W token"),
    "non_ascii.y4m": (b"YUV4MPEG2 W64 H48 X\xff\xfe\n" + FRAME, "non-ASCII"),
    "interlaced_top.y4m": (b"YUV4MPEG2 W64 H48 It\n" + FRAME, "interlaced y4m .*not supported"),
    "interlaced_bottom.y4m": (b"YUV4MPEG2 W64 H48 Ib\n" + FRAME, "interlaced y4m .*not supported"),
    "interlaced_mixed.y4m": (b"YUV4MPEG2 W64 H48 Im\n" + FRAME, "interlaced y4m .*not supported"),
    "chroma_411.y4m": (b"YUV4MPEG2 W64 H48 C411\n" + FRAME, "unsupported y4m chroma format C411"),
    "depth_7.y4m": (b"YUV4MPEG2 W64 H48 C420p7\n" + FRAME, "unsupported bit depth 7"),
    "depth_17.y4m": (b"YUV4MPEG2 W64 H48 C420p17\n" + FRAME, "unsupported bit depth 17"),
    "absurd_size.y4m": (b"YUV4MPEG2 W100000 H100000\n" + FRAME, "too large"),
    "absurd_size_2.y4m": (b"YUV4MPEG2 W99999999999999999999 H1\n" + FRAME, "too large"),
    "zero_width.y4m": (b"YUV4MPEG2 W0 H48\n" + FRAME, "invalid frame size 0x48"),
    # the largest legal size, declared over a tiny file: refused from the file size, nothing read
    "max_size_short.y4m": (b"YUV4MPEG2 W16384 H16384\n" + FRAME, r"frame 0 is truncated \(\d+ of 402653184 bytes\)"),
    "garbage_frame.y4m": (b"YUV4MPEG2 W64 H48\n" + b"FRAMX\n" + bytes(W * H * 3 // 2), "FRAME marker"),
    "text.y4m": (b"hello, this is not a video\n" * 20, "not a YUV4MPEG2 file"),
    "random.mp4": (np.random.default_rng(0).bytes(5000), "not a readable video file"),
    "empty.mp4": (b"", "empty"),
    # FFmpeg renders .txt/.nfo files as "ANSI art" video: a text file must still be refused
    "notes.txt": (b"hello, this is not a video\n" * 20, "not a video file"),
    "readme.nfo": (b"release notes\n" * 40, "not a video file"),
    "raw_no_size.yuv": (bytes(1000), "needs --size"),
}


def run_main(capsys, *args) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def dirs(tmp_path) -> tuple[Path, Path]:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


def assert_nothing_written(out_dir: Path) -> None:
    assert sorted(p.name for p in out_dir.iterdir()) == [], "the command left files behind"


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_is_refused(capsys, dirs, name):
    src, out = dirs
    data, pattern = CASES[name]
    (src / name).write_bytes(data)
    rc, stdout, stderr = run_main(capsys, "encode", src / name, "-o", out / "o.nvc", "--steps", "1", "-q")
    line = one_line_error(stderr, rc, 1)
    assert re.search(pattern, line), line
    assert str(src / name) in line or name in line  # names the file
    assert stdout == ""
    assert_nothing_written(out)


@pytest.mark.parametrize("name", ["notes.txt", "random.mp4", "interlaced_top.y4m", "frame_cut.y4m"])
def test_info_refuses_the_same_files(capsys, dirs, name):
    src, _ = dirs
    data, pattern = CASES[name]
    (src / name).write_bytes(data)
    rc, stdout, stderr = run_main(capsys, "info", src / name, "--json")
    assert re.search(pattern, one_line_error(stderr, rc, 1))
    assert stdout == ""


def test_directory_as_input(capsys, dirs):
    src, out = dirs
    rc, _, stderr = run_main(capsys, "encode", src, "-o", out / "o.nvc", "--steps", "1", "-q")
    assert "is a directory" in one_line_error(stderr, rc, 1)
    assert_nothing_written(out)


def test_unreadable_input(capsys, dirs):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading (the directory case covers "
                    "unreadable paths)")
    src, out = dirs
    p = src / "locked.y4m"
    p.write_bytes(HEAD + FRAME)
    p.chmod(0)
    try:
        rc, _, stderr = run_main(capsys, "encode", p, "-o", out / "o.nvc", "--steps", "1", "-q")
        assert "not readable" in one_line_error(stderr, rc, 1)
    finally:
        p.chmod(0o644)
    assert_nothing_written(out)


def test_missing_input(capsys, dirs):
    src, out = dirs
    rc, _, stderr = run_main(capsys, "encode", src / "nope.y4m", "-o", out / "o.nvc", "-q")
    assert "not found" in one_line_error(stderr, rc, 1)
    assert_nothing_written(out)


def test_missing_output_directory(capsys, dirs):
    src, out = dirs
    rc, _, stderr = run_main(capsys, "encode", sample_clip_path(), "-o", out / "no" / "such" / "o.nvc", "-q")
    assert "output directory does not exist" in one_line_error(stderr, rc, 1)
    assert_nothing_written(out)


def test_output_is_a_directory(capsys, dirs):
    src, out = dirs
    (out / "d.nvc").mkdir()
    rc, _, stderr = run_main(capsys, "encode", sample_clip_path(), "-o", out / "d.nvc", "-q", "-y")
    assert "is a directory" in one_line_error(stderr, rc, 1)
    assert [p.name for p in out.iterdir()] == ["d.nvc"]


def test_existing_output_without_overwrite(capsys, dirs):
    src, out = dirs
    (out / "o.nvc").write_bytes(b"previous")
    rc, _, stderr = run_main(capsys, "encode", sample_clip_path(), "-o", out / "o.nvc", "--steps", "1", "-q")
    assert "use -y/--overwrite" in one_line_error(stderr, rc, 1)
    assert (out / "o.nvc").read_bytes() == b"previous"
    assert [p.name for p in out.iterdir()] == ["o.nvc"]


def test_decode_output_errors(capsys, dirs, valid_nvc):
    _, out = dirs
    rc, _, stderr = run_main(capsys, "decode", valid_nvc, "-o", out / "no" / "d.y4m", "-q")
    assert "output directory does not exist" in one_line_error(stderr, rc, 1)
    rc, _, stderr = run_main(capsys, "decode", valid_nvc, "-o", out / "d.avi", "-q")
    assert "unsupported output video extension" in one_line_error(stderr, rc, 1)
    assert_nothing_written(out)
    (out / "d.y4m").write_bytes(b"previous")
    rc, _, stderr = run_main(capsys, "decode", valid_nvc, "-o", out / "d.y4m", "-q")
    assert "use -y/--overwrite" in one_line_error(stderr, rc, 1)
    assert (out / "d.y4m").read_bytes() == b"previous"


@pytest.mark.parametrize("args", [
    ["--bpp", "0"], ["--bpp", "abc"], ["--frames", "5:2"], ["--frames", "x"], ["--steps", "0"],
    ["--mask-boxes", "3"], ["--device", "tpu"], ["--size", "0x10"], ["--fps", "-1", "--size", "8x8"],
])
def test_usage_errors_exit_2(capsys, dirs, args):
    src, out = dirs
    (src / "in.y4m").write_bytes(HEAD + FRAME)
    rc, _, stderr = run_main(capsys, "encode", src / "in.y4m", "-o", out / "o.nvc", "-q", *args)
    one_line_error(stderr, rc, 2)
    assert_nothing_written(out)


def test_unsupported_raw_formats(capsys, dirs):
    src, out = dirs
    (src / "in.yuv").write_bytes(bytes(1000))
    rc, _, stderr = run_main(capsys, "encode", src / "in.yuv", "-o", out / "o.nvc", "-q", "--size", "10x10")
    assert "not a whole number of 10x10 yuv420p frames" in one_line_error(stderr, rc, 1)
    rc, _, stderr = run_main(capsys, "encode", src / "in.yuv", "-o", out / "o.nvc", "-q", "--size", "10x10",
                             "--pix-fmt", "yuv411p")
    assert "unsupported raw pixel format" in one_line_error(stderr, rc, 1)
    rc, _, stderr = run_main(capsys, "encode", src / "in.yuv", "-o", out / "o.nvc", "-q", "--size", "99999x99999")
    assert "too large" in one_line_error(stderr, rc, 1)
    assert_nothing_written(out)


@pytest.mark.parametrize("mask,content,pattern", [
    ("m.png", b"not a png", "cannot read mask image"),
    ("m.txt", b"text, not video\n" * 20, "not a (readable )?video file"),
    ("m.mp4", b"\x00" * 3000, "not a readable video file"),
    ("absent.png", None, "mask file not found"),
], ids=["bad-png", "text", "zeros-mp4", "absent"])
def test_malformed_masks(capsys, dirs, small_clip, mask, content, pattern):
    src, out = dirs
    if content is not None:
        (src / mask).write_bytes(content)
    rc, _, stderr = run_main(capsys, "encode", small_clip, "-o", out / "o.nvc", "-q", "--steps", "1", "--bpp", "2",
                             "--mask", src / mask)
    assert re.search(pattern, one_line_error(stderr, rc, 1))
    assert_nothing_written(out)


def test_mask_of_the_wrong_size(capsys, dirs, small_clip):
    _, out = dirs
    rc, _, stderr = run_main(capsys, "encode", small_clip, "-o", out / "o.nvc", "-q", "--steps", "1", "--bpp", "2",
                             "--mask", sample_clip_path())
    assert "is 320x240, the video is 128x96" in one_line_error(stderr, rc, 1)
    assert_nothing_written(out)


# ------------------------------------------------------------------ the real command line

def test_subprocess_refuses_a_text_file(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    inp = tmp_path / "src" / "notes.txt"
    inp.write_bytes(CASES["notes.txt"][0])
    r = run_cli("encode", inp, "-o", tmp_path / "out" / "o.nvc", "--steps", "1")
    assert "not a video file" in one_line_error(r.stderr, r.returncode, 1)
    assert r.stdout == ""
    assert_nothing_written(tmp_path / "out")


def test_subprocess_usage_error(tmp_path):
    r = run_cli("encode", sample_clip_path(), "-o", tmp_path / "o.nvc", "--bpp", "-3")
    assert "--bpp" in one_line_error(r.stderr, r.returncode, 2)
    assert list(tmp_path.iterdir()) == []
