"""The flags a video engineer reaches for: presets, frame counts, raw-input geometry, output
pixel formats and quality, threads. Tiny clips and few steps: the conventions, not the quality."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nvcodec import api
from nvcodec.effort import MIN_FIT_SECONDS, PRESETS, effort
from nvcodec.errors import InputError, OutputError
from nvcodec.segment import fit_budget
from nvcodec.video import open_video


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nvcodec", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def one_error_line(r: subprocess.CompletedProcess, code: int) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def crop(sample_crop, tmp_path_factory) -> Path:
    return sample_crop(tmp_path_factory.mktemp("crop") / "c.y4m", 64, 64, 4)


@pytest.fixture(scope="module")
def nvc(crop, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nvc") / "c.nvc"
    api.encode(crop, out, api.EncodeOptions(bpp=2.0, steps=2, progress=False, device="cpu"))
    return out


# ------------------------------------------------------------------ presets

def test_presets_scale_the_budget_with_the_clip():
    cif60 = 352 * 288 * 60
    assert [e.fit_seconds(cif60) for e in PRESETS.values()] == pytest.approx(
        [e.seconds_per_megapixel * cif60 / 1e6 for e in PRESETS.values()])
    assert effort("medium").fit_seconds(cif60) == pytest.approx(60.8, abs=0.1)  # the old fixed default
    assert effort("medium").fit_seconds(4 * 720 * 1280) == pytest.approx(4 * 720 * 1280 * 10 / 1e6)
    assert effort("veryslow").fit_seconds(1000) == MIN_FIT_SECONDS
    rates = [e.seconds_per_megapixel for e in PRESETS.values()]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)
    with pytest.raises(InputError, match="ultrafast, fast, medium, slow, veryslow"):
        effort("placebo")


def test_time_and_steps_override_the_preset():
    pixels = 352 * 288 * 60
    assert fit_budget(api.EncodeOptions(preset="slow"), pixels) == pytest.approx(182.5, abs=0.1)
    assert fit_budget(api.EncodeOptions(preset="slow", time_budget=7.0), pixels) == 7.0
    assert fit_budget(api.EncodeOptions(preset="slow", steps=10), pixels) is None


def test_unknown_preset_refused_before_any_work(crop, tmp_path):
    with pytest.raises(InputError, match="unknown preset"):
        api.encode(crop, tmp_path / "o.nvc", api.EncodeOptions(preset="insane", progress=False))
    assert list(tmp_path.iterdir()) == []


def test_cli_preset_drives_the_fit_time(crop, tmp_path):
    r = run_cli("encode", crop, "-o", tmp_path / "o.nvc", "--bpp", "2", "--preset", "ultrafast", "--device", "cpu",
                "--json", "-q")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    # 64x64x4 pixels want far less than the floor: the fit stops at about MIN_FIT_SECONDS
    assert MIN_FIT_SECONDS * 0.9 <= report["fit_seconds"] < MIN_FIT_SECONDS + 5


# ------------------------------------------------------------------ frames, threads

def test_frames_takes_a_count_like_x265(crop, tmp_path):
    r = run_cli("encode", crop, "-o", tmp_path / "o.nvc", "--bpp", "2", "--steps", "1", "--frames", "3",
                "--device", "cpu", "--json", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["frames"] == 3
    assert "frame count" in one_error_line(run_cli("encode", crop, "-o", tmp_path / "p.nvc", "--frames", "0"), 2)


def test_threads_hold_for_the_whole_encode(crop, tmp_path, monkeypatch):
    import nvcodec.fit as fit_pkg

    seen = []
    real_fit = fit_pkg.fit

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real_fit(*a, **k)

    monkeypatch.setattr(fit_pkg, "fit", spy)
    before = torch.get_num_threads()
    api.encode(crop, tmp_path / "o.nvc", api.EncodeOptions(bpp=2.0, steps=1, threads=1, progress=False, device="cpu"))
    assert seen == [1] and torch.get_num_threads() == before


# ------------------------------------------------------------------ raw-input geometry

def test_raw_geometry_on_a_file_with_its_own_is_an_error(crop, tmp_path):
    line = one_error_line(run_cli("info", crop, "--input-size", "64x64"), 1)
    assert "--input-size" in line and "y4m" in line
    mp4 = tmp_path / "c.mp4"
    mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    assert ".mp4" in one_error_line(run_cli("encode", mp4, "-o", tmp_path / "o.nvc", "--size", "64x64"), 1)


def test_input_geometry_flags_and_their_old_names(crop, tmp_path):
    with open_video(crop) as reader:
        raw = b"".join(p.tobytes() for i in range(4) for p in reader.read(i).planes)
    yuv = tmp_path / "c.yuv"
    yuv.write_bytes(raw)
    for flags in (["--input-size", "64x64", "--input-fps", "30000/1001", "--input-pix-fmt", "yuv420p"],
                  ["--size", "64x64", "--fps", "30000/1001", "--pix-fmt", "yuv420p"]):
        r = run_cli("info", yuv, *flags, "--json")
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert (d["width"], d["height"], d["frames"], d["fps"]) == (64, 64, 4, "30000/1001")


# ------------------------------------------------------------------ decode output format

def test_decode_pix_fmt_sets_chroma_and_depth(nvc, tmp_path):
    out = tmp_path / "o.y4m"
    r = run_cli("decode", nvc, "-o", out, "--pix-fmt", "yuv444p10le", "-q")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().split(b"\n", 1)[0].split()[-1] in (b"C444p10",)
    with open_video(out) as reader:
        assert (reader.info.chroma, reader.info.bit_depth, reader.info.frames) == ("444", 10, 4)
        y10 = reader.read(0).planes[0].astype(int)
    plain = tmp_path / "p.y4m"
    assert run_cli("decode", nvc, "-o", plain, "-q").returncode == 0
    with open_video(plain) as reader:
        y8 = reader.read(0).planes[0].astype(int)
    assert abs(y10 / 4 - y8).max() <= 1  # the same picture, two more bits
    assert "output pixel format" in one_error_line(run_cli("decode", nvc, "-o", tmp_path / "x.y4m",
                                                           "--pix-fmt", "rgb24"), 1)


def test_decode_crf_sets_the_preview_quality(nvc, tmp_path):
    sizes = {}
    for crf in (0, 40):
        out = tmp_path / f"o{crf}.mp4"
        r = run_cli("decode", nvc, "-o", out, "--crf", crf, "-q")
        assert r.returncode == 0, r.stderr
        sizes[crf] = out.stat().st_size
    assert sizes[40] < sizes[0]
    with pytest.raises(OutputError, match="--crf applies to"):
        api.decode(nvc, tmp_path / "o.y4m", api.DecodeOptions(crf=20, progress=False, device="cpu"))


# ------------------------------------------------------------------ info

def test_info_on_a_video_does_not_load_torch(crop):
    code = ("import sys; from nvcodec.cli import main; rc = main(['info', sys.argv[1], '--json']); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, str(crop)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["frames"] == 4


def test_info_on_an_nvc_still_validates_its_model(nvc):
    r = run_cli("info", nvc, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["format"] == "nvc" and d["frames"] == 4 and sum(d["byte_split"].values()) == d["bytes"]


# ------------------------------------------------------------------ JSON and eval

def test_every_command_speaks_one_json_scheme(crop, nvc, tmp_path):
    dec = tmp_path / "d.y4m"
    outputs = {
        "info": run_cli("info", crop, "--json"),
        "encode": run_cli("encode", crop, "-o", tmp_path / "e.nvc", "--bpp", "2", "--steps", "1", "--json", "-q"),
        "decode": run_cli("decode", nvc, "-o", dec, "--json", "-q"),
    }
    outputs["eval"] = run_cli("eval", crop, dec, "--json", "-q")
    docs = {}
    for command, r in outputs.items():
        assert r.returncode == 0, (command, r.stderr)
        docs[command] = json.loads(r.stdout)
        assert docs[command]["schema_version"] == 1 and docs[command]["command"] == command
    assert docs["info"]["input"] == str(crop) and docs["decode"]["input"] == str(nvc)
    assert docs["eval"]["input"] == str(dec) and docs["eval"]["ref"] == str(crop)
    for key in ("psnr_rgb", "psnr_yuv", "psnr_y", "psnr_u", "psnr_v", "bpp", "kbps"):
        assert key in docs["encode"], key
    assert "psnr" not in docs["encode"] and "ms_ssim" not in docs["eval"] and "per_frame" not in docs["eval"]
    enc = docs["encode"]
    assert enc["kbps"] == pytest.approx(enc["bytes"] * 8 * 25 / 4 / 1000)


def test_eval_metrics_frames_and_per_frame(crop, nvc, tmp_path):
    dec = tmp_path / "d.y4m"
    assert run_cli("decode", nvc, "-o", dec, "-q").returncode == 0
    r = run_cli("eval", crop, dec, "--metrics", "psnr", "--frames", "1:3", "--per-frame", "--json", "-q")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["frames"] == 2 and d["first_frame"] == 1 and d["msssim"] is None
    assert [f["frame"] for f in d["per_frame"]] == [1, 2] and all(f["msssim"] is None for f in d["per_frame"])
    full = json.loads(run_cli("eval", crop, dec, "--per-frame", "--json", "-q").stdout)
    assert 0 < full["msssim"] <= 1
    assert full["per_frame"][1]["psnr_y"] == pytest.approx(d["per_frame"][0]["psnr_y"])
    assert "unknown metric" in one_error_line(run_cli("eval", crop, dec, "--metrics", "vmaf"), 1)
    human = run_cli("eval", crop, dec, "--metrics", "psnr")
    assert "MS-SSIM" not in human.stdout and "PSNR Y" in human.stdout


def test_encode_ends_with_one_x265_style_line(crop, tmp_path):
    r = run_cli("encode", crop, "-o", tmp_path / "o.nvc", "--bpp", "2", "--steps", "2")
    assert r.returncode == 0, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"encoded 4 frames in [\d.]+ s \([\d.]+ fps\), [\d.]+ kb/s, [\d.]+ bpp \(target 2\), "
                        r"PSNR-YUV [\d.]+ dB \(Y [\d.]+ U [\d.]+ V [\d.]+\), RGB [\d.]+ dB -> .*o\.nvc \(\d+ bytes\)",
                        last), last
    assert r.stdout == ""


def test_progress_in_a_log_is_plain_lines(crop, tmp_path):
    """stderr into a file: no carriage returns, each update once."""
    r = run_cli("encode", crop, "-o", tmp_path / "o.nvc", "--bpp", "2", "--steps", "3")
    assert r.returncode == 0 and "\r" not in r.stderr and "\x1b" not in r.stderr
    fit_lines = [ln for ln in r.stderr.splitlines() if ln.startswith("fit: ")]
    assert fit_lines and len(fit_lines) == len(set(fit_lines)) and fit_lines[-1].startswith("fit: [####################]")
    q = run_cli("encode", crop, "-o", tmp_path / "q.nvc", "--bpp", "2", "--steps", "3", "-q")
    assert q.returncode == 0 and q.stderr == ""
