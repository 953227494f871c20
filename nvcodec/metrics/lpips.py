"""LPIPS v0.1 (AlexNet) without torchvision and without downloads.

Why not `import lpips`: its __init__ imports torchvision, whose CPU-less PyPI wheel does
not load here. So the AlexNet feature layers are written in plain torch below (the same
layer shapes and state-dict keys as torchvision's `alexnet().features`) and we read:
  - the ImageNet backbone from the torch hub cache:
    `torch.hub.get_dir()/checkpoints/alexnet-owt-*.pth` (e.g. alexnet-owt-7be5be79.pth);
  - the linear calibration from the installed lpips package's `weights/v0.1/alex.pth`,
    located with importlib.util.find_spec("lpips") (which does not import the package).
When either file is missing, `load_lpips` returns `LpipsUnavailable(reason)`; nothing is
ever downloaded. Inputs are RGB in [0, 1]; the network sees them as in lpips with
`normalize=True` (mapped to [-1, 1], then lpips' ScalingLayer). Lower is better.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: (out_channels, in_channels, kernel, stride, padding) of AlexNet's conv layers, keyed by
#: their index in torchvision's `features` Sequential
_ALEX_CONVS = {
    0: (64, 3, 11, 4, 2),
    3: (192, 64, 5, 1, 2),
    6: (384, 192, 3, 1, 1),
    8: (256, 384, 3, 1, 1),
    10: (256, 256, 3, 1, 1),
}
LPIPS_CHANNELS = (64, 192, 384, 256, 256)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
#: smallest side for which AlexNet's three 3x3/2 max-pools still have input
MIN_SIDE = 31


@dataclass(frozen=True)
class LpipsUnavailable:
    """Why LPIPS cannot be computed here (reported instead of a value)."""

    reason: str


class AlexNetFeatures(nn.Module):
    """torchvision's alexnet().features, returning the 5 ReLU outputs LPIPS uses."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(13):
            if i in _ALEX_CONVS:
                out_c, in_c, k, s, p = _ALEX_CONVS[i]
                layers.append(nn.Conv2d(in_c, out_c, k, stride=s, padding=p))
            elif i in (2, 5, 12):
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            else:
                layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = (1, 4, 7, 9, 11)  # relu1..relu5, as lpips' slices 1..5
        outs = []
        for i, layer in enumerate(self.features):
            if i > taps[-1]:
                break
            x = layer(x)
            if i in taps:
                outs.append(x)
        return outs


class Lpips(nn.Module):
    """LPIPS distance: sum over layers of the spatial mean of w_l . (f0 - f1)^2 (unit-normalised f)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = AlexNetFeatures()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in LPIPS_CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: RGB [N, 3, H, W] in [0, 1] -> distances [N]."""
        fx = self.net(((2 * x - 1) - self.shift) / self.scale)
        fy = self.net(((2 * y - 1) - self.shift) / self.scale)
        total = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for a, b, lin in zip(fx, fy, self.lins):
            d = (_unit(a) - _unit(b)) ** 2
            total = total + lin(d).mean(dim=(1, 2, 3))
        return total


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + eps)


def default_backbone_path() -> Path | None:
    """Newest alexnet-owt-*.pth in the torch hub cache, or None."""
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(ckpt.glob("alexnet-owt-*.pth")) if ckpt.is_dir() else []
    return found[-1] if found else None


def default_calibration_path() -> Path | None:
    """weights/v0.1/alex.pth of the installed lpips package (not imported), or None."""
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [os.path.dirname(spec.origin)]
    for root in roots:
        p = Path(root) / "weights" / "v0.1" / "alex.pth"
        if p.is_file():
            return p
    return None


def load_lpips(
    *,
    backbone_path: str | os.PathLike | None = None,
    calibration_path: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> Lpips | LpipsUnavailable:
    """Build the LPIPS model from local files only; LpipsUnavailable(reason) when impossible."""
    bb = Path(backbone_path) if backbone_path is not None else default_backbone_path()
    cal = Path(calibration_path) if calibration_path is not None else default_calibration_path()
    if bb is None or not bb.is_file():
        where = bb if bb is not None else Path(torch.hub.get_dir()) / "checkpoints" / "alexnet-owt-*.pth"
        return LpipsUnavailable(f"AlexNet backbone weights not found ({where}); LPIPS needs them in the torch hub cache")
    if cal is None or not cal.is_file():
        where = cal if cal is not None else "lpips package (pip install --no-deps lpips)"
        return LpipsUnavailable(f"LPIPS calibration weights v0.1/alex.pth not found ({where})")
    model = Lpips()
    try:
        sd = torch.load(bb, map_location="cpu", weights_only=True)
        feats = {k: v for k, v in sd.items() if k.startswith("features.")}
        missing, _ = model.net.load_state_dict(feats, strict=False)
        if missing:
            return LpipsUnavailable(f"AlexNet weights {bb} lack {', '.join(missing)}")
        lin = torch.load(cal, map_location="cpu", weights_only=True)
        for i, layer in enumerate(model.lins):
            key = f"lin{i}.model.1.weight"
            if key not in lin:
                return LpipsUnavailable(f"LPIPS calibration {cal} lacks {key}")
            layer.weight.data.copy_(lin[key].reshape(layer.weight.shape))
    except (OSError, RuntimeError, ValueError, KeyError, AttributeError) as e:
        return LpipsUnavailable(f"cannot load LPIPS weights ({bb}, {cal}): {e}")
    model.eval().requires_grad_(False)
    return model.to(device)


def lpips_rgb(model: Lpips, ref: Any, dist: Any) -> torch.Tensor:
    """LPIPS [T] of RGB in [0, 1]: numpy [H,W,3]/[T,H,W,3] or torch [T,3,H,W]."""
    device = next(model.parameters()).device

    def batch(v: Any) -> torch.Tensor:
        if isinstance(v, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
            t = (t.unsqueeze(0) if t.dim() == 3 else t).permute(0, 3, 1, 2)
        else:
            t = v.float()
        return t.to(device)

    x, y = batch(ref), batch(dist)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if min(x.shape[-2:]) < MIN_SIDE:
        raise ValueError(f"LPIPS (AlexNet) needs frames of at least {MIN_SIDE}x{MIN_SIDE}, got {tuple(x.shape[-2:])}")
    with torch.no_grad():
        return model(x, y)


__all__ = [
    "Lpips",
    "LpipsUnavailable",
    "AlexNetFeatures",
    "load_lpips",
    "lpips_rgb",
    "default_backbone_path",
    "default_calibration_path",
    "MIN_SIDE",
]
