"""What one training sample of the dense kernel must cost at least on this CPU (1 thread): the
matrix products it needs at the rate this CPU runs them at the kernel's own shape, and its
sines and cosines at NumPy's and torch's rates; against the kernel's measured cost per sample
(3-layer, 32-wide modulated SIREN; 512 points x 10 frames per set, random weights)."""
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from nvcodec.fit import dense
from nvcodec.model import siren
from nvcodec.model.config import BaseNetConfig

torch.set_num_threads(1)


def per_call(f, n=400):
    for _ in range(20):
        f()
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n


rows, width = 512, 32
h, w, b, out = torch.randn(rows, width), torch.randn(width, width), torch.randn(width), torch.empty(rows, width)
gmac = rows * width * width / per_call(lambda: torch.addmm(b, h, w.t(), out=out)) / 1e9
x = torch.randn(rows, width) * 30
sin_torch = per_call(lambda: torch.sin(x, out=out)) / x.numel() * 1e9
xn, on = x.numpy(), out.numpy()
sin_numpy = per_call(lambda: np.sin(xn, out=on)) / x.numel() * 1e9

D, W = 3, width
macs = 3 * ((D - 1) * W * W + 3 * W)  # forward, d/d input, d/d weights of layers 2..D and the output layer
trig_values = 2 * (D - 1) * W  # sin and cos of layers 2..D per sample (layer 1 comes from per-point factors)
floor_numpy = macs / gmac + trig_values * sin_numpy
cfg = BaseNetConfig(depth=D, width=W, modulator_width=W)
spec = siren.spec_of(cfg, 4, True)
ws = [torch.randn(s) * 0.1 for k, v in siren.parameter_shapes(cfg, 4, True).items() for s in v]
P, F = 512, 10
xy, z, tn, tgt = torch.rand(P, 2) * 2 - 1, torch.randn(P, 4), torch.linspace(-1, 1, F), torch.rand(F, P, 3)
kernel = per_call(lambda: dense.point_set_sse(spec, ws, xy, z, tn, tgt), n=100) / (P * F) * 1e9
print(f"matrix products at [{rows}, {width}] x [{width}, {width}]: {gmac:.1f} GMAC/s")
print(f"sin per value: torch {sin_torch:.2f} ns, numpy {sin_numpy:.2f} ns")
print(f"per sample: {macs} MACs -> {macs / gmac:.0f} ns; {trig_values} sines/cosines -> {trig_values * sin_numpy:.0f} ns (numpy)")
print(f"floor of the synthesis per sample {floor_numpy:.0f} ns ({1e3 / floor_numpy:.2f} M samples/s); "
      f"the kernel measures {kernel:.0f} ns ({1e3 / kernel:.2f} M samples/s), {kernel / floor_numpy:.1f}x the floor")
