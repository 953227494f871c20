"""Fitting and decoding throughput of NVTM next to the machine's FLOP limit.

    python -m benchmarks.throughput [--clip PATH.y4m] [--seconds 10] [--json]

Measures, in one run on the same machine:
  * the fp32 matmul ceiling (best GFLOP/s of a large square torch.mm),
  * fitting throughput (samples/s) of the real training step (sampler, flow,
    grid lookups, fused base-network loss and backward, Adam),
  * decoding throughput (pixels/s) of the decoder's renderer (`nvcodec.render.render_frames`,
    frames in order, so per-GOP terms are reused as `nvcodec decode` reuses them),
and prints the model's FLOPs per sample (forward; training = 3x forward; decoding: the
per-frame synthesis plus the per-GOP part spread over the GOP's frames) and the fraction of
the FLOP limit each throughput reaches. --config: `bpp:X` (the encoder's sizing at X bpp for
the clip), a family of `nvcodec.model.presets` (e.g. `paper`), or a JSON file of an NVTMConfig;
at CIF size (the foreman clip when present, else a synthetic clip).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from nvcodec.fit.loop import _grid_aliases, _hand_over_grads, _param_groups, FitOptions
from nvcodec.fit.sampler import PixelSampler
from nvcodec.model import presets
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.model.siren import synthesis_macs
from nvcodec.rate.sizing import choose_config
from nvcodec.render import render_frames

from . import common

DEFAULT_CLIP = str(common.DEFAULT_CLIPS_DIR / "foreman_cif_60f.y4m")


def matmul_ceiling(device: torch.device, size: int = 4096, seconds: float = 2.0) -> float:
    """Best fp32 GFLOP/s of size x size matmuls."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    c = torch.empty(size, size, device=device)
    torch.mm(a, b, out=c)
    best = 0.0
    t_end = time.perf_counter() + seconds
    while True:
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        _sync(device)
        dt = time.perf_counter() - t0
        best = max(best, 2 * size**3 / dt / 1e9)
        if time.perf_counter() > t_end:
            return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_flops(model: NVTM, points_per_frame: int) -> dict[str, float]:
    """Multiply-adds x 2 per sample of one forward pass, by part.

    Counts matmul work only (elementwise sin/ReLU and lookups are not FLOP-bound):
    base network, flow SIREN, and the hyper-network amortised over the frame's points.
    """
    cfg = model.config
    b = cfg.base
    z = cfg.latent_dim
    if cfg.latent_mode == "modulation":
        syn = 3 * b.width + (b.depth - 1) * b.width * b.width
        mod = b.depth * z * b.modulator_width + (b.depth - 1) * b.modulator_width ** 2
    else:
        syn = (3 + z) * b.width + (b.depth - 1) * b.width * b.width
        mod = 0
    out = b.width * 3
    flow = hyper = 0.0
    if model.flow is not None:
        dims = model.flow.dims
        flow = sum(i * o for i, o in zip(dims[:-1], dims[1:]))
        f = cfg.flow
        hyper = (2 * f.hyper_hidden + (f.hyper_layers - 1) * f.hyper_hidden ** 2
                 + f.hyper_hidden * model.flow.n_generated) / points_per_frame
    lookups = 4 * (len(cfg.neighbors) * cfg.latent.levels * cfg.latent.features
                   + (cfg.static.levels * cfg.static.features if cfg.use_static_grid else 0))
    parts = {"base": 2.0 * (syn + mod + out), "flow": 2.0 * flow, "hyper": 2.0 * hyper,
             "lookup": 2.0 * lookups}
    parts["total"] = sum(parts.values())
    return parts


