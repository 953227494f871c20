"""The raw .nvc layout and structure-aware mutations of a valid file, for fuzzing the decoder.

`split`/`join` take a file apart into its header and chunks and put it back (CRCs
recomputed), `boundaries` lists where the parts start and end; each `m_*` function turns
a valid file into a hostile one (MUTATIONS names them, WEIGHTS says how often a run draws
each, `mutate` draws and applies one, `case_bytes` is case i of a seeded run). Used by
the long run of benchmarks/fuzz_nvc.py and by tests/hardening/test_fuzz_nvc.py.
"""

from __future__ import annotations

import functools
import json
import random
import struct
import zlib
from dataclasses import dataclass
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


# the MCFB configuration (spec table 10.1): member path and how it is stored, in order
_GRID_MEMBERS = [("base_resolution", "varint"), ("levels", "varint"), ("scale", "f64?"), ("features", "varint"),
                 ("init_range", "f64")]
MCFB_MEMBERS = (
    [(("gop_size",), "varint"), (("neighbors",), [[0], [0, 1]]), (("use_static_grid",), [False, True]),
     (("latent_mode",), ["modulation", "input"]), (("alignment",), ["flow", "none"]),
     (("normalization",), ["adaptive", "clip", "minmax"]), (("norm_threshold",), "f64"), (("norm_bins",), "varint")]
    + [((kind, name), how) for kind in ("latent", "static") for name, how in _GRID_MEMBERS]
    + [(("flow", name), how) for name, how in [("layers", "varint"), ("hidden", "varint"), ("omega", "f64"),
                                                ("hyper_layers", "varint"), ("hyper_hidden", "varint"),
                                                ("hyper_omega", "f64")]]
    + [(("base", name), how) for name, how in [("depth", "varint"), ("width", "varint"),
                                                ("modulator_width", "varint"), ("omega_first", "f64"),
                                                ("omega", "f64")]])


def varint(value: int) -> bytes:
    """Unsigned LEB128 (spec section 1), shortest form."""
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def mcfb_members(payload: bytes) -> list[tuple[tuple[str, ...], object, int, int, object]]:
    """(path, how it is stored, start, end, value) of each member of a valid MCFB payload."""
    out, pos = [], 0
    for path, how in MCFB_MEMBERS:
        start = pos
        if how == "varint":
            value, pos = read_varint(payload, pos)
        elif how in ("f64", "f64?"):
            (value,) = struct.unpack_from("<d", payload, pos)
            pos += 8
            value = None if how == "f64?" and value == 0.0 else value
        else:
            value, pos = how[payload[pos]], pos + 1
        out.append((path, how, start, pos, value))
    if pos != len(payload):
        raise ValueError("MCFB payload has bytes after its last member")
    return out


def mcfb_dict(payload: bytes) -> dict:
    """The configuration object of a valid MCFB payload (the MCFG JSON object of spec 10.1)."""
    d: dict = {}
    for path, _, _, _, value in mcfb_members(payload):
        section = d
        for key in path[:-1]:
            section = section.setdefault(key, {})
        section[path[-1]] = value
    return d


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


Mutation = Callable[[bytes, random.Random], bytes]
PayloadEdit = Callable[[bytes, random.Random], bytes | None]


def _on_payload(*types: bytes) -> Callable[[PayloadEdit], Mutation]:
    """Makes a payload edit a mutation: edit(payload, rng) -> new payload of one chunk of `types`
    (drawn at random), CRC repaired; the file is returned as is without such a chunk or when
    the edit returns None."""
    def wrap(edit: PayloadEdit) -> Mutation:
        @functools.wraps(edit)
        def mutation(data: bytes, rng: random.Random) -> bytes:
            header, chunks = split(data)
            i = _pick(chunks, rng, types)
            if i is None:
                return data
            payload = edit(chunks[i].payload, rng)
            if payload is None:
                return data
            chunks[i].payload = payload
            return join(header, chunks)
        return mutation
    return wrap


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
    i = _pick(chunks, rng, (b"SIDX", b"MCFB", b"MCFG", b"MSTA", b"GLAT", b"GSTA", b"WGTS", b"ENCI"))
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


@_on_payload(b"SIDX")
def m_sidx(payload: bytes, rng: random.Random) -> bytes:
    count = rng.choice([0, 1, 2, 3, (1 << 20), (1 << 20) + 1, _u32(rng)])
    entries = b"".join(struct.pack("<III", rng.choice([0, 0, 1, _u32(rng)]), rng.choice([0, 0, 1, 2, _u32(rng)]),
                                   rng.choice([1, 2, 4, 0, _u32(rng)])) for _ in range(rng.choice([0, 1, 2, 3])))
    return struct.pack("<I", count) + entries


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
    """A hostile configuration as MCFG JSON (several fields at once sometimes), CRC repaired: the
    file's MCFB becomes the MCFG of an older file (a 1.2 reader reads both)."""
    header, chunks = split(data)
    i = _pick(chunks, rng, (b"MCFB", b"MCFG"))
    if i is None:
        return data
    c = chunks[i]
    text = json.dumps(mcfb_dict(c.payload)) if c.type == b"MCFB" else c.payload.decode("utf-8")
    c.type, c.payload = b"MCFG", _hostile_config_json(text, rng)
    return join(header, chunks)


