"""Structure-aware fuzzing of the .nvc decoder: only NvcodecError may ever escape.

    python -m benchmarks.fuzz_nvc --cases 10000 --seed 0 [--base file.nvc] [--timeout 10]

Each case mutates a small valid .nvc file (built once from the bundled sample clip,
4 frames, 3 fitting steps, unless --base is given) with one structure-aware mutation
(see MUTATIONS: bit flips with and without CRC repair, truncation at and around every
chunk boundary, inflated length fields, swapped / duplicated / missing chunks, header
fields, the MCFG JSON config, grid and weight payload fields, random bytes, ...), then
runs the library's decoding path on it in a worker subprocess:

    read_container -> model_codec.model_from_container -> render one frame, and api.info

A case ends as one of: ``accepted`` (decoded), ``refused`` (an NvcodecError subclass),
``other`` (any other exception: a bug), ``timeout`` (over --timeout seconds; the worker
is killed and restarted) or ``crash`` (the worker died, e.g. a segfault in a native
library). ``other``, ``timeout`` and ``crash`` must all be 0; the exit status is 1
otherwise. The slowest case and the worker's peak RSS are reported too.

The mutation functions are shared with tests/hardening/test_fuzz_nvc.py, which runs a
bounded number of them in-process through hypothesis.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# --------------------------------------------------------------------------- raw layout
# Re-implemented here (not imported from nvcodec.bitstream) so that the fuzzer does not
# share the reader's assumptions.

MAGIC = b"\x8bNVC\r\n\x1a\n"
HEADER_SIZE = 48
CHUNK_HEAD = struct.Struct("<4sIIQ")
GLOBAL = 0xFFFFFFFF


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass
class RawChunk:
    type: bytes
    flags: int
    segment: int
    payload: bytes
    length: int | None = None  # None: len(payload); else the (possibly lying) length field

    def encode(self, fix_crc: bool = True, crc: int | None = None) -> bytes:
        n = len(self.payload) if self.length is None else self.length
        head = CHUNK_HEAD.pack(self.type, self.flags, self.segment, n & 0xFFFFFFFFFFFFFFFF)
        body = head + self.payload
        c = crc32(body) if fix_crc or crc is None else crc
        return body + struct.pack("<I", c)


def split(data: bytes) -> tuple[bytes, list[RawChunk]]:
    """A valid file -> (header incl. CRC, chunks). Raises ValueError on a malformed base."""
    hs = int.from_bytes(data[12:16], "little")
    header, pos, chunks = data[:hs], hs, []
    while pos < len(data):
        t, flags, seg, n = CHUNK_HEAD.unpack_from(data, pos)
        payload = data[pos + CHUNK_HEAD.size : pos + CHUNK_HEAD.size + n]
        chunks.append(RawChunk(t, flags, seg, payload))
        pos += CHUNK_HEAD.size + n + 4
    if pos != len(data) or not chunks or chunks[-1].type != b"NEND":
        raise ValueError("the base file is not a well-formed .nvc")
    return header, chunks


def join(header: bytes, chunks: list[RawChunk]) -> bytes:
    return header + b"".join(c.encode() for c in chunks)


def fix_header_crc(header: bytes) -> bytes:
    body = header[:-4]
    return body + struct.pack("<I", crc32(body))


def boundaries(data: bytes) -> list[int]:
    """Byte offsets where the header ends and each chunk starts or ends (valid base)."""
    header, chunks = split(data)
    out, pos = [0, len(MAGIC), 16, len(header)], len(header)
    for c in chunks:
        out += [pos + CHUNK_HEAD.size, pos + CHUNK_HEAD.size + len(c.payload)]
        pos += CHUNK_HEAD.size + len(c.payload) + 4
        out.append(pos)
    return sorted(set(out))


# --------------------------------------------------------------------------- mutations

_INTS = [0, 1, 2, 3, 7, 8, 15, 16, 255, 256, 1023, 4096, 16383, 16384, 16385, 65535, 65536,
         (1 << 20), (1 << 20) + 1, (1 << 24), (1 << 27), (1 << 31) - 1, 1 << 31, (1 << 32) - 1]
_HOSTILE_JSON = [0, -1, 1, 2, 3, 64, 65, 4097, 1 << 15, 1 << 20, 1 << 31, 1 << 63, 10 ** 30, -10 ** 30,
                 0.5, -0.5, 1e-300, 1e308, -1e308, float("nan"), float("inf"), float("-inf"),
                 True, False, None, "", "x", "adaptive", "modulation", [], [0], [0, 1], [1, 0], [0, 1, 1],
                 {}, {"a": 1}]


def _u32(rng: random.Random) -> int:
    return rng.choice(_INTS) if rng.random() < 0.7 else rng.getrandbits(32)


def _flip_bits(buf: bytearray, rng: random.Random, lo: int = 0, hi: int | None = None) -> None:
    hi = len(buf) if hi is None else hi
    if hi <= lo:
        return
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        i = rng.randrange(lo, hi)
        buf[i] ^= 1 << rng.randrange(8)


def _pick(chunks: list[RawChunk], rng: random.Random, types: tuple[bytes, ...] | None = None) -> int | None:
    idx = [i for i, c in enumerate(chunks) if types is None or c.type in types]
    return rng.choice(idx) if idx else None


def m_empty(data: bytes, rng: random.Random) -> bytes:
    return b""


def m_random(data: bytes, rng: random.Random) -> bytes:
    n = rng.choice([1, 7, 8, 16, 47, 48, 100, 1000, rng.randrange(1, 4000)])
    body = rng.randbytes(n)
    r = rng.random()
    if r < 0.3:
        return MAGIC + body
    if r < 0.6:
        return data[: rng.choice([8, 16, 48])] + body
    return body


def m_bitflip(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    _flip_bits(buf, rng)
    return bytes(buf)


def m_bitflip_fixcrc(data: bytes, rng: random.Random) -> bytes:
    """Flip bits inside the header or one chunk payload and repair the CRC: reaches the parsers."""
    header, chunks = split(data)
    if rng.random() < 0.2:
        h = bytearray(header)
        _flip_bits(h, rng, 8, len(h) - 4)
        return join(fix_header_crc(bytes(h)), chunks)
    i = _pick(chunks, rng, (b"SIDX", b"MCFG", b"MSTA", b"GLAT", b"GSTA", b"WGTS", b"ENCI"))
    if i is None or not chunks[i].payload:
        return data
    p = bytearray(chunks[i].payload)
    _flip_bits(p, rng)
    chunks[i].payload = bytes(p)
    return join(header, chunks)


def m_truncate_boundary(data: bytes, rng: random.Random) -> bytes:
    b = rng.choice(boundaries(data)) + rng.choice([-1, 0, 0, 0, 1])
    return data[: max(0, min(b, len(data) - 1))]


def m_truncate_random(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, len(data))]


def m_append(data: bytes, rng: random.Random) -> bytes:
    return data + rng.choice([b"\x00", rng.randbytes(rng.randrange(1, 64)), data[48:]])


def m_length(data: bytes, rng: random.Random) -> bytes:
    """Inflate (or shrink) one chunk's u64 length field, CRC repaired or not."""
    header, chunks = split(data)
    i = rng.randrange(len(chunks))
    n = len(chunks[i].payload)
    chunks[i].length = rng.choice([n + 1, n + 4, n + 24, n - 1, 0, 1 << 31, 1 << 32, 1 << 40, (1 << 63),
                                   (1 << 64) - 1, n * 2, rng.getrandbits(64)])
    out = header + b"".join(c.encode(fix_crc=rng.random() < 0.5, crc=0) if k == i else c.encode()
                            for k, c in enumerate(chunks))
    return out


