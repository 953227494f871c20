"""Varints of spec section 1: shortest LEB128 of a u32, zigzag for i32; every malformed form refused."""

from __future__ import annotations

import pytest

from nvcodec.compress import leb128
from nvcodec.errors import BitstreamError


@pytest.mark.parametrize("value, coded", [
    (0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
    (2 ** 28 - 1, b"\xff\xff\xff\x7f"), (2 ** 28, b"\x80\x80\x80\x80\x01"), (2 ** 32 - 1, b"\xff\xff\xff\xff\x0f"),
])
def test_u32_bytes_and_round_trip(value, coded):
    assert leb128.encode_u32(value) == coded
    assert leb128.decode_u32(coded + b"\x55", 0, "x") == (value, len(coded))  # stops after its last byte


@pytest.mark.parametrize("value, code", [(0, 0), (-1, 1), (1, 2), (-2, 3), (2 ** 31 - 1, 2 ** 32 - 2),
                                         (-(2 ** 31), 2 ** 32 - 1)])
def test_zigzag(value, code):
    assert leb128.zigzag(value) == code and leb128.unzigzag(code) == value
    assert leb128.decode_i32(leb128.encode_i32(value), 0, "x") == (value, len(leb128.encode_u32(code)))


@pytest.mark.parametrize("data, message", [
    (b"", "truncated"), (b"\x80", "truncated"), (b"\xff\xff", "truncated"),
    (b"\x80\x00", "shortest form"), (b"\x81\x80\x00", "shortest form"),
    (b"\xff\xff\xff\xff\x10", "above 2\\^32 - 1"), (b"\x80\x80\x80\x80\x80\x01", "longer than 5 bytes"),
])
def test_malformed_varints_are_bitstream_errors(data, message):
    with pytest.raises(BitstreamError, match=message):
        leb128.decode_u32(data, 0, "field")


@pytest.mark.parametrize("value", [-1, 2 ** 32])
def test_out_of_range_values_are_not_written(value):
    with pytest.raises(ValueError):
        leb128.encode_u32(value)
    with pytest.raises(ValueError):
        leb128.zigzag(2 ** 31 if value > 0 else -(2 ** 31) - 1)
