"""Just enough of an H.265 parser to vet a grid stream before FFmpeg decodes it.

The sequence parameter sets (ITU-T H.265 7.3.2.2) announce the picture format and size; a
stream whose SPS disagrees with the canvas the model configuration implies is refused as a
BitstreamError up front, so a hostile file cannot make the decoder allocate other pictures.
"""

from __future__ import annotations

from ..errors import BitstreamError

_NAL_SPS = 33
_MAX_PAD = 64  # coded picture size may exceed the canvas by less than one CTU

__all__ = ["check_stream", "nal_units", "sps_info"]


class _Bits:
    """MSB-first bit reader over an RBSP that raises BitstreamError past its end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        if self.pos + n > 8 * len(self.data):
            raise BitstreamError("HEVC sequence parameter set is truncated")
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("HEVC sequence parameter set has an invalid Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B stream (start codes and trailing zero bytes removed)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    nals = []
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        nals.append(data[s:e].rstrip(b"\x00"))
    return nals


def sps_info(nal: bytes) -> tuple[int, int, int, int, int, int]:
    """(chroma_format_idc, cropped width, cropped height, luma bit depth, coded width, coded height).

    Parsed from an SPS NAL unit (ITU-T H.265 7.3.2.2); cropping applies the conformance window.
    """
    rbsp = nal[2:].replace(b"\x00\x00\x03", b"\x00\x00")
    b = _Bits(rbsp)
    b.u(4)
    max_sub = b.u(3)
    b.u(1)
    b.u(88)
    b.u(8)  # general profile/tier/level
    flags = [(b.u(1), b.u(1)) for _ in range(max_sub)]
    if max_sub > 0:
        b.u(2 * (8 - max_sub))
    for prof, lvl in flags:
        if prof:
            b.u(88)
        if lvl:
            b.u(8)
    b.ue()  # sps_seq_parameter_set_id
    chroma = b.ue()
    if chroma == 3:
        b.u(1)
    width, height = b.ue(), b.ue()
    crop = [0, 0, 0, 0]  # left, right, top, bottom
    if b.u(1):
        crop = [b.ue() for _ in range(4)]
    sub_w = 2 if chroma in (1, 2) else 1
    sub_h = 2 if chroma == 1 else 1
    out_w = width - sub_w * (crop[0] + crop[1])
    out_h = height - sub_h * (crop[2] + crop[3])
    depth = b.ue() + 8
    return chroma, out_w, out_h, depth, width, height


def check_stream(data: bytes, height: int, width: int) -> None:
    """Refuse before decoding a stream whose parameter sets announce other pictures."""
    sps = [nal for nal in nal_units(data) if len(nal) >= 2 and (nal[0] >> 1) & 0x3F == _NAL_SPS]
    if not sps:
        raise BitstreamError("grid stream has no HEVC sequence parameter set")
    for nal in sps:
        chroma, w, h, depth, coded_w, coded_h = sps_info(nal)
        if chroma != 0 or depth != 8:
            raise BitstreamError(f"grid stream is not 8-bit 4:0:0 (chroma_format_idc {chroma}, depth {depth})")
        if (w, h) != (width, height):
            raise BitstreamError(f"grid stream pictures are {w}x{h}, the model expects {width}x{height}")
        if coded_w >= width + _MAX_PAD or coded_h >= height + _MAX_PAD:
            raise BitstreamError(f"grid stream codes {coded_w}x{coded_h} pictures for a {width}x{height} canvas")