def m_swap(data: bytes, rng: random.Random) -> bytes:
    header, chunks = split(data)
    i, j = rng.randrange(len(chunks)), rng.randrange(len(chunks))
    chunks[i], chunks[j] = chunks[j], chunks[i]
    return join(header, chunks)


def m_duplicate(data: bytes, rng: random.Random) -> bytes:
    header, chunks = split(data)
    i = rng.randrange(len(chunks))
    chunks.insert(rng.randrange(len(chunks) + 1), RawChunk(chunks[i].type, chunks[i].flags,
                                                           chunks[i].segment, chunks[i].payload))
    return join(header, chunks)


def m_delete(data: bytes, rng: random.Random) -> bytes:
    header, chunks = split(data)
    del chunks[rng.randrange(len(chunks))]
    return join(header, chunks)


def m_chunk_fields(data: bytes, rng: random.Random) -> bytes:
    """Type, flags or segment of a chunk; or an inserted unknown chunk."""
    header, chunks = split(data)
    i = rng.randrange(len(chunks))
    r = rng.random()
    if r < 0.25:
        chunks[i].type = rng.choice([b"ABCD", b"mcfg", b"\x00\x00\x00\x00", b"SIDX", b"NEND", b"GLAT", b"GST\xff",
                                     rng.randbytes(4)])
    elif r < 0.5:
        chunks[i].flags = _u32(rng)
    elif r < 0.75:
        chunks[i].segment = rng.choice([0, 1, GLOBAL, GLOBAL - 1, _u32(rng)])
    else:
        chunks.insert(rng.randrange(1, len(chunks)), RawChunk(rng.choice([b"ZZZZ", b"Xtra", b"ENCI"]),
                                                               rng.choice([0, 1]), rng.choice([0, GLOBAL, 7]),
                                                               rng.randbytes(rng.randrange(0, 40))))
    return join(header, chunks)


