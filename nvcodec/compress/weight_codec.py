"""Entropy coding of quantised network weights (int32 tensors) with constriction.

Each tensor is coded on its own with the smallest of three representations:

* RAW (model 0): offsets ``v - lo`` packed at a fixed width of
  ``bit_length(hi - lo)`` bits (also covers constant and empty tensors at 0 bits);
* LAPLACE (model 1): a two-sided geometric ("discrete Laplace") table;
* GAUSS (model 2): a discrete Gaussian table;

the two tables being coded with constriction's rANS ``AnsCoder`` (32-bit words,
64-bit state, 24-bit probabilities). The probability tables are built with
*integer arithmetic only* from stored integer parameters, so the encoder and any
decoder, on any machine, build bit-identical tables (constriction's own
``QuantizedLaplace``/``QuantizedGaussian`` evaluate ``exp``/``erf`` in floating
point, whose last bit may differ between platforms' libm). The exact byte layout
is normative and described in ``bitstream_spec/NVC.md`` ("Weight payload").

Two payload formats (the first byte) are read. Format 1 (files 1.0 and 1.1) gives every
record a fixed-width header with its element count (13 bytes RAW, 25 entropy-coded), which
in a small file (16 tensors in 5 KB) is about 6 % of it. Format 2, written by default, drops
the count (the decoder knows the shapes) and stores ``lo``, the range, the centre and the
word count as varints (``leb128``): typically 3-5 bytes RAW and 9-13 entropy-coded.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import BitstreamError, DependencyError
from . import leb128

FORMAT_VERSION = 2  # what the encoder writes
SUPPORTED_VERSIONS = (1, 2)  # what the decoder reads
PRECISION = 24  # bits of the fixed-point probabilities (constriction's default)
TOTAL = 1 << PRECISION
MAX_ALPHABET = 1 << 20  # widest [lo, hi] range an entropy model may cover
MAX_TENSORS = 1 << 16
#: sum of K over the entropy-coded records of one payload: bounds the table-building work a
#: (hostile) file can ask of a decoder; the encoder codes RAW what would exceed it
MAX_TABLE_TOTAL = 1 << 22
F0 = 1 << 31  # unnormalised weight of the table's centre

MODEL_RAW = 0
MODEL_LAPLACE = 1
MODEL_GAUSS = 2
MODEL_NAMES = {MODEL_RAW: "raw", MODEL_LAPLACE: "laplace", MODEL_GAUSS: "gauss"}

_HEAD = struct.Struct("<BI")  # format version, tensor count
_RAW_V1 = struct.Struct("<BIii")  # model id, element count, lo, hi
_ENT_V1 = struct.Struct("<BIiiiII")  # model id, element count, lo, hi, centre, decay p, words
_P = struct.Struct("<I")  # format 2: the decay p stays fixed-width (its bits are all significant)
I32_MAX = (1 << 31) - 1

__all__ = [
    "FORMAT_VERSION",
    "MAX_ALPHABET",
    "MODEL_GAUSS",
    "MODEL_LAPLACE",
    "MODEL_RAW",
    "SUPPORTED_VERSIONS",
    "decode_tensors",
    "encode_tensors",
    "estimate_bits",
    "model_table",
]


def _constriction():  # imported lazily: only the weight path needs it
    try:
        import constriction  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError("the 'constriction' package is required for weight coding") from exc
    return constriction


# --------------------------------------------------------------------------- tables


def model_table(model: int, size: int, centre: int, p: int) -> np.ndarray:
    """Integer probability table (int64, sums to 2**24, every entry >= 1) of one model.

    ``size`` symbols 0..size-1 (the values lo..hi), mode at index ``centre``,
    decay ``p`` in (0, 2**32) as a 0.32 fixed-point ratio. Integer-only so that it
    is bit-identical everywhere (see the spec, "Probability tables").
    """
    if model not in (MODEL_LAPLACE, MODEL_GAUSS):
        raise ValueError(f"model {model} has no probability table")
    if not 2 <= size <= MAX_ALPHABET or not 0 <= centre < size or not 1 <= p < (1 << 32):
        raise ValueError(f"invalid table parameters size={size} centre={centre} p={p}")
    reach = max(centre, size - 1 - centre)
    f = []
    v, t = F0, p
    for _ in range(reach + 1):
        if v == 0:
            break
        f.append(v)
        if model == MODEL_LAPLACE:
            v = (v * p) >> 32
        else:
            v = (v * t) >> 32
            t = (((t * p) >> 32) * p) >> 32
    prof = np.zeros(reach + 1, dtype=np.int64)
    prof[: len(f)] = f
    idx = np.abs(np.arange(size, dtype=np.int64) - centre)
    raw = prof[idx]
    free = TOTAL - size
    total = int(raw.sum())
    # raw <= 2**31 and free < 2**24: the product fits in int64.
    w = 1 + (raw * free) // total
    w[centre] += TOTAL - int(w.sum())
    return w


def _ideal_bits(counts: np.ndarray, w: np.ndarray) -> float:
    nz = counts > 0
    return float(-(counts[nz] * (np.log2(w[nz].astype(np.float64)) - PRECISION)).sum())


# --------------------------------------------------------------------------- fitting


def _to_p(ratio: float) -> int:
    return int(min(max(round(ratio * 4294967296.0), 1), (1 << 32) - 1))


def _candidates(x: np.ndarray, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(model, centre index, p) candidates fitted to the data (moment estimates ± a few factors)."""
    xf = x.astype(np.float64)
    out: list[tuple[int, int, int]] = []
    med = int(min(max(math.floor(float(np.median(xf)) + 0.5), lo), hi))
    m = float(np.mean(np.abs(xf - med)))
    mean = int(min(max(math.floor(float(xf.mean()) + 0.5), lo), hi))
    var = float(np.mean((xf - mean) ** 2))
    # tables cost O(range) to build: wide ranges get the moment estimates only
    for factor in (0.7, 1.0, 1.4) if hi - lo < 4096 else (1.0,):
        mm = max(m * factor, 1e-3)
        rho = (math.sqrt(1.0 + mm * mm) - 1.0) / mm  # solves 2r/(1-r^2) = E|d|
        out.append((MODEL_LAPLACE, med - lo, _to_p(rho)))
        vv = max(var * factor, 1e-3)
        out.append((MODEL_GAUSS, mean - lo, _to_p(math.exp(-0.5 / vv))))
    return out


