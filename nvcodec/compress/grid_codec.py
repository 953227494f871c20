"""HEVC coding of 8-bit latent grids (libx265 through PyAV, entirely in memory).

The grids of one kind (every level, every channel) are tiled into one 8-bit
monochrome canvas per latent grid index n; the N canvases become N consecutive
frames of one closed-GOP HEVC stream, so the encoder's inter prediction exploits
the similarity of consecutive GOPs' grids. The tile layout is a pure function of
the grid shapes, which the decoder knows from the model configuration, so it is
never stored. Layout, padding and stream conventions are normative: see
``bitstream_spec/NVC.md`` ("Grid payload").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from ..errors import BitstreamError, DependencyError, EncodeError

ALIGN = 8  # tile slots and canvas dimensions are multiples of this (HEVC min CU)
MIN_CANVAS = 128  # >= 2 CTUs of 64: x265 refuses sub-CTU frames, lossless breaks at width == CTU
MAX_CANVAS = 16384  # largest canvas side either side accepts
MAX_FRAMES = 1 << 20
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
_NAL_SPS = 33
_MAX_PAD = 64  # coded picture size may exceed the canvas by less than one CTU

Shape = tuple[int, int, int, int]  # [N, C, H, W]
Slot = tuple[int, int, int, int]  # (slot height, slot width, level, channel)

__all__ = [
    "Layout",
    "Placement",
    "canvas_pixels",
    "decode_canvases",
    "decode_levels",
    "encode_canvases",
    "encode_levels",
    "encode_levels_recon",
    "mosaic_layout",
    "pack_levels",
    "unpack_levels",
    "x265_params",
]


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Placement:
    """Where the plane (level, channel) lies: tile at (x, y), slot of slot_w x slot_h."""

    level: int
    channel: int
    x: int
    y: int
    height: int
    width: int
    slot_h: int
    slot_w: int


@dataclass(frozen=True)
class Layout:
    """A canvas of width x height holding every tile; shelves are (y, height, used width)."""

    width: int
    height: int
    placements: tuple[Placement, ...]
    shelves: tuple[tuple[int, int, int], ...]


def _ceil_to(v: int, m: int) -> int:
    return -(-v // m) * m


def _shelf_pack(slots: list[Slot], width: int) -> tuple[int, list[tuple[int, int]], list[list[int]]]:
    """Place sorted (h, w, level, channel) slots left to right in shelves of the given width."""
    x = y = shelf_h = 0
    pos: list[tuple[int, int]] = []
    shelves: list[list[int]] = []
    for h, w, _, _ in slots:
        if shelves and x + w > width:
            y += shelf_h
            x = shelf_h = 0
        if x == 0:
            shelves.append([y, h, 0])
            shelf_h = h
        pos.append((x, y))
        x += w
        shelves[-1][2] = x
    return y + shelf_h, pos, shelves


@functools.lru_cache(maxsize=64)
def _layout_cached(shapes: tuple[Shape, ...]) -> Layout:
    slots = []
    for lvl, (_, c, h, w) in enumerate(shapes):
        for ch in range(c):
            slots.append((_ceil_to(h, ALIGN), _ceil_to(w, ALIGN), lvl, ch))
    # tallest first, then widest, then (level, channel): a total order, hence deterministic
    slots.sort(key=lambda s: (-s[0], -s[1], s[2], s[3]))
    w_min = max(MIN_CANVAS, max(s[1] for s in slots))
    w_max = max(w_min, min(sum(s[1] for s in slots), MAX_CANVAS))
    best: tuple[int, int] | None = None  # (area, width)
    for width in range(w_min, w_max + 1, ALIGN):
        used_h, _, _ = _shelf_pack(slots, width)
        area = max(used_h, MIN_CANVAS) * width
        if best is None or area < best[0]:
            best = (area, width)
    assert best is not None
    width = best[1]
    used_h, pos, shelves = _shelf_pack(slots, width)
    height = max(used_h, MIN_CANVAS)
    if height > MAX_CANVAS:
        raise ValueError(f"grid mosaic of {width}x{height} exceeds the {MAX_CANVAS} limit")
    placements = []
    for (sh, sw, lvl, ch), (x, y) in zip(slots, pos):
        _, _, h, w = shapes[lvl]
        placements.append(Placement(lvl, ch, x, y, h, w, sh, sw))
    placements.sort(key=lambda p: (p.level, p.channel))
    return Layout(width, height, tuple(placements), tuple((s[0], s[1], s[2]) for s in shelves))


def _check_shapes(shapes: Sequence[Sequence[int]]) -> tuple[Shape, ...]:
    if not shapes:
        raise ValueError("at least one grid level is required")
    out = []
    for s in shapes:
        if len(s) != 4 or any(int(v) < 1 for v in s):
            raise ValueError(f"grid shape must be 4 positive ints [N, C, H, W], got {tuple(s)}")
        out.append(tuple(int(v) for v in s))
    if len({s[0] for s in out}) != 1:
        raise ValueError(f"all levels must have the same N, got {[s[0] for s in out]}")
    if any(s[2] > MAX_CANVAS or s[3] > MAX_CANVAS for s in out):
        raise ValueError(f"grid planes larger than {MAX_CANVAS} are not supported")
    return tuple(out)  # type: ignore[return-value]


def mosaic_layout(shapes: Sequence[Sequence[int]]) -> Layout:
    """The canvas layout for grids of these [N, C, H, W] shapes (a pure function of them)."""
    return _layout_cached(_check_shapes(shapes))


def pack_levels(levels: Sequence[np.ndarray]) -> np.ndarray:
    """Tile uint8 grids [N, C, H_l, W_l] into N canvases [N, Hc, Wc] (padding by edge replication)."""
    for i, lv in enumerate(levels):
        if not isinstance(lv, np.ndarray) or lv.dtype != np.uint8 or lv.ndim != 4:
            raise ValueError(f"level {i} must be a uint8 array [N, C, H, W]")
    lay = mosaic_layout([lv.shape for lv in levels])
    n = levels[0].shape[0]
    canv = np.empty((n, lay.height, lay.width), dtype=np.uint8)
    for p in lay.placements:
        tile = levels[p.level][:, p.channel]
        pad = ((0, 0), (0, p.slot_h - p.height), (0, p.slot_w - p.width))
        canv[:, p.y : p.y + p.slot_h, p.x : p.x + p.slot_w] = np.pad(tile, pad, mode="edge")
    # fill what no slot covers (informative: the decoder ignores it) by edge replication
    for p in lay.placements:
        y0 = p.y + p.slot_h
        shelf = next(s for s in lay.shelves if s[0] == p.y)
        if y0 < p.y + shelf[1]:
            canv[:, y0 : p.y + shelf[1], p.x : p.x + p.slot_w] = canv[:, y0 - 1 : y0, p.x : p.x + p.slot_w]
    for y, h, used in lay.shelves:
        if used < lay.width:
            canv[:, y : y + h, used:] = canv[:, y : y + h, used - 1 : used]
    last = lay.shelves[-1][0] + lay.shelves[-1][1]
    if last < lay.height:
        canv[:, last:, :] = canv[:, last - 1 : last, :]
    return canv


def unpack_levels(canvases: np.ndarray, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Inverse of pack_levels: cut the tiles of the given shapes out of [N, Hc, Wc] canvases."""
    lay = mosaic_layout(shapes)
    shp = _check_shapes(shapes)
    n = shp[0][0]
    if canvases.shape != (n, lay.height, lay.width):
        raise ValueError(f"canvases shaped {canvases.shape}, layout expects {(n, lay.height, lay.width)}")
    out = [np.empty(s, dtype=np.uint8) for s in shp]
    for p in lay.placements:
        out[p.level][:, p.channel] = canvases[:, p.y : p.y + p.height, p.x : p.x + p.width]
    return out


