"""Conformance vectors: the stored tiny.nvc decodes to pinned bytes, and the pinned encode is reproduced.

Regenerate only on purpose: python bitstream_spec/vectors/make_vectors.py
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parents[2] / "bitstream_spec" / "vectors"


def _load():
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod, json.loads((VECTORS / "tiny.json").read_text())


def test_stored_vector_decodes_to_pinned_bytes(tmp_path):
    mod, meta = _load()
    nvc = VECTORS / "tiny.nvc"
    assert mod.sha256(nvc) == meta["nvc_sha256"]
    assert mod.decode_hashes(nvc, tmp_path) == {k: meta[k] for k in ("decode_sha256", "decode_scale2_fps2_sha256")}


def test_golden_encode_is_reproduced(tmp_path):
    """A fixed tiny encode's bytes are pinned: any change to the encoder's output is on purpose."""
    mod, meta = _load()
    src = mod.make_input(tmp_path / "src.y4m")
    out = tmp_path / "again.nvc"
    rep = mod.encode_vector(src, out)
    if mod.sha256(out) != meta["nvc_sha256"]:
        pytest.fail("the encoder's output changed: if on purpose, run bitstream_spec/vectors/make_vectors.py "
                    f"(bytes {rep.bytes} vs pinned {meta['bytes']})")
