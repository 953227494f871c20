"""A B A B of the encoder's fitting step in one process, on one run (eighteenth session):
A = the previous step (the grid lookup of commit e262ff5, compiled here from `git show`; the
coding-cost proxy through autograd; the optimizer's update on one thread), B = this tree's (the
vectorised lookup, the C proxy, the update on the kernels' threads). Bursts of 8 steps (one
proxy step each, as `regularize_every`) alternate A B, then B A, on the same model, so a drift
of the shared machine falls on both sides. The video is random bytes (a step's cost does not
depend on the pixel values) and every step runs at fraction 0.5 of the run (the main phase).

    PYTHONPATH=. python benchmarks/results/fit_overheads/step_ab.py THREADS WxHxT BPP BURSTS
"""
import contextlib
import ctypes
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from nvcodec import native
from nvcodec.fit import engines, fit_preset
from nvcodec.fit.loop import _Run
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.sizing import choose_config

PREVIOUS = "e262ff5"
threads = int(sys.argv[1])
W, H, T = (int(x) for x in sys.argv[2].split("x"))
bpp, bursts = float(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)

work = Path(tempfile.mkdtemp())
src = work / "grid_lookup_prev.c"
src.write_text(subprocess.run(["git", "show", f"{PREVIOUS}:nvcodec/native/grid_lookup.c"], capture_output=True,
                              text=True, check=True).stdout)
old = ctypes.CDLL(str(native._build(native._compiler(), src, ())))
for fn in (old.nvc_grid_forward, old.nvc_grid_backward):
    fn.restype, fn.argtypes = None, [ctypes.c_int64] * 5 + [ctypes.c_void_p] * 5
new_lookup, new_cost, new_update = native.grid_lookup(), native.coding_cost(), engines.DenseEngine.update_threads
assert new_lookup is not None and new_cost is not None

cfg = choose_config(W, H, T, bpp).config
video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
model = NVTM(cfg, W, H, T, seed=0)
run = _Run(model, video, fit_preset("encode", steps=10 ** 6, device="cpu", threads=threads), None, None)


def side(v: str) -> None:
    previous = v == "A"
    native.grid_lookup = (lambda: (old.nvc_grid_forward, old.nvc_grid_backward)) if previous else (lambda: new_lookup)
    native.coding_cost = (lambda: None) if previous else (lambda: new_cost)
    engines.DenseEngine.update_threads = (lambda self: contextlib.nullcontext()) if previous else new_update


ms: dict[str, list[float]] = {"A": [], "B": []}
with run.engine.fitting_threads():
    for v in "AB":
        side(v)
        for _ in range(8):
            run.step(0.5)
    for b in range(bursts):
        for v in ("AB" if b % 2 == 0 else "BA"):
            side(v)
            t0 = time.perf_counter()
            for _ in range(8):
                run.step(0.5)
            ms[v].append((time.perf_counter() - t0) / 8 * 1e3)
a, b = statistics.median(ms["A"]), statistics.median(ms["B"])
samples = run.opts.sets_per_step * run.opts.points_per_set * min(run.opts.frames_per_set, cfg.gop_size)
print(f"{W}x{H}x{T}, {bpp} bpp ({model.num_parameters()['grids']} grid values), {threads} thread(s), "
      f"{bursts} bursts of 8 steps a side")
print(f"  A previous: median {a:.2f} ms/step ({samples / a / 1e3:.2f} M samples/s)")
print(f"  B new:      median {b:.2f} ms/step ({samples / b / 1e3:.2f} M samples/s)")
print(f"  A/B {a / b:.3f}; burst by burst, median of A_i / B_i {statistics.median(x / y for x, y in zip(ms['A'], ms['B'])):.3f}")
