"""NVTM model <-> .nvc container: the one code path the encoder's report and the decoder share.

  encode: NVTM --quantize_model--> QuantizedModel --encode_model--> Container (+ what a decoder rebuilds)
  decode: Container --decode_model--> QuantizedModel --model_from_quantized--> NVTM

Chunk types of a version-1 file (payloads normative in bitstream_spec/NVC.md, "Model chunks"):

  MCFB  required  model configuration, compact binary (version 1.2; `config_codec`)
  MCFG  required  model configuration, canonical UTF-8 JSON (versions 1.0 and 1.1; read, not written)
  MSTA  required  non-learned state (adaptive-normalisation bounds), float32 LE
  GLAT  required  per-GOP latent grids: per-channel ranges + HEVC stream of 8-bit mosaics
  GSTA  required  static grid (only when the config enables it): same layout as GLAT
  WGTS  required  network weights: per-tensor steps + entropy-coded integers
  ENCI  optional  encoder information, UTF-8 JSON (informative; decoders skip it)

`encode_model` writes one segment covering every frame (`bitstream.segments` joins several).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..bitstream.format import SEGMENTS_MINOR, SIDX, Chunk, Container, Segment, StreamHeader, chunk_table
from ..errors import BitstreamError
from ..model.config import NVTMConfig
from ..model.nvtm import NVTM, weight_count
from . import config_codec, grid_codec, hevc, mosaic, weight_codec
from .quantize import dequantize_grid, dequantize_weight, grid_ranges, quantize_grid, quantize_weight, weight_step

CONFIG = "MCFB"
CONFIG_JSON = "MCFG"  # the configuration as files of versions 1.0 and 1.1 hold it
STATE = "MSTA"
LATENT = "GLAT"
STATIC = "GSTA"
WEIGHTS = "WGTS"
ENCODER_INFO = "ENCI"
KNOWN_TYPES = frozenset({CONFIG, CONFIG_JSON, STATE, LATENT, STATIC, WEIGHTS, ENCODER_INFO})
#: what each model chunk holds, for `byte_split` (ENCI and chunks of other types count as "other")
CHUNK_ROLES = {CONFIG: "header", CONFIG_JSON: "header", STATE: "header", LATENT: "grids", STATIC: "grids",
               WEIGHTS: "weights"}

#: a decoder refuses configs implying more than this (memory a hostile file could ask for)
MAX_GRID_VALUES = 1 << 27
#: ... or more decoded mosaic samples than this per grid kind (N x Wc x Hc, padding included)
MAX_CANVAS_SAMPLES = 1 << 29
MAX_WEIGHT_VALUES = 1 << 24
MAX_CONFIG_BYTES = 1 << 16

_GRID_HEAD = struct.Struct("<BBH")  # coding (0 lossless, 1 lossy), qp, level count
_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")
LOSSLESS, LOSSY = 0, 1


# ------------------------------------------------------------------ quantised model

@dataclass
class GridSet:
    """8-bit codes of one kind of grid (latent or static) with per-level channel ranges."""

    codes: list[np.ndarray]  # uint8 [N, C, H, W] per level
    ranges: list[tuple[np.ndarray, np.ndarray]]  # (lo, hi) float32 [C] per level

    @property
    def shapes(self) -> list[tuple[int, int, int, int]]:
        return [tuple(c.shape) for c in self.codes]  # type: ignore[misc]


@dataclass
class QuantizedModel:
    """Everything a file stores about a model, before entropy/HEVC coding."""

    config: NVTMConfig
    width: int
    height: int
    frames: int
    latent: GridSet
    static: GridSet | None
    weights: list[np.ndarray]  # int32, in weight_tensors() order
    steps: list[float]  # float32-representable
    state: np.ndarray  # float32, state_tensors() concatenated
    weight_names: list[str] = field(default_factory=list)


def _grid_set(tensors: list[torch.Tensor]) -> GridSet:
    codes, ranges = [], []
    for t in tensors:
        g = t.detach().float().cpu().contiguous()
        lo, hi = grid_ranges(g)
        codes.append(quantize_grid(g, lo, hi).numpy())
        ranges.append((lo.numpy().astype(np.float32), hi.numpy().astype(np.float32)))
    return GridSet(codes, ranges)


def quantize_model(model: NVTM, weight_rel_step: float) -> QuantizedModel:
    """Grids to 8-bit codes per channel; weights to integers with a per-tensor step."""
    grids = model.grid_tensors()
    latent = _grid_set([grids[f"latent.{i}"] for i in range(len(model.latent))])
    static = _grid_set([grids[f"static.{i}"] for i in range(len(model.static))]) if len(model.static) else None
    names, ints, steps = [], [], []
    for name, w in model.weight_tensors().items():
        step = weight_step(w, weight_rel_step)
        names.append(name)
        ints.append(quantize_weight(w, step).cpu().numpy())
        steps.append(step)
    state = np.concatenate([t.detach().float().cpu().numpy().ravel() for t in model.state_tensors().values()])
    return QuantizedModel(model.config, model.width, model.height, model.frames, latent, static, ints, steps,
                          state.astype(np.float32), names)


# ------------------------------------------------------------------ payloads

def encode_grid_payload(grids: GridSet, qp: int | None, preset: str = "medium") -> tuple[bytes, GridSet]:
    """Payload of GLAT/GSTA and the codes a decoder will rebuild from it."""
    stream, recon = grid_codec.encode_levels_recon(grids.codes, qp, preset)
    head = _GRID_HEAD.pack(LOSSLESS if qp is None else LOSSY, 0 if qp is None else int(qp), len(grids.codes))
    ranges = b"".join(lo.astype("<f4").tobytes() + hi.astype("<f4").tobytes() for lo, hi in grids.ranges)
    return head + ranges + stream, GridSet(recon, grids.ranges)


def _same_grids(a: GridSet, b: GridSet) -> bool:
    return a is b or (len(a.codes) == len(b.codes)
                      and all(np.array_equal(x, y) for x, y in zip(a.codes, b.codes))
                      and all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])
                              for x, y in zip(a.ranges, b.ranges)))


class GridPayloads:
    """The grid payloads a rate search has already coded, reused when a later setting codes the
    same grid set at the same QP and preset: most settings a search tries change one stream only
    (the static grid's QP, or the weight step alone), and each x265 encode of a 720p model's grids
    takes about a second. Same codes, ranges, QP and preset give the same bytes, so a file is the
    one the search would have written without it.

    Only the `keep` grid sets of each shape seen last are remembered (latent and static grids
    may share a shape; a fit's codec round trips bring a new grid set each time)."""

    def __init__(self, keep: int = 2) -> None:
        self._known: dict[tuple, list[tuple[GridSet, dict[tuple, tuple[bytes, GridSet]]]]] = {}
        self.keep = keep
        self.encodes = 0  # HEVC encodes run (the rest came from earlier settings)

    def encode(self, grids: GridSet, qp: int | None, preset: str = "medium") -> tuple[bytes, GridSet]:
        """`encode_grid_payload` of these grids, coded once per (grids, QP, preset)."""
        sets = self._known.setdefault(tuple(grids.shapes), [])
        hit = next((i for i, (known, _) in enumerate(sets) if _same_grids(known, grids)), None)
        entry = sets.pop(hit) if hit is not None else (grids, {})
        sets.append(entry)  # the most recently used last
        del sets[:-self.keep]
        coded = entry[1]
        if (qp, preset) not in coded:
            coded[(qp, preset)] = encode_grid_payload(grids, qp, preset)
            self.encodes += 1
        return coded[(qp, preset)]


def decode_grid_payload(payload: bytes, shapes: list[tuple[int, int, int, int]], what: str) -> GridSet:
    if len(payload) < _GRID_HEAD.size:
        raise BitstreamError(f"{what} chunk is truncated")
    coding, _qp, levels = _GRID_HEAD.unpack_from(payload, 0)
    if coding not in (LOSSLESS, LOSSY):
        raise BitstreamError(f"{what} chunk: unknown grid coding {coding}")
    if levels != len(shapes):
        raise BitstreamError(f"{what} chunk has {levels} levels, the model config says {len(shapes)}")
    pos = _GRID_HEAD.size
    ranges = []
    for s in shapes:
        c = s[1]
        need = 8 * c
        if pos + need > len(payload):
            raise BitstreamError(f"{what} chunk is truncated in its channel ranges")
        lo = np.frombuffer(payload, "<f4", c, pos).astype(np.float32)
        hi = np.frombuffer(payload, "<f4", c, pos + 4 * c).astype(np.float32)
        pos += need
        if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (hi > lo).all()):
            raise BitstreamError(f"{what} chunk: channel ranges must be finite with hi > lo")
        ranges.append((lo, hi))
    try:
        codes = grid_codec.decode_levels(payload[pos:], shapes)
    except ValueError as exc:  # a geometry the grid codec cannot carry (check_model_size refuses it first)
        raise BitstreamError(f"{what} chunk: unsupported grid geometry: {exc}") from None
    return GridSet(codes, ranges)


def encode_weight_payload(ints: list[np.ndarray], steps: list[float]) -> bytes:
    head = _U32.pack(len(ints)) + b"".join(_F32.pack(s) for s in steps)
    return head + weight_codec.encode_tensors(ints)


def decode_weight_payload(payload: bytes, shapes: list[tuple[int, ...]]) -> tuple[list[np.ndarray], list[float]]:
    if len(payload) < 4:
        raise BitstreamError("WGTS chunk is truncated")
    (count,) = _U32.unpack_from(payload, 0)
    if count != len(shapes):
        raise BitstreamError(f"WGTS chunk holds {count} tensors, the model config implies {len(shapes)}")
    if len(payload) < 4 + 4 * count:
        raise BitstreamError("WGTS chunk is truncated in its steps")
    steps = np.frombuffer(payload, "<f4", count, 4).astype(np.float32)
    if not (np.isfinite(steps).all() and (steps > 0).all()):
        raise BitstreamError("WGTS chunk: weight steps must be finite and positive")
    ints = weight_codec.decode_tensors(payload[4 + 4 * count:], shapes)
    return ints, [float(s) for s in steps]


def config_payload(config: NVTMConfig) -> bytes:
    """The MCFB payload (what this writer stores)."""
    return config_codec.encode_config(config)


def json_config_payload(config: NVTMConfig) -> bytes:
    """The MCFG payload of files of versions 1.0 and 1.1 (for tests of the reader)."""
    return json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")


def parse_config(payload: bytes) -> NVTMConfig:
    """The configuration of an MCFB payload."""
    return config_codec.decode_config(payload)


def parse_json_config(payload: bytes) -> NVTMConfig:
    """The configuration of an MCFG payload."""
    if len(payload) > MAX_CONFIG_BYTES:
        raise BitstreamError(f"MCFG chunk is {len(payload)} bytes, over the {MAX_CONFIG_BYTES}-byte limit")
    try:
        d = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BitstreamError(f"MCFG chunk is not valid UTF-8 JSON: {exc}") from None
    return NVTMConfig.from_dict(d)


# ------------------------------------------------------------------ whole model

def encode_model(q: QuantizedModel, header: StreamHeader, *, latent_qp: int | None, static_qp: int | None,
                 preset: str = "medium", encoder_info: dict[str, Any] | None = None,
                 payloads: GridPayloads | None = None) -> tuple[Container, QuantizedModel]:
    """The container of a quantised model (one segment covering every frame), and the quantised
    model a decoder rebuilds from it (the grids as HEVC at these QPs leaves them). `payloads`:
    grid streams already coded by the caller's earlier settings."""
    coder = payloads or GridPayloads()
    lat_payload, lat_recon = coder.encode(q.latent, latent_qp, preset)
    chunks = [Chunk(CONFIG, config_payload(q.config)), Chunk(STATE, q.state.astype("<f4").tobytes()),
              Chunk(LATENT, lat_payload)]
    sta_recon = None
    if q.static is not None:
        sta_payload, sta_recon = coder.encode(q.static, static_qp, preset)
        chunks.append(Chunk(STATIC, sta_payload))
    chunks.append(Chunk(WEIGHTS, encode_weight_payload(q.weights, q.steps)))
    if encoder_info:
        info = json.dumps(encoder_info, sort_keys=True, separators=(",", ":")).encode("utf-8")
        chunks.append(Chunk(ENCODER_INFO, info, required=False))
    recon = QuantizedModel(q.config, q.width, q.height, q.frames, lat_recon, sta_recon, q.weights, q.steps,
                           q.state, q.weight_names)
    return Container(header=header, segments=[Segment(0, 0, header.frames)], chunks=chunks), recon


def byte_split(container: Container) -> dict[str, int]:
    """Bytes of the file by role: header (file header, index, config, state), grids, weights, other.

    Each chunk counts with its overhead, so the parts add up to the file size.
    """
    split = {"header": 0, "grids": 0, "weights": 0, "other": 0}
    roles = {"header": "header", SIDX: "header", **CHUNK_ROLES}  # the file header and index rows of chunk_table
    for row in chunk_table(container):
        split[roles.get(row["type"], "other")] += int(row["bytes"])
    return split


def check_model_size(config: NVTMConfig, width: int, height: int, frames: int) -> None:
    """Refuse configs that would allocate more than the fixed limits, before allocating."""
    shapes = config.grid_shapes(width, height, frames)
    if shapes.values > MAX_GRID_VALUES:
        raise BitstreamError(f"model config implies {shapes.values} grid values, over the {MAX_GRID_VALUES} limit")
    # the HEVC decoder outputs padded mosaics: tiny grids in many canvases must not slip through
    for what, levels in ((LATENT, shapes.latent), (STATIC, shapes.static)):
        if not levels:
            continue
        n = levels[0][0]
        if n > hevc.MAX_FRAMES:
            raise BitstreamError(f"model config implies {n} {what} grids, over the {hevc.MAX_FRAMES} limit")
        try:
            lay = mosaic.mosaic_layout(levels)
        except ValueError as exc:
            raise BitstreamError(f"model config implies an unsupported {what} grid mosaic: {exc}") from None
        if n * lay.width * lay.height > MAX_CANVAS_SAMPLES:
            raise BitstreamError(f"model config implies {n} {what} mosaics of {lay.width}x{lay.height}, "
                                 f"over the {MAX_CANVAS_SAMPLES}-sample limit")
    weights = weight_count(config)
    if weights > MAX_WEIGHT_VALUES:
        raise BitstreamError(f"model config implies about {weights} weights, over the {MAX_WEIGHT_VALUES} limit")


def _instantiate(config: NVTMConfig, width: int, height: int, frames: int) -> NVTM:
    """NVTM(config) for decoding; a config within the limits whose initialisation still cannot be
    computed (e.g. omega = 1e-300 puts the SIREN init bound past float32) is a BitstreamError."""
    try:
        return NVTM(config, width, height, frames, seed=None)
    except (RuntimeError, ValueError, OverflowError, ZeroDivisionError) as exc:
        raise BitstreamError(f"model config cannot be instantiated: {exc}") from None


def dequantized_grids(q: QuantizedModel) -> dict[str, torch.Tensor]:
    """The float grids a decoder evaluates, by the names of `NVTM.grid_tensors`."""
    tensors: dict[str, torch.Tensor] = {}
    kinds = [("latent", q.latent)] + ([("static", q.static)] if q.static is not None else [])
    for kind, grids in kinds:
        for i, (codes, (lo, hi)) in enumerate(zip(grids.codes, grids.ranges)):
            tensors[f"{kind}.{i}"] = dequantize_grid(torch.from_numpy(codes), torch.from_numpy(lo), torch.from_numpy(hi))
    return tensors


def model_from_quantized(q: QuantizedModel, device: torch.device | str = "cpu") -> NVTM:
    """The float model a decoder evaluates: dequantised grids and weights."""
    model = _instantiate(q.config, q.width, q.height, q.frames)
    names = list(model.weight_tensors().keys())
    tensors = dequantized_grids(q)
    for name, ints, step in zip(names, q.weights, q.steps):
        tensors[name] = dequantize_weight(torch.from_numpy(np.ascontiguousarray(ints)), step)
    pos = 0
    for name, t in model.state_tensors().items():
        n = t.numel()
        tensors[name] = torch.from_numpy(q.state[pos:pos + n].copy()).view(t.shape)
        pos += n
    model.load_tensors(tensors)
    return model.to(device).eval()


def _segment_config(container: Container, segment_id: int) -> NVTMConfig:
    """The configuration of one segment: from its MCFB chunk, or its MCFG of an older file."""
    binary, text = container.find(CONFIG, segment_id), container.find(CONFIG_JSON, segment_id)
    if binary is not None and text is not None:
        raise BitstreamError(f"segment {segment_id} holds both an {CONFIG} and an {CONFIG_JSON} chunk")
    if binary is not None:
        return parse_config(binary.payload)
    if text is not None:
        return parse_json_config(text.payload)
    raise BitstreamError(f"missing required chunk {CONFIG} in segment {segment_id}")


def decode_model(container: Container, segment_id: int = 0) -> QuantizedModel:
    """Parse and validate the model chunks of one segment (its frames counted from its first)."""
    h = container.header
    if h.version_minor < SEGMENTS_MINOR and len(container.segments) != 1:
        raise BitstreamError(f"a version {h.version_major}.{h.version_minor} file holds one segment, "
                             f"this one lists {len(container.segments)}")
    seg = next((s for s in container.segments if s.id == segment_id), None)
    if seg is None:
        raise BitstreamError(f"no segment {segment_id} in the file")
    frames = seg.frame_count

    def need(type_: str) -> bytes:
        chunk = container.find(type_, segment_id)
        if chunk is None:
            raise BitstreamError(f"missing required chunk {type_} in segment {segment_id}")
        return chunk.payload

    for type_ in KNOWN_TYPES:
        if sum(1 for c in container.chunks if c.type == type_ and c.segment == segment_id) > 1:
            raise BitstreamError(f"duplicate chunk {type_} in segment {segment_id}")
    config = _segment_config(container, segment_id)
    check_model_size(config, h.width, h.height, frames)
    # Nothing the size of the grids is allocated before the payloads prove they hold that much
    # data (a 12 kB file may declare a 1080p x 600-frame model): grid shapes come from the config
    # (as NVTM derives them), weight shapes from a shell with 2x2 grids and one frame (the
    # weights depend on the grids' level and feature counts only, not on their sizes).
    n_latent = config.num_latent(frames)
    shapes = config.grid_shapes(h.width, h.height, frames)
    lat_shapes, sta_shapes = shapes.latent, shapes.static
    shell = _instantiate(config, 2, 2, 1)
    n_state = 4 * n_latent  # norm_bounds [num_latent, 4]
    state_bytes = need(STATE)
    if len(state_bytes) != 4 * n_state:
        raise BitstreamError(f"MSTA chunk is {len(state_bytes)} bytes, the model needs {4 * n_state}")
    state = np.frombuffer(state_bytes, "<f4").astype(np.float32)
    if not np.isfinite(state).all():
        raise BitstreamError("MSTA chunk holds non-finite values")
    latent = decode_grid_payload(need(LATENT), lat_shapes, LATENT)
    static = None
    if config.use_static_grid:
        static = decode_grid_payload(need(STATIC), sta_shapes, STATIC)
    elif container.find(STATIC, segment_id) is not None:
        raise BitstreamError("GSTA chunk present but the model config has no static grid")
    weights = shell.weight_tensors()
    ints, steps = decode_weight_payload(need(WEIGHTS), [tuple(w.shape) for w in weights.values()])
    return QuantizedModel(config, h.width, h.height, frames, latent, static, ints, steps, state, list(weights))


def model_from_container(container: Container, device: torch.device | str = "cpu", segment_id: int = 0) -> NVTM:
    """The float model of one segment: `model_from_quantized(decode_model(container, segment_id))`."""
    return model_from_quantized(decode_model(container, segment_id), device)
