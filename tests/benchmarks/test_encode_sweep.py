"""benchmarks.encode_sweep on a tiny clip: every variant is a real encode whose setting took effect."""

from __future__ import annotations

import csv
import json

import pytest

from benchmarks import encode_sweep


def test_variants_are_parsed_and_checked():
    assert encode_sweep.parse_variant('{"rate": {"weight_rel_step": 0.0625}}') == {
        "fit": {}, "rate": {"weight_rel_step": 0.0625}, "encode": {}}
    assert encode_sweep.parse_variant('{"encode": {"preset": "fast", "time_budget": null}}')["encode"] == {
        "preset": "fast", "time_budget": None}
    with pytest.raises(SystemExit):
        encode_sweep.parse_variant('{"fitting": {}}')


def test_a_sweep_of_two_weight_steps(tmp_path, small_sample_clip, one_torch_thread):
    clip = small_sample_clip
    out = tmp_path / "sw"
    variants = ['{"rate": {"weight_rel_step": 0.0625, "bits_per_weight": 6}}', '{"encode": {"x265_preset": "fast"}}']
    assert encode_sweep.main(["--clip", str(clip), "--bpp", "3", "--time", "2", "--out", str(out), "--allow-dirty",
                              "--variants", *variants]) == 0
    with open(out / "encode_sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [json.loads(r["variant"])["rate"] for r in rows] == [{"weight_rel_step": 0.0625, "bits_per_weight": 6}, {}]
    assert json.loads(rows[1]["variant"])["encode"] == {"x265_preset": "fast"}
    coarse, fine = (float(r["weight_rel_step"]) for r in rows)
    assert coarse >= 0.0625 and fine < coarse  # the rate model's step reached the encoder
    for r in rows:  # a 3-bpp file of this clip decodes far above a broken one (< 15 dB)
        assert float(r["psnr_yuv"]) > 20 and float(r["bpp"]) <= 3 * 1.03
    assert (out / "meta.json").exists() and not (out / "work").exists()
