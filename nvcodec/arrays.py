"""The Python API on arrays: encode frames you hold, decode frames at any time and size.

    import nvcodec
    data = nvcodec.encode(rgb, bpp=0.2, fps=30)       # rgb: uint8 [T, H, W, 3] -> .nvc bytes
    video = nvcodec.open(data)                         # or a path
    len(video), video.fps, video.size                  # frames, Fraction, (W, H)
    video.frame(2.5, size=(1280, 720))                 # uint8 [H, W, 3], between frames 2 and 3
    clip = video.frames(range(0, 10), size=None)       # uint8 [10, H, W, 3]
    nvcodec.evaluate(rgb, clip)                        # {"psnr_rgb": ..., "msssim": ...}

Arrays are RGB, 8 bits per sample, frames first. An array is coded as 4:4:4 full-range video,
so that nothing of it is lost before the codec; paths go through the file readers as on the
command line. The frames handed back are what `nvcodec decode` writes, as RGB.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from . import api
from .errors import InputError
from .video import Frame, VideoInfo
from .video.base import default_matrix
from .playback import SegmentedClip
from .video.color import rgb_to_uint8, rgb_to_yuv, yuv_to_rgb



def _as_rgb_array(frames: Any) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim == 3 and a.shape[-1] == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3 or 0 in a.shape:
        raise InputError(f"expected RGB frames as an array [T, H, W, 3], got shape {a.shape}")
    if a.dtype != np.uint8:
        raise InputError(f"expected uint8 RGB samples, got {a.dtype} (scale to 0..255 and cast first)")
    return a


def frames_from_rgb(rgb: np.ndarray, fps: Fraction | float | int = 25) -> tuple[VideoInfo, list[Frame]]:
    """uint8 RGB [T, H, W, 3] as the codec's input: 4:4:4 full-range YUV planes, 8 bits."""
    rgb = _as_rgb_array(rgb)
    t, h, w, _ = rgb.shape
    info = VideoInfo(width=w, height=h, frames=t, fps=Fraction(fps).limit_denominator(1_000_000), chroma="444",
                     chroma_siting="", bit_depth=8, color_range="full", matrix=default_matrix(w, h))
    return info, [rgb_to_yuv(frame.astype(np.float32) / 255.0, info) for frame in rgb]


def encode(source: Any, output: str | os.PathLike | None = None, *, fps: Fraction | float | int = 25,
           **options: Any) -> bytes | api.EncodeReport:
    """Encode a path or a uint8 RGB array [T, H, W, 3] (`fps` for arrays). `options` are
    `api.EncodeOptions` fields (bpp, preset, time_budget, steps, seed, device, progress, ...).

    With `output`, the file is written and the report returned; without, the .nvc bytes.
    """
    opts = api.EncodeOptions(**{"progress": False, **options})
    with tempfile.TemporaryDirectory(prefix="nvcodec-") as scratch:
        dst = Path(output) if output is not None else Path(scratch) / "out.nvc"
        if isinstance(source, (str, os.PathLike)):
            report = api.encode(source, dst, opts)
        else:
            info, frames = frames_from_rgb(source, fps)
            a, b = api.frame_span(info.frames, opts.frame_range)
            report = api.encode_frames(info.replace(frames=b - a), frames[a:b], dst, opts, name="array")
        return report if output is not None else dst.read_bytes()


class Video:
    """A decoded .nvc: the model, ready to render any frame time at any size."""

    def __init__(self, source: str | os.PathLike | bytes, device: str = "auto") -> None:
        from .bitstream.reader import read_container, read_container_file
        from .compress import model_codec
        from .device import resolve_device

        self.device = resolve_device(device)
        known = model_codec.KNOWN_TYPES
        container = (read_container(bytes(source), known_types=known) if isinstance(source, (bytes, bytearray))
                     else read_container_file(source, known_types=known))
        self.info = VideoInfo(**container.header.video_fields())
        self.clip = SegmentedClip(container, self.device)

    def __len__(self) -> int:
        return self.info.frames

    @property
    def fps(self) -> Fraction:
        return Fraction(self.info.fps)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the source."""
        return self.info.width, self.info.height

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._render(builtins.range(len(self)), None)

    def frame(self, t: float, size: tuple[int, int] | None = None) -> np.ndarray:
        """The frame at time `t` in frame units (fractional: in between), uint8 RGB [H, W, 3]."""
        if not 0 <= t <= len(self) - 1:
            raise InputError(f"time {t} is outside the clip's frames 0..{len(self) - 1}")
        return next(self._render([float(t)], size))

    def frames(self, times: Iterable[float] | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames at `times` (default: every frame) as uint8 RGB [N, H, W, 3]."""
        times = list(builtins.range(len(self)) if times is None else times)
        for t in times:
            if not 0 <= t <= len(self) - 1:
                raise InputError(f"time {t} is outside the clip's frames 0..{len(self) - 1}")
        return np.stack(list(self._render(times, size)))

    def _render(self, times: Iterable[float], size: tuple[int, int] | None) -> Iterator[np.ndarray]:
        """As `nvcodec decode` writes them (YUV at the source's format), seen as RGB."""
        from .render import output_size

        w, h = output_size(self.info.width, self.info.height, self.info.chroma, size=size)
        out = self.info.replace(width=w, height=h)
        for rgb in self.clip.render([float(t) for t in times], w, h):
            yield rgb_to_uint8(yuv_to_rgb(rgb_to_yuv(rgb, out), out))


def open(source: str | os.PathLike | bytes, device: str = "auto") -> Video:  # noqa: A001 - nvcodec.open, as io.open
    """Open an .nvc file (a path, or its bytes) for decoding."""
    return Video(source, device)


def evaluate(reference: Any, distorted: Any, **options: Any) -> dict[str, Any]:
    """Quality of `distorted` against `reference`: paths (as `nvcodec eval`) or uint8 RGB arrays."""
    if isinstance(reference, (str, os.PathLike)) and isinstance(distorted, (str, os.PathLike)):
        return api.evaluate(reference, distorted, **options)
    from .metrics.arrays import evaluate_rgb

    return evaluate_rgb(_as_rgb_array(_frames_of(reference)), _as_rgb_array(_frames_of(distorted)), **options)


def _frames_of(source: Any) -> np.ndarray:
    """An array as it is; a path (an .nvc or a video) as its frames in RGB."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    from .probe import looks_like_nvc
    from .video import read_rgb

    if looks_like_nvc(Path(source)):
        return open(source).frames()
    return rgb_to_uint8(read_rgb(source))