def m_sidx(data: bytes, rng: random.Random) -> bytes:
    header, chunks = split(data)
    i = _pick(chunks, rng, (b"SIDX",))
    if i is None:
        return data
    count = rng.choice([0, 1, 2, 3, (1 << 20), (1 << 20) + 1, _u32(rng)])
    entries = b"".join(struct.pack("<III", rng.choice([0, 0, 1, _u32(rng)]), rng.choice([0, 0, 1, 2, _u32(rng)]),
                                   rng.choice([1, 2, 4, 0, _u32(rng)])) for _ in range(rng.choice([0, 1, 2, 3])))
    chunks[i].payload = struct.pack("<I", count) + entries
    return join(header, chunks)


_HEADER_FIELDS = [  # (offset, struct format)
    (8, "<B"), (9, "<B"), (10, "<H"), (12, "<I"), (16, "<I"), (20, "<I"), (24, "<I"), (28, "<I"),
    (32, "<I"), (36, "<B"), (37, "<B"), (38, "<B"), (39, "<B"), (40, "<B"),
]


def m_header_field(data: bytes, rng: random.Random) -> bytes:
    """One header field (version, sizes, frame count, rate, enums) with the header CRC repaired."""
    header, chunks = split(data)
    h = bytearray(header)
    off, fmt = rng.choice(_HEADER_FIELDS)
    size = struct.calcsize(fmt)
    if size == 1:
        v = rng.choice([0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 255])
    elif size == 2:
        v = rng.choice([0, 1, 0xFFFF])
    elif off == 24:  # frames: small changes keep the rest of the file consistent
        v = rng.choice([1, 2, 3, 5, 8, 40, 1 << 20, (1 << 20) + 1, 10_000_000, 10_000_001, _u32(rng)])
    elif off in (16, 20):  # width/height: scaled values reach the model, others the limits
        cur = int.from_bytes(h[off:off + 4], "little")
        v = rng.choice([1, 2, cur // 2, cur + 1, cur * 2, cur * 8, 16384, 16385, _u32(rng)])
    else:
        v = _u32(rng)
    struct.pack_into(fmt, h, off, v)
    if off == 12 and 48 < v <= 4096 and rng.random() < 0.5:  # a longer header, as a later minor version
        h = h[:44] + bytes(v - 48) + h[44:]
        return join(fix_header_crc(bytes(h)), chunks)
    if off == 24 and rng.random() < 0.7:  # keep the segment index consistent with the frame count
        for c in chunks:
            if c.type == b"SIDX":
                c.payload = struct.pack("<IIII", 1, 0, 0, v)
    return join(fix_header_crc(bytes(h)), chunks)


def _json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for k, v in enumerate(obj):
            yield from _json_paths(v, prefix + (k,))


def _json_set(obj, path, value):
    if not path:
        return value
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return obj


def mutate_config(cfg: dict, rng: random.Random) -> str:
    """A hostile variant of a model config, as JSON text (may be invalid JSON on purpose)."""
    r = rng.random()
    if r < 0.05:
        return rng.choice(["", "{", "[" * 5000 + "]" * 5000, "{" * 100000, "null", "[]", "1e999", "\"x\"",
                           "{\"gop_size\": 1, \"gop_size\": 2}", "\xff\xfe"])
    paths = [p for p in _json_paths(cfg) if p]
    if not paths:  # not a container (the base config was already replaced): swap in another value
        return json.dumps(rng.choice([{}, [], 0, "x", None, {"gop_size": -1}]))
    path = rng.choice(paths)
    cur = cfg
    for k in path:
        cur = cur[k]
    if r < 0.12:  # delete a key / add an unknown one
        parent = cfg
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict):
            if rng.random() < 0.5:
                del parent[path[-1]]
            else:
                parent["extra_" + str(rng.randrange(10))] = 1
        return json.dumps(cfg)
    if isinstance(cur, (int, float)) and not isinstance(cur, bool) and r < 0.6:
        # plausible but larger/smaller values: these pass type checks and reach the size limits
        f = rng.choice([0, -1, 2, 3, 8, 16, 64, 1000, 0.5, 1.5])
        value = cur * f if isinstance(cur, float) else int(cur * f)
    elif r < 0.7 and isinstance(cur, (int, float)) and not isinstance(cur, bool):
        value = cur + rng.choice([-1, 1])
    else:
        value = rng.choice(_HOSTILE_JSON)
    return json.dumps(_json_set(cfg, path, value))


def m_config(data: bytes, rng: random.Random) -> bytes:
    """A hostile MCFG JSON (several fields at once sometimes), CRC repaired."""
    header, chunks = split(data)
    i = _pick(chunks, rng, (b"MCFG",))
    if i is None:
        return data
    text = chunks[i].payload.decode("utf-8")
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        try:
            cfg = json.loads(text)
        except (ValueError, RecursionError):
            break
        if not isinstance(cfg, dict):
            break
        text = mutate_config(cfg, rng)
    chunks[i].payload = text.encode("utf-8", "surrogatepass") if rng.random() < 0.95 else text.encode() + b"\xff"
    return join(header, chunks)


def m_grid(data: bytes, rng: random.Random) -> bytes:
    """GLAT/GSTA: coding/qp/level-count head, channel ranges (NaN, inf, hi<=lo), or HEVC bytes."""
    header, chunks = split(data)
    i = _pick(chunks, rng, (b"GLAT", b"GSTA"))
    if i is None:
        return data
    p = bytearray(chunks[i].payload)
    r = rng.random()
    if r < 0.25 and len(p) >= 4:
        struct.pack_into("<BBH", p, 0, rng.choice([0, 1, 2, 255]), rng.choice([0, 1, 51, 52, 255]),
                         rng.choice([0, 1, 2, 3, 4, 5, 6, 255, 65535]))
    elif r < 0.5 and len(p) >= 12:
        k = rng.randrange(4, min(len(p) - 4, 4 + 8 * 64), 4) if len(p) > 8 else 4
        struct.pack_into("<f", p, k, rng.choice([float("nan"), float("inf"), -float("inf"), 0.0, 1e38, -1e38,
                                                  3.4e38, 1e-45]))
    elif r < 0.85:
        # the HEVC stream: after the ranges; find the first start code
        s = bytes(p).find(b"\x00\x00\x00\x01")
        s = 4 if s < 0 else s
        if rng.random() < 0.5:
            _flip_bits(p, rng, s, len(p))
        else:
            a = rng.randrange(s, len(p))
            b = min(len(p), a + rng.choice([1, 4, 16, 256]))
            p[a:b] = rng.choice([bytes(b - a), b"\xff" * (b - a), rng.randbytes(b - a)])
    else:
        cut = rng.randrange(0, len(p) + 1)
        p = p[:cut] if rng.random() < 0.7 else p + rng.randbytes(rng.randrange(1, 64))
    chunks[i].payload = bytes(p)
    return join(header, chunks)


def _weight_records(p: bytes) -> list[tuple[int, int]]:
    """(offset, model id) of each weight tensor record of a WGTS payload (valid base)."""
    count = int.from_bytes(p[:4], "little")
    pos = 4 + 4 * count + 5
    out = []
    for _ in range(count):
        if pos >= len(p):
            break
        model = p[pos]
        out.append((pos, model))
        if model == 0:
            _, n, lo, hi = struct.unpack_from("<BIii", p, pos)
            pos += 13 + (n * (hi - lo).bit_length() + 7) // 8
        else:
            *_, words = struct.unpack_from("<BIiiiII", p, pos)
            pos += 25 + 4 * words
    return out


def m_weights(data: bytes, rng: random.Random) -> bytes:
    """WGTS: tensor count, steps (NaN, 0, negative), record fields (model, count, lo, hi, centre, p, words)."""
    header, chunks = split(data)
    i = _pick(chunks, rng, (b"WGTS",))
    if i is None:
        return data
    p = bytearray(chunks[i].payload)
    count = int.from_bytes(p[:4], "little")
    r = rng.random()
    if r < 0.1:
        struct.pack_into("<I", p, 0, rng.choice([0, count - 1, count + 1, 1 << 16, _u32(rng)]))
    elif r < 0.25 and count:
        struct.pack_into("<f", p, 4 + 4 * rng.randrange(count),
                         rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e-45, 3.4e38]))
    elif r < 0.35:
        off = 4 + 4 * count
        struct.pack_into("<BI", p, off, rng.choice([0, 1, 2, 255]), rng.choice([0, count - 1, count + 1, _u32(rng)]))
    else:
        recs = _weight_records(bytes(p))
        if not recs:
            return data
        pos, model = rng.choice(recs)
        fields = [(0, "<B"), (1, "<I"), (5, "<i"), (9, "<i")] + ([(13, "<i"), (17, "<I"), (21, "<I")] if model else [])
        off, fmt = rng.choice(fields)
        if fmt == "<B":
            v = rng.choice([0, 1, 2, 3, 255])
        elif fmt == "<i":
            v = rng.choice([0, 1, -1, 2 ** 31 - 1, -2 ** 31, 1 << 20, -(1 << 20), rng.randrange(-2 ** 31, 2 ** 31)])
        else:
            v = _u32(rng)
        struct.pack_into(fmt, p, pos + off, v)
        if rng.random() < 0.3:  # and damage the coded data
            _flip_bits(p, rng, pos + 13, len(p))
    chunks[i].payload = bytes(p)
    return join(header, chunks)


