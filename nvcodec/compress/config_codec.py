"""The model configuration as the `MCFB` chunk (spec 10.1): the members of the `MCFG` JSON
object, in a fixed order, as varints, float64 and one-byte codes.

The JSON of a codec model is ~520 bytes; a 30-frame QCIF clip at 0.05 bpp is a 4.7-KB file,
so the configuration alone was 11 % of it. The same members cost ~95 bytes here. Decoding
builds the JSON object's dict and hands it to `NVTMConfig.from_dict`, so both chunk kinds go
through the same checks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ..errors import BitstreamError
from ..model.config import ALIGNMENTS, LATENT_MODES, NORMALIZATIONS, NVTMConfig
from . import leb128

_F64 = struct.Struct("<d")
NEIGHBOR_SETS = ([0], [0, 1])
BOOLEANS = (False, True)
#: MCFB's stored scale for `scale: null` (a real scale is >= 1)
NULL_SCALE = 0.0


@dataclass(frozen=True)
class Member:
    """One member of the configuration: where it sits in the JSON object and how it is stored.

    kind: "varint" (an integer), "f64" (a number), "f64?" (a number or null, stored as 0.0 for
    null) or "code" (the index of the value in `codes`, one byte)."""

    path: tuple[str, ...]
    kind: str
    codes: tuple = ()


def _grid(kind: str) -> list[Member]:
    return [Member((kind, "base_resolution"), "varint"), Member((kind, "levels"), "varint"),
            Member((kind, "scale"), "f64?"), Member((kind, "features"), "varint"),
            Member((kind, "init_range"), "f64")]


#: MCFB's members in their stored order: the normative table of spec 10.1
MEMBERS: tuple[Member, ...] = (
    Member(("gop_size",), "varint"),
    Member(("neighbors",), "code", tuple(map(tuple, NEIGHBOR_SETS))),
    Member(("use_static_grid",), "code", BOOLEANS),
    Member(("latent_mode",), "code", LATENT_MODES),
    Member(("alignment",), "code", ALIGNMENTS),
    Member(("normalization",), "code", NORMALIZATIONS),
    Member(("norm_threshold",), "f64"),
    Member(("norm_bins",), "varint"),
    *_grid("latent"),
    *_grid("static"),
    Member(("flow", "layers"), "varint"), Member(("flow", "hidden"), "varint"),
    Member(("flow", "omega"), "f64"), Member(("flow", "hyper_layers"), "varint"),
    Member(("flow", "hyper_hidden"), "varint"), Member(("flow", "hyper_omega"), "f64"),
    Member(("base", "depth"), "varint"), Member(("base", "width"), "varint"),
    Member(("base", "modulator_width"), "varint"), Member(("base", "omega_first"), "f64"),
    Member(("base", "omega"), "f64"),
)


def _encode_member(m: Member, value: Any) -> bytes:
    if m.kind == "varint":
        return leb128.encode_u32(int(value))
    if m.kind == "code":
        key = tuple(value) if isinstance(value, list) else value
        return bytes([m.codes.index(key)])
    return _F64.pack(NULL_SCALE if value is None else float(value))


def encode_config(config: NVTMConfig) -> bytes:
    """The MCFB payload of a (valid) configuration."""
    d = config.validate().to_dict()
    out = []
    for m in MEMBERS:
        value = d
        for key in m.path:
            value = value[key]
        out.append(_encode_member(m, value))
    return b"".join(out)


def _decode_member(m: Member, data: memoryview, pos: int) -> tuple[Any, int]:
    what = f"MCFB chunk, {'.'.join(m.path)}"
    if m.kind == "varint":
        return leb128.decode_u32(data, pos, what)
    if m.kind == "code":
        if pos >= len(data):
            raise BitstreamError(f"{what}: truncated")
        if data[pos] >= len(m.codes):
            raise BitstreamError(f"{what}: unknown code {data[pos]}")
        value = m.codes[data[pos]]
        return (list(value) if isinstance(value, tuple) else value), pos + 1
    if pos + _F64.size > len(data):
        raise BitstreamError(f"{what}: truncated")
    (x,) = _F64.unpack_from(data, pos)
    if m.kind == "f64?" and x == NULL_SCALE:
        x = None
    return x, pos + _F64.size


def decode_config(payload: bytes) -> NVTMConfig:
    """The configuration of an MCFB payload; BitstreamError for anything but exactly its members."""
    data = memoryview(bytes(payload))
    d: dict[str, Any] = {}
    pos = 0
    for m in MEMBERS:
        value, pos = _decode_member(m, data, pos)
        section = d
        for key in m.path[:-1]:
            section = section.setdefault(key, {})
        section[m.path[-1]] = value
    if pos != len(data):
        raise BitstreamError(f"MCFB chunk has {len(data) - pos} bytes after its last member")
    return NVTMConfig.from_dict(d)
