"""`nvcodec info`: facts about a video or an .nvc file.

Video files are described without loading torch (the y4m/raw readers and PyAV suffice), so
that `info` on a clip answers at once; an .nvc file is parsed and its model validated, which
needs the model code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import InputError
from .fsutil import is_stdio
from .rate.bits import bpp_of
from .video import RawSpec, VideoInfo, probe


def looks_like_nvc(path: Path) -> bool:
    from .bitstream.format import MAGIC

    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def info(path: str | os.PathLike, raw: RawSpec | None = None) -> dict[str, Any]:
    """Facts about a video or an .nvc file (for `nvcodec info`)."""
    p = Path(path)
    if is_stdio(p):
        return probe(p, raw)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    if p.suffix.lower() == ".nvc" or looks_like_nvc(p):
        return nvc_info(p)
    return probe(p, raw)


def nvc_info(path: Path) -> dict[str, Any]:
    """The file's header, segments, chunks and byte split, its model and what the encoder said."""
    from .bitstream.format import chunk_table
    from .bitstream.reader import read_container_file
    from .compress import model_codec
    from .compress.model_codec import byte_split
    from .model.siren import synthesis_macs

    container = read_container_file(path, known_types=model_codec.KNOWN_TYPES)
    models = [model_codec.decode_model(container, seg.id) for seg in container.segments]  # validates them all
    q = models[0]
    chunks = chunk_table(container)
    h = container.header
    size = path.stat().st_size
    enc = container.find(model_codec.ENCODER_INFO, 0)
    return {
        "format": "nvc",
        "version": f"{h.version_major}.{h.version_minor}",
        "width": h.width, "height": h.height, "frames": h.frames,
        "fps": f"{h.fps_num}/{h.fps_den}", "fps_float": h.fps_num / h.fps_den,
        "chroma": h.chroma, "chroma_siting": h.chroma_siting, "bit_depth": h.bit_depth,
        "matrix": h.matrix, "color_range": h.color_range,
        "bytes": size, "bpp": bpp_of(size, VideoInfo(**h.video_fields()).pixels),
        "segments": [{"id": s.id, "first_frame": s.first_frame, "frame_count": s.frame_count,
                      "bytes": sum(r["bytes"] for r in chunks if r["segment"] == s.id)}
                     for s in container.segments],
        "chunks": chunks,
        "byte_split": byte_split(container),
        "model": q.config.to_dict(),
        "decode_macs_per_pixel": synthesis_macs(q.config.base),
        "encoder": _json_or_none(enc.payload) if enc else None,
        "skipped_chunks": [c.type for c in container.skipped],
    }


def _json_or_none(payload: bytes) -> Any:
    import json

    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # informative chunk: any garbage is None
        return None
