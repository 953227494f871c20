"""A B A B of the encoder's fitting step in one process (twentieth session): A = the step's
targets gathered as floats before the kernel calls (as in commit dc32652), B = read by the C
kernel from the 8-bit pixel-major clip (`dense.ClipSamples`). Both give bit-identical steps.
Bursts of 8 steps alternate A B, then B A, on the same model; random video bytes; every step at
fraction 0.5 (the main phase).

    PYTHONPATH=. python benchmarks/results/step_targets/targets_ab.py THREADS WxHxT BPP BURSTS
"""
import statistics
import sys

import torch

from benchmarks.common import alternate_bursts
from nvcodec.fit import engines, fit_preset
from nvcodec.fit.loop import _Run
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.sizing import choose_config

threads = int(sys.argv[1])
W, H, T = (int(x) for x in sys.argv[2].split("x"))
bpp, bursts = float(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
cfg = choose_config(W, H, T, bpp).config
video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
model = NVTM(cfg, W, H, T, seed=0)
run = _Run(model, video, fit_preset("encode", steps=10 ** 6, device="cpu", threads=threads), None, None)
real = engines.gather_batch


def side(v: str) -> None:
    engines.gather_batch = (lambda by_pixel, sets, keep=None, floats=True: real(by_pixel, sets, keep)) \
        if v == "A" else real


with run.engine.fitting_threads():
    ms = alternate_bursts(lambda: run.step(0.5), side, bursts)
a, b = statistics.median(ms["A"]), statistics.median(ms["B"])
samples = run.opts.sets_per_step * run.opts.points_per_set * min(run.opts.frames_per_set, cfg.gop_size)
print(f"{W}x{H}x{T}, {bpp} bpp, {threads} thread(s), {bursts} bursts of 8 steps a side")
print(f"  A float targets:      median {a:.2f} ms/step ({samples / a / 1e3:.2f} M samples/s)")
print(f"  B targets in the clip: median {b:.2f} ms/step ({samples / b / 1e3:.2f} M samples/s)")
print(f"  A/B {a / b:.3f}; burst by burst, median of A_i / B_i "
      f"{statistics.median(x / y for x, y in zip(ms['A'], ms['B'])):.3f}")
