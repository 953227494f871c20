"""Weight codec: exact round trips, model choice, strict validation, spec conformance, for both
payload formats (1: fixed-width record headers; 2, the default: compact varint heads)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcodec.compress import leb128
from nvcodec.compress import weight_codec as wc
from nvcodec.errors import BitstreamError

RNG = np.random.default_rng(1234)
VERSIONS = pytest.mark.parametrize("version", [1, 2])


def roundtrip(tensors: list[np.ndarray], version: int = wc.FORMAT_VERSION) -> bytes:
    data = wc.encode_tensors(tensors, version=version)
    assert data[0] == version
    out = wc.decode_tensors(data, [t.shape for t in tensors])
    assert len(out) == len(tensors)
    for a, b in zip(tensors, out):
        assert b.dtype == np.int32 and b.shape == a.shape
        np.testing.assert_array_equal(a.astype(np.int64), b.astype(np.int64))
    return data


def model_of(data: bytes) -> int:
    """Model id of the first tensor record (its first byte in both formats)."""
    return data[5]


def raw_head_size(version: int, x: np.ndarray) -> int:
    lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
    return len(wc._pack_head(version, wc._Head(wc.MODEL_RAW, lo, hi), x.size))


def records(data: bytes, sizes: list[int]) -> list[tuple[int, int, int]]:
    """(model, head bytes, data bytes) of each record of a valid payload."""
    mv, pos, out = memoryview(data), 5, []
    for i, n in enumerate(sizes):
        head, start = wc._read_head(data[0], mv, pos, n, i)
        body = wc._raw_bytes(n, head.lo, head.hi) if head.model == wc.MODEL_RAW else 4 * head.nwords
        out.append((head.model, start - pos, body))
        pos = start + body
    assert pos == len(data)
    return out


# ----------------------------------------------------------------- round trips


@VERSIONS
def test_laplacian_data_uses_an_entropy_model_and_beats_raw(version: int) -> None:
    x = np.round(np.random.default_rng(11).laplace(0, 6, (48, 32))).astype(np.int32)
    data = roundtrip([x], version)
    assert model_of(data) in (wc.MODEL_LAPLACE, wc.MODEL_GAUSS)
    raw = 5 + raw_head_size(version, x) + (x.size * int(x.max() - x.min()).bit_length() + 7) // 8
    entropy = x.size * 5.2 / 8  # about log2(2e*6) bits per sample
    assert len(data) < raw
    assert len(data) < entropy * 1.1


@VERSIONS
def test_gaussian_data_prefers_the_gaussian_table(version: int) -> None:
    x = np.round(np.random.default_rng(12).normal(-3, 25, 4000)).astype(np.int32)
    data = roundtrip([x], version)
    assert model_of(data) == wc.MODEL_GAUSS


@pytest.mark.parametrize(
    "x",
    [
        np.zeros((0,), np.int32),
        np.zeros((3, 0, 2), np.int32),
        np.full((17,), -5, np.int32),
        np.array([42], np.int32),
        np.array([-(2**31), 2**31 - 1], np.int32),
        np.array([2**31 - 1] * 3 + [2**31 - 2], np.int32),
        np.arange(-1000, 1000, dtype=np.int32).reshape(20, 100),
    ],
    ids=["empty", "empty3d", "constant", "single", "extremes", "near-max", "uniform"],
)
@VERSIONS
def test_edge_cases_roundtrip(x: np.ndarray, version: int) -> None:
    data = roundtrip([x], version)
    if x.size == 0 or x.min() == x.max():  # header + raw record at 0 bits per value
        assert len(data) == 5 + (13 if version == 1 else raw_head_size(2, x))


def test_empty_and_constant_tensors_in_format_2() -> None:
    # model 0, lo = 0 (zigzag 0), range 0: three bytes; a constant -5 is lo = zigzag 9
    assert wc.encode_tensors([np.zeros((3, 0), np.int32)]) == bytes([2, 1, 0, 0, 0, 0, 0, 0])
    assert wc.encode_tensors([np.full(17, -5, np.int32)])[5:] == bytes([0, 9, 0])


@VERSIONS
def test_many_tensors_and_determinism(version: int) -> None:
    ts = [np.round(RNG.laplace(0, s, n)).astype(np.int32) for s, n in ((1, 100), (30, 500), (0.2, 64))]
    ts.append(np.zeros((4, 4), np.int32))
    a = roundtrip(ts, version)
    assert a == wc.encode_tensors(ts, version=version)


@VERSIONS
@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.sampled_from(["laplace", "normal", "uniform", "wide"]),
            st.floats(0.01, 200),
            st.integers(-(2**20), 2**20),
            st.integers(0, 2**32 - 1),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_tensors_roundtrip(version: int, specs: list) -> None:
    tensors = []
    for n, kind, scale, offset, seed in specs:
        rng = np.random.default_rng(seed)
        if kind == "laplace":
            x = np.round(rng.laplace(offset, scale, n))
        elif kind == "normal":
            x = np.round(rng.normal(offset, scale, n))
        elif kind == "uniform":
            x = rng.integers(-int(scale) - 1, int(scale) + 1, n) + offset
        else:
            x = rng.integers(-(2**31), 2**31, n)
        tensors.append(np.clip(x, -(2**31), 2**31 - 1).astype(np.int32))
    roundtrip(tensors, version)


# ----------------------------------------------------------------- format 2 is smaller


def small_model_tensors() -> list[np.ndarray]:
    """16 tensors like a small file's: sizes 24, 3, 64, 160, values within +-300."""
    rng = np.random.default_rng(5)
    out = []
    for k in range(16):
        n = (24, 3, 64, 160)[k % 4]
        x = np.round(rng.laplace(0, 20, n)) if k % 2 else rng.integers(-300, 301, n)
        out.append(np.clip(x, -300, 300).astype(np.int32))
    return out


