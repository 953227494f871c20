"""Table 10.1 of bitstream_spec/NVC.md is sufficient to read an MCFB chunk.

The fuzzer's raw layout (`benchmarks.nvc_mutations.mcfb_dict`) is written from the spec text
only (section 1's varint and f64, table 10.1's order and codes), not from nvcodec's config
codec. It must give the configuration object the writer started from, for every named family
and for configs that exercise every code and a null scale.
"""

from __future__ import annotations

import struct

import pytest

from benchmarks.nvc_mutations import mcfb_dict
from nvcodec.compress.config_codec import encode_config
from nvcodec.compress.model_codec import parse_config
from nvcodec.errors import BitstreamError
from nvcodec.model import presets
from nvcodec.model.config import BaseNetConfig, FlowConfig, GridConfig, NVTMConfig


CONFIGS = {
    **{name: make() for name, make in presets.FAMILIES.items()},
    "every-other-code": NVTMConfig(
        gop_size=300, neighbors=(0,), use_static_grid=False, latent_mode="input", alignment="flow",
        normalization="minmax", norm_threshold=0.25, norm_bins=4096,
        latent=GridConfig(base_resolution=32768, levels=32, scale=None, features=64, init_range=0.0),
        static=GridConfig(base_resolution=2, levels=1, scale=64.0, features=1, init_range=10.0),
        flow=FlowConfig(layers=64, hidden=256, omega=1e4, hyper_layers=8, hyper_hidden=1024, hyper_omega=0.1),
        base=BaseNetConfig(depth=64, width=4096, modulator_width=1, omega_first=1e-3, omega=12.345678901234567)),
    "clip": NVTMConfig.tiny().replace(normalization="clip", gop_size=1 << 20),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_spec_reader_gives_the_written_config(name):
    config = CONFIGS[name]
    payload = encode_config(config)
    assert mcfb_dict(payload) == config.to_dict()
    assert parse_config(payload) == config


def test_codec_family_config_is_under_a_fifth_of_its_json():
    from nvcodec.compress.model_codec import json_config_payload

    config = presets.codec()
    assert len(encode_config(config)) == 94
    assert len(encode_config(config)) * 5 < len(json_config_payload(config))


def _mutated(*, at: int | None = None, value: int = 0, cut: int = 0, extra: bytes = b"") -> bytes:
    """The codec family's MCFB with byte `at` set to `value`, `cut` bytes cut off its end, `extra` appended."""
    b = bytearray(encode_config(presets.codec()))
    if at is not None:
        b[at] = value
    if cut:
        del b[-cut:]
    return bytes(b) + extra


@pytest.mark.parametrize("payload, message", [
    (b"", "truncated"),
    (_mutated(cut=1), "truncated"),
    (_mutated(extra=b"\x00"), "after its last member"),
    (_mutated(at=1, value=2), "unknown code"),  # neighbors
    (_mutated(at=5, value=3), "unknown code"),  # normalization
    (b"\x80\x00" + encode_config(presets.codec())[1:], "shortest form"),  # gop_size 0 in two bytes
    (b"\x00" + encode_config(presets.codec())[1:], "gop_size"),  # 0 frames a GOP: out of range
])
def test_malformed_mcfb_is_a_bitstream_error(payload, message):
    with pytest.raises(BitstreamError, match=message):
        parse_config(payload)


def test_nan_and_out_of_range_numbers_are_refused():
    good = encode_config(presets.codec())
    threshold_at = 6  # after gop_size (one byte for 10) and five codes
    for bad in (float("nan"), float("inf"), 0.0, 1.5):
        payload = good[:threshold_at] + struct.pack("<d", bad) + good[threshold_at + 8:]
        with pytest.raises(BitstreamError, match="norm_threshold"):
            parse_config(payload)