def m_state(data: bytes, rng: random.Random) -> bytes:
    """MSTA: non-finite values, max <= min bounds, wrong length."""
    header, chunks = split(data)
    i = _pick(chunks, rng, (b"MSTA",))
    if i is None:
        return data
    p = bytearray(chunks[i].payload)
    r = rng.random()
    if r < 0.7 and len(p) >= 4:
        struct.pack_into("<f", p, 4 * rng.randrange(len(p) // 4),
                         rng.choice([float("nan"), float("inf"), -1e38, 1e38, 0.0, 1.0, -1.0, 0.5]))
    else:
        p = p[:-4] if rng.random() < 0.5 else p + bytes(4 * rng.randrange(1, 4))
    chunks[i].payload = bytes(p)
    return join(header, chunks)


def m_enci(data: bytes, rng: random.Random) -> bytes:
    header, chunks = split(data)
    i = _pick(chunks, rng, (b"ENCI",))
    if i is None:
        return data
    chunks[i].payload = rng.choice([b"", b"\xff\xfe", b"[" * 10000, b"{\"a\": NaN}", rng.randbytes(30)])
    return join(header, chunks)


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "empty": m_empty,
    "random": m_random,
    "bitflip": m_bitflip,
    "bitflip_fixcrc": m_bitflip_fixcrc,
    "truncate_boundary": m_truncate_boundary,
    "truncate_random": m_truncate_random,
    "append": m_append,
    "length": m_length,
    "swap": m_swap,
    "duplicate": m_duplicate,
    "delete": m_delete,
    "chunk_fields": m_chunk_fields,
    "sidx": m_sidx,
    "header_field": m_header_field,
    "config": m_config,
    "grid": m_grid,
    "weights": m_weights,
    "state": m_state,
    "enci": m_enci,
}
# structure-aware mutations reach deeper code: weight them up
WEIGHTS = {"empty": 1, "random": 3, "bitflip": 6, "bitflip_fixcrc": 12, "truncate_boundary": 6,
           "truncate_random": 3, "append": 2, "length": 5, "swap": 4, "duplicate": 4, "delete": 4,
           "chunk_fields": 5, "sidx": 4, "header_field": 10, "config": 16, "grid": 10, "weights": 10,
           "state": 4, "enci": 2}


