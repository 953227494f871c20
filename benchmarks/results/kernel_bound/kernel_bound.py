"""How far the point-set kernel is from what this CPU can do (twentieth session).

1. This core's vector FMA peak: `fma_peak.c` (12 independent chains of 512-bit and 256-bit
   fused multiply-adds), built with the kernels' compiler, run alone.
2. An upper bound on any speed-up of the kernel's six 32x32 matrix products per frame (two
   hidden layers: forward, backward, weight gradient): the tree's point_set.c with the two
   forward products replaced by a copy (`no_forward_gemm`), and with all six replaced
   (`no_frame_gemms`). Those
   variants compute wrong values; they only time what is left. All three are timed on the same
   call (a 720p fit's first point set, 512 points x 10 frames, one thread), rounds alternating.

    PYTHONPATH=. python benchmarks/results/kernel_bound/kernel_bound.py ROUNDS
"""
import ctypes
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import captured_point_set_call, encoder_fit_run
from nvcodec import native

HERE = Path(__file__).resolve().parent
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
work = Path(tempfile.mkdtemp())
subprocess.run([native._compiler(), "-O2", "-march=native", "-o", str(work / "fma_peak"), str(HERE / "fma_peak.c")],
               check=True)
print(subprocess.run([str(work / "fma_peak")], capture_output=True, text=True, check=True).stdout.strip())

run, _ = encoder_fit_run(1280, 720, 30, 0.1, 1)
model = run.model
ns, xy, z, dz = captured_point_set_call(run)

source = (Path(native.__file__).parent / "point_set.c").read_text()
forward = ("        mm(&k->dn[0][0], NW, &k->h[i - 1][0][0], NW, p->w_t + (i - 1) * NW * NW, NW, NW, "
           "p->b + (i - 1) * NW, 0);\n")
backward = ("        add_outer(g->w + (i - 1) * NW * NW, NW, NW, &k->dh[0][0], NW, &k->h[i - 1][0][0], NW, nb);\n"
            "        mm(&k->dn[0][0], NW, &k->dh[0][0], NW, p->w + (i - 1) * NW * NW, NW, NW, 0, 0);\n")
assert forward in source and backward in source, "point_set.c changed: update the replaced lines"
no_forward = source.replace(forward, "        memcpy(k->dn, k->h[i - 1], sizeof k->dn);\n")
variants = {"tree": source, "no_forward_gemm": no_forward,
            "no_frame_gemms": no_forward.replace(backward, "        memcpy(k->dn, k->dh, sizeof k->dn);\n")}
spec = model.base.spec
pow2 = 1 << max(0, (spec.width - 1).bit_length())
defines = (f"-DNW={spec.width}", f"-DNM={spec.mod_width}", f"-DND={spec.depth}", f"-DNZ={spec.latent_dim}",
           f"-DNP={pow2}")
fns = {}
for name, text in variants.items():
    src = work / f"{name}.c"
    src.write_text(text)
    fn = ctypes.CDLL(str(native._build(native._compiler(), src, defines))).nvc_point_set
    fn.restype, fn.argtypes = ns.fn.restype, ns.fn.argtypes
    fns[name] = fn
fs = ns.call.sets[0]
r0, r1 = fs.part.rows
samples = (r1 - r0) * fs.tf.shape[0]
g, d = torch.zeros_like(ns.total), torch.zeros_like(dz[r0:r1])
ns_per = {name: [] for name in fns}
for r in range(rounds):
    for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
        ns.fn = fns[name]
        t0 = time.perf_counter()
        for _ in range(50):
            ns._one(fs, xy[r0:r1], z[r0:r1], d, g)
        ns_per[name].append((time.perf_counter() - t0) / 50 / samples * 1e9)
print(f"network {spec.depth}x{spec.width}, latent {spec.latent_dim}, one set of {samples} samples, 1 thread, "
      f"{rounds} rounds of 50 calls a variant")
tree = statistics.median(ns_per["tree"])
for name, v in ns_per.items():
    print(f"  {name:16s} median {statistics.median(v):6.1f} ns/sample  (tree / this {tree / statistics.median(v):.2f})")
