"""A B A B of the encoder's fitting step in one process (twentieth session): A = the optimizer's
update on the kernels' thread count (as in commit 37da3cd, every grid size), B = on one thread.
Bursts of 8 steps alternate A B, then B A, on the same model; random video bytes; every step at
fraction 0.5 (the main phase). Both sides give bit-identical steps (torch's fused Adam is
elementwise).

    PYTHONPATH=. python benchmarks/results/step_threads/adam_threads_ab.py THREADS WxHxT BPP BURSTS
"""
import contextlib
import sys

from benchmarks.common import alternate_bursts, encoder_fit_run, print_step_ab
from nvcodec.device import cpu_threads

threads = int(sys.argv[1])
W, H, T = (int(x) for x in sys.argv[2].split("x"))
bpp, bursts = float(sys.argv[3]), int(sys.argv[4])
run, samples = encoder_fit_run(W, H, T, bpp, threads)
sides = {"A": lambda: cpu_threads(threads), "B": lambda: contextlib.nullcontext()}


def side(v: str) -> None:
    run.engine.update_threads = sides[v]


with run.engine.fitting_threads():
    ms = alternate_bursts(lambda: run.step(0.5), side, bursts)
print_step_ab(f"{W}x{H}x{T}, {bpp} bpp, {threads} thread(s), {bursts} bursts of 8 steps a side", ms,
              {"A": f"update on {threads} threads", "B": "update on 1 thread"}, samples)
