"""YUV <-> RGB conversion (BT.601 / BT.709, limited / full range, any bit depth).

Defaults, set by the readers when the file does not say: BT.601 limited range for SD
(width <= 1024 and height <= 576), BT.709 limited range above. RGB is float in [0, 1]
(non-linear R'G'B', no transfer function applied).

Range conventions (ITU-T H.273): limited range maps Y' in [0, 1] to codes
16..235 and Pb/Pr in [-0.5, 0.5] to 16..240, scaled by 2^(bitdepth-8); full range maps
Y' to 0..2^n-1 and Pb/Pr to 2^(n-1) +- (2^n-1)/2.

Chroma resampling respects the siting (positions in luma sample units):
  - 'jpeg'  : chroma sample j sits at x = 2j + 0.5 (centred), y = 2i + 0.5;
  - 'mpeg2' : x = 2j (co-sited with luma), y = 2i + 0.5 (centred vertically);
  - 'paldv' : x = 2j, y = 2i (top-left, as ffmpeg maps it);
  - '' (unspecified, and 4:2:2): like 'mpeg2' (co-sited horizontally).
Upsampling is bilinear between the chroma samples at those positions (edge samples are
replicated). Downsampling is the box (area) filter of the chroma sample's 2-pixel footprint
centred at the same position: (1/2, 1/2) when centred, (1/4, 1/2, 1/4) when co-sited, so a
linear ramp survives a down/up round trip exactly. Mono converts to R = G = B.

One source of truth: the numpy and torch functions share `conversion_coefficients` and the
array-agnostic resampling helpers below.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .frame import Frame, VideoInfo

_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def rgb_to_ypbpr_matrix(matrix: str) -> np.ndarray:
    """3x3 matrix M with [Y', Pb, Pr] = M @ [R', G', B'] (Y' in [0,1], Pb/Pr in [-0.5, 0.5])."""
    if matrix not in _KR_KB:
        raise ValueError(f"unknown colour matrix {matrix!r} (expected one of {sorted(_KR_KB)})")
    kr, kb = _KR_KB[matrix]
    kg = 1.0 - kr - kb
    return np.array(
        [
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ],
        dtype=np.float64,
    )


def range_scale_offset(color_range: str, bit_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) per component: code = offset + scale * [Y', Pb, Pr]."""
    if color_range == "limited":
        k = float(1 << (bit_depth - 8)) if bit_depth >= 8 else 1.0 / (1 << (8 - bit_depth))
        return np.array([219.0 * k, 224.0 * k, 224.0 * k]), np.array([16.0 * k, 128.0 * k, 128.0 * k])
    if color_range == "full":
        top = float((1 << bit_depth) - 1)
        mid = float(1 << (bit_depth - 1))
        return np.array([top, top, top]), np.array([0.0, mid, mid])
    raise ValueError(f"unknown colour range {color_range!r} (expected 'limited' or 'full')")


def conversion_coefficients(info: VideoInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, scale, offset) for `info`; the only place where colour constants live."""
    m = rgb_to_ypbpr_matrix(info.matrix)
    scale, offset = range_scale_offset(info.color_range, info.bit_depth)
    return m, scale, offset


# -- chroma siting and resampling (numpy or torch, along the last two axes) -------------
def siting_offsets(info: VideoInfo) -> tuple[float, float]:
    """(x, y) position of chroma sample 0 in luma units, along subsampled axes."""
    siting = info.chroma_siting
    ox = 0.5 if siting == "jpeg" else 0.0
    oy = 0.0 if siting == "paldv" else 0.5
    return ox, oy


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _take(x: Any, idx: np.ndarray, axis: int) -> Any:
    if _is_torch(x):
        import torch

        return torch.index_select(x, x.dim() + axis, torch.as_tensor(idx, device=x.device))
    return np.take(x, idx, axis=axis)


def _weights(x: Any, w: np.ndarray, axis: int) -> Any:
    shape = (-1,) if axis == -1 else (-1, 1)
    w = w.reshape(shape)
    if _is_torch(x):
        import torch

        return torch.as_tensor(w, dtype=x.dtype, device=x.device)
    return w.astype(x.dtype, copy=False)


def _upsample_axis(x: Any, n_out: int, offset: float, axis: int) -> Any:
    n_in = x.shape[axis]
    pos = (np.arange(n_out, dtype=np.float64) - offset) / 2.0
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = pos - i0
    return _take(x, i0, axis) * _weights(x, 1.0 - w1, axis) + _take(x, i1, axis) * _weights(x, w1, axis)


def _downsample_axis(x: Any, offset: float, axis: int) -> Any:
    """Box filter over the 2-sample footprint of each chroma sample (edges replicated)."""
    n_in = x.shape[axis]
    j = np.arange(-(-n_in // 2), dtype=np.int64)
    if offset == 0.5:
        taps: Sequence[tuple[np.ndarray, float]] = ((2 * j, 0.5), (2 * j + 1, 0.5))
    else:
        taps = ((2 * j - 1, 0.25), (2 * j, 0.5), (2 * j + 1, 0.25))
    out = None
    for idx, w in taps:
        term = _take(x, np.clip(idx, 0, n_in - 1), axis) * w
        out = term if out is None else out + term
    return out


def _resample_chroma(plane: Any, info: VideoInfo, along: Callable[[Any, int, float, int], Any]) -> Any:
    """`along(x, luma size, siting offset, axis)` applied along each subsampled axis, x first."""
    sx, sy = info.chroma_shifts
    ox, oy = siting_offsets(info)
    out = plane
    if sx:
        out = along(out, info.width, ox, -1)
    if sy:
        out = along(out, info.height, oy, -2)
    return out


def upsample_chroma(plane: Any, info: VideoInfo) -> Any:
    """Chroma plane(s) [..., ch, cw] -> luma resolution [..., H, W], bilinear, siting-aware."""
    return _resample_chroma(plane, info, _upsample_axis)


def downsample_chroma(plane: Any, info: VideoInfo) -> Any:
    """Full-resolution chroma [..., H, W] -> [..., ch, cw], box filter at the siting."""
    return _resample_chroma(plane, info, lambda x, _size, offset, axis: _downsample_axis(x, offset, axis))


# -- the conversion core (generic on numpy / torch arrays of equal shape) --------------
def _coefficient_lists(info: VideoInfo) -> tuple[list[list[float]], list[float], list[float]]:
    """Python floats, so numpy float32 / torch arrays keep their dtype (NEP 50)."""
    m, scale, offset = conversion_coefficients(info)
    return m.tolist(), scale.tolist(), offset.tolist()


def _ycc_to_rgb(y: Any, u: Any, v: Any, info: VideoInfo) -> tuple[Any, Any, Any]:
    _, scale, offset = _coefficient_lists(info)
    inv = np.linalg.inv(conversion_coefficients(info)[0]).tolist()
    yn = (y - offset[0]) * (1.0 / scale[0])
    pb = (u - offset[1]) * (1.0 / scale[1])
    pr = (v - offset[2]) * (1.0 / scale[2])
    return tuple(inv[k][0] * yn + inv[k][1] * pb + inv[k][2] * pr for k in range(3))  # type: ignore[return-value]


def _rgb_to_ycc(r: Any, g: Any, b: Any, info: VideoInfo) -> tuple[Any, Any, Any]:
    m, scale, offset = _coefficient_lists(info)
    return tuple(offset[k] + scale[k] * (m[k][0] * r + m[k][1] * g + m[k][2] * b) for k in range(3))  # type: ignore[return-value]


def _luma_to_gray(y: Any, info: VideoInfo) -> Any:
    _, scale, offset = _coefficient_lists(info)
    return (y - offset[0]) * (1.0 / scale[0])


def _quantize(x: np.ndarray, info: VideoInfo) -> np.ndarray:
    top = (1 << info.bit_depth) - 1
    return np.clip(np.rint(x), 0, top).astype(info.dtype)


# -- numpy API -----------------------------------------------------------------------------
def yuv_to_rgb(frame: Frame, info: VideoInfo, *, clip: bool = True) -> np.ndarray:
    """Frame -> float32 [H, W, 3] RGB in [0, 1] (clipped unless clip=False)."""
    y = np.asarray(frame.planes[0], dtype=np.float32)
    if info.chroma == "mono":
        g = _luma_to_gray(y, info)
        rgb = np.stack([g, g, g], axis=-1)
    else:
        u = upsample_chroma(np.asarray(frame.planes[1], dtype=np.float32), info)
        v = upsample_chroma(np.asarray(frame.planes[2], dtype=np.float32), info)
        rgb = np.stack(_ycc_to_rgb(y, u, v, info), axis=-1)
    rgb = rgb.astype(np.float32, copy=False)
    return np.clip(rgb, 0.0, 1.0, out=rgb) if clip else rgb


def rgb_to_yuv(rgb: np.ndarray, info: VideoInfo) -> Frame:
    """float RGB [H, W, 3] in [0, 1] -> Frame of `info` (chroma downsampled, rounded, clipped)."""
    rgb = np.asarray(rgb)
    if rgb.shape != (info.height, info.width, 3):
        raise ValueError(f"rgb has shape {rgb.shape}, expected {(info.height, info.width, 3)}")
    rgb = rgb.astype(np.float32, copy=False)
    y, u, v = _rgb_to_ycc(rgb[..., 0], rgb[..., 1], rgb[..., 2], info)
    if info.chroma == "mono":
        return Frame(planes=(_quantize(y, info),))
    return Frame(
        planes=(
            _quantize(y, info),
            _quantize(downsample_chroma(u, info), info),
            _quantize(downsample_chroma(v, info), info),
        )
    )


# -- torch API: batches [T, 3, H, W] ------------------------------------------------------
def yuv_to_rgb_torch(yuv: Any, info: VideoInfo, *, clip: bool = True) -> Any:
    """[T, 3, H, W] YUV code values (float, chroma already at luma size) -> RGB [T, 3, H, W].

    For mono video only channel 0 is used.
    """
    import torch

    yuv = yuv.float() if not torch.is_floating_point(yuv) else yuv
    if info.chroma == "mono":
        g = _luma_to_gray(yuv[:, 0], info)
        rgb = torch.stack([g, g, g], dim=1)
    else:
        rgb = torch.stack(_ycc_to_rgb(yuv[:, 0], yuv[:, 1], yuv[:, 2], info), dim=1)
    return rgb.clamp(0.0, 1.0) if clip else rgb


def rgb_to_yuv_torch(rgb: Any, info: VideoInfo) -> Any:
    """RGB [T, 3, H, W] in [0, 1] -> YUV code values [T, 3, H, W], float, unrounded, full-res chroma.

    For mono video channels 1 and 2 hold the neutral chroma value.
    """
    import torch

    y, u, v = _rgb_to_ycc(rgb[:, 0], rgb[:, 1], rgb[:, 2], info)
    if info.chroma == "mono":
        mid = float(conversion_coefficients(info)[2][1])
        u = torch.full_like(y, mid)
        v = torch.full_like(y, mid)
    return torch.stack([y, u, v], dim=1)


def frames_to_rgb_torch(frames: Sequence[Frame], info: VideoInfo, device: Any = "cpu") -> Any:
    """Frames -> float32 RGB [T, 3, H, W] on `device` (chroma upsampled there)."""
    import torch

    def plane(k: int) -> Any:
        stack = np.stack([np.asarray(f.planes[k]) for f in frames]).astype(np.float32)
        return torch.from_numpy(stack).to(device)

    y = plane(0)
    if info.chroma == "mono":
        g = _luma_to_gray(y, info)
        return torch.stack([g, g, g], dim=1).clamp(0.0, 1.0)
    u = upsample_chroma(plane(1), info)
    v = upsample_chroma(plane(2), info)
    return torch.stack(_ycc_to_rgb(y, u, v, info), dim=1).clamp(0.0, 1.0)


def rgb_to_frames_torch(rgb: Any, info: VideoInfo) -> list[Frame]:
    """RGB [T, 3, H, W] in [0, 1] -> Frames of `info` (downsampled, rounded, clipped)."""
    import torch

    with torch.no_grad():
        yuv = rgb_to_yuv_torch(rgb.float(), info)
        top = (1 << info.bit_depth) - 1
        planes = [yuv[:, 0]]
        if info.chroma != "mono":
            planes += [downsample_chroma(yuv[:, 1], info), downsample_chroma(yuv[:, 2], info)]
        planes = [p.round().clamp(0, top).cpu().numpy().astype(info.dtype) for p in planes]
    return [Frame(planes=tuple(p[t] for p in planes)) for t in range(rgb.shape[0])]


__all__ = [
    "yuv_to_rgb",
    "rgb_to_yuv",
    "yuv_to_rgb_torch",
    "rgb_to_yuv_torch",
    "frames_to_rgb_torch",
    "rgb_to_frames_torch",
    "upsample_chroma",
    "downsample_chroma",
    "conversion_coefficients",
    "rgb_to_ypbpr_matrix",
    "range_scale_offset",
    "siting_offsets",
]


def rgb_to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] as 8-bit samples (rounded, clipped): what the fit trains on and PNGs hold."""
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