def test_format_2_records_are_smaller() -> None:
    ts = small_model_tensors()
    sizes = [t.size for t in ts]
    v1, v2 = wc.encode_tensors(ts, version=1), wc.encode_tensors(ts)
    r1, r2 = records(v1, sizes), records(v2, sizes)
    assert [m for m, _, _ in r1] == [m for m, _, _ in r2]  # same choices, same data
    assert [d for *_, d in r1] == [d for *_, d in r2]
    n_raw = sum(m == wc.MODEL_RAW for m, _, _ in r2)
    assert 0 < n_raw < len(ts)
    for (m, h1, _), (_, h2, _) in zip(r1, r2):
        assert h1 - h2 >= (8 if m == wc.MODEL_RAW else 12), (m, h1, h2)
    assert len(v1) - len(v2) >= 8 * n_raw + 12 * (len(ts) - n_raw)
    assert (len(v1), len(v2)) == (1277, 1118)  # pinned: this example's sizes (see the report)
    for back in (wc.decode_tensors(v1, [t.shape for t in ts]), wc.decode_tensors(v2, [t.shape for t in ts])):
        assert all(np.array_equal(a, b) for a, b in zip(ts, back))


def test_format_2_head_bytes() -> None:
    # RAW, lo = -98 (zigzag 195), hi - lo = 188: 1 + 2 + 2 bytes
    x = np.array([-98, 0, 90, 7], np.int32)
    data = wc.encode_tensors([x])
    assert data[:5] == bytes([2, 1, 0, 0, 0])  # format 2, one tensor
    assert data[5:10] == bytes([0, 0xC3, 0x01, 0xBC, 0x01])
    assert len(data) == 5 + 5 + 4  # 8 bits each
    # LAPLACE: lo -3 (zigzag 5), K - 1 = 63, centre - lo = 3, p = 2^31 (u32 LE), 5 words
    head = wc._Head(wc.MODEL_LAPLACE, -3, 60, 0, 1 << 31, 5)
    assert wc._pack_head(2, head, 1000) == bytes([1, 5, 63, 3, 0, 0, 0, 0x80, 5])
    assert wc._pack_head(1, head, 1000) == struct.pack("<BIiiiII", 1, 1000, -3, 60, 0, 1 << 31, 5)
    # the widest range: lo = -2^31 (zigzag 2^32 - 1), range 2^32 - 1: 5 bytes each
    assert wc._pack_head(2, wc._Head(wc.MODEL_RAW, -(2**31), 2**31 - 1), 2) == b"\x00" + b"\xff\xff\xff\xff\x0f" * 2


