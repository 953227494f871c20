"""nvcodec: a neural video codec built on NVTM (temporally coherent modulation).

`nvcodec.encode`, `nvcodec.open` and `nvcodec.evaluate` work on arrays and paths
(`nvcodec.arrays`); `nvcodec.api` is the file-level library behind the command line. They
load on first use, so that importing nvcodec (and `nvcodec info` on a video) stays light.
"""

__version__ = "0.1.0"

_ARRAY_API = ("encode", "open", "evaluate")


def __getattr__(name: str):
    if name in _ARRAY_API:
        from . import arrays

        return getattr(arrays, name)
    raise AttributeError(f"module 'nvcodec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_ARRAY_API])