def mutate(data: bytes, rng: random.Random, kind: str | None = None) -> tuple[str, bytes]:
    """(mutation name, mutated bytes); kind=None picks one by WEIGHTS; sometimes stacks two."""
    names = list(WEIGHTS)
    if kind is None:
        kind = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
    out = MUTATIONS[kind](data, rng)
    if kind not in ("empty", "random") and rng.random() < 0.1:
        second = rng.choice([n for n in ("bitflip_fixcrc", "config", "grid", "weights", "header_field", "swap")])
        try:
            split(out)
            out = MUTATIONS[second](out, rng)
            kind = f"{kind}+{second}"
        except (ValueError, struct.error, IndexError):
            pass
    return kind, out


def case_bytes(base: bytes, seed: int, index: int) -> tuple[str, bytes]:
    """The deterministic case `index` of a run with `seed`."""
    return mutate(base, random.Random(f"{seed}:{index}"))


# --------------------------------------------------------------------------- the decoding path

#: frames are rendered at most this large (the model is resolution-free; a hostile header
#: may declare 16384x16384, which is a legitimate if expensive request, not a parser bug)
RENDER_MAX_PIXELS = 96 * 72


def decode_path(data: bytes, scratch: Path) -> str:
    """Run the library path on `data`; returns 'accepted' or raises what it raises."""
    from nvcodec import api
    from nvcodec.bitstream import read_container
    from nvcodec.compress import model_codec
    from nvcodec.render import render_frame

    container = read_container(data, known_types=model_codec.KNOWN_TYPES)
    model = model_codec.model_from_container(container, "cpu")
    h = container.header
    s = min(1.0, math.sqrt(RENDER_MAX_PIXELS / (h.width * h.height)))
    w, hh = max(1, int(h.width * s)), max(1, int(h.height * s))
    rgb = render_frame(model, float(h.frames - 1) / 2, w, hh)
    if rgb.shape != (hh, w, 3) or not (rgb >= 0).all() or not (rgb <= 1).all():
        raise AssertionError(f"render_frame returned {rgb.shape} {rgb.dtype} out of [0, 1]")
    scratch.write_bytes(data)
    info = api.info(scratch)
    if info["width"] != h.width or info["frames"] != h.frames:
        raise AssertionError("api.info disagrees with the container header")
    return "accepted"


