"""Motion-compensated frame interpolation, the baseline users compare an in-between frame with
(what ffmpeg's `minterpolate` does): DIS optical flow both ways, bidirectional warping,
occlusion-aware blending (`nvcodec.interpolation`, what the decoder's `--inbetween motion` and
the encoder's in-between targets use), here applied to the decoded frames, as a player could."""

from nvcodec.interpolation import interpolate

__all__ = ["interpolate"]
