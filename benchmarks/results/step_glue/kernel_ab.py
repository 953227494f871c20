"""A B A B of the point-set kernel alone in one process (nineteenth session): A = point_set.c of
commit 86245ba (each row's output dot products reduced on its own, lane by lane), compiled here
from `git show`, B = this tree's (the 16 rows of a block reduced together). The same call of a
720p fit's first point set (512 points x 10 frames, with the latent's gradient), its outputs
checked bit for bit, then bursts of calls alternating A B, B A.

    PYTHONPATH=. python benchmarks/results/step_glue/kernel_ab.py WxHxT BPP BURSTS

It runs at the commit meta.json names (2969d41): from the twentieth session on, the kernel takes
more arguments (the targets in the 8-bit clip), which 86245ba's point_set.c does not.
"""
import ctypes
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import alternate_bursts
from nvcodec import native
from nvcodec.fit import dense, fit_preset
from nvcodec.fit.loop import _Run
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.sizing import choose_config

PREVIOUS = "86245ba"
W, H, T = (int(x) for x in sys.argv[1].split("x"))
bpp, bursts = float(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)

cfg = choose_config(W, H, T, bpp).config
video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
model = NVTM(cfg, W, H, T, seed=0)
run = _Run(model, video, fit_preset("encode", steps=10 ** 6, device="cpu", threads=1), None, None)
seen = {}
real_run = dense._NativeSet.run


def keep(self, xy, z, dz):
    seen.update(set=self, args=(xy, z, dz))
    return real_run(self, xy, z, dz)


dense._NativeSet.run = keep
with run.engine.fitting_threads():
    run.step(0.5)
dense._NativeSet.run = real_run
ns, (xy, z, dz) = seen["set"], seen["args"]
spec = model.base.spec
src = Path(tempfile.mkdtemp()) / "point_set_prev.c"
src.write_text(subprocess.run(["git", "show", f"{PREVIOUS}:nvcodec/native/point_set.c"], capture_output=True,
                              text=True, check=True).stdout)
pow2 = 1 << max(0, (spec.width - 1).bit_length())
defines = (f"-DNW={spec.width}", f"-DNM={spec.mod_width}", f"-DND={spec.depth}", f"-DNZ={spec.latent_dim}",
           f"-DNP={pow2}")
old = ctypes.CDLL(str(native._build(native._compiler(), src, defines))).nvc_point_set
old.restype, old.argtypes = ns.fn.restype, ns.fn.argtypes
fns = {"A": old, "B": ns.fn}
fs = ns.call.sets[0]
r0, r1 = fs.part.rows
out = {}
for v, fn in fns.items():
    ns.fn = fn
    g, d = torch.zeros_like(ns.total), torch.zeros_like(dz[r0:r1])
    out[v] = (ns._one(fs, xy[r0:r1], z[r0:r1], d, g), g, d)
same = out["A"][0] == out["B"][0] and torch.equal(out["A"][1], out["B"][1]) and torch.equal(out["A"][2], out["B"][2])
g, d = torch.zeros_like(ns.total), torch.zeros_like(dz[r0:r1])
ms = alternate_bursts(lambda: ns._one(fs, xy[r0:r1], z[r0:r1], d, g), lambda v: setattr(ns, "fn", fns[v]), bursts,
                      per_burst=100)
samples = (r1 - r0) * fs.part.target.shape[0]
a, b = statistics.median(ms["A"]), statistics.median(ms["B"])
print(f"{W}x{H}x{T}, {bpp} bpp, network {spec.depth}x{spec.width}, one set of {samples} samples, 1 thread, "
      f"{bursts} bursts of 100 calls a side; outputs bit-identical: {same}")
print(f"  A previous: median {a * 1e6 / samples:.1f} ns/sample")
print(f"  B new:      median {b * 1e6 / samples:.1f} ns/sample")
print(f"  A/B {a / b:.3f}; burst by burst, median of A_i / B_i "
      f"{statistics.median(x / y for x, y in zip(ms['A'], ms['B'])):.3f}")
