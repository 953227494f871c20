"""A B A B of the encoder's fitting step in one process (twentieth session): A = the step's
targets gathered as floats before the kernel calls (as in commit dc32652), B = read by the C
kernel from the 8-bit pixel-major clip (`dense.ClipSamples`). Both give bit-identical steps.
Bursts of 8 steps alternate A B, then B A, on the same model; random video bytes; every step at
fraction 0.5 (the main phase).

    PYTHONPATH=. python benchmarks/results/step_targets/targets_ab.py THREADS WxHxT BPP BURSTS
"""
import sys

from benchmarks.common import alternate_bursts, encoder_fit_run, print_step_ab
from nvcodec.fit import engines

threads = int(sys.argv[1])
W, H, T = (int(x) for x in sys.argv[2].split("x"))
bpp, bursts = float(sys.argv[3]), int(sys.argv[4])
run, samples = encoder_fit_run(W, H, T, bpp, threads)
real = engines.gather_batch


def side(v: str) -> None:
    engines.gather_batch = (lambda by_pixel, sets, keep=None, floats=True: real(by_pixel, sets, keep)) \
        if v == "A" else real


with run.engine.fitting_threads():
    ms = alternate_bursts(lambda: run.step(0.5), side, bursts)
print_step_ab(f"{W}x{H}x{T}, {bpp} bpp, {threads} thread(s), {bursts} bursts of 8 steps a side", ms,
              {"A": "float targets", "B": "targets in the clip"}, samples)