# --------------------------------------------------------------------------- record heads


@dataclass(frozen=True)
class _Head:
    """The fields of one record before its data, whatever the format: ``centre`` is a value in
    [lo, hi]; ``centre``, ``p`` and ``nwords`` are 0 for RAW records."""

    model: int
    lo: int
    hi: int
    centre: int = 0
    p: int = 0
    nwords: int = 0

    @property
    def size(self) -> int:
        """K, the number of symbols (of an entropy model's table)."""
        return self.hi - self.lo + 1


def _pack_head(version: int, head: _Head, n: int) -> bytes:
    """The bytes of a record head; format 1 stores the element count ``n``, format 2 does not."""
    h = head
    if version == 1:
        if h.model == MODEL_RAW:
            return _RAW_V1.pack(MODEL_RAW, n, h.lo, h.hi)
        return _ENT_V1.pack(h.model, n, h.lo, h.hi, h.centre, h.p, h.nwords)
    out = bytes([h.model]) + leb128.encode_i32(h.lo) + leb128.encode_u32(h.hi - h.lo)
    if h.model == MODEL_RAW:
        return out
    return out + leb128.encode_u32(h.centre - h.lo) + _P.pack(h.p) + leb128.encode_u32(h.nwords)


def _read_head_v1(data: memoryview, pos: int, n: int, i: int) -> tuple[_Head, int]:
    """Format 1: fixed-width fields; the stored element count must be the expected one."""
    model = data[pos]
    st = _RAW_V1 if model == MODEL_RAW else _ENT_V1
    if pos + st.size > len(data):
        raise BitstreamError(f"weight payload truncated in the header of tensor {i}")
    fields = st.unpack_from(data, pos)
    if fields[1] != n:
        raise BitstreamError(f"weight tensor {i} holds {fields[1]} elements, the model expects {n}")
    return _Head(model, *fields[2:]), pos + st.size