# --------------------------------------------------------------------------- HEVC


def require_pyav() -> None:
    """Load PyAV now (DependencyError when it is missing)."""
    _av()


def _av():
    try:
        import av  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError("PyAV ('av' package) is required for grid coding") from exc
    return av


def x265_params(n_frames: int, qp: int | None) -> str:
    """The x265 parameter string: deterministic, closed GOP, MSE-oriented, no version SEI."""
    keyint = max(n_frames, 1) + 1  # one keyframe, at the start
    params = [
        f"keyint={keyint}",
        f"min-keyint={keyint}",
        "scenecut=0",
        "open-gop=0",
        "frame-threads=1",  # frame threading and thread pools make output timing-dependent
        "pools=none",
        "lookahead-slices=0",
        "info=0",  # no SEI carrying the encoder version / options string
        "hash=0",
        "repeat-headers=1",  # VPS/SPS/PPS in-band (there is a single keyframe)
        "aud=0",
        "annexb=1",
        "psy-rd=0",  # grids are not watched by humans: optimise plain squared error
        "psy-rdoq=0",
        "aq-mode=0",
        "log-level=none",
    ]
    if qp is None:
        params.append("lossless=1")
    else:
        params.append(f"qp={int(qp)}")
    return ":".join(params)


def encode_canvases(canvases: np.ndarray, *, qp: int | None, preset: str = "medium") -> bytes:
    """HEVC (Annex-B elementary stream, 4:0:0 8-bit) of [N, Hc, Wc] uint8 canvases.

    qp=None codes losslessly; otherwise constant QP (0..51), no rate control.
    Output bytes are reproducible run to run for the same libx265 build.
    """
    av = _av()
    if "libx265" not in av.codecs_available:
        raise DependencyError("PyAV's FFmpeg lacks libx265: install a PyAV build with x265 (pip wheels have it)")
    if not isinstance(canvases, np.ndarray) or canvases.dtype != np.uint8 or canvases.ndim != 3:
        raise ValueError("canvases must be a uint8 array [N, H, W]")
    n, h, w = canvases.shape
    if not 1 <= n <= MAX_FRAMES:
        raise ValueError(f"frame count {n} outside [1, {MAX_FRAMES}]")
    if h % ALIGN or w % ALIGN or not MIN_CANVAS <= h <= MAX_CANVAS or not MIN_CANVAS <= w <= MAX_CANVAS:
        raise ValueError(f"canvas {w}x{h} must be multiples of {ALIGN} in [{MIN_CANVAS}, {MAX_CANVAS}]")
    if qp is not None and not 0 <= int(qp) <= 51:
        raise ValueError(f"qp must be in [0, 51] or None, got {qp}")
    if preset not in PRESETS:
        raise ValueError(f"unknown x265 preset {preset!r}")
    canvases = np.ascontiguousarray(canvases)
    try:
        ctx = av.CodecContext.create("libx265", "w")
        ctx.width, ctx.height, ctx.pix_fmt = w, h, "gray"
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = Fraction(25, 1)
        ctx.options = {"preset": preset, "x265-params": x265_params(n, qp)}
        out: list[bytes] = []
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(canvases[i], format="gray")
            frame.pts = i
            out.extend(bytes(p) for p in ctx.encode(frame))
        out.extend(bytes(p) for p in ctx.encode(None))
    except av.FFmpegError as exc:
        raise EncodeError(f"libx265 failed to encode the grids: {exc}") from exc
    return b"".join(out)


