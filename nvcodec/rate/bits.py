"""Bits per pixel, the unit of every rate in nvcodec: file bytes x 8 / (W x H x frames)."""

from __future__ import annotations


def bytes_for_bpp(bpp: float, pixels: int) -> float:
    """The file size in bytes that a rate of `bpp` allows for `pixels` (W x H x frames)."""
    return bpp * pixels / 8


def bpp_of(nbytes: int, pixels: int) -> float:
    """The rate of a file of `nbytes` bytes holding `pixels` (W x H x frames)."""
    return nbytes * 8 / pixels


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The bit rate of `nbytes` spread over `frames` shown at `fps`: what x265 prints."""
    return nbytes * 8 * float(fps) / frames / 1000
