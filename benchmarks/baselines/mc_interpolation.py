"""Motion-compensated frame interpolation, the baseline users compare an in-between frame with
(what ffmpeg's `minterpolate` does): the encoder's own in-between guess (`nvcodec.fit.inbetween`:
DIS optical flow both ways, bidirectional warping, occlusion-aware blending), here applied to
the decoded frames, as a player could."""

from nvcodec.fit.inbetween import interpolate

__all__ = ["interpolate"]