# ----------------------------------------------------------------- format 1 still decodes


def test_format_1_payloads_still_decode() -> None:
    ts = small_model_tensors() + [LAP, np.zeros(0, np.int32), np.full(3, 2**31 - 1, np.int32)]
    v1 = wc.encode_tensors(ts, version=1)
    assert v1[0] == 1
    back = wc.decode_tensors(v1, [t.shape for t in ts])
    assert all(a.dtype == np.int32 and np.array_equal(a, b) for a, b in zip(back, ts))
    # the version-1 layout itself is unchanged (an old encoder wrote these bytes)
    assert wc.encode_tensors([np.array([3, 0, 5, 1], np.int32)], version=1) == (
        struct.pack("<BI", 1, 1) + struct.pack("<BIii", 0, 4, 0, 5) + bytes([0b01000011, 0b00000011]))


def test_unsupported_versions_are_refused() -> None:
    data = bytearray(wc.encode_tensors([LAP]))
    for v in (0, 3, 255):
        data[0] = v
        with pytest.raises(BitstreamError, match=f"format {v} is not supported"):
            wc.decode_tensors(bytes(data), [LAP.shape])
    with pytest.raises(ValueError, match="format 3"):
        wc.encode_tensors([LAP], version=3)
    assert wc.FORMAT_VERSION == 2 and wc.SUPPORTED_VERSIONS == (1, 2)


# ----------------------------------------------------------------- estimate


def test_estimate_bits_tracks_the_real_size() -> None:
    for x in (
        np.round(RNG.laplace(0, 4, 3000)).astype(np.int32),
        np.round(RNG.normal(0, 10, 3000)).astype(np.int32),
        RNG.integers(0, 16, 3000).astype(np.int32),
    ):
        real = 8 * (len(wc.encode_tensors([x])) - 5)
        est = wc.estimate_bits(x)
        assert abs(real - est) <= 0.01 * real + 64, (real, est)
    assert wc.estimate_bits(np.zeros(0, np.int32)) == 3 * 8  # the format-2 head of an empty tensor
    with pytest.raises(TypeError):
        wc.estimate_bits(np.zeros(3, np.float32))


def test_estimate_bits_is_within_a_few_words_in_format_2() -> None:
    rng = np.random.default_rng(9)
    cases = [
        np.round(rng.laplace(0, 4, 3000)),
        np.round(rng.normal(-50, 30, 20000)),
        np.round(rng.laplace(3, 2, 200)),
        rng.integers(-98, 91, 40),  # raw: exact
        rng.integers(0, 16, 3000),
        np.zeros(0),
    ]
    seen = set()
    for x in (c.astype(np.int32) for c in cases):
        data = wc.encode_tensors([x])
        seen.add(model_of(data))
        real, est = 8 * (len(data) - 5), wc.estimate_bits(x)
        if model_of(data) == wc.MODEL_RAW:
            assert est == real
        else:
            assert 0 <= real - est <= 64, (real, est)
    assert seen == {wc.MODEL_RAW, wc.MODEL_LAPLACE, wc.MODEL_GAUSS}


# ----------------------------------------------------------------- tables and the spec


@pytest.mark.parametrize("model", [wc.MODEL_LAPLACE, wc.MODEL_GAUSS])
@pytest.mark.parametrize("size,centre,p", [(2, 0, 1), (9, 4, 2**31), (1000, 10, 4_000_000_000), (300, 299, 2**32 - 1)])
def test_model_table_is_a_valid_leaky_distribution(model: int, size: int, centre: int, p: int) -> None:
    w = wc.model_table(model, size, centre, p)
    assert w.shape == (size,) and int(w.sum()) == 1 << 24 and w.min() >= 1
    assert w.argmax() == centre
    left, right = w[: centre + 1], w[centre:]
    assert (np.diff(left) >= 0).all() and (np.diff(right) <= 0).all()  # unimodal


