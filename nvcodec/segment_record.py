"""A finished segment, kept on disk beside its fit checkpoint until the whole file is written,
so that a resumed encode (or a driver that lost a worker) never fits or codes it again.

A record is `MAGIC`, a 4-byte big-endian length, a JSON object (what the encode measured, the
key of the encode that wrote it, the SHA-256 of the bytes) and the segment's one-segment .nvc
bytes. Nothing in it is code: it is read with `json` and the validating .nvc reader, never
unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from .bitstream.reader import read_container
from .compress import model_codec
from .errors import BitstreamError, InputError
from .fsutil import atomic_write_bytes
from .segment import SegmentCode

MAGIC = b"NVCSEGDONE1\n"
RECORD_FORMAT = "nvcodec-segment-record"
RECORD_VERSION = 1
_MEASURED = ("frames", "quality", "fit", "model", "rate", "byte_split")  # SegmentCode fields besides `data`

#: EncodeOptions fields that change how an encode runs but never its bytes
_RUN_ONLY = {"progress": True, "threads": None, "workers": 1, "ray": None, "resume": False, "overwrite": False,
             "checkpoint_path": None}


def record_key(options: Any, first: int, count: int) -> str:
    """What a record must match to stand for a segment: the options that shape its bytes and
    its frames (`first` in the selection, `count` of them)."""
    shaping = dataclasses.replace(options, **{k: v for k, v in _RUN_ONLY.items() if hasattr(options, k)})
    return hashlib.sha256(repr((shaping, first, count)).encode()).hexdigest()


def write_record(path: str | Path, code: SegmentCode, key: str) -> None:
    """Store `code` at `path` (atomically: a killed driver leaves no half record)."""
    meta = {"format": RECORD_FORMAT, "version": RECORD_VERSION, "key": key,
            "sha256": hashlib.sha256(code.data).hexdigest(), **{k: getattr(code, k) for k in _MEASURED}}
    text = json.dumps(meta).encode()
    atomic_write_bytes(path, MAGIC + len(text).to_bytes(4, "big") + text + code.data, overwrite=True)


def read_record(path: str | Path, key: str) -> SegmentCode | None:
    """The segment stored at `path`; None when there is none. A file that is not a whole
    record of this very encode (other options, other frames) is refused, never used."""
    path = Path(path)
    if not path.exists():
        return None
    blob = path.read_bytes()
    head = len(MAGIC) + 4
    size = int.from_bytes(blob[len(MAGIC):head], "big") if len(blob) >= head else -1
    if not blob.startswith(MAGIC) or not 0 < size <= len(blob) - head:
        raise _refused(path, "not an nvcodec segment record")
    try:
        meta = json.loads(blob[head:head + size])
    except (UnicodeDecodeError, ValueError):
        raise _refused(path, "its description is not JSON") from None
    data = blob[head + size:]
    if not isinstance(meta, dict) or meta.get("format") != RECORD_FORMAT or meta.get("version") != RECORD_VERSION:
        raise _refused(path, "not an nvcodec segment record of this version")
    if meta.get("sha256") != hashlib.sha256(data).hexdigest() or any(k not in meta for k in _MEASURED):
        raise _refused(path, "damaged")
    if meta.get("key") != key:
        raise _refused(path, "written by an encode with other options or other frames")
    try:
        segments = read_container(data, known_types=model_codec.KNOWN_TYPES).segments
    except BitstreamError as e:
        raise _refused(path, f"its .nvc bytes are invalid ({e})") from None
    if len(segments) != 1 or segments[0].frame_count != meta["frames"]:
        raise _refused(path, "its .nvc bytes are not the one segment it describes")
    return SegmentCode(data, **{k: meta[k] for k in _MEASURED})


def _refused(path: Path, why: str) -> InputError:
    return InputError(f"segment record {path}: {why}; delete it to fit that segment again")