def _hostile_config_json(text: str, rng: random.Random) -> bytes:
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        try:
            cfg = json.loads(text)
        except (ValueError, RecursionError):
            break
        if not isinstance(cfg, dict):
            break
        text = mutate_config(cfg, rng)
    return text.encode("utf-8", "surrogatepass") if rng.random() < 0.95 else text.encode() + b"\xff"


_HOSTILE_F64 = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, -1.0, 1e-300, 1e308, 0.5, 64.0, 65.0, 1e4, 1.1e4]


@_on_payload(b"MCFB")
def m_config_binary(payload: bytes, rng: random.Random) -> bytes:
    """MCFB: one member's stored value out of range, non-finite, an unknown code, a non-shortest or
    over-long varint; or the payload cut or extended."""
    members = mcfb_members(payload)
    if rng.random() < 0.15:
        cut = rng.randrange(0, len(payload))
        return payload[:cut] if rng.random() < 0.6 else payload + rng.randbytes(rng.randrange(1, 9))
    path, how, start, end, value = rng.choice(members)
    if how == "varint":
        r = rng.random()
        if r < 0.2:
            stored = bytes([b | 0x80 for b in varint(value)]) + b"\x00"  # the same value, not shortest
        elif r < 0.3:
            stored = b"\xff" * rng.choice([5, 6, 9])
        else:
            stored = varint(rng.choice([0, 1, value - 1, value + 1, value * 2, 64, 65, 257, 4097, 1 << 15,
                                        (1 << 20) + 1, _u32(rng)]) % (1 << 32))
    elif how in ("f64", "f64?"):
        stored = struct.pack("<d", rng.choice(_HOSTILE_F64))
    else:
        stored = bytes([rng.choice([len(how), len(how) + 1, 255, rng.randrange(len(how))])])
    return payload[:start] + stored + payload[end:]


@_on_payload(b"GLAT", b"GSTA")
def m_grid(payload: bytes, rng: random.Random) -> bytes:
    """GLAT/GSTA: coding/qp/level-count head, channel ranges (NaN, inf, hi<=lo), or HEVC bytes."""
    p = bytearray(payload)
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
    return bytes(p)


def zigzag(value: int) -> int:
    """An i32 as the u32 of spec section 1's zigzag varint."""
    return 2 * value if value >= 0 else -2 * value - 1


@dataclass
class WeightRecord:
    """Where one record of a WGTS payload lies: its head's fields (name -> (start, end)) and data."""

    model: int
    fields: dict[str, tuple[int, int]]
    data: tuple[int, int]


@functools.lru_cache(maxsize=8)
def weight_sizes(config: bytes) -> tuple[int, ...]:
    """The element count of each weight tensor of the model an MCFB payload describes: format 2
    does not store them (the shapes are the model's, not the layout's, so nvcodec's model says)."""
    from nvcodec.compress.model_codec import parse_config  # noqa: PLC0415
    from nvcodec.model.nvtm import NVTM  # noqa: PLC0415

    shell = NVTM(parse_config(config), 2, 2, 1, seed=None)
    return tuple(w.numel() for w in shell.weight_tensors().values())


def weight_records(p: bytes, sizes: tuple[int, ...]) -> list[WeightRecord]:
    """The records of a valid WGTS payload (spec 9.1, format 1 or 2) of tensors of `sizes` elements."""
    count = int.from_bytes(p[:4], "little")
    version, pos = p[4 + 4 * count], 4 + 4 * count + 5
    out = []
    for n in sizes:
        model, fields = p[pos], {"model": (pos, pos + 1)}
        if version == 1:
            names = ["count", "lo", "hi"] + (["centre", "p", "nwords"] if model else [])
            for k, name in enumerate(names):
                fields[name] = (pos + 1 + 4 * k, pos + 5 + 4 * k)
            _, _, lo, hi = struct.unpack_from("<BIii", p, pos)
            pos += 1 + 4 * len(names)
            nwords = struct.unpack_from("<I", p, pos - 4)[0] if model else 0
        else:
            pos += 1
            values = {}
            for name in ["lo", "range"] + (["centre", "p", "nwords"] if model else []):
                values[name], end = (None, pos + 4) if name == "p" else read_varint(p, pos)
                fields[name] = (pos, end)
                pos = end
            code = values["lo"]
            lo = code >> 1 if not code & 1 else -((code + 1) >> 1)
            hi, nwords = lo + values["range"], values.get("nwords", 0)
        size = 4 * nwords if model else (n * (hi - lo).bit_length() + 7) // 8
        out.append(WeightRecord(model, fields, (pos, pos + size)))
        pos += size
    return out