def test_model_table_known_values() -> None:
    # Pinned: any change to the normative table construction would break old files.
    assert wc.model_table(wc.MODEL_LAPLACE, 5, 2, 2**31).tolist() == [1677722, 3355443, 6710886, 3355443, 1677722]
    # Gaussian with q = 1/2: weights follow q^(d^2) = 1, 1/2, 1/16, 1/512
    assert wc.model_table(wc.MODEL_GAUSS, 7, 3, 2**31).tolist() == [
        15392, 492542, 3940336, 7880676, 3940336, 492542, 15392,
    ]


def _spec_varint(b: bytes, pos: int) -> tuple[int, int]:
    """Unsigned LEB128, as the spec defines "varint" (section 1), without the codec's module."""
    value = shift = 0
    while True:
        value |= (b[pos] & 0x7F) << shift
        shift += 7
        pos += 1
        if not b[pos - 1] & 0x80:
            return value, pos


def _spec_head(version: int, payload: bytes) -> tuple[int, int, int, int, int, int, int]:
    """(model, lo, hi, centre, p, nwords, offset of the words) of an entropy-coded record."""
    if version == 1:
        model, _, lo, hi, centre, p, nwords = struct.unpack_from("<BIiiiII", payload, 0)
        return model, lo, hi, centre, p, nwords, 25
    model = payload[0]
    z, pos = _spec_varint(payload, 1)
    lo = z >> 1 if z % 2 == 0 else -((z + 1) >> 1)  # zigzag
    span, pos = _spec_varint(payload, pos)
    off, pos = _spec_varint(payload, pos)
    (p,) = struct.unpack_from("<I", payload, pos)
    nwords, pos = _spec_varint(payload, pos + 4)
    return model, lo, lo + span, lo + off, p, nwords, pos


