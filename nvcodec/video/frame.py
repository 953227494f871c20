"""The in-memory shapes of video that every stage shares: VideoInfo and Frame."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

#: chroma layouts we support, with their (horizontal, vertical) subsampling shifts
CHROMA_SUBSAMPLING: dict[str, tuple[int, int]] = {
    "420": (1, 1),
    "422": (1, 0),
    "444": (0, 0),
    "mono": (0, 0),
}
CHROMA_SITINGS = ("jpeg", "mpeg2", "paldv", "")
COLOR_RANGES = ("limited", "full")
COLOR_MATRICES = ("bt601", "bt709")


@dataclass(frozen=True)
class VideoInfo:
    """Everything needed to interpret and reproduce a raw video stream.

    `chroma` is one of '420', '422', '444', 'mono'; `chroma_siting` only matters for
    4:2:0 ('jpeg' = centred, 'mpeg2' = left, 'paldv'); same byte layout either way.
    `matrix` and `color_range` drive YUV<->RGB. `extra` keeps unknown y4m X-tokens so
    that a writer can reproduce the header.
    """

    width: int
    height: int
    frames: int
    fps: Fraction
    chroma: str = "420"
    chroma_siting: str = "mpeg2"
    bit_depth: int = 8
    color_range: str = "limited"
    matrix: str = "bt601"
    interlace: str = "p"
    aspect: tuple[int, int] = (0, 0)
    extra: tuple[str, ...] = field(default_factory=tuple)
    bytes: int = 0

    @property
    def chroma_shifts(self) -> tuple[int, int]:
        return CHROMA_SUBSAMPLING[self.chroma]

    @property
    def chroma_size(self) -> tuple[int, int]:
        """(width, height) of each chroma plane; (0, 0) for mono."""
        if self.chroma == "mono":
            return (0, 0)
        sx, sy = self.chroma_shifts
        return (-(-self.width // (1 << sx)), -(-self.height // (1 << sy)))

    @property
    def num_planes(self) -> int:
        return 1 if self.chroma == "mono" else 3

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bit_depth <= 8 else np.uint16)

    @property
    def pixels(self) -> int:
        """Luma pixel count of the whole clip: the denominator of bpp."""
        return self.width * self.height * self.frames

    def replace(self, **changes) -> "VideoInfo":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "fps_float": float(self.fps),
            "chroma": self.chroma,
            "chroma_siting": self.chroma_siting,
            "bit_depth": self.bit_depth,
            "color_range": self.color_range,
            "matrix": self.matrix,
            "bytes": self.bytes,
        }


@dataclass
class Frame:
    """One picture as planes: (Y, U, V), or (Y,) for mono; uint8 or uint16 samples."""

    planes: tuple[np.ndarray, ...]

    @property
    def y(self) -> np.ndarray:
        return self.planes[0]