_HOSTILE_I32 = [0, 1, -1, 2 ** 31 - 1, -2 ** 31, 1 << 20, -(1 << 20)]


def _hostile_field(name: str, version: int, rng: random.Random) -> bytes:
    """A hostile value for one record head field, in its format's encoding."""
    if name == "model":
        return bytes([rng.choice([0, 1, 2, 3, 255])])
    signed = name in ("lo", "hi", "centre") and version == 1
    value = rng.choice(_HOSTILE_I32 + [rng.randrange(-2 ** 31, 2 ** 31)]) if signed or name == "lo" else _u32(rng)
    if version == 1 or name == "p":
        return struct.pack("<i" if signed else "<I", value)
    if rng.random() < 0.15:  # not in the shortest form, or too long
        return rng.choice([b"\x80\x00", b"\xff" * 5 + b"\x01", b"\x81\x80\x80\x80\x80\x00"])
    return varint(zigzag(value) if name == "lo" else value)


def m_weights(data: bytes, rng: random.Random) -> bytes:
    """WGTS: tensor count, steps (NaN, 0, negative), the payload's format and count, a record head
    field (model, lo, range / hi, centre, p, words; format 1: the element count), coded data."""
    header, chunks = split(data)
    config, wgts = (_pick(chunks, rng, (t,)) for t in (b"MCFB", b"WGTS"))
    if config is None or wgts is None:
        return data
    p = bytearray(chunks[wgts].payload)
    count = int.from_bytes(p[:4], "little")
    r = rng.random()
    if r < 0.1:
        struct.pack_into("<I", p, 0, rng.choice([0, count - 1, count + 1, 1 << 16, _u32(rng)]))
    elif r < 0.25 and count:
        struct.pack_into("<f", p, 4 + 4 * rng.randrange(count),
                         rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e-45, 3.4e38]))
    elif r < 0.35:
        struct.pack_into("<BI", p, 4 + 4 * count, rng.choice([0, 1, 2, 3, 255]),
                         rng.choice([0, count - 1, count + 1, _u32(rng)]))
    else:
        try:
            recs = weight_records(bytes(p), weight_sizes(chunks[config].payload))
        except (ValueError, IndexError, struct.error, RuntimeError):  # a config or payload already mutated
            return data
        if not recs:
            return data
        rec = rng.choice(recs)
        name = rng.choice(sorted(rec.fields))
        start, end = rec.fields[name]
        p[start:end] = _hostile_field(name, p[4 + 4 * count], rng)
        if rng.random() < 0.3:  # and damage the coded data
            _flip_bits(p, rng, min(rec.data[0], len(p)), len(p))
    chunks[wgts].payload = bytes(p)
    return join(header, chunks)


@_on_payload(b"MSTA")
def m_state(payload: bytes, rng: random.Random) -> bytes:
    """MSTA: non-finite values, max <= min bounds, wrong length."""
    p = bytearray(payload)
    r = rng.random()
    if r < 0.7 and len(p) >= 4:
        struct.pack_into("<f", p, 4 * rng.randrange(len(p) // 4),
                         rng.choice([float("nan"), float("inf"), -1e38, 1e38, 0.0, 1.0, -1.0, 0.5]))
    else:
        p = p[:-4] if rng.random() < 0.5 else p + bytes(4 * rng.randrange(1, 4))
    return bytes(p)


@_on_payload(b"ENCI")
def m_enci(payload: bytes, rng: random.Random) -> bytes:
    return rng.choice([b"", b"\xff\xfe", b"[" * 10000, b"{\"a\": NaN}", rng.randbytes(30)])


MUTATIONS: dict[str, Mutation] = {
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
    "config_binary": m_config_binary,
    "grid": m_grid,
    "weights": m_weights,
    "state": m_state,
    "enci": m_enci,
}
# structure-aware mutations reach deeper code: weight them up
WEIGHTS = {"empty": 1, "random": 3, "bitflip": 6, "bitflip_fixcrc": 12, "truncate_boundary": 6,
           "truncate_random": 3, "append": 2, "length": 5, "swap": 4, "duplicate": 4, "delete": 4,
           "chunk_fields": 5, "sidx": 4, "header_field": 10, "config": 10, "config_binary": 8, "grid": 10,
           "weights": 10, "state": 4, "enci": 2}


def mutate(data: bytes, rng: random.Random, kind: str | None = None) -> tuple[str, bytes]:
    """(mutation name, mutated bytes); kind=None picks one by WEIGHTS; sometimes stacks two."""
    names = list(WEIGHTS)
    if kind is None:
        kind = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
    out = MUTATIONS[kind](data, rng)
    if kind not in ("empty", "random") and rng.random() < 0.1:
        second = rng.choice([n for n in ("bitflip_fixcrc", "config", "config_binary", "grid", "weights", "header_field",
                                         "swap")])
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