def _reference_decode(payload: bytes, n: int, version: int = 2) -> np.ndarray:
    """An independent decoder of one entropy-coded record, written from the spec alone."""
    model, lo, hi, centre, p, nwords, start = _spec_head(version, payload)
    words = list(struct.unpack_from(f"<{nwords}I", payload, start))
    assert len(payload) == start + 4 * nwords
    size = hi - lo + 1
    # probability table (spec: "Probability tables")
    f, v, t = [], 1 << 31, p
    for _ in range(max(centre - lo, hi - centre) + 1):
        if v == 0:
            break
        f.append(v)
        if model == 1:
            v = (v * p) >> 32
        else:
            v, t = (v * t) >> 32, (((t * p) >> 32) * p) >> 32
    raw = [f[abs(k - (centre - lo))] if abs(k - (centre - lo)) < len(f) else 0 for k in range(size)]
    w = [1 + r * ((1 << 24) - size) // sum(raw) for r in raw]
    w[centre - lo] += (1 << 24) - sum(w)
    cum = [0]
    for x in w:
        cum.append(cum[-1] + x)
    # rANS decoder (spec: "Entropy coder")
    state = 0
    if words:
        state = words.pop()
        while words and state < (1 << 32):
            state = (state << 32) | words.pop()
    out = []
    for _ in range(n):
        q = state & ((1 << 24) - 1)
        s = next(i for i in range(size) if cum[i] <= q < cum[i + 1])
        state = (state >> 24) * w[s] + q - cum[s]
        if state < (1 << 32) and words:
            state = (state << 32) | words.pop()
        out.append(lo + s)
    assert state == 0 and not words  # the coder ends empty
    return np.array(out, dtype=np.int64)


@VERSIONS
@pytest.mark.parametrize("kind", ["laplace", "normal"])
def test_spec_reference_decoder_matches(kind: str, version: int) -> None:
    rng = np.random.default_rng(7)
    x = np.round(rng.laplace(5, 3, 400) if kind == "laplace" else rng.normal(-20, 9, 400)).astype(np.int32)
    data = wc.encode_tensors([x], version=version)
    assert model_of(data) in (1, 2)
    np.testing.assert_array_equal(_reference_decode(data[5:], x.size, version), x)


@VERSIONS
def test_raw_layout_is_lsb_first(version: int) -> None:
    x = np.array([3, 0, 5, 1], np.int32)  # lo = 0, hi = 5: 3 bits each
    data = wc.encode_tensors([x], version=version)
    head = struct.pack("<BIii", 0, 4, 0, 5) if version == 1 else bytes([0, 0, 5])
    assert data[5:] == head + bytes([0b01000011, 0b00000011])


# ----------------------------------------------------------------- validation


def _ent_record(x: np.ndarray, version: int = wc.FORMAT_VERSION) -> bytes:
    data = wc.encode_tensors([x], version=version)
    assert model_of(data) in (1, 2)
    return data


LAP = np.round(np.random.default_rng(3).laplace(0, 5, 500)).astype(np.int32)


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


@VERSIONS
@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d[:3], "shorter than"),
        (lambda d: _patch(d, 0, "<B", 9), "format 9"),
        (lambda d: _patch(d, 1, "<I", 2), "holds 2 tensors"),
        (lambda d: _patch(d, 5, "<B", 7), "unknown model"),
        (lambda d: d[:5], "truncated at tensor 0"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: d[:-4], "coder words"),
        (lambda d: d[:-4] + b"\x00\x00\x00\x00", "zero word"),
    ],
)
def test_corrupt_payloads_are_refused(mutate, message: str, version: int) -> None:
    data = _ent_record(LAP, version)
    with pytest.raises(BitstreamError, match=message):
        wc.decode_tensors(mutate(data), [LAP.shape])


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d[:20], "truncated in the header"),
        (lambda d: _patch(d, 6, "<I", 499), "holds 499 elements"),
        (lambda d: _patch(_patch(d, 10, "<i", 100), 14, "<i", -100), "min 100 > max -100"),
        (lambda d: _patch(d, 14, "<i", 2**30), "range width"),
        (lambda d: _patch(d, 18, "<i", 10**6), "centre"),
        (lambda d: _patch(d, 22, "<I", 0), "zero decay"),
        (lambda d: _patch(d, 26, "<I", 2**32 - 1), "coder words"),
    ],
)
def test_corrupt_format_1_heads_are_refused(mutate, message: str) -> None:
    data = _ent_record(LAP, version=1)
    with pytest.raises(BitstreamError, match=message):
        wc.decode_tensors(mutate(data), [LAP.shape])


def _v2_fields(data: bytes, n: int) -> tuple[wc._Head, int]:
    """The head of a one-tensor format-2 payload and its length."""
    head, start = wc._read_head(2, memoryview(data), 5, n, 0)
    return head, start - 5


def _v2_with(data: bytes, n: int, **fields: bytes) -> bytes:
    """``data`` with fields of its (only) record head replaced by the given raw bytes."""
    h, length = _v2_fields(data, n)
    parts = {"model": bytes([h.model]), "lo": leb128.encode_i32(h.lo), "span": leb128.encode_u32(h.hi - h.lo)}
    if h.model != wc.MODEL_RAW:
        parts |= {"centre": leb128.encode_u32(h.centre - h.lo), "p": struct.pack("<I", h.p),
                  "nwords": leb128.encode_u32(h.nwords)}
    assert b"".join(parts.values()) == data[5 : 5 + length]
    parts |= fields
    return data[:5] + b"".join(parts.values()) + data[5 + length :]


def _long(value: int) -> bytes:
    """A varint of ``value`` one byte longer than its shortest form."""
    b = bytearray(leb128.encode_u32(value))
    b[-1] |= 0x80
    return bytes(b) + b"\x00"


