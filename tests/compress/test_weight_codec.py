"""Weight codec: exact round trips, model choice, strict validation, spec conformance."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcodec.compress import weight_codec as wc
from nvcodec.errors import BitstreamError

RNG = np.random.default_rng(1234)


def roundtrip(tensors: list[np.ndarray]) -> bytes:
    data = wc.encode_tensors(tensors)
    out = wc.decode_tensors(data, [t.shape for t in tensors])
    assert len(out) == len(tensors)
    for a, b in zip(tensors, out):
        assert b.dtype == np.int32 and b.shape == a.shape
        np.testing.assert_array_equal(a.astype(np.int64), b.astype(np.int64))
    return data


def model_of(data: bytes) -> int:
    """Model id of the first tensor record."""
    return data[5]


# ----------------------------------------------------------------- round trips


def test_laplacian_data_uses_an_entropy_model_and_beats_raw() -> None:
    x = np.round(RNG.laplace(0, 6, (48, 32))).astype(np.int32)
    data = roundtrip([x])
    assert model_of(data) in (wc.MODEL_LAPLACE, wc.MODEL_GAUSS)
    raw = 5 + 13 + (x.size * int(x.max() - x.min()).bit_length() + 7) // 8
    entropy = x.size * 5.2 / 8  # about log2(2e*6) bits per sample
    assert len(data) < raw
    assert len(data) < entropy * 1.1


def test_gaussian_data_prefers_the_gaussian_table() -> None:
    x = np.round(RNG.normal(-3, 25, 4000)).astype(np.int32)
    data = roundtrip([x])
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
def test_edge_cases_roundtrip(x: np.ndarray) -> None:
    data = roundtrip([x])
    if x.size == 0 or x.min() == x.max():
        assert len(data) == 5 + 13  # header + raw record at 0 bits per value


def test_many_tensors_and_determinism() -> None:
    ts = [np.round(RNG.laplace(0, s, n)).astype(np.int32) for s, n in ((1, 100), (30, 500), (0.2, 64))]
    ts.append(np.zeros((4, 4), np.int32))
    a = roundtrip(ts)
    assert a == wc.encode_tensors(ts)


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
def test_random_tensors_roundtrip(specs: list) -> None:
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
    roundtrip(tensors)


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
    assert wc.estimate_bits(np.zeros(0, np.int32)) == 13 * 8
    with pytest.raises(TypeError):
        wc.estimate_bits(np.zeros(3, np.float32))


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


def _reference_decode(payload: bytes, n: int) -> np.ndarray:
    """An independent decoder of one entropy-coded record, written from the spec alone."""
    model, _, lo, hi, centre, p, nwords = struct.unpack_from("<BIiiiII", payload, 0)
    words = list(struct.unpack_from(f"<{nwords}I", payload, 25))
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


@pytest.mark.parametrize("kind", ["laplace", "normal"])
def test_spec_reference_decoder_matches(kind: str) -> None:
    rng = np.random.default_rng(7)
    x = np.round(rng.laplace(5, 3, 400) if kind == "laplace" else rng.normal(-20, 9, 400)).astype(np.int32)
    data = wc.encode_tensors([x])
    assert model_of(data) in (1, 2)
    np.testing.assert_array_equal(_reference_decode(data[5:], x.size), x)


def test_raw_layout_is_lsb_first() -> None:
    x = np.array([3, 0, 5, 1], np.int32)  # lo = 0, hi = 5: 3 bits each
    data = wc.encode_tensors([x])
    assert data[5:] == struct.pack("<BIii", 0, 4, 0, 5) + bytes([0b01000011, 0b00000011])


# ----------------------------------------------------------------- validation


def _ent_record(x: np.ndarray) -> bytes:
    data = wc.encode_tensors([x])
    assert model_of(data) in (1, 2)
    return data


LAP = np.round(np.random.default_rng(3).laplace(0, 5, 500)).astype(np.int32)


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d[:3], "shorter than"),
        (lambda d: _patch(d, 0, "<B", 9), "format 9"),
        (lambda d: _patch(d, 1, "<I", 2), "holds 2 tensors"),
        (lambda d: _patch(d, 5, "<B", 7), "unknown model"),
        (lambda d: _patch(d, 6, "<I", 499), "holds 499 elements"),
        (lambda d: _patch(_patch(d, 10, "<i", 100), 14, "<i", -100), "min 100 > max -100"),
        (lambda d: _patch(d, 14, "<i", 2**30), "range width"),
        (lambda d: _patch(d, 18, "<i", 10**6), "centre"),
        (lambda d: _patch(d, 22, "<I", 0), "zero decay"),
        (lambda d: _patch(d, 26, "<I", 2**32 - 1), "coder words"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: d[:-4], "coder words"),
        (lambda d: d[:-4] + b"\x00\x00\x00\x00", "zero word"),
    ],
)
def test_corrupt_entropy_records_are_refused(mutate, message: str) -> None:
    data = _ent_record(LAP)
    with pytest.raises(BitstreamError, match=message):
        wc.decode_tensors(mutate(data), [LAP.shape])


def test_wrong_shapes_are_refused() -> None:
    data = _ent_record(LAP)
    for n in (LAP.size + 7, LAP.size - 1, 0):
        with pytest.raises(BitstreamError, match="elements"):
            wc.decode_tensors(data, [(n,)])
    raw = wc.encode_tensors([np.array([1, 2, 3, 4], np.int32)])
    for n in (5, 2):
        with pytest.raises(BitstreamError, match="elements"):
            wc.decode_tensors(raw, [(n,)])


def test_garbage_coder_words_are_refused() -> None:
    data = bytearray(_ent_record(LAP))
    data[40] ^= 0xFF  # inside the coder words: the decoder does not end empty
    with pytest.raises(BitstreamError, match="does not match"):
        wc.decode_tensors(bytes(data), [LAP.shape])


def test_raw_value_outside_range_is_refused() -> None:
    data = wc.encode_tensors([np.array([0, 4, 2], np.int32)])  # 3 bits each, max 4
    bad = data[:-2] + bytes([0b11111111, 0b00000000])
    with pytest.raises(BitstreamError, match="outside"):
        wc.decode_tensors(bad, [(3,)])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.data())
def test_mutated_payloads_never_crash(data: st.DataObject) -> None:
    tensors = [LAP[:200], np.array([7, 7, 9], np.int32), np.zeros(0, np.int32)]
    blob = bytearray(wc.encode_tensors(tensors))
    kind = data.draw(st.sampled_from(["flip", "truncate", "random", "word"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "word":
        i = data.draw(st.integers(0, len(blob) - 4))
        blob[i : i + 4] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
    else:
        blob = bytearray(data.draw(st.binary(max_size=64)))
    try:
        out = wc.decode_tensors(bytes(blob), [t.shape for t in tensors])
    except BitstreamError:
        return
    assert [o.shape for o in out] == [t.shape for t in tensors]
