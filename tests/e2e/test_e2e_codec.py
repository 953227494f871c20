"""End to end on the bundled real clip: encode -> file -> decode, and the encoder's claims hold.

The encode is tiny (4 frames, few steps) so CI stays fast; what is checked is the
honesty of the file, not the quality a long fit reaches.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvcodec import api
from nvcodec.video import open_video, sample_clip_path

FRAMES = 4


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nvcodec", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("e2e") / "clip.nvc"
    r = run_cli("encode", str(sample_clip_path()), "-o", str(out), "--bpp", "0.3", "--steps", "100",
                "--frames", f"0:{FRAMES}", "--json", "-q")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_reported_bpp_is_the_file_size(encoded):
    path, rep = encoded
    size = path.stat().st_size
    assert rep["bytes"] == size
    assert rep["bpp"] == pytest.approx(size * 8 / (320 * 240 * FRAMES))
    assert rep["bpp"] <= 0.3 * 1.03
    assert rep["bpp"] >= 0.3 * 0.97 or rep["rate"]["under_target"], rep["rate"]  # short only with the reason
    assert sum(rep["byte_split"].values()) == size
    assert (rep["width"], rep["height"], rep["frames"]) == (320, 240, FRAMES)


def test_decoding_the_file_gives_the_reported_psnr(encoded, tmp_path, mean_colour_psnr):
    path, rep = encoded
    dec = tmp_path / "dec.y4m"
    r = run_cli("decode", str(path), "-o", str(dec), "--json", "-q")
    assert r.returncode == 0, r.stderr
    drep = json.loads(r.stdout)
    assert (drep["frames"], drep["width"], drep["height"]) == (FRAMES, 320, 240)
    ref = tmp_path / "ref.y4m"
    from nvcodec.video import create_writer

    with open_video(sample_clip_path()) as reader, create_writer(ref, reader.info.replace(frames=FRAMES),
                                                                 overwrite=False) as w:
        for i in range(FRAMES):
            w.write(reader.read(i))
    ev = api.evaluate(ref, dec, device="cpu")
    assert ev["psnr_yuv"] == pytest.approx(rep["psnr_yuv"], abs=0.05)
    assert ev["psnr_rgb"] == pytest.approx(rep["psnr_rgb"], abs=0.05)
    # a real reconstruction: 100 steps decode 18.7-20.5 dB RGB against 13.3 dB for the clip's mean
    # colour, which no constant output (a dead network) exceeds
    assert rep["psnr_rgb"] > mean_colour_psnr(ref)["rgb"] + 3.0, rep["psnr_rgb"]


def test_decode_is_deterministic_and_random_access_is_exact(encoded, tmp_path):
    path, _ = encoded
    a, b, part = tmp_path / "a.y4m", tmp_path / "b.y4m", tmp_path / "part.y4m"
    for out, extra in ((a, []), (b, []), (part, ["--frames", "1:3"])):
        r = run_cli("decode", str(path), "-o", str(out), "-q", *extra)
        assert r.returncode == 0, r.stderr
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    with open_video(a) as full, open_video(part) as sub:
        assert len(sub) == 2
        for k in range(2):
            for p_full, p_sub in zip(full.read(1 + k).planes, sub.read(k).planes):
                np.testing.assert_array_equal(p_full, p_sub)


@pytest.mark.parametrize("args,shape", [
    (["--scale", "2", "--fps-mult", "2"], (640, 480, 2 * FRAMES)),
    (["--scale", "0.5"], (160, 120, FRAMES)),
    (["--scale", "1.5"], (480, 360, FRAMES)),
    (["--size", "100x50", "--frames", "1:3", "--fps-mult", "1.5"], (100, 50, 3)),
])
def test_decode_any_size_and_rate(encoded, tmp_path, args, shape):
    path, _ = encoded
    out = tmp_path / "o.y4m"
    r = run_cli("decode", str(path), "-o", str(out), "--json", "-q", *args)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert (rep["width"], rep["height"], rep["frames"]) == shape
    with open_video(out) as v:
        assert (v.info.width, v.info.height, len(v)) == shape


def test_fps_mult_doubles_header_rate(encoded, tmp_path):
    path, _ = encoded
    out = tmp_path / "o.y4m"
    assert run_cli("decode", str(path), "-o", str(out), "--fps-mult", "2", "-q").returncode == 0
    with open_video(out) as v:
        assert v.info.fps == 50


def test_in_between_frames_are_interpolated_from_the_decoded_ones(encoded, tmp_path):
    """--fps-mult 2: the coded frames are the model's either way; the frames between them are
    the motion-compensated interpolation of their decoded neighbours, or with --inbetween
    model the model at t + 1/2 (what the vectors pin)."""
    from nvcodec.bitstream.reader import read_container_file
    from nvcodec.compress import model_codec
    from nvcodec.interpolation import interpolate
    from nvcodec.playback import SegmentedClip

    path, _ = encoded
    outs = {}
    for mode in ("motion", "model"):
        outs[mode] = tmp_path / f"{mode}.y4m"
        api.decode(path, outs[mode], api.DecodeOptions(device="cpu", progress=False, fps_mult=2, inbetween=mode))
    with open_video(outs["motion"]) as a, open_video(outs["model"]) as b:
        assert len(a) == len(b) == 2 * FRAMES
        same = [all(np.array_equal(x, y) for x, y in zip(a.read(i).planes, b.read(i).planes)) for i in range(len(a))]
    assert same[0::2] == [True] * FRAMES and not any(same[1:-1:2])  # the last one is held at frame T-1
    clip = SegmentedClip(read_container_file(path, known_types=model_codec.KNOWN_TYPES), "cpu")
    f0, half, f1 = clip.render([0.0, 0.5, 1.0], 320, 240)
    assert np.array_equal(half, interpolate(f0, f1, 0.5))
    (model_half,) = clip.render([0.5], 320, 240, inbetween="model")
    assert not np.array_equal(model_half, half)
    r = run_cli("decode", str(path), "-o", str(tmp_path / "x.y4m"), "--fps-mult", "2", "--inbetween", "blend")
    assert r.returncode == 2 and "blend" in r.stderr


def test_info_on_nvc(encoded):
    path, rep = encoded
    r = run_cli("info", str(path), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["format"] == "nvc" and info["version"] == "1.2"
    assert (info["width"], info["height"], info["frames"]) == (320, 240, FRAMES)
    assert info["bytes"] == path.stat().st_size
    assert info["byte_split"] == rep["byte_split"]
    assert {c["type"] for c in info["chunks"]} >= {"SIDX", "MCFB", "GLAT", "WGTS", "NEND"}


def test_png_output(encoded, tmp_path):
    path, _ = encoded
    r = run_cli("decode", str(path), "-o", str(tmp_path / "f_%03d.png"), "--frames", "0:2", "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob("f_*.png")) == ["f_000.png", "f_001.png"]


@pytest.mark.parametrize("cap,width", [("1000", 16), ("0", None)])
def test_max_decode_macs_caps_the_base_network(tmp_path, cap, width):
    """--max-decode-macs bounds the decoder's per-pixel work (0: the budget alone sizes the network)."""
    from nvcodec.rate.sizing import choose_config

    if width is None:  # uncapped: what the rate model's weight budget buys, wider than the cap's 16
        width = choose_config(320, 240, 2, 1.0, max_decode_macs=None).config.base.width
        assert width > 16
    out = tmp_path / "c.nvc"
    r = run_cli("encode", str(sample_clip_path()), "-o", str(out), "--bpp", "1.0", "--steps", "1",
                "--frames", "0:2", "--max-decode-macs", cap, "--json", "-q")
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)["model"]
    assert (model["base_width"], model["base_depth"]) == (width, 3)
    assert model["decode_macs_per_pixel"] == 3 * width + 2 * width * width + 3 * width
    info = json.loads(run_cli("info", str(out), "--json").stdout)
    assert info["model"]["base"]["width"] == width
    assert info["decode_macs_per_pixel"] == model["decode_macs_per_pixel"]
