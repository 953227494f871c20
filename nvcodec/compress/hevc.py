"""HEVC coding of 8-bit mosaic canvases (libx265 through PyAV, entirely in memory).

The N canvases of one kind of grid (`mosaic`) become N consecutive frames of one closed-GOP,
4:0:0 8-bit HEVC stream, so the encoder's inter prediction exploits the similarity of
consecutive GOPs' grids. The stream conventions are normative: see ``bitstream_spec/NVC.md``
("Grid payload"). Decoding vets the parameter sets first (`h265_sps`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..errors import BitstreamError, DependencyError, EncodeError
from .h265_sps import check_stream
from .mosaic import ALIGN, MAX_CANVAS, MIN_CANVAS

MAX_FRAMES = 1 << 20
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")

__all__ = ["MAX_FRAMES", "PRESETS", "decode_canvases", "encode_canvases", "require_pyav", "x265_params"]


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
        # weighted bi-prediction (on from preset slower up): x265's reconstruction of such blocks
        # and FFmpeg's decode of them differ on some grid canvases, so "lossless" streams
        # decoded to other values (tests/compress/test_hevc.py has such a canvas)
        "weightb=0",
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
    check_stream(data, height, width)
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