def fit_throughput(model: NVTM, video: torch.Tensor, opts: FitOptions, seconds: float,
                   device: torch.device) -> tuple[float, int]:
    """Samples/s of the training step (as in nvcodec.fit.loop.fit, without aux/QAT)."""
    model.to(device).train()
    model.fused_chunk = opts.fused_chunk or (1024 if device.type == "cpu" else 1 << 16)
    video = video.to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    sampler = PixelSampler(video, opts.frames_per_batch, opts.pixels_per_frame, gen)
    aliases = _grid_aliases(model)
    opt = torch.optim.Adam(_param_groups(model, [a for _, a in aliases], opts.lr_grid, opts.lr_base, opts.lr_flow), betas=opts.betas,
                           eps=opts.eps, fused=True)

    def step() -> None:
        b = sampler.next()
        loss, _ = model.fit_loss(b.xy, b.t, b.rgb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _hand_over_grads(aliases)
        opt.step()

    for _ in range(3):
        step()
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        step()
        n += 1
    _sync(device)
    dt = time.perf_counter() - t0
    return n * opts.frames_per_batch * opts.pixels_per_frame / dt, n


def decode_flops(model: NVTM, points_per_frame: int) -> float:
    """FLOPs per decoded pixel: the per-frame synthesis, plus the rest of the forward pass once per
    frame with the alignment flow, or once per GOP (spread over its frames) without it."""
    per_frame = 2.0 * synthesis_macs(model.config.base)
    rest = forward_flops(model, points_per_frame)["total"] - per_frame
    return per_frame + (rest if model.flow is not None else rest / model.config.gop_size)


@torch.no_grad()
def decode_throughput(model: NVTM, seconds: float, device: torch.device) -> float:
    """Pixels/s of the decoder's renderer over whole frames in display order (as `nvcodec decode`)."""
    model.to(device).eval()
    times = [float(f % model.frames) for f in range(1 << 20)]
    frames, t0 = 0, time.perf_counter()
    for _ in render_frames(model, times, model.width, model.height, device=device):
        frames += 1
        if time.perf_counter() - t0 >= seconds and frames >= model.config.gop_size:
            break
    _sync(device)
    return frames * model.width * model.height / (time.perf_counter() - t0)


def _load_clip(path: str | None, frames: int) -> torch.Tensor:
    if path and Path(path).exists():
        _, _, rgb = common.load_clip(Path(path), frames=frames)
        return common.rgb_uint8_tensor(rgb)
    g = torch.Generator().manual_seed(0)  # synthetic CIF clip: smooth noise moving right
    base = torch.rand(1, 3, 36, 44, generator=g)
    big = torch.nn.functional.interpolate(base, size=(288, 352 + 2 * frames), mode="bicubic",
                                          align_corners=False).clamp(0, 1)
    out = [big[0, :, :, 2 * t:2 * t + 352].permute(1, 2, 0) for t in range(frames)]
    return (torch.stack(out) * 255).round().to(torch.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default=DEFAULT_CLIP, help="8-bit 4:2:0 y4m (default: foreman CIF; "
                    "a synthetic CIF clip when missing)")
    ap.add_argument("--frames", type=int, default=60, help="frames of the clip to use")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per throughput measurement")
    ap.add_argument("--frames-per-batch", type=int, default=None)
    ap.add_argument("--pixels-per-frame", type=int, default=None)
    ap.add_argument("--config", default="bpp:0.1",
                    help="bpp:X (the encoder's sizing at X bpp), a family of nvcodec.model.presets (paper, codec, ...), "
                         "or a JSON file of an NVTMConfig")
    ap.add_argument("--skip-decode", action="store_true")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    video = _load_clip(a.clip, a.frames)
    T, H, W = (int(s) for s in video.shape[:3])
    if a.config in presets.FAMILIES:
        cfg = presets.family(a.config)
    elif a.config.startswith("bpp:"):
        cfg = choose_config(W, H, T, float(a.config[4:])).config
    else:
        cfg = NVTMConfig.from_dict(json.loads(Path(a.config).read_text()))
    model = NVTM(cfg, W, H, T)
    opts = FitOptions(steps=1)
    if a.frames_per_batch:
        opts.frames_per_batch = a.frames_per_batch
    if a.pixels_per_frame:
        opts.pixels_per_frame = a.pixels_per_frame
    fl = forward_flops(model, opts.pixels_per_frame)
    ceiling = matmul_ceiling(device)
    fit_sps, steps = fit_throughput(model, video, opts, a.seconds, device)
    dec_pps = 0.0 if a.skip_decode else decode_throughput(model, a.seconds, device)
    ceiling_after = matmul_ceiling(device)
    ceil = max(ceiling, ceiling_after)
    train_gflops = fit_sps * 3 * fl["total"] / 1e9
    dec_fl = decode_flops(model, opts.pixels_per_frame)
    dec_gflops = dec_pps * dec_fl / 1e9
    res = {
        "device": str(device), "threads": torch.get_num_threads(), "clip": f"{W}x{H}x{T}",
        "params": model.num_parameters(), "batch": [opts.frames_per_batch, opts.pixels_per_frame],
        "flops_per_sample_forward": fl, "matmul_ceiling_gflops": ceil,
        "matmul_ceiling_before_after": [ceiling, ceiling_after],
        "fit_samples_per_s": fit_sps, "fit_steps_measured": steps, "fit_gflops": train_gflops,
        "fit_fraction_of_ceiling": train_gflops / ceil,
        "fit_flop_limited_samples_per_s": ceil * 1e9 / (3 * fl["total"]),
        "config": a.config, "base": cfg.base.to_dict(), "alignment": cfg.alignment,
        "decode_flops_per_pixel": dec_fl, "decode_pixels_per_s": dec_pps,
        "decode_frames_per_s": dec_pps / (W * H), "decode_gflops": dec_gflops,
        "decode_fraction_of_ceiling": dec_gflops / ceil,
        "decode_flop_limited_pixels_per_s": ceil * 1e9 / dec_fl,
    }
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"device {res['device']} ({res['threads']} threads), clip {res['clip']}, "
          f"params {res['params']['total']:,} (grids {res['params']['grids']:,})")
    print(f"forward FLOPs/sample: {fl['total'] / 1e3:.0f} k (base {fl['base'] / 1e3:.0f} k, flow "
          f"{fl['flow'] / 1e3:.1f} k, hyper {fl['hyper'] / 1e3:.1f} k, lookups {fl['lookup'] / 1e3:.2f} k); "
          f"training = 3x")
    print(f"fp32 matmul ceiling: {ceil:.1f} GFLOP/s (before {ceiling:.1f}, after {ceiling_after:.1f})")
    print(f"fit:    {fit_sps / 1e3:8.1f} k samples/s = {train_gflops:6.1f} GFLOP/s = "
          f"{100 * res['fit_fraction_of_ceiling']:.0f} % of the limit "
          f"({res['fit_flop_limited_samples_per_s'] / 1e3:.0f} k samples/s); batch "
          f"{opts.frames_per_batch}x{opts.pixels_per_frame}, {steps} steps")
    if not a.skip_decode:
        print(f"decode: {dec_pps / 1e3:8.1f} k pixels/s = {res['decode_frames_per_s']:.1f} frames/s "
              f"({dec_fl / 1e3:.1f} k FLOPs/pixel) = {dec_gflops:6.1f} GFLOP/s = "
              f"{100 * res['decode_fraction_of_ceiling']:.0f} % of the limit "
              f"({res['decode_flop_limited_pixels_per_s'] / 1e3:.0f} k pixels/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "matmul_ceiling", "forward_flops", "decode_flops", "fit_throughput", "decode_throughput"]
