"""Untrusted .nvc files: whatever the bytes, only NvcodecError escapes, fast, in bounded memory.

The mutations are the structure-aware ones of benchmarks/nvc_mutations.py (the 10 000-case
run of benchmarks/fuzz_nvc.py is the long version of test_mutations_only_raise_nvcodec_errors). Every case runs
the decoder's library path: read_container -> model_from_container -> render a frame,
and api.info.
"""

from __future__ import annotations

import json
import random
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import nvc_mutations as mut
from benchmarks.fuzz_nvc import decode_path
from hardening_util import CLI_ENV, ROOT, one_line_error, run_cli
from nvcodec.bitstream import read_container
from nvcodec.compress import model_codec
from nvcodec.errors import BitstreamError, NvcodecError

CASE_SECONDS = 20  # a case slower than this is a hang (the typical case takes ~20 ms)


@pytest.fixture(scope="module")
def base(valid_nvc: Path) -> bytes:
    data = valid_nvc.read_bytes()
    assert decode_path(data, valid_nvc.parent / "scratch.nvc") == "accepted"
    return data


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "case.nvc"


def _alarm(signum, frame):
    raise TimeoutError(f"a fuzz case ran over {CASE_SECONDS} s")


def decode_or_refuse(data: bytes, scratch: Path) -> str:
    """'accepted' or 'refused' (NvcodecError); anything else propagates and fails the test."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        return decode_path(data, scratch)
    except NvcodecError:
        return "refused"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def with_chunks(base: bytes, edit) -> bytes:
    header, chunks = mut.split(base)
    edit(chunks)
    return mut.join(header, chunks)


def chunk(chunks: list[mut.RawChunk], type_: bytes) -> mut.RawChunk:
    return next(c for c in chunks if c.type == type_)


# --------------------------------------------------------------------------- random mutations

@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kind=st.sampled_from(sorted(mut.MUTATIONS)), seed=st.integers(0, 2 ** 32 - 1))
def test_mutations_only_raise_nvcodec_errors(base, scratch, kind, seed):
    _, data = mut.mutate(base, random.Random(seed), kind)
    decode_or_refuse(data, scratch)


def test_the_mutations_reach_every_outcome(base, scratch):
    """The fuzzer is not vacuous: structure-aware cases get past the CRCs (some decode)."""
    outcomes = {"accepted": 0, "refused": 0}
    deep = 0
    for i in range(60):
        kind, data = mut.case_bytes(base, 12345, i)
        outcome = decode_or_refuse(data, scratch)
        outcomes[outcome] += 1
        if outcome == "refused":
            try:
                read_container(data, known_types=model_codec.KNOWN_TYPES)
                deep += 1  # the container parsed: the model chunks refused it
            except NvcodecError:
                pass
    assert outcomes["accepted"] >= 3 and outcomes["refused"] >= 20, outcomes
    assert deep >= 5, deep


# --------------------------------------------------------------------------- systematic ones

def test_empty_and_tiny_inputs(scratch):
    for data in (b"", b"\x8b", mut.MAGIC, mut.MAGIC + b"\x01", bytes(48), b"\xff" * 100):
        with pytest.raises(BitstreamError):
            read_container(data)
        assert decode_or_refuse(data, scratch) == "refused"


def test_truncation_at_every_chunk_boundary(base, scratch):
    cuts = sorted({max(0, b + d) for b in mut.boundaries(base) for d in (-1, 0, 1)} & set(range(len(base))))
    assert len(cuts) > 20
    for cut in cuts:
        with pytest.raises(BitstreamError):
            read_container(base[:cut], known_types=model_codec.KNOWN_TYPES)
        assert decode_or_refuse(base[:cut], scratch) == "refused", cut


def test_inflated_length_fields(base):
    header, chunks = mut.split(base)
    for i, c in enumerate(chunks):
        for length in (len(c.payload) + 1, 1 << 32, 1 << 62, (1 << 64) - 1):
            c.length = length
            for fix_crc in (True, False):
                data = header + b"".join(x.encode(fix_crc=fix_crc, crc=0) for x in chunks)
                with pytest.raises(BitstreamError, match="truncated|CRC|length"):
                    read_container(data, known_types=model_codec.KNOWN_TYPES)
        c.length = None


def test_missing_duplicated_and_swapped_chunks(base, scratch):
    header, chunks = mut.split(base)
    types = [c.type for c in chunks]
    assert types[0] == b"SIDX" and types[-1] == b"NEND" and b"MCFB" in types
    for i, c in enumerate(chunks):
        missing = mut.join(header, chunks[:i] + chunks[i + 1:])
        expect = "accepted" if c.type == b"ENCI" else "refused"  # ENCI is informative
        assert decode_or_refuse(missing, scratch) == expect, c.type
        dup = mut.join(header, chunks[:i + 1] + [c] + chunks[i + 1:])
        assert decode_or_refuse(dup, scratch) == "refused", c.type
    for i in range(len(chunks)):
        for j in range(i + 1, len(chunks)):
            swapped = list(chunks)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            model_order_only = {types[i], types[j]} <= {b"MCFB", b"MSTA", b"GLAT", b"GSTA", b"WGTS", b"ENCI"}
            # model chunks may come in any order (spec 4.4); SIDX first and NEND last are required
            assert decode_or_refuse(mut.join(header, swapped), scratch) == (
                "accepted" if model_order_only else "refused"), (types[i], types[j])


def test_every_single_bit_flip_of_the_header_and_small_chunks_is_caught(base):
    """CRCs catch a flipped bit anywhere (checked exhaustively over the header, SIDX, MCFB, MSTA)."""
    header, chunks = mut.split(base)
    end = len(header) + sum(24 + len(c.payload) for c in chunks[:4])
    for byte in range(end):
        for bit in (0, 7):
            data = bytearray(base)
            data[byte] ^= 1 << bit
            with pytest.raises(BitstreamError):
                read_container(bytes(data), known_types=model_codec.KNOWN_TYPES)


# --------------------------------------------------------------------------- hostile configs

def _config(base: bytes) -> dict:
    _, chunks = mut.split(base)
    return mut.mcfb_dict(chunk(chunks, b"MCFB").payload)


def _with_config(base: bytes, cfg) -> bytes:
    """The file with its configuration as MCFG JSON `cfg` (the chunk of files of versions 1.0 and
    1.1, which a reader still takes): JSON carries hostile values MCFB cannot express."""
    payload = cfg if isinstance(cfg, bytes) else json.dumps(cfg).encode()

    def edit(cs):
        c = chunk(cs, b"MCFB")
        c.type, c.payload = b"MCFG", payload
    return with_chunks(base, edit)


HOSTILE_CONFIGS = [
    ("latent.features", 10 ** 9), ("latent.levels", 33), ("latent.levels", -1), ("latent.base_resolution", 1 << 40),
    ("latent.scale", 1e308), ("latent.scale", float("nan")), ("latent.scale", "2"), ("latent.features", 2.0),
    ("latent.features", True), ("latent.features", None), ("static.levels", [4]), ("base.width", 1 << 31),
    ("base.width", 4096), ("base.depth", 64), ("base.modulator_width", 10 ** 6), ("flow.hidden", 256),
    ("flow.hyper_hidden", 1024), ("gop_size", 0), ("gop_size", -10), ("neighbors", [0, 1, 2]), ("neighbors", [1]),
    ("normalization", "rm -rf /"), ("latent_mode", 7), ("latent", []), ("flow", "x"),
    ("alignment", "warp"), ("alignment", None), ("alignment", "none"),  # "none": the file's flow tensors no longer fit
    # in range, but the SIREN init bound sqrt(6/fan_in)/omega overflows float32 (found by the fuzzer)
    ("base.omega", 1e-300), ("flow.omega", 1e-300),
]


def _set(cfg: dict, dotted: str, value) -> dict:
    keys = dotted.split(".")
    cur = cfg
    for k in keys[:-1]:
        cur = cur[k]
    cur[keys[-1]] = value
    return cfg


@pytest.mark.parametrize("field,value", HOSTILE_CONFIGS, ids=[f"{f}={v!r}"[:40] for f, v in HOSTILE_CONFIGS])
def test_hostile_config_values_are_refused(base, scratch, field, value):
    data = _with_config(base, _set(_config(base), field, value))
    with pytest.raises(BitstreamError):
        model_codec.model_from_container(read_container(data, known_types=model_codec.KNOWN_TYPES))
    assert decode_or_refuse(data, scratch) == "refused"


@pytest.mark.parametrize("payload", [b"", b"{", b"[" * 100000, b"\xff\xfe{}", b"null", b"[]", b'"x"', b"1e999",
                                     b'{"gop_size": NaN}', b" " * 70000])
def test_malformed_config_json_is_refused(base, payload):
    data = _with_config(base, payload)
    with pytest.raises(BitstreamError):
        model_codec.model_from_container(read_container(data, known_types=model_codec.KNOWN_TYPES))


_MEMORY_PROBE = r"""
import json, resource, sys
import torch
torch.set_num_threads(1)
from nvcodec.bitstream import read_container
from nvcodec.compress import model_codec
from nvcodec.errors import NvcodecError
def decode(path):
    data = open(path, "rb").read()
    return model_codec.model_from_container(read_container(data, known_types=model_codec.KNOWN_TYPES))
