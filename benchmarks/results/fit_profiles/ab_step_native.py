"""A B A B of one dense fitting step (360x240x47 clip, the 0.3-bpp model, 8 sets x 512 points x
10 frames): A = the torch ops (NVCODEC_NATIVE=0: the tenth session's step, with all sets in one
fused call), B = the C kernels (`nvcodec.native`: the point-set kernel and the grid lookup).
Arguments: threads, rounds. The video is random bytes: the step's cost does not depend on the
pixel values."""
import os
import statistics
import sys
import time

import torch

from nvcodec import native
from nvcodec.fit import dense
from nvcodec.fit.loop import _grid_aliases, _hand_over_grads, _param_groups
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.sizing import choose_config

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 6
W, H, T = 360, 240, 47
cfg = choose_config(W, H, T, 0.3).config
video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
by_pixel = dense.pixel_major(video)
m = NVTM(cfg, W, H, T, seed=0)
al = _grid_aliases(m)
opt = torch.optim.Adam(_param_groups(m, [a for _, a in al], 6e-2, 4e-3, 4e-3), fused=True)
sampler = dense.PointSetSampler(W, H, T, cfg.gop_size, 512, 10, 8, torch.Generator().manual_seed(0))
spec = m.base.spec
assert native.point_set(spec.width, spec.mod_width, spec.depth, spec.latent_dim) is not None
assert native.grid_lookup() is not None


def steps(variant, n):
    os.environ[native.SWITCH] = "1" if variant == "B" else "0"
    t0 = time.perf_counter()
    for _ in range(n):
        batch = dense.gather_batch(by_pixel, sampler.next())
        loss = dense.dense_loss(m, batch, None, 1024)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _hand_over_grads(al)
        opt.step()
    return (time.perf_counter() - t0) / n * 1e3


ms = {"A": [], "B": []}
for r in range(ROUNDS):
    for v in ("A", "B") if r % 2 == 0 else ("B", "A"):
        steps(v, 3)
        ms[v].append(steps(v, 30))
samples = 8 * 512 * 10
print(f"model {cfg.base.width}x{cfg.base.depth}, modulated units {cfg.base.modulator_width}")
for v, name in (("A", "torch ops"), ("B", "C kernels")):
    med = statistics.median(ms[v])
    print(f"{v} {name}: ms/step {[round(x, 1) for x in ms[v]]} median {med:.2f} -> {samples / med:.0f} k samples/s")
print(f"ratio A/B {statistics.median(ms['A']) / statistics.median(ms['B']):.3f} (threads {torch.get_num_threads()})")
