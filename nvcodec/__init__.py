"""nvcodec: a neural video codec built on NVTM (temporally coherent modulation)."""

__version__ = "0.1.0"
