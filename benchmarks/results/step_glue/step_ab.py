"""A B A B of the encoder's fitting step in one process (nineteenth session): A = the step's
glue as in commit e317ccf (kernel calls handed to the pool one item at a time while the caller
waits; the points' latent through the generic `NVTM._features` and two grid lookups, each split
over the threads by levels; sample rows and first-layer time factors set by set), B = this
tree's (the caller and the pool threads taking items as they come; `NVTM.gop_features` in one
C call each way, the forward on one thread; the rest in one op chain). Both give bit-identical
steps. Bursts of 8 steps alternate A B, then B A, on the same model, so a drift of the shared
machine falls on both sides. Random video bytes; every step at fraction 0.5 (the main phase).

    PYTHONPATH=. python benchmarks/results/step_glue/step_ab.py THREADS WxHxT BPP BURSTS
"""
import statistics
import sys

import torch

from benchmarks.common import alternate_bursts
from nvcodec import native
from nvcodec.fit import dense, fit_preset
from nvcodec.fit.loop import _Run
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.sizing import choose_config

threads = int(sys.argv[1])
W, H, T = (int(x) for x in sys.argv[2].split("x"))
bpp, bursts = float(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)


def previous_side_by_side(fn, items, workers, costs=None):
    workers = min(len(items), workers)
    return list(native.pool(workers).map(fn, items)) if workers > 1 else [fn(x) for x in items]


def previous_inputs(model, sets, latent, static):
    like = model.norm_bounds
    pix = torch.cat([p.pixels for p in sets]).to(like.device)
    xy = torch.stack([(pix % model.width).to(like.dtype) + 0.5,
                      torch.div(pix, model.width, rounding_mode="floor").to(like.dtype) + 0.5], dim=1)
    xy = xy / torch.tensor([model.width, model.height], dtype=like.dtype, device=like.device)
    counts = [p.pixels.numel() for p in sets]
    gop_time = torch.tensor([float(p.gop * model.config.gop_size) for p in sets], dtype=like.dtype,
                            device=like.device).repeat_interleave(torch.tensor(counts, device=like.device))
    pts = xy.unsqueeze(1)
    z = model._features(pts, gop_time, pts.new_zeros(len(pix), 1, 2 * len(model.config.neighbors)), latent, static)
    return xy * 2 - 1, z


def previous_sample_rows(sets, frames, device):
    rows = [part.pixels.to(device).unsqueeze(0) * frames + torch.tensor(part.frames, device=device).unsqueeze(1)
            for part in sets]
    return torch.cat([r.reshape(-1) for r in rows])


def previous_frame_factors(c_t, parts, om1):
    out = []
    for part in parts:
        tc = part.tn.to(c_t.dtype).unsqueeze(1) * c_t
        out.append(dense._FrameFactors(torch.cos(tc).contiguous(), torch.sin(tc).contiguous(),
                                       (part.tn.to(c_t.dtype) * om1).contiguous(), part))
    return out


new = (native.side_by_side, dense._point_set_inputs, dense._sample_rows, dense._frame_factors)
old = (previous_side_by_side, previous_inputs, previous_sample_rows, previous_frame_factors)


def side(v: str) -> None:
    native.side_by_side, dense._point_set_inputs, dense._sample_rows, dense._frame_factors = old if v == "A" else new


cfg = choose_config(W, H, T, bpp).config
video = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
model = NVTM(cfg, W, H, T, seed=0)
run = _Run(model, video, fit_preset("encode", steps=10 ** 6, device="cpu", threads=threads), None, None)
with run.engine.fitting_threads():
    ms = alternate_bursts(lambda: run.step(0.5), side, bursts)
a, b = statistics.median(ms["A"]), statistics.median(ms["B"])
samples = run.opts.sets_per_step * run.opts.points_per_set * min(run.opts.frames_per_set, cfg.gop_size)
print(f"{W}x{H}x{T}, {bpp} bpp, {threads} thread(s), {bursts} bursts of 8 steps a side")
print(f"  A previous: median {a:.2f} ms/step ({samples / a / 1e3:.2f} M samples/s)")
print(f"  B new:      median {b:.2f} ms/step ({samples / b / 1e3:.2f} M samples/s)")
print(f"  A/B {a / b:.3f}; burst by burst, median of A_i / B_i "
      f"{statistics.median(x / y for x, y in zip(ms['A'], ms['B'])):.3f}")
