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
"""

from __future__ import annotations

import math
import struct
from typing import Sequence

import numpy as np

from ..errors import BitstreamError, DependencyError

FORMAT_VERSION = 1
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
_RAW = struct.Struct("<BIii")  # model id, element count, lo, hi
_ENT = struct.Struct("<BIiiiII")  # model id, element count, lo, hi, centre, decay p, words

__all__ = [
    "FORMAT_VERSION",
    "MAX_ALPHABET",
    "MODEL_GAUSS",
    "MODEL_LAPLACE",
    "MODEL_RAW",
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


def _raw_bytes(n: int, lo: int, hi: int) -> int:
    return (n * (hi - lo).bit_length() + 7) // 8


def _best_model(x: np.ndarray) -> tuple[int, int, int, int, int, float]:
    """(model, lo, hi, centre index, p) and the ideal payload bits of the cheapest choice."""
    if x.size == 0:
        return MODEL_RAW, 0, 0, 0, 0, 0.0
    lo, hi = int(x.min()), int(x.max())
    raw_bits = float(_raw_bytes(int(x.size), lo, hi) * 8)
    best = (MODEL_RAW, lo, hi, 0, 0, raw_bits)
    size = hi - lo + 1
    if size < 2 or size > MAX_ALPHABET:
        return best
    counts = np.bincount((x.astype(np.int64) - lo), minlength=size)
    # an entropy-coded record costs 12 more header bytes than a raw one
    best_cost = raw_bits
    for model, centre, p in _candidates(x, lo, hi):
        bits = _ideal_bits(counts, model_table(model, size, centre, p))
        if bits + 8 * (_ENT.size - _RAW.size) + 32 < best_cost:
            best_cost = bits + 8 * (_ENT.size - _RAW.size) + 32
            best = (model, lo, hi, centre, p, bits)
    return best


def estimate_bits(values: np.ndarray) -> float:
    """Ideal size in bits of one tensor as ``encode_tensors`` would code it (rate control).

    The ideal code length of the cheapest fitted model plus its record header;
    the real ANS output is within a few words of it.
    """
    x = np.asarray(values)
    if x.dtype.kind not in "iu":
        raise TypeError(f"estimate_bits expects integers, got {x.dtype}")
    x = x.astype(np.int64).ravel()
    model, _, _, _, _, bits = _best_model(x)
    head = _RAW.size if model == MODEL_RAW else _ENT.size
    return float(bits + 8 * head)


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


def _encode_one(x: np.ndarray, table_budget: int = MAX_TABLE_TOTAL) -> bytes:
    model, lo, hi, centre, p, _ = _best_model(x)
    if model == MODEL_RAW or hi - lo + 1 > table_budget:
        u = (x.astype(np.int64) - lo).astype(np.uint64)
        return _RAW.pack(MODEL_RAW, x.size, lo, hi) + _pack_raw(u, (hi - lo).bit_length())
    words = _encode_entropy(x.astype(np.int64) - lo, model, hi - lo + 1, centre, p)
    record = _ENT.pack(model, x.size, lo, hi, lo + centre, p, len(words) // 4) + words
    raw_len = _RAW.size + _raw_bytes(int(x.size), lo, hi)
    if len(record) >= raw_len:  # the estimate was optimistic: fall back
        u = (x.astype(np.int64) - lo).astype(np.uint64)
        return _RAW.pack(MODEL_RAW, x.size, lo, hi) + _pack_raw(u, (hi - lo).bit_length())
    return record


def _table_size(record: bytes | memoryview) -> int:
    """K = hi - lo + 1 of an entropy-coded record (its first 25 bytes)."""
    _, _, lo, hi, _, _, _ = _ENT.unpack_from(record, 0)
    return hi - lo + 1


def encode_tensors(tensors: Sequence[np.ndarray]) -> bytes:
    """Code a list of integer tensors (values must fit int32); shapes are not stored."""
    if len(tensors) > MAX_TENSORS:
        raise ValueError(f"too many tensors ({len(tensors)} > {MAX_TENSORS})")
    parts = [_HEAD.pack(FORMAT_VERSION, len(tensors))]
    tables = 0
    for i, t in enumerate(tensors):
        x = np.asarray(t)
        if x.dtype.kind not in "iu":
            raise TypeError(f"tensor {i}: expected integers, got {x.dtype}")
        x = x.astype(np.int64).ravel()
        if x.size >= 1 << 32:
            raise ValueError(f"tensor {i}: too many elements ({x.size})")
        if x.size and (x.min() < -(1 << 31) or x.max() >= (1 << 31)):
            raise ValueError(f"tensor {i}: values do not fit int32")
        rec = _encode_one(x, MAX_TABLE_TOTAL - tables)
        if rec[0] != MODEL_RAW:
            tables += _table_size(rec)
        parts.append(rec)
    return b"".join(parts)


# --------------------------------------------------------------------------- decode


def _decode_one(data: memoryview, pos: int, n: int, i: int) -> tuple[np.ndarray, int]:
    if pos + 1 > len(data):
        raise BitstreamError(f"weight payload truncated at tensor {i}")
    model = data[pos]
    if model == MODEL_RAW:
        if pos + _RAW.size > len(data):
            raise BitstreamError(f"weight payload truncated in the header of tensor {i}")
        _, count, lo, hi = _RAW.unpack_from(data, pos)
        pos += _RAW.size
        if count != n:
            raise BitstreamError(f"weight tensor {i} holds {count} elements, the model expects {n}")
        if lo > hi:
            raise BitstreamError(f"weight tensor {i}: min {lo} > max {hi}")
        if n == 0 and (lo, hi) != (0, 0):
            raise BitstreamError(f"weight tensor {i}: an empty tensor must have lo = hi = 0")
        width = (hi - lo).bit_length()
        nbytes = (n * width + 7) // 8
        if pos + nbytes > len(data):
            raise BitstreamError(f"weight tensor {i}: raw data truncated ({nbytes} bytes expected)")
        if width == 0:
            return np.full(n, lo, dtype=np.int32), pos
        buf = np.frombuffer(data[pos : pos + nbytes], dtype=np.uint8)
        bits = np.unpackbits(buf, bitorder="little")
        if bits[n * width :].any():
            raise BitstreamError(f"weight tensor {i}: nonzero padding bits")
        b = bits[: n * width].reshape(n, width).astype(np.uint64)
        u = (b << np.arange(width, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
        if n and int(u.max()) > hi - lo:
            raise BitstreamError(f"weight tensor {i}: raw value outside [{lo}, {hi}]")
        return (u.astype(np.int64) + lo).astype(np.int32), pos + nbytes
    if model in (MODEL_LAPLACE, MODEL_GAUSS):
        if pos + _ENT.size > len(data):
            raise BitstreamError(f"weight payload truncated in the header of tensor {i}")
        _, count, lo, hi, centre, p, nwords = _ENT.unpack_from(data, pos)
        pos += _ENT.size
        if count != n:
            raise BitstreamError(f"weight tensor {i} holds {count} elements, the model expects {n}")
        size = hi - lo + 1
        if lo > hi:
            raise BitstreamError(f"weight tensor {i}: min {lo} > max {hi}")
        if not 2 <= size <= MAX_ALPHABET:
            raise BitstreamError(f"weight tensor {i}: range width {size} outside [2, {MAX_ALPHABET}]")
        if not lo <= centre <= hi:
            raise BitstreamError(f"weight tensor {i}: centre {centre} outside [{lo}, {hi}]")
        if p == 0:
            raise BitstreamError(f"weight tensor {i}: zero decay parameter")
        if n == 0:
            raise BitstreamError(f"weight tensor {i}: an empty tensor must be coded raw")
        if nwords * 4 > len(data) - pos:
            raise BitstreamError(f"weight tensor {i}: {nwords} coder words but only {len(data) - pos} bytes left")
        words = np.frombuffer(data[pos : pos + 4 * nwords], dtype="<u4").astype(np.uint32)
        pos += 4 * nwords
        if nwords and words[-1] == 0:
            raise BitstreamError(f"weight tensor {i}: coder data ends in a zero word")
        c = _constriction()
        w = model_table(model, size, centre - lo, p)
        cat = c.stream.model.Categorical((w - 1).astype(np.float64), perfect=False)
        try:
            coder = c.stream.stack.AnsCoder(words)
            sym = np.asarray(coder.decode(cat, n), dtype=np.int64)
            empty = coder.is_empty()
        except (ValueError, RuntimeError, OverflowError) as exc:
            raise BitstreamError(f"weight tensor {i}: corrupt entropy-coded data ({exc})") from exc
        if not empty:
            raise BitstreamError(f"weight tensor {i}: coded data does not match its {n} elements")
        return (sym + lo).astype(np.int32), pos
    raise BitstreamError(f"weight tensor {i}: unknown model id {model}")


def decode_tensors(data: bytes, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Decode ``encode_tensors`` output into int32 arrays of the given (trusted) shapes.

    Every stored field is validated against the bytes present and fixed limits:
    malformed input raises BitstreamError, never another exception.
    """
    mv = memoryview(bytes(data))
    if len(mv) < _HEAD.size:
        raise BitstreamError("weight payload shorter than its 5-byte header")
    version, count = _HEAD.unpack_from(mv, 0)
    if version != FORMAT_VERSION:
        raise BitstreamError(f"weight payload format {version} is not supported (expected {FORMAT_VERSION})")
    if count != len(shapes):
        raise BitstreamError(f"weight payload holds {count} tensors, the model expects {len(shapes)}")
    pos = _HEAD.size
    out: list[np.ndarray] = []
    tables = 0
    for i, shape in enumerate(shapes):
        n = math.prod(int(s) for s in shape)
        if pos < len(mv) and mv[pos] in (MODEL_LAPLACE, MODEL_GAUSS) and pos + _ENT.size <= len(mv):
            k = _table_size(mv[pos : pos + _ENT.size])
            tables += k if 2 <= k <= MAX_ALPHABET else 0  # other K: _decode_one names the problem
            if tables > MAX_TABLE_TOTAL:
                raise BitstreamError(
                    f"weight tensor {i}: the probability tables add up to over {MAX_TABLE_TOTAL} symbols")
        arr, pos = _decode_one(mv, pos, n, i)
        out.append(arr.reshape(tuple(int(s) for s in shape)))
    if pos != len(mv):
        raise BitstreamError(f"weight payload has {len(mv) - pos} trailing bytes")
    return out