def classify(data: bytes, scratch: Path) -> tuple[str, str]:
    """(outcome, detail) of one case, in-process."""
    from nvcodec.errors import NvcodecError

    try:
        return decode_path(data, scratch), ""
    except NvcodecError as e:
        return "refused", f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - the point: anything else is a bug
        return "other", f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------- base file

def build_base(path: Path) -> bytes:
    """A small valid .nvc: 4 frames of the bundled clip, 3 fitting steps on the CPU (a few seconds)."""
    import torch

    from nvcodec import api
    from nvcodec.model import presets
    from nvcodec.video import sample_clip_path

    torch.set_num_threads(1)  # one thread is much faster on a shared 2-core machine
    api.encode(sample_clip_path(), path, api.EncodeOptions(bpp=0.3, steps=3, progress=False, frame_range=(0, 4),
                                                           overwrite=True, device="cpu",
                                                           model_template=presets.paper()))
    return path.read_bytes()


# --------------------------------------------------------------------------- worker / driver

def _worker(base_path: str, seed: int) -> None:
    """Read case indices on stdin, answer one JSON line per case on stdout."""
    import torch

    torch.set_num_threads(1)
    base = Path(base_path).read_bytes()
    scratch = Path(tempfile.mkdtemp(prefix="nvcfuzz")) / "case.nvc"
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write on the answer channel
    classify(base, scratch)  # warm up (imports, first-call costs) before anything is timed
    for line in sys.stdin:
        i = int(line)
        kind, data = case_bytes(base, seed, i)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        outcome, detail = classify(data, scratch)
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.write(json.dumps({"i": i, "kind": kind, "outcome": outcome, "detail": detail[:300], "seconds": dt,
                              "rss_kb": rss, "rss_grew_kb": rss - rss0, "size": len(data)}) + "\n")
        out.flush()


