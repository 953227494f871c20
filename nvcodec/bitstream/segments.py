"""Several independently coded segments joined into one file, and the segment a frame time falls in.

Each segment is encoded on its own as a one-segment container (its model covers its frames,
its times counted from its first frame); joining re-labels each part's chunks with the part's
index and writes one index listing them in order (spec section 10.8). A part's
chunks are its bytes unchanged, so a segment decodes to the same samples whether it was read
from its part or from the joined file.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Sequence

from ..errors import EncodeError
from .format import GLOBAL_SEGMENT, VERSION_MINOR, Container, Segment, StreamHeader


def join_segments(header: StreamHeader, parts: Sequence[Container]) -> Container:
    """One container of `parts` (one-segment containers of consecutive frame ranges) for the
    whole clip `header` describes (its frame count is the parts' sum)."""
    segments, chunks, first = [], [], 0
    for k, part in enumerate(parts):
        if len(part.segments) != 1:
            raise EncodeError(f"segment part {k} holds {len(part.segments)} segments, not one")
        segments.append(Segment(k, first, part.segments[0].frame_count))
        chunks += [dataclasses.replace(c, segment=k) for c in part.chunks if c.segment != GLOBAL_SEGMENT]
        first += part.segments[0].frame_count
    if first != header.frames:
        raise EncodeError(f"the segments hold {first} frames, the clip {header.frames}")
    return Container(dataclasses.replace(header, version_minor=VERSION_MINOR), segments, chunks)


def segment_at(segments: Sequence[Segment], t: float) -> Segment:
    """The segment that renders frame time `t` (in source frames): the one holding frame floor(t);
    times before the first frame or after the last belong to the first or last segment."""
    starts = [s.first_frame for s in segments]
    return segments[max(0, bisect.bisect_right(starts, int(t // 1)) - 1)]


def segment_of(container: Container, segment_id: int) -> Segment:
    for s in container.segments:
        if s.id == segment_id:
            return s
    raise KeyError(segment_id)