U = leb128.encode_u32
Z = leb128.encode_i32


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"lo": _long(5)}, "lo: variable-length integer not in its shortest form"),
        ({"span": _long(60)}, "range: variable-length integer not in its shortest form"),
        ({"nwords": _long(1)}, "coder word count: variable-length integer not in its shortest form"),
        ({"centre": b"\x80" * 5 + b"\x01"}, "centre: variable-length integer longer than 5 bytes"),
        ({"span": b"\xff\xff\xff\xff\x1f"}, "range: variable-length integer 8589934591 above 2"),
        ({"span": U(0)}, "range width 1 outside"),
        ({"span": U(wc.MAX_ALPHABET)}, "range width 1048577 outside"),
        ({"span": U(60), "centre": U(61)}, "centre .* outside"),
        ({"lo": Z(2**31 - 20), "span": U(20)}, "is beyond the i32 range"),
        ({"lo": Z(1 - 2**31), "span": U(2**32 - 1)}, "is beyond the i32 range"),
        ({"lo": Z(-(2**31)), "span": U(2**32 - 1)}, "range width 4294967296 outside"),
        ({"p": struct.pack("<I", 0)}, "zero decay"),
        ({"p": b"\x01\x02\x03"}, "coder words|truncated"),
        ({"nwords": U(2**32 - 1)}, "coder words but only"),
        ({"model": b"\x03"}, "unknown model id 3"),
    ],
)
def test_corrupt_format_2_heads_are_refused(fields: dict, message: str) -> None:
    data = _ent_record(LAP)
    with pytest.raises(BitstreamError, match=message):
        wc.decode_tensors(_v2_with(data, LAP.size, **fields), [LAP.shape])


def test_format_2_word_count_must_match_the_bytes() -> None:
    data = _ent_record(LAP)
    h, _ = _v2_fields(data, LAP.size)
    with pytest.raises(BitstreamError, match="coder words but only"):
        wc.decode_tensors(_v2_with(data, LAP.size, nwords=U(h.nwords + 1)), [LAP.shape])
    with pytest.raises(BitstreamError):  # one word too few: a wrong coder end, or trailing bytes
        wc.decode_tensors(_v2_with(data, LAP.size, nwords=U(h.nwords - 1)), [LAP.shape])
    with pytest.raises(BitstreamError, match="1 trailing bytes"):
        wc.decode_tensors(data + b"\x01", [LAP.shape])


@pytest.mark.parametrize("x", [LAP, np.array([-98, 0, 90, 7], np.int32)], ids=["entropy", "raw"])
def test_truncated_format_2_heads_are_refused(x: np.ndarray) -> None:
    data = wc.encode_tensors([x])
    _, length = _v2_fields(data, x.size)
    for cut in range(5, 5 + length):
        with pytest.raises(BitstreamError, match="truncated"):
            wc.decode_tensors(data[:cut], [x.shape])


@pytest.mark.parametrize(
    "x,fields,message",
    [
        (np.zeros(0, np.int32), {"lo": Z(1)}, "empty tensor must have lo = hi = 0"),
        (np.zeros(0, np.int32), {"span": U(1)}, "empty tensor must have lo = hi = 0"),
        (np.array([5, 9], np.int32), {"lo": Z(2**31 - 2)}, "is beyond the i32 range"),
        (np.array([5, 12], np.int32), {"span": U(4)}, "raw value outside"),  # 7 > 4, 3 bits each
        (np.array([5, 12], np.int32), {"span": U(3)}, "nonzero padding bits"),  # 2 bits each
        (np.array([5, 9], np.int32), {"span": U(255)}, "raw data truncated"),
        (np.array([5, 9], np.int32), {"lo": b"\x8a\x00"}, "shortest form"),
    ],
)
def test_corrupt_format_2_raw_heads_are_refused(x: np.ndarray, fields: dict, message: str) -> None:
    data = wc.encode_tensors([x])
    assert model_of(data) == wc.MODEL_RAW
    with pytest.raises(BitstreamError, match=message):
        wc.decode_tensors(_v2_with(data, x.size, **fields), [x.shape])


