"""benchmarks.visual on a tiny clip: both codecs at about the same bytes, crops and per-frame values written."""

from __future__ import annotations

import csv

from benchmarks import visual


def test_visual_writes_the_picture_and_the_values(tmp_path, small_sample_clip, one_torch_thread):
    out = tmp_path / "vis"
    assert visual.main([str(small_sample_clip), "--bpp", "2", "--steps", "3", "--out", str(out), "--allow-dirty"]) == 0
    name = small_sample_clip.stem
    assert (out / f"crops_{name}.png").stat().st_size > 1000 and (out / f"per_frame_{name}.png").exists()
    with open(out / f"per_frame_{name}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    codecs = sorted({r["codec"] for r in rows})
    assert len(codecs) == 2 and codecs[0] == "nvcodec" and codecs[1].startswith("x265 medium crf")
    nv, x = (int(next(r for r in rows if r["codec"] == c)["bytes"]) for c in codecs)
    frames = {r["frame"] for r in rows}
    assert len(rows) == 2 * len(frames) and all(float(r["psnr_y"]) > 10 for r in rows)
    assert 0.5 < x / nv < 2.0  # the x265 point closest in size to nvcodec's file
    assert (out / "meta.json").exists() and not (out / "work").exists()


def test_crop_box_defaults_to_the_centre_half():
    assert visual.crop_box(None, 352, 288) == (88, 72, 176, 144)
    assert visual.crop_box("64:32:10:20", 352, 288) == (10, 20, 64, 32)