class _Worker:
    def __init__(self, base_path: Path, seed: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fuzz_nvc", "--worker", "--base", str(base_path), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=root,
            text=True, bufsize=1)

    def run(self, i: int, timeout: float) -> dict | None:
        """The worker's answer, or None on timeout/crash (the caller then restarts it)."""
        assert self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(f"{i}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def run(cases: int, seed: int, base_path: Path, timeout: float, start_timeout: float = 120.0,
        log: Callable[[str], None] = print, show_refusals: int = 0) -> dict:
    counts: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    bad: list[dict] = []
    slowest: dict | None = None
    peak_rss = 0
    biggest_growth: dict | None = None
    worker = _Worker(base_path, seed)
    first = True
    t0 = time.perf_counter()
    for i in range(cases):
        res = worker.run(i, start_timeout if first else timeout)
        if res is None:
            code = worker.proc.poll()
            outcome = "timeout" if code is None else "crash"
            kind, data = case_bytes(base_path.read_bytes(), seed, i)
            res = {"i": i, "kind": kind, "outcome": outcome, "seconds": timeout if outcome == "timeout" else None,
                   "detail": "" if code is None else f"worker exit status {code}", "size": len(data)}
            worker.kill()
            worker = _Worker(base_path, seed)
            first = True
        else:
            first = False
            peak_rss = max(peak_rss, res["rss_kb"])
            if biggest_growth is None or res["rss_grew_kb"] > biggest_growth["rss_grew_kb"]:
                biggest_growth = res
        counts[res["outcome"]] += 1
        by_kind.setdefault(res["kind"].split("+")[0], Counter())[res["outcome"]] += 1
        if res["outcome"] in ("other", "timeout", "crash"):
            bad.append(res)
            log(f"case {i} ({res['kind']}): {res['outcome']}: {res.get('detail', '')}")
        elif res["outcome"] == "refused" and show_refusals:
            show_refusals -= 1
            log(f"case {i} ({res['kind']}): refused: {res['detail']}")
        if res.get("seconds") is not None and (slowest is None or res["seconds"] > slowest["seconds"]):
            slowest = res
        if (i + 1) % 500 == 0:
            log(f"... {i + 1}/{cases} cases, {dict(counts)}, {time.perf_counter() - t0:.0f} s")
    worker.kill()
    return {"cases": cases, "seed": seed, "counts": {k: counts.get(k, 0) for k in
                                                     ("accepted", "refused", "other", "timeout", "crash")},
            "by_mutation": {k: dict(v) for k, v in sorted(by_kind.items())}, "failures": bad,
            "slowest": slowest, "peak_rss_mb": round(peak_rss / 1024, 1),
            "largest_rss_growth": biggest_growth, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base", type=Path, help="valid .nvc to mutate (default: built from the sample clip)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--show-refusals", type=int, default=0, help="print the first N refusal messages")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        _worker(str(a.base), a.seed)
        return 0
    tmp = None
    if a.base is None:
        tmp = tempfile.TemporaryDirectory(prefix="nvcfuzz")
        a.base = Path(tmp.name) / "base.nvc"
        print("building the base file from the sample clip ...", file=sys.stderr, flush=True)
        build_base(a.base)
    split(a.base.read_bytes())  # a malformed base is a usage error
    summary = run(a.cases, a.seed, a.base, a.timeout, log=lambda m: print(m, file=sys.stderr, flush=True),
                  show_refusals=a.show_refusals)
    if a.json:
        print(json.dumps(summary, indent=1))
    else:
        c = summary["counts"]
        print(f"{summary['cases']} cases (seed {summary['seed']}) in {summary['seconds']} s: "
              f"accepted {c['accepted']}, refused with NvcodecError {c['refused']}, other exception {c['other']}, "
              f"timeouts {c['timeout']}, crashes {c['crash']}")
        for kind, cnt in summary["by_mutation"].items():
            print(f"  {kind:18s} {dict(cnt)}")
        s = summary["slowest"]
        if s:
            print(f"slowest case: #{s['i']} ({s['kind']}) {s['outcome']} in {s['seconds']:.2f} s")
        g = summary["largest_rss_growth"]
        print(f"worker peak RSS {summary['peak_rss_mb']} MB"
              + (f"; largest growth {g['rss_grew_kb'] / 1024:.0f} MB at case #{g['i']} ({g['kind']})" if g else ""))
        for f in summary["failures"][:20]:
            print(f"FAIL #{f['i']} ({f['kind']}): {f['outcome']}: {f.get('detail', '')}")
    if tmp is not None:
        tmp.cleanup()
    bad = summary["counts"]
    return 1 if bad["other"] or bad["timeout"] or bad["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
