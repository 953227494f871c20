"""Choose the model's size from the bit budget, before fitting.

An INR codec's rate is mostly decided by how many parameters it has, so rate
control starts here: bpp x pixels gives a bit budget, the budget is split between
the network weights (entropy-coded, ~bits_per_weight each) and the grids (HEVC,
~bits_per_grid_value each at a mid QP), and the largest configuration of the
paper's family that fits each share is chosen. The final file size is then
trimmed to the target by `rate.search` (HEVC QP of the grids), which has a range
of roughly 4x in grid bits around these estimates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..defaults import DEFAULT_MAX_DECODE_MACS
from ..errors import EncodeError
from ..model import presets
from ..model.config import BaseNetConfig, FlowConfig, GridConfig, NVTMConfig
from ..model.nvtm import weight_count
from ..model.siren import synthesis_macs


@dataclass(frozen=True)
class RateModel:
    """Empirical constants of the size -> bits relation (measured, see benchmarks/RESULTS.md)."""

    bits_per_weight: float = 8.0  # Laplace-coded integers at weight_rel_step (below)
    # weight quantisation step relative to each tensor's RMS: 1/16 cost the dense engine's fits
    # 1.9 dB of decoded PSNR-YUV at equal size on a 360x240x47 crop at 0.3 bpp (1/32 and 1/128
    # were also worse than 1/64 in exploratory runs), for ~2 more bits per weight
    # (benchmarks/RESULTS.md, fifth session)
    weight_rel_step: float = 1 / 64
    # 8-bit grids in HEVC at QP ~28: at 1.0 rate control had to code the grids at QP 34-37,
    # where HEVC costs 2-3 dB; 2.0 (half the values) decodes ~1 dB better at equal size
    # (foreman, basketballpass at 0.1 bpp; benchmarks/RESULTS.md)
    bits_per_grid_value: float = 2.0
    weight_share: float = 0.3  # fraction of the budget for the networks
    static_share: float = 0.15  # fraction of the grid budget for the static grid
    # what sizing sets aside for the file's fixed parts (header, index, chunk heads, config, state,
    # grid ranges, weight steps and record heads, ENCI): 1.33 kB in a 1.0 file of a 30-frame QCIF
    # model at 0.05 bpp, of which the 520-byte JSON config and 317 bytes of weight record heads;
    # ~0.6-0.9 kB in a 1.2 file (94-byte config, 3-12-byte record heads)
    overhead_bytes: int = 600


@dataclass(frozen=True)
class Sizing:
    """What sizing chose and why (reported by `encode --json`)."""

    config: NVTMConfig
    budget_bits: float
    weight_params: int
    grid_values: int
    est_weight_bits: float
    est_grid_bits: float


def budget_bits(width: int, height: int, frames: int, bpp: float) -> float:
    return bpp * width * height * frames


def _grid_values(g: GridConfig, width: int, height: int, count: int) -> int:
    return count * g.features * sum(rx * ry for rx, ry in g.resolutions(width, height))


def _largest_grid(budget_values: float, width: int, height: int, count: int, *, features: tuple[int, ...],
                  max_levels: int, scale: float, bases: tuple[int, ...]) -> GridConfig:
    """The grid with the most values that fits the budget (coarsest candidate if none fits)."""
    best: tuple[int, GridConfig] | None = None
    smallest: tuple[int, GridConfig] | None = None
    for base in bases:
        for levels in range(1, max_levels + 1):
            for f in features:
                g = GridConfig(base_resolution=base, levels=levels, scale=scale, features=f)
                v = _grid_values(g, width, height, count)
                if smallest is None or v < smallest[0]:
                    smallest = (v, g)
                if v <= budget_values and (best is None or v > best[0]):
                    best = (v, g)
    assert smallest is not None
    return (best or smallest)[1]


def weight_params(config: NVTMConfig) -> int:
    """Network parameters of a config (independent of the video geometry; `model.nvtm.weight_count`)."""
    return weight_count(config)


def choose_config(width: int, height: int, frames: int, bpp: float, *,
                  rate: RateModel = RateModel(), template: NVTMConfig | None = None,
                  max_decode_macs: int | None = DEFAULT_MAX_DECODE_MACS) -> Sizing:
    """The largest member of the NVTM family (by default `presets.codec()`) whose estimated size fits bpp,
    with a base network of at most `max_decode_macs` multiply-adds per pixel and frame (None: no cap).

    The networks get `rate.weight_share` of the budget; what they do not use (a capped or rounded
    width) goes to the grids, whose sizes are then chosen again.
    """
    template = template or presets.codec()
    total = budget_bits(width, height, frames, bpp) - 8 * rate.overhead_bytes
    if total <= 0:
        raise EncodeError(f"--bpp {bpp} leaves no room for a model at {width}x{height}x{frames} "
                          f"(the container alone needs ~{rate.overhead_bytes} bytes)")
    n_latent = template.num_latent(frames)
    weight_param_budget = rate.weight_share * total / rate.bits_per_weight

    config, grid_bits = template, (1 - rate.weight_share) * total
    for _ in range(2):  # the latent's size feeds the modulator's, so size twice
        grid_budget_values = grid_bits / rate.bits_per_grid_value
        latent = _largest_grid((1 - rate.static_share) * grid_budget_values, width, height, n_latent,
                               features=(2, 4), max_levels=template.latent.levels,
                               scale=template.latent.scale or 1.8, bases=(8, 12, 16))
        static = _largest_grid(rate.static_share * grid_budget_values, width, height, 1,
                               features=(2,), max_levels=16, scale=1.5, bases=(8, 16))
        config = dataclasses.replace(template, latent=latent, static=static)
        config = dataclasses.replace(config, flow=_largest_flow(config, 0.25 * weight_param_budget))
        config = dataclasses.replace(config, base=_widest_base(config, weight_param_budget, max_decode_macs))
        config = config.validate()
        grid_bits = max(grid_bits, total - weight_params(config) * rate.bits_per_weight)

    wp = weight_params(config)
    gv = config.grid_shapes(width, height, frames).values
    return Sizing(config, total, wp, gv, wp * rate.bits_per_weight, gv * rate.bits_per_grid_value)


#: alignment-flow sizes, largest first: (SIREN layers, hidden units, hyper-network hidden units);
#: the first is the paper's 5 x 8 SIREN with a 1-layer hyper-network
FLOW_SIZES = ((5, 8, 16), (5, 8, 8), (4, 6, 6), (3, 4, 4))


def _largest_flow(config: NVTMConfig, max_params: float) -> FlowConfig:
    """The largest flow network whose parameters stay within max_params (the smallest otherwise)."""
    for layers, hidden, hyper in FLOW_SIZES:
        flow = dataclasses.replace(config.flow, layers=layers, hidden=hidden, hyper_hidden=hyper)
        tiny_base = dataclasses.replace(config.base, width=1, modulator_width=1, depth=1)
        if weight_params(dataclasses.replace(config, flow=flow, base=tiny_base)) <= max_params:
            return flow
    return flow


def base_widths(top: int) -> list[int]:
    """Widths sizing may pick, up to `top`: 8, 16, 24, then multiples of 16 (the CPU's matrix
    kernels run 30-50 % faster at 48 or 64 than at 40 or 75: benchmarks/RESULTS.md)."""
    return sorted({w for w in (8, 16, 24, *range(32, top + 1, 16)) if w <= top} or {top})


def _widest_base(config: NVTMConfig, max_params: float, max_macs: int | None) -> BaseNetConfig:
    """The widest base network of `base_widths` within max_params and max_macs (the narrowest otherwise)."""
    widths = base_widths(config.base.width)
    best = dataclasses.replace(config.base, width=widths[0], modulator_width=widths[0])
    for w in widths[1:]:  # weight count and cost grow with width
        cand = dataclasses.replace(config.base, width=w, modulator_width=w)
        if max_macs is not None and synthesis_macs(cand) > max_macs:
            break
        if weight_params(dataclasses.replace(config, base=cand)) > max_params:
            break
        best = cand
    return best


def describe(s: Sizing) -> dict:
    c = s.config
    return {
        "gop_size": c.gop_size,
        "latent_levels": c.latent.levels,
        "latent_features": c.latent.features,
        "latent_base": c.latent.base_resolution,
        "static_levels": c.static.levels if c.use_static_grid else 0,
        "base_width": c.base.width,
        "base_depth": c.base.depth,
        "decode_macs_per_pixel": synthesis_macs(c.base),
        "weight_params": s.weight_params,
        "grid_values": s.grid_values,
        "budget_bits": round(s.budget_bits),
        "est_weight_bits": round(s.est_weight_bits),
        "est_grid_bits": round(s.est_grid_bits),
    }