class _Bits:
    """MSB-first bit reader over an RBSP that raises BitstreamError past its end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        if self.pos + n > 8 * len(self.data):
            raise BitstreamError("HEVC sequence parameter set is truncated")
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("HEVC sequence parameter set has an invalid Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)


def _nal_units(data: bytes) -> list[bytes]:
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    nals = []
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        nals.append(data[s:e].rstrip(b"\x00"))
    return nals


def _sps_info(nal: bytes) -> tuple[int, int, int, int, int, int]:
    """(chroma_format_idc, cropped width, cropped height, luma bit depth, coded width, coded height).

    Parsed from an SPS NAL unit (ITU-T H.265 7.3.2.2); cropping applies the conformance window.
    """
    rbsp = nal[2:].replace(b"\x00\x00\x03", b"\x00\x00")
    b = _Bits(rbsp)
    b.u(4)
    max_sub = b.u(3)
    b.u(1)
    b.u(88)
    b.u(8)  # general profile/tier/level
    flags = [(b.u(1), b.u(1)) for _ in range(max_sub)]
    if max_sub > 0:
        b.u(2 * (8 - max_sub))
    for prof, lvl in flags:
        if prof:
            b.u(88)
        if lvl:
            b.u(8)
    b.ue()  # sps_seq_parameter_set_id
    chroma = b.ue()
    if chroma == 3:
        b.u(1)
    width, height = b.ue(), b.ue()
    crop = [0, 0, 0, 0]  # left, right, top, bottom
    if b.u(1):
        crop = [b.ue() for _ in range(4)]
    sub_w = 2 if chroma in (1, 2) else 1
    sub_h = 2 if chroma == 1 else 1
    out_w = width - sub_w * (crop[0] + crop[1])
    out_h = height - sub_h * (crop[2] + crop[3])
    depth = b.ue() + 8
    return chroma, out_w, out_h, depth, width, height


def _check_stream(data: bytes, height: int, width: int) -> None:
    """Refuse before decoding a stream whose parameter sets announce other pictures."""
    sps = [nal for nal in _nal_units(data) if len(nal) >= 2 and (nal[0] >> 1) & 0x3F == _NAL_SPS]
    if not sps:
        raise BitstreamError("grid stream has no HEVC sequence parameter set")
    for nal in sps:
        chroma, w, h, depth, coded_w, coded_h = _sps_info(nal)
        if chroma != 0 or depth != 8:
            raise BitstreamError(f"grid stream is not 8-bit 4:0:0 (chroma_format_idc {chroma}, depth {depth})")
        if (w, h) != (width, height):
            raise BitstreamError(f"grid stream pictures are {w}x{h}, the model expects {width}x{height}")
        if coded_w >= width + _MAX_PAD or coded_h >= height + _MAX_PAD:
            raise BitstreamError(f"grid stream codes {coded_w}x{coded_h} pictures for a {width}x{height} canvas")


def decode_canvases(data: bytes, n: int, height: int, width: int) -> np.ndarray:
    """Decode exactly n frames of height x width from an HEVC grid stream, validating it.

    Any malformed, truncated or inconsistent stream raises BitstreamError.
    """
    av = _av()
    if not 1 <= n <= MAX_FRAMES or not 1 <= height <= MAX_CANVAS or not 1 <= width <= MAX_CANVAS:
        raise ValueError(f"invalid expected grid stream geometry {n}x{height}x{width}")
    data = bytes(data)
    if not data:
        raise BitstreamError("grid stream is empty")
    _check_stream(data, height, width)
    out = np.empty((n, height, width), dtype=np.uint8)
    count = 0

    def take(frames: list) -> None:
        nonlocal count
        for f in frames:
            if count >= n:
                raise BitstreamError(f"grid stream holds more than the {n} expected frames")
            if (f.width, f.height) != (width, height) or f.format.name != "gray":
                raise BitstreamError(
                    f"grid stream frame {count} is {f.width}x{f.height} {f.format.name}, expected {width}x{height} gray"
                )
            out[count] = f.to_ndarray()
            count += 1

    try:
        ctx = av.CodecContext.create("hevc", "r")
        ctx.thread_count = 1
        ctx.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
        for pkt in ctx.parse(data) + ctx.parse(None):
            take(ctx.decode(pkt))
        take(ctx.decode(None))
    except av.FFmpegError as exc:
        raise BitstreamError(f"grid stream is not valid HEVC: {exc}") from exc
    if count != n:
        raise BitstreamError(f"grid stream holds {count} frames, expected {n}")
    return out


def encode_levels_recon(
    levels: Sequence[np.ndarray], qp: int | None, preset: str = "medium"
) -> tuple[bytes, list[np.ndarray]]:
    """Encode grid levels and return (stream, what a decoder rebuilds), verified by decoding.

    Lossless mode (qp=None) raises EncodeError unless the round trip is bit-exact.
    """
    canv = pack_levels(levels)
    data = encode_canvases(canv, qp=qp, preset=preset)
    try:
        dec = decode_canvases(data, *canv.shape)
    except BitstreamError as exc:
        raise EncodeError(f"libx265 produced a grid stream this decoder refuses: {exc}") from exc
    shapes = [lv.shape for lv in levels]
    recon = unpack_levels(dec, shapes)
    if qp is None and not all(np.array_equal(a, b) for a, b in zip(levels, recon)):
        raise EncodeError("libx265 lossless mode did not reproduce the grids exactly")
    return data, recon


def encode_levels(levels: Sequence[np.ndarray], qp: int | None, preset: str = "medium") -> bytes:
    """Pack, HEVC-encode and self-check uint8 grid levels [N, C, H_l, W_l]."""
    return encode_levels_recon(levels, qp, preset)[0]


def decode_levels(data: bytes, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Decode an encode_levels stream back into uint8 levels of the given (trusted) shapes."""
    lay = mosaic_layout(shapes)
    n = int(shapes[0][0])
    return unpack_levels(decode_canvases(data, n, lay.height, lay.width), shapes)


def canvas_pixels(shapes: Sequence[Sequence[int]]) -> int:
    """Pixels per canvas for these shapes (for rate estimates)."""
    lay = mosaic_layout(shapes)
    return lay.width * lay.height

