"""ms per dense step, 1280x720x30 at 0.1 bpp (the encode preset, random clip), alternated in one process:
torch on two threads and the kernels on two (before this session) | `DenseEngine.fitting_threads` (torch on
one, kernels on two) | the same with the grid lookups on one thread | everything on one thread."""
import sys, time, statistics, contextlib, torch
from nvcodec import native
from nvcodec.model import grids
from nvcodec.rate.sizing import choose_config
from nvcodec.model.nvtm import NVTM
from nvcodec.fit.options import fit_preset
from nvcodec.fit.loop import _Run
W, H, T = (int(v) for v in (sys.argv[1] if len(sys.argv) > 1 else "1280x720x30").split("x"))
bpp = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
frac = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
torch.set_num_threads(2)
cfg = choose_config(W, H, T, bpp).config
video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
m = NVTM(cfg, W, H, T, seed=0)
run = _Run(m, video, fit_preset("encode", steps=1000, device="cpu"), None, None)
run.state.step = 1
real_ranges = grids._level_ranges
def one_range(levels): return [(0, levels)]
def cfgs(name):
    if name == "torch2+kernels2": return contextlib.nullcontext(), real_ranges
    if name == "fitting_threads": return run.engine.fitting_threads(), real_ranges
    if name == "fitting_threads, lookups 1 thread": return run.engine.fitting_threads(), one_range
    if name == "all on 1 thread": return _one(), one_range
@contextlib.contextmanager
def _one():
    from nvcodec.device import cpu_threads
    with native.threads_for_kernels(1), cpu_threads(1):
        yield
names = ["torch2+kernels2", "fitting_threads", "fitting_threads, lookups 1 thread", "all on 1 thread"]
res = {n: [] for n in names}
for _ in range(10): run.step(frac)
for rnd in range(8):
    for n in names:
        ctx, rng = cfgs(n); grids._level_ranges = rng
        with ctx:
            for _ in range(3): run.step(frac)
            t = time.perf_counter(); k = 20
            for _ in range(k): run.step(frac)
            res[n].append((time.perf_counter() - t) / k * 1e3)
for n, v in res.items():
    print(f"{n}: median {statistics.median(v):.1f} ms/step {[round(x, 1) for x in v]}")
