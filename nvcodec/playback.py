"""A file's segments as one clip: frames at any time, each rendered by its segment's model
(frames between whole times: by default interpolated from those, following motion).

Only the segments the asked times fall in are rebuilt, one at a time (so a `--frames A:B`
decode of a long file costs the models of its segments only, and memory holds one model);
times are counted in source frames, each segment's model from its own first frame.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator

import numpy as np
import torch

from .bitstream.format import Container, Segment
from .bitstream.segments import segment_at
from .compress import model_codec
from .defaults import DEFAULT_INBETWEEN
from .interpolation import check_inbetween, motion_frames
from .render import render_frames


class SegmentedClip:
    def __init__(self, container: Container, device: torch.device | str = "cpu") -> None:
        self.container, self.device = container, device
        self._loaded: tuple[int, torch.nn.Module] | None = None

    @property
    def segments(self) -> list[Segment]:
        return list(self.container.segments)

    def model(self, segment: Segment) -> torch.nn.Module:
        """The float model of `segment` (the last one asked for stays loaded)."""
        if self._loaded is None or self._loaded[0] != segment.id:
            self._loaded = None  # free the previous model first
            self._loaded = (segment.id, model_codec.model_from_container(self.container, self.device, segment.id))
        return self._loaded[1]

    def render(self, times: Iterable[float], width: int, height: int,
               inbetween: str = DEFAULT_INBETWEEN) -> Iterator[np.ndarray]:
        """RGB float frames [H, W, 3] at `times`, in order; a fractional time's frame as
        `inbetween` says (nvcodec.interpolation.INBETWEEN_MODES)."""
        check_inbetween(inbetween)
        times = list(times)
        if inbetween == "model":
            return self._evaluate(times, width, height)
        return motion_frames(times, lambda whole: self._evaluate(whole, width, height),
                             last=self.container.header.frames - 1)

    def _evaluate(self, times: list[float], width: int, height: int) -> Iterator[np.ndarray]:
        """The models at `times` (each group of consecutive times of one segment rendered
        together, so a GOP's time-free terms are reused)."""
        segments = self.segments
        for seg, group in itertools.groupby(times, key=lambda t: segment_at(segments, t)):
            local = [t - seg.first_frame for t in group]
            yield from render_frames(self.model(seg), local, width, height, device=self.device)