def _read_head_v2(data: memoryview, pos: int, i: int) -> tuple[_Head, int]:
    """Format 2: varints (shortest form, checked by ``leb128``), p as a u32."""
    model = data[pos]
    what = f"weight tensor {i}"
    lo, pos = leb128.decode_i32(data, pos + 1, f"{what} lo")
    span, pos = leb128.decode_u32(data, pos, f"{what} range")
    if lo + span > I32_MAX:
        raise BitstreamError(f"{what}: lo {lo} + range {span} is beyond the i32 range")
    if model != MODEL_RAW:
        off, pos = leb128.decode_u32(data, pos, f"{what} centre")
        if pos + _P.size > len(data):
            raise BitstreamError(f"weight payload truncated in the header of tensor {i}")
        (p,) = _P.unpack_from(data, pos)
        nwords, pos = leb128.decode_u32(data, pos + _P.size, f"{what} coder word count")
        return _Head(model, lo, lo + span, lo + off, p, nwords), pos
    return _Head(model, lo, lo + span), pos


def _check_head(h: _Head, n: int, i: int, left: int) -> None:
    """The rules shared by both formats (``left``: bytes after the head)."""
    if h.lo > h.hi:
        raise BitstreamError(f"weight tensor {i}: min {h.lo} > max {h.hi}")
    if h.model == MODEL_RAW:
        if n == 0 and (h.lo, h.hi) != (0, 0):
            raise BitstreamError(f"weight tensor {i}: an empty tensor must have lo = hi = 0")
        return
    if not 2 <= h.size <= MAX_ALPHABET:
        raise BitstreamError(f"weight tensor {i}: range width {h.size} outside [2, {MAX_ALPHABET}]")
    if not h.lo <= h.centre <= h.hi:
        raise BitstreamError(f"weight tensor {i}: centre {h.centre} outside [{h.lo}, {h.hi}]")
    if h.p == 0:
        raise BitstreamError(f"weight tensor {i}: zero decay parameter")
    if n == 0:
        raise BitstreamError(f"weight tensor {i}: an empty tensor must be coded raw")
    if h.nwords * 4 > left:
        raise BitstreamError(f"weight tensor {i}: {h.nwords} coder words but only {left} bytes left")


def _read_head(version: int, data: memoryview, pos: int, n: int, i: int) -> tuple[_Head, int]:
    """The validated head of record ``i`` at ``pos`` (expecting ``n`` elements), and where its
    data starts: everything about the record is known before any of its data is touched."""
    if pos + 1 > len(data):
        raise BitstreamError(f"weight payload truncated at tensor {i}")
    if data[pos] not in MODEL_NAMES:
        raise BitstreamError(f"weight tensor {i}: unknown model id {data[pos]}")
    if version == 1:
        head, pos = _read_head_v1(data, pos, n, i)
    else:
        head, pos = _read_head_v2(data, pos, i)
    _check_head(head, n, i, len(data) - pos)
    return head, pos


# --------------------------------------------------------------------------- model choice


def _raw_bytes(n: int, lo: int, hi: int) -> int:
    return (n * (hi - lo).bit_length() + 7) // 8


def _head_bits(version: int, head: _Head, n: int) -> int:
    """The exact size of a record head (format 2's varints depend on the values)."""
    return 8 * len(_pack_head(version, head, n))


def _best_model(x: np.ndarray, version: int = FORMAT_VERSION) -> tuple[_Head, float]:
    """The head of the cheapest choice (an entropy record's ``nwords`` estimated) and the ideal
    bits of its data; costs include each record's real head in ``version``."""
    n = int(x.size)
    if n == 0:
        return _Head(MODEL_RAW, 0, 0), 0.0
    lo, hi = int(x.min()), int(x.max())
    raw_bits = float(_raw_bytes(n, lo, hi) * 8)
    best = (_Head(MODEL_RAW, lo, hi), raw_bits)
    size = hi - lo + 1
    if size < 2 or size > MAX_ALPHABET:
        return best
    counts = np.bincount((x.astype(np.int64) - lo), minlength=size)
    best_cost = raw_bits + _head_bits(version, best[0], n)
    for model, centre, p in _candidates(x, lo, hi):
        bits = _ideal_bits(counts, model_table(model, size, centre, p))
        head = _Head(model, lo, hi, lo + centre, p, math.ceil(bits / 32) + 1)
        cost = bits + 32 + _head_bits(version, head, n)  # + 32: the coder's final state, about
        if cost < best_cost:
            best_cost, best = cost, (head, bits)
    return best


