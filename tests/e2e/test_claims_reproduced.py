"""What the CLI prints is what a user gets, in CI's fast set: a real shared clip (a small crop of
foreman, a few seconds of fitting) encoded, decoded and measured independently of the encoder,
and `nvcodec demo`, README's first command.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvcodec import api
from nvcodec.video import Frame, create_writer, open_video

W, H, T = 64, 48, 6
BPP, STEPS = 1.0, 200


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nvcodec", *args], capture_output=True, text=True, timeout=600)


def centre_crop(src: Path, dst: Path) -> Path:
    """The first T frames of `src`, centre W x H (even offsets, so 4:2:0 chroma is cut in step)."""
    with open_video(src) as r:
        x0, y0 = (r.info.width - W) // 4 * 2, (r.info.height - H) // 4 * 2
        with create_writer(dst, r.info.replace(width=W, height=H, frames=T), overwrite=True) as w:
            for i in range(T):
                y, u, v = r.read(i).planes
                cy, cx = slice(y0 // 2, (y0 + H) // 2), slice(x0 // 2, (x0 + W) // 2)
                w.write(Frame((y[y0:y0 + H, x0:x0 + W].copy(), u[cy, cx].copy(), v[cy, cx].copy())))
    return dst


def psnr_yuv(ref: Path, dist: Path) -> float:
    """PSNR-YUV 6:1:1 of two 8-bit y4m files, from their planes with numpy only (per plane: the
    PSNR of the clip's mean squared error)."""
    with open_video(ref) as a, open_video(dist) as b:
        assert len(a) == len(b)
        pairs = [(a.read(i).planes, b.read(i).planes) for i in range(len(a))]
    per_plane = []
    for k in range(3):
        mse = np.mean([np.mean((p[k].astype(np.float64) - q[k].astype(np.float64)) ** 2) for p, q in pairs])
        per_plane.append(10 * math.log10(255 ** 2 / mse))
    y, u, v = per_plane
    return (6 * y + u + v) / 8


def test_real_clip_encode_decode_reproduces_the_claims(tmp_path, shared_clip, mean_colour_psnr):
    src = centre_crop(shared_clip("foreman_cif_60f.y4m"), tmp_path / "crop.y4m")
    nvc, dec = tmp_path / "crop.nvc", tmp_path / "dec.y4m"
    r = run_cli("encode", str(src), "-o", str(nvc), "--bpp", str(BPP), "--steps", str(STEPS), "--json", "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    # bpp is the file's
    assert rep["bytes"] == nvc.stat().st_size
    assert rep["bpp"] == pytest.approx(nvc.stat().st_size * 8 / (W * H * T), rel=1e-12)
    assert BPP * 0.97 <= rep["bpp"] <= BPP * 1.03 or rep["rate"]["under_target"], rep["rate"]
    # the PSNR is the decoded file's, measured here without the encoder's code
    r = run_cli("decode", str(nvc), "-o", str(dec), "-q")
    assert r.returncode == 0, r.stderr
    assert psnr_yuv(src, dec) == pytest.approx(rep["psnr_yuv"], abs=0.01)
    assert api.evaluate(src, dec, device="cpu")["psnr_rgb"] == pytest.approx(rep["psnr_rgb"], abs=0.01)
    # and a real reconstruction: 200 steps decode ~26.6 dB RGB on this crop, its mean colour 19.1
    # dB (no constant output, i.e. a dead network, does better); 4 dB is 0.4x the baseline's MSE
    assert rep["psnr_rgb"] > mean_colour_psnr(src)["rgb"] + 4.0, (rep["psnr_rgb"], mean_colour_psnr(src))


def test_demo_runs_and_its_numbers_are_its_files(tmp_path):
    """README's first command, with the shortest fitting time it takes (--time 0.5: ~5 s in all)."""
    out = tmp_path / "demo"
    r = run_cli("demo", "-o", str(out), "--time", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    nvc, dec = Path(res["nvc"]), Path(res["decoded"])
    assert nvc.parent == out and dec.parent == out
    assert res["bytes"] == nvc.stat().st_size
    with open_video(dec) as v, open_video(res["input"]) as s:
        assert (v.info.width, v.info.height, len(v)) == (s.info.width, s.info.height, len(s)) == (320, 240, 16)
    assert res["bpp"] == pytest.approx(res["bytes"] * 8 / (320 * 240 * 16), rel=1e-12)
    assert res["bpp"] <= res["target_bpp"] * 1.03
    assert res["schema_version"] == 1 and res["command"] == "demo"
    assert res["psnr_yuv"] == pytest.approx(res["encoder"]["psnr_yuv"], abs=0.01)
    assert res["psnr_yuv"] == pytest.approx(psnr_yuv(Path(res["input"]), dec), abs=0.01)
    assert 0 < res["msssim"] <= 1
