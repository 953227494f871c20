"""Variable-length integers of the compact payloads (spec section 1, "varint"), so that the
small counts and ranges of a model's configuration and weight records cost a byte or two
rather than four: unsigned LEB128 of a u32, at most 5 bytes, shortest form only; signed
values travel zigzag-mapped (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...)."""

from __future__ import annotations

from ..errors import BitstreamError

MAX_BYTES = 5  # ceil(32 / 7)
U32_LIMIT = 1 << 32


def encode_u32(value: int) -> bytes:
    """The shortest LEB128 bytes of 0 <= value < 2**32."""
    if not 0 <= value < U32_LIMIT:
        raise ValueError(f"{value} is not a u32")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_u32(data: bytes | memoryview, pos: int, what: str) -> tuple[int, int]:
    """(value, position after it) of the LEB128 u32 at `pos`; BitstreamError naming `what` when it
    is truncated, longer than 5 bytes, above 2**32 - 1 or not in its shortest form."""
    value = 0
    for k in range(MAX_BYTES):
        if pos + k >= len(data):
            raise BitstreamError(f"{what}: truncated variable-length integer")
        byte = data[pos + k]
        value |= (byte & 0x7F) << (7 * k)
        if not byte & 0x80:
            if k and byte == 0:
                raise BitstreamError(f"{what}: variable-length integer not in its shortest form")
            if value >= U32_LIMIT:
                raise BitstreamError(f"{what}: variable-length integer {value} above 2^32 - 1")
            return value, pos + k + 1
    raise BitstreamError(f"{what}: variable-length integer longer than {MAX_BYTES} bytes")


def zigzag(value: int) -> int:
    """An i32 as the u32 that codes it (small magnitudes give small codes)."""
    if not -(1 << 31) <= value < (1 << 31):
        raise ValueError(f"{value} is not an i32")
    return (value << 1) if value >= 0 else ((-value) << 1) - 1


def unzigzag(code: int) -> int:
    return (code >> 1) if not code & 1 else -((code + 1) >> 1)


def encode_i32(value: int) -> bytes:
    return encode_u32(zigzag(value))


def decode_i32(data: bytes | memoryview, pos: int, what: str) -> tuple[int, int]:
    code, pos = decode_u32(data, pos, what)
    return unzigzag(code), pos