def estimate_bits(values: np.ndarray) -> float:
    """Ideal size in bits of one tensor as ``encode_tensors`` would code it (rate control).

    The ideal code length of the cheapest fitted model plus its record head (exact);
    the real ANS output is within a few words of it.
    """
    x = np.asarray(values)
    if x.dtype.kind not in "iu":
        raise TypeError(f"estimate_bits expects integers, got {x.dtype}")
    x = x.astype(np.int64).ravel()
    head, bits = _best_model(x)
    return float(bits + _head_bits(FORMAT_VERSION, head, int(x.size)))


# --------------------------------------------------------------------------- encode


def _pack_raw(u: np.ndarray, width: int) -> bytes:
    if width == 0 or u.size == 0:
        return b""
    bits = ((u[:, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.ravel(), bitorder="little").tobytes()


def _encode_entropy(sym: np.ndarray, model: int, size: int, centre: int, p: int) -> bytes:
    c = _constriction()
    w = model_table(model, size, centre, p)
    # (w - 1) are integers summing to 2**24 - size: constriction's leaky quantiser then
    # reproduces w exactly (its scale factor is exactly 1.0).
    cat = c.stream.model.Categorical((w - 1).astype(np.float64), perfect=False)
    coder = c.stream.stack.AnsCoder()
    coder.encode_reverse(sym.astype(np.int32), cat)
    return coder.get_compressed().astype("<u4").tobytes()


def _raw_record(version: int, x: np.ndarray, lo: int, hi: int) -> tuple[_Head, bytes]:
    head = _Head(MODEL_RAW, lo, hi)
    u = (x.astype(np.int64) - lo).astype(np.uint64)
    return head, _pack_head(version, head, int(x.size)) + _pack_raw(u, (hi - lo).bit_length())


def _encode_one(x: np.ndarray, version: int, table_budget: int = MAX_TABLE_TOTAL) -> tuple[_Head, bytes]:
    """The record of one tensor: the estimated best model, or RAW when the real entropy-coded
    record is no smaller or its table would exceed what is left of the payload's budget."""
    head, _ = _best_model(x, version)
    if head.model == MODEL_RAW or head.size > table_budget:
        return _raw_record(version, x, head.lo, head.hi)
    n = int(x.size)
    words = _encode_entropy(x.astype(np.int64) - head.lo, head.model, head.size, head.centre - head.lo, head.p)
    head = dataclasses.replace(head, nwords=len(words) // 4)
    record = _pack_head(version, head, n) + words
    raw_len = len(_pack_head(version, _Head(MODEL_RAW, head.lo, head.hi), n)) + _raw_bytes(n, head.lo, head.hi)
    if len(record) >= raw_len:  # the estimate was optimistic: RAW is no larger
        return _raw_record(version, x, head.lo, head.hi)
    return head, record


def _checked_tensor(t: np.ndarray, i: int) -> np.ndarray:
    """A tensor as a flat int64 array, refused unless its values and size fit the format."""
    x = np.asarray(t)
    if x.dtype.kind not in "iu":
        raise TypeError(f"tensor {i}: expected integers, got {x.dtype}")
    x = x.astype(np.int64).ravel()
    if x.size >= 1 << 32:
        raise ValueError(f"tensor {i}: too many elements ({x.size})")
    if x.size and (x.min() < -(1 << 31) or x.max() > I32_MAX):
        raise ValueError(f"tensor {i}: values do not fit int32")
    return x


def encode_tensors(tensors: Sequence[np.ndarray], version: int = FORMAT_VERSION) -> bytes:
    """Code a list of integer tensors (values must fit int32); shapes are not stored.

    ``version`` 1 writes the old format (for compatibility tests); files carry FORMAT_VERSION.
    """
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"weight payload format {version} is not supported {SUPPORTED_VERSIONS}")
    if len(tensors) > MAX_TENSORS:
        raise ValueError(f"too many tensors ({len(tensors)} > {MAX_TENSORS})")
    parts = [_HEAD.pack(version, len(tensors))]
    tables = 0
    for i, t in enumerate(tensors):
        head, rec = _encode_one(_checked_tensor(t, i), version, MAX_TABLE_TOTAL - tables)
        if head.model != MODEL_RAW:
            tables += head.size
        parts.append(rec)
    return b"".join(parts)


# --------------------------------------------------------------------------- decode


def _decode_raw(h: _Head, data: memoryview, pos: int, n: int, i: int) -> tuple[np.ndarray, int]:
    """Fixed-width offsets from lo, LSB first; padding bits must be zero, offsets <= hi - lo."""
    width = (h.hi - h.lo).bit_length()
    nbytes = (n * width + 7) // 8
    if pos + nbytes > len(data):
        raise BitstreamError(f"weight tensor {i}: raw data truncated ({nbytes} bytes expected)")
    if width == 0:
        return np.full(n, h.lo, dtype=np.int32), pos
    buf = np.frombuffer(data[pos : pos + nbytes], dtype=np.uint8)
    bits = np.unpackbits(buf, bitorder="little")
    if bits[n * width :].any():
        raise BitstreamError(f"weight tensor {i}: nonzero padding bits")
    b = bits[: n * width].reshape(n, width).astype(np.uint64)
    u = (b << np.arange(width, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    if n and int(u.max()) > h.hi - h.lo:
        raise BitstreamError(f"weight tensor {i}: raw value outside [{h.lo}, {h.hi}]")
    return (u.astype(np.int64) + h.lo).astype(np.int32), pos + nbytes


def _decode_entropy(h: _Head, data: memoryview, pos: int, n: int, i: int) -> tuple[np.ndarray, int]:
    """rANS words (the last nonzero) that must decode to exactly n symbols and leave the coder empty."""
    words = np.frombuffer(data[pos : pos + 4 * h.nwords], dtype="<u4").astype(np.uint32)
    pos += 4 * h.nwords
    if h.nwords and words[-1] == 0:
        raise BitstreamError(f"weight tensor {i}: coder data ends in a zero word")
    c = _constriction()
    w = model_table(h.model, h.size, h.centre - h.lo, h.p)
    cat = c.stream.model.Categorical((w - 1).astype(np.float64), perfect=False)
    try:
        coder = c.stream.stack.AnsCoder(words)
        sym = np.asarray(coder.decode(cat, n), dtype=np.int64)
        empty = coder.is_empty()
    except (ValueError, RuntimeError, OverflowError) as exc:
        raise BitstreamError(f"weight tensor {i}: corrupt entropy-coded data ({exc})") from exc
    if not empty:
        raise BitstreamError(f"weight tensor {i}: coded data does not match its {n} elements")
    return (sym + h.lo).astype(np.int32), pos


def _decode_one(h: _Head, data: memoryview, pos: int, n: int, i: int) -> tuple[np.ndarray, int]:
    """The n values of a record whose head ``h`` was read (and checked) by ``_read_head``."""
    if h.model == MODEL_RAW:
        return _decode_raw(h, data, pos, n, i)
    return _decode_entropy(h, data, pos, n, i)


def decode_tensors(data: bytes, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Decode ``encode_tensors`` output (format 1 or 2) into int32 arrays of the given (trusted) shapes.

    Every stored field is validated against the bytes present and fixed limits:
    malformed input raises BitstreamError, never another exception.
    """
    mv = memoryview(bytes(data))
    if len(mv) < _HEAD.size:
        raise BitstreamError("weight payload shorter than its 5-byte header")
    version, count = _HEAD.unpack_from(mv, 0)
    if version not in SUPPORTED_VERSIONS:
        raise BitstreamError(f"weight payload format {version} is not supported (expected one of {SUPPORTED_VERSIONS})")
    if count != len(shapes):
        raise BitstreamError(f"weight payload holds {count} tensors, the model expects {len(shapes)}")
    pos = _HEAD.size
    out: list[np.ndarray] = []
    tables = 0
    for i, shape in enumerate(shapes):
        n = math.prod(int(s) for s in shape)
        head, pos = _read_head(version, mv, pos, n, i)
        if head.model != MODEL_RAW:  # bound the work before building the table
            tables += head.size
            if tables > MAX_TABLE_TOTAL:
                raise BitstreamError(
                    f"weight tensor {i}: the probability tables add up to over {MAX_TABLE_TOTAL} symbols")
        arr, pos = _decode_one(head, mv, pos, n, i)
        out.append(arr.reshape(tuple(int(s) for s in shape)))
    if pos != len(mv):
        raise BitstreamError(f"weight payload has {len(mv) - pos} trailing bytes")
    return out