decode(sys.argv[1])  # warm up on the valid file
peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    decode(sys.argv[2])
    outcome = "accepted"
except NvcodecError as e:
    outcome = type(e).__name__ + ": " + str(e)
print(json.dumps({"outcome": outcome, "grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0) / 1024}))
"""


def test_a_big_declared_model_is_refused_before_allocating(valid_nvc, base, tmp_path):
    """A 12 kB file whose header and config describe the paper's model for 1080p x 600 frames
    (116 M grid values, within every limit) with the small file's payloads: the decoder used to
    build that model (442 MB) before finding the payloads too small; now shapes come from a
    meta-device shell and nothing is allocated before the payloads check out."""
    from nvcodec.model.config import NVTMConfig

    header, chunks = mut.split(_with_config(base, NVTMConfig.paper().to_dict()))
    h = bytearray(header)
    struct.pack_into("<III", h, 16, 1920, 1080, 600)
    chunk(chunks, b"SIDX").payload = struct.pack("<IIII", 1, 0, 0, 600)
    hostile = tmp_path / "big.nvc"
    hostile.write_bytes(mut.join(mut.fix_header_crc(bytes(h)), chunks))
    r = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(valid_nvc), str(hostile)],
                       capture_output=True, text=True, timeout=300, env=CLI_ENV, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["outcome"].startswith("BitstreamError: MSTA"), res
    assert res["grew_mb"] < 40, res


def _grid_head(payload: bytes, levels: int, features: int) -> bytes:
    """A GLAT payload claiming `levels` x `features` channels, keeping the real HEVC stream."""
    stream = payload[payload.find(b"\x00\x00\x00\x01"):]
    ranges = (struct.pack(f"<{features}f", *[0.0] * features) + struct.pack(f"<{features}f", *[1.0] * features))
    return struct.pack("<BBH", 1, 30, levels) + ranges * levels + stream


def _set_frames(header: bytes, chunks: list[mut.RawChunk], frames: int) -> bytes:
    h = bytearray(header)
    struct.pack_into("<I", h, 24, frames)
    chunk(chunks, b"SIDX").payload = struct.pack("<IIII", 1, 0, 0, frames)
    return mut.fix_header_crc(bytes(h))


@pytest.mark.parametrize("frames,neighbors", [(1 << 20, [0, 1]), (1 << 20, [0]), (40_000, [0])])
def test_many_tiny_grids_are_refused(base, frames, neighbors):
    """N latent grids of 2x2 pass the grid-value limit but would decode N padded 128x128 mosaics
    (up to 16 GiB, or an N the grid codec refuses with ValueError): refused by the mosaic limit."""
    cfg = _config(base)
    cfg.update(gop_size=1, neighbors=neighbors)
    cfg["latent"].update(features=1, levels=1, base_resolution=2, scale=1.0)
    header, chunks = mut.split(_with_config(base, cfg))
    n = frames + (1 if 1 in neighbors else 0)
    chunk(chunks, b"MSTA").payload = struct.pack("<4f", 0, 0, 1, 1) * n
    chunk(chunks, b"GLAT").payload = _grid_head(chunk(chunks, b"GLAT").payload, 1, 1)
    data = mut.join(_set_frames(header, chunks, frames), chunks)
    with pytest.raises(BitstreamError, match="GLAT"):
        model_codec.model_from_container(read_container(data, known_types=model_codec.KNOWN_TYPES))


def test_weight_tables_cannot_burn_cpu(base):
    """Entropy-coded weight records with the widest alphabet (2^20), each valid: with the slowest
    decay a table costs ~0.3 s to build, so a small file of a few hundred such records (one per
    weight tensor of a deep model) used to take minutes. The sum of the tables' sizes is now
    bounded (2^22 symbols, spec 9.1): refused at the 5th record."""
    from nvcodec.compress import weight_codec as wc

    header, chunks = mut.split(base)
    wgts = chunk(chunks, b"WGTS")
    count = int.from_bytes(wgts.payload[:4], "little")
    sizes = mut.weight_sizes(chunk(chunks, b"MCFB").payload)
    assert len(sizes) == count > 5 and wgts.payload[4 + 4 * count] == 2  # weight payload format 2
    k, p = 1 << 20, 1 << 31  # p = 0.5: a quick table to build here; the limit is on K, not on p
    records = []
    for i, n in enumerate(sizes):  # the first 4 are genuinely decodable; the rest never get read
        words = wc._encode_entropy(np.zeros(n, np.int64), wc.MODEL_LAPLACE, k, 0, p) if i < 4 else b""
        head = (bytes([wc.MODEL_LAPLACE]) + mut.varint(mut.zigzag(0)) + mut.varint(k - 1) + mut.varint(0)
                + struct.pack("<I", p) + mut.varint(len(words) // 4))
        records.append(head + words)
    wgts.payload = wgts.payload[:4 + 4 * count + 5] + b"".join(records)
    data = mut.join(header, chunks)
    t0 = time.perf_counter()
    with pytest.raises(BitstreamError, match="probability tables"):
        model_codec.model_from_container(read_container(data, known_types=model_codec.KNOWN_TYPES))
    assert time.perf_counter() - t0 < 5


def test_nonfinite_and_inverted_values_are_refused(base, scratch):
    def state(cs):
        chunk(cs, b"MSTA").payload = struct.pack("<4f", 0.5, 0, 0.4, 1) + chunk(cs, b"MSTA").payload[16:]

    def ranges(cs):
        p = bytearray(chunk(cs, b"GLAT").payload)
        struct.pack_into("<f", p, 4, float("nan"))
        chunk(cs, b"GLAT").payload = bytes(p)

    def steps(cs):
        p = bytearray(chunk(cs, b"WGTS").payload)
        struct.pack_into("<f", p, 4, float("inf"))
        chunk(cs, b"WGTS").payload = bytes(p)

    for edit in (state, ranges, steps):
        assert decode_or_refuse(with_chunks(base, edit), scratch) == "refused", edit.__name__


def test_absurd_output_frame_counts_are_refused_before_listing_them():
    """A legal header rate of 1/(2^32-1) fps with `--fps 30` asks for ~1.3e11 frames per source
    frame: refused at once instead of building the list of output times (memory, hours)."""
    from fractions import Fraction

    from nvcodec.render import MAX_OUTPUT_FRAMES, output_times

    t0 = time.perf_counter()
    with pytest.raises(NvcodecError, match="output frames requested"):
        output_times(1 << 20, Fraction(1, (1 << 32) - 1), fps=Fraction(30))
    with pytest.raises(NvcodecError, match="output frames requested"):
        output_times(MAX_OUTPUT_FRAMES, Fraction(25), fps_mult=2.0)
    assert time.perf_counter() - t0 < 1
    assert len(output_times(100, Fraction(25), fps_mult=4.0).times) == 400


# --------------------------------------------------------------------------- CLI

def _bad_files(base: bytes) -> dict[str, bytes]:
    bad_cfg = _config(base)
    bad_cfg["latent"]["levels"] = 10 ** 12
    return {
        "truncated": base[: len(base) // 2],
        "flipped": bytes(b ^ 0x10 if i == 100 else b for i, b in enumerate(base)),
        "hostile_config": _with_config(base, bad_cfg),
    }


@pytest.mark.parametrize("case", ["truncated", "hostile_config"])
def test_cli_decode_refuses_bad_files(base, tmp_path, case):
    bad = tmp_path / "bad.nvc"
    bad.write_bytes(_bad_files(base)[case])
    r = run_cli("decode", bad, "-o", tmp_path / "out.y4m")
    line = one_line_error(r.stderr, r.returncode, 1)
    assert line.startswith("nvcodec: error: ")
    assert not (tmp_path / "out.y4m").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nvc"]  # no temporary file either


def test_cli_info_refuses_a_bad_file(base, tmp_path):
    bad = tmp_path / "bad.nvc"
    bad.write_bytes(_bad_files(base)["hostile_config"])
    r = run_cli("info", bad, "--json")
    assert "levels" in one_line_error(r.stderr, r.returncode, 1)
    assert r.stdout == ""


def test_the_fuzzers_layout_agrees_with_the_reader(base):
    """Sanity of the fuzzer's own re-implementation of the layout (split/join round trip, CRCs)."""
    header, chunks = mut.split(base)
    assert mut.join(header, chunks) == base
    assert zlib.crc32(header[:-4]) & 0xFFFFFFFF == int.from_bytes(header[-4:], "little")
    container = read_container(base, known_types=model_codec.KNOWN_TYPES)
    assert [c.type.encode() for c in container.chunks] == [c.type for c in chunks[1:-1]]
