"""The command line's conventions: version, help, JSON on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nvcodec import __version__
from nvcodec.video import sample_clip_path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nvcodec", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and __version__ in r.stdout


@pytest.mark.parametrize("cmd", ["encode", "decode", "info", "eval"])
def test_help(cmd):
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and "Usage" in r.stdout


def test_help_shows_the_library_defaults():
    """Help text reads its defaults from nvcodec.defaults, the home the library's options use."""
    from click.testing import CliRunner

    from nvcodec import api, defaults
    from nvcodec.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["encode", "--help"]).output.split())
    assert f"[default: {defaults.DEFAULT_BPP};" in text and f"[default: {defaults.DEFAULT_PRESET}]" in text
    assert f"[default: {defaults.DEFAULT_MAX_DECODE_MACS}," in text
    opts = api.EncodeOptions()
    assert (opts.bpp, opts.max_decode_macs, opts.preset) == (defaults.DEFAULT_BPP, defaults.DEFAULT_MAX_DECODE_MACS,
                                                            defaults.DEFAULT_PRESET)
    decode = " ".join(CliRunner().invoke(cli, ["decode", "--help"]).output.split())
    assert f"[default: {defaults.DEFAULT_CRF}," in decode
    demo = " ".join(CliRunner().invoke(cli, ["demo", "--help"]).output.split())
    assert f"[default: {defaults.DEMO_BPP};" in demo and f"[default: {defaults.DEMO_TIME_BUDGET};" in demo


def test_info_json_on_sample():
    r = run_cli("info", str(sample_clip_path()), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["width"], d["height"], d["frames"], d["fps"]) == (320, 240, 16, "25/1")
    assert d["chroma"] == "420" and d["bit_depth"] == 8 and d["bytes"] == sample_clip_path().stat().st_size


def test_eval_identical_is_null_psnr():
    s = str(sample_clip_path())
    r = run_cli("eval", s, s, "--json", "--no-lpips")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["psnr_y"] is None and d["identical"] is True
    assert d["msssim"] == pytest.approx(1.0)


def _one_line_error(r: subprocess.CompletedProcess, code: int) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_missing_input(tmp_path):
    r = run_cli("encode", str(tmp_path / "nope.y4m"), "-o", str(tmp_path / "o.nvc"))
    assert "nope.y4m" in _one_line_error(r, 1)
    assert not (tmp_path / "o.nvc").exists()


@pytest.mark.parametrize("content", [b"", b"garbage that is not video" * 10, b"YUV4MPEG2 W10 H10\nFRA",
                                     b"YUV4MPEG2 Wx H10 F25:1\nFRAME\n"])
def test_broken_inputs_refused(tmp_path, content):
    src = tmp_path / "in.y4m"
    src.write_bytes(content)
    r = run_cli("encode", str(src), "-o", str(tmp_path / "o.nvc"), "--steps", "1")
    _one_line_error(r, 1)
    assert not (tmp_path / "o.nvc").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.y4m"]


def test_truncated_frame_refused(tmp_path):
    data = sample_clip_path().read_bytes()
    src = tmp_path / "t.y4m"
    src.write_bytes(data[: len(data) - 1000])
    r = run_cli("encode", str(src), "-o", str(tmp_path / "o.nvc"), "--steps", "1")
    assert "truncat" in _one_line_error(r, 1).lower()
    assert not (tmp_path / "o.nvc").exists()


def test_overwrite_refused_without_y(tmp_path):
    out = tmp_path / "o.nvc"
    out.write_bytes(b"keep")
    r = run_cli("encode", str(sample_clip_path()), "-o", str(out), "--steps", "1")
    assert "overwrite" in _one_line_error(r, 1)
    assert out.read_bytes() == b"keep"


def test_usage_error_exit_2(tmp_path):
    r = run_cli("decode", "x.nvc", "-o", str(tmp_path / "o.y4m"), "--scale", "-1")
    _one_line_error(r, 2)
    r = run_cli("encode", str(sample_clip_path()))
    _one_line_error(r, 2)


def test_decode_garbage_nvc(tmp_path):
    bad = tmp_path / "bad.nvc"
    bad.write_bytes(b"\x8bNVC\r\n\x1a\n" + b"\x00" * 50)
    r = run_cli("decode", str(bad), "-o", str(tmp_path / "o.y4m"))
    _one_line_error(r, 1)
    assert not (tmp_path / "o.y4m").exists()


def test_tune_motion_fits_the_in_between_times(sample_crop, tmp_path):
    from nvcodec import api
    from nvcodec.errors import InputError

    clip = sample_crop(tmp_path / "c.y4m", 64, 48, 4)
    common = ["--bpp", "2", "--steps", "4", "--device", "cpu", "-q", "-y"]
    for name in ("none", "motion"):
        assert run_cli("encode", str(clip), "-o", str(tmp_path / f"{name}.nvc"), "--tune", name, *common).returncode == 0
    assert (tmp_path / "none.nvc").read_bytes() != (tmp_path / "motion.nvc").read_bytes()
    bad = run_cli("encode", str(clip), "-o", str(tmp_path / "x.nvc"), "--tune", "fast", *common)
    assert bad.returncode == 2 and "fast" in bad.stderr
    with pytest.raises(InputError, match="unknown tune 'fast'"):
        api.encode(clip, tmp_path / "x.nvc", api.EncodeOptions(tune="fast", steps=1))
