"""The versioned .nvc container: header, segment index, typed CRC-protected chunks.

Normative description: ``bitstream_spec/NVC.md``.
"""

from .format import (
    GLOBAL_SEGMENT,
    MAGIC,
    VERSION_MAJOR,
    VERSION_MINOR,
    Chunk,
    Container,
    Segment,
    StreamHeader,
    chunk_table,
)
from .reader import read_container, read_container_file, read_header
from .writer import write_container, write_container_file

__all__ = [
    "GLOBAL_SEGMENT",
    "MAGIC",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "Chunk",
    "Container",
    "Segment",
    "StreamHeader",
    "chunk_table",
    "read_container",
    "read_container_file",
    "read_header",
    "write_container",
    "write_container_file",
]