def test_wrong_shapes_are_refused() -> None:
    """Format 1 stores the element count; format 2 relies on the (trusted) shapes, and a wrong
    one is still caught where the data cannot fit it."""
    for version in (1, 2):
        data = _ent_record(LAP, version)
        raw = wc.encode_tensors([np.array([1, 2, 3, 4], np.int32)], version=version)
        for blob, n in ((data, LAP.size - 1), (data, 0), (raw, 5), (raw, 2)):
            with pytest.raises(BitstreamError, match="elements" if version == 1 else None):
                wc.decode_tensors(blob, [(n,)])
    with pytest.raises(BitstreamError, match="holds 500 elements"):
        wc.decode_tensors(_ent_record(LAP, 1), [(LAP.size + 7,)])
    # format 2 cannot tell: an emptied rANS coder decodes further symbols as lo (state stays 0)
    (longer,) = wc.decode_tensors(_ent_record(LAP, 2), [(LAP.size + 7,)])
    assert longer[: LAP.size].tolist() == LAP.tolist() and (longer[LAP.size :] == LAP.min()).all()


@VERSIONS
def test_table_budget_is_checked_from_the_head_before_building(version: int, monkeypatch) -> None:
    data = wc.encode_tensors([LAP, LAP], version=version)
    k = int(LAP.max() - LAP.min()) + 1
    assert [m for m, _, _ in records(data, [LAP.size] * 2)] != [0, 0]
    built = []
    real_table = wc.model_table
    monkeypatch.setattr(wc, "model_table", lambda *a: built.append(a) or real_table(*a))
    monkeypatch.setattr(wc, "MAX_TABLE_TOTAL", k)  # room for one table only
    with pytest.raises(BitstreamError, match="tensor 1: the probability tables add up"):
        wc.decode_tensors(data, [LAP.shape] * 2)
    assert len(built) == 1  # the second record was refused from its head alone
    # and the encoder codes RAW what would exceed the budget
    again = wc.encode_tensors([LAP, LAP], version=version)
    assert [m for m, _, _ in records(again, [LAP.size] * 2)][1] == wc.MODEL_RAW
    assert [a.tolist() for a in wc.decode_tensors(again, [LAP.shape] * 2)] == [LAP.tolist()] * 2


@VERSIONS
def test_garbage_coder_words_are_refused(version: int) -> None:
    data = bytearray(_ent_record(LAP, version))
    data[40] ^= 0xFF  # inside the coder words: the decoder does not end empty
    with pytest.raises(BitstreamError, match="does not match"):
        wc.decode_tensors(bytes(data), [LAP.shape])


@VERSIONS
def test_raw_value_outside_range_is_refused(version: int) -> None:
    data = wc.encode_tensors([np.array([0, 4, 2], np.int32)], version=version)  # 3 bits each, max 4
    bad = data[:-2] + bytes([0b11111111, 0b00000000])
    with pytest.raises(BitstreamError, match="outside"):
        wc.decode_tensors(bad, [(3,)])


@VERSIONS
@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.data())
def test_mutated_payloads_never_crash(version: int, data: st.DataObject) -> None:
    tensors = [LAP[:200], np.array([7, 7, 9], np.int32), np.zeros(0, np.int32)]
    blob = bytearray(wc.encode_tensors(tensors, version=version))
    kind = data.draw(st.sampled_from(["flip", "truncate", "random", "word", "head"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "word":
        i = data.draw(st.integers(0, len(blob) - 4))
        blob[i : i + 4] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
    elif kind == "head":  # arbitrary bytes in place of the first record's head (varints included)
        length = 25 if version == 1 else _v2_fields(bytes(blob), 200)[1]
        blob[5 : 5 + length] = data.draw(st.binary(max_size=2 * length))
    else:
        blob = bytearray(data.draw(st.binary(max_size=64)))
    try:
        out = wc.decode_tensors(bytes(blob), [t.shape for t in tensors])
    except BitstreamError:
        return
    assert [o.shape for o in out] == [t.shape for t in tensors]
