"""Section 11 of bitstream_spec/NVC.md ("Model definition") is sufficient to decode.

`SpecDecoder` below is an independent float64 numpy implementation of the forward pass,
written from the spec text only: it takes the configuration as the object of spec 10.1
(what MCFB and MCFG store), the header geometry, and the tensors as a decoder gets them
from the file (grids per level, the WGTS tensors *by position*, the MSTA state), and
derives every shape itself. The
reference model (`NVTM`) is used only to hold random tensors and to compute the
reference output; nothing of nvcodec.model is imported into the implementation.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from nvcodec.model.config import BaseNetConfig, FlowConfig, GridConfig, NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.render import output_size, output_times, render_frame, render_frames

TOL = 1e-4  # the tolerance section 11.11 states


# ---------------------------------------------------------------------------------------
# The decoder of section 11, from the spec text
# ---------------------------------------------------------------------------------------

def resolutions(grid: dict, width: int, height: int) -> list[tuple[int, int]]:
    """Section 10.1: (rx_l, ry_l) per level."""
    levels, base = grid["levels"], grid["base_resolution"]
    if grid["scale"] is not None:
        g = float(grid["scale"])
    elif levels == 1 or max(width, height) <= base:
        g = 1.0
    else:
        g = (max(width, height) / base) ** (1.0 / (levels - 1))
    out = []
    for lev in range(levels):
        r = math.floor(base * g ** lev + 1e-6)
        out.append((max(2, min(r, width)), max(2, min(r, height))))
    return out


def weight_shapes(cfg: dict, z_dim: int) -> list[tuple[int, ...]]:
    """Section 11.5: the WGTS tensor shapes, in payload order."""
    fl, base = cfg["flow"], cfg["base"]
    npr = len(cfg["neighbors"])
    d = [2] + [fl["hidden"]] * (fl["layers"] - 1) + [2 * npr]
    g = sum(d[i + 1] * (d[i] + 1) for i in range(fl["layers"]))
    fhh, kh = fl["hyper_hidden"], fl["hyper_layers"]
    dd, mm, mp = base["depth"], base["width"], base["modulator_width"]
    mod = cfg["latent_mode"] == "modulation"
    shapes: list[tuple[int, ...]] = []
    if cfg.get("alignment", "flow") == "flow":
        shapes += [(g, fhh), (g,)]
        for i in range(kh):
            shapes += [(fhh, 2 if i == 0 else fhh), (fhh,)]
    shapes += [(3, mm), (3,)]
    shapes += [(mm, (3 if mod else 3 + z_dim) if i == 0 else mm) for i in range(dd)]
    shapes += [(mm,) for _ in range(dd)]
    if mod:
        shapes += [(mp, z_dim) for _ in range(dd)]
        shapes += [(mp,) for _ in range(dd)]
        shapes += [(mp, mp) for _ in range(dd - 1)]
    return shapes


class SpecDecoder:
    """RGB(x, y, t) of section 11 (float64), from the configuration + header + file tensors."""

    def __init__(self, cfg: dict, width: int, height: int, frames: int,
                 latent: list[np.ndarray], static: list[np.ndarray],
                 weights: list[np.ndarray], state: np.ndarray):
        self.cfg, self.W, self.H, self.T = cfg, width, height, frames
        # 11.1 derived quantities
        self.n = cfg["gop_size"]
        self.P = list(cfg["neighbors"])
        self.m = -(-frames // self.n)
        self.n_lat = self.m + (1 if 1 in self.P else 0)
        lat, sta = cfg["latent"], cfg["static"]
        self.L, self.C = lat["levels"], lat["features"]
        self.use_static = cfg["use_static_grid"]
        self.Ls, self.Cs = (sta["levels"], sta["features"]) if self.use_static else (0, 0)
        self.Z = len(self.P) * self.L * self.C + self.Ls * self.Cs
        self.mod = cfg["latent_mode"] == "modulation"
        # 11.5 tensors: shapes from the config, contents by position
        lat_res = resolutions(lat, width, height)
        assert [g.shape for g in latent] == [(self.n_lat, self.C, ry, rx) for rx, ry in lat_res]
        if self.use_static:
            sta_res = resolutions(sta, width, height)
            assert [g.shape for g in static] == [(1, self.Cs, ry, rx) for rx, ry in sta_res]
        else:
            assert not static
        self.latent = [np.asarray(g, np.float64) for g in latent]
        self.static = [np.asarray(g, np.float64) for g in static]
        shapes = weight_shapes(cfg, self.Z)
        assert [tuple(w.shape) for w in weights] == shapes, "WGTS order/shapes of section 11.5"
        ws = [np.asarray(w, np.float64) for w in weights]
        kh, dd = cfg["flow"]["hyper_layers"], cfg["base"]["depth"]
        self.aligned = cfg.get("alignment", "flow") == "flow"
        pos = 0
        if self.aligned:
            self.theta_w, self.theta_b = ws[0], ws[1]
            self.hyper = [(ws[2 + 2 * i], ws[3 + 2 * i]) for i in range(kh)]
            pos = 2 + 2 * kh
        self.out_w, self.out_b = ws[pos], ws[pos + 1]
        pos += 2
        self.syn_w, self.syn_b = ws[pos:pos + dd], ws[pos + dd:pos + 2 * dd]
        pos += 2 * dd
        if self.mod:
            self.mod_z, self.mod_b = ws[pos:pos + dd], ws[pos + dd:pos + 2 * dd]
            self.mod_g = [None] + ws[pos + 2 * dd:pos + 3 * dd - 1]  # mod_g.{i} is B_{i+1}
            assert pos + 3 * dd - 1 == len(ws)
        else:
            assert pos == len(ws)
        # 11.5 state
        self.bounds = np.asarray(state, np.float64).reshape(self.n_lat, 4)
        fl = cfg["flow"]
        self.d = [2] + [fl["hidden"]] * (fl["layers"] - 1) + [2 * len(self.P)]
        self.stats = {"clipped": 0, "max_flow": 0.0}  # what the test exercised

    # 11.6 bilinear sampling of one level at (u, v) [S] of grids j [S]
    @staticmethod
    def sample(lev: np.ndarray, j: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        _, _, ry, rx = lev.shape
        px = np.clip(u * rx - 0.5, 0, rx - 1)
        py = np.clip(v * ry - 0.5, 0, ry - 1)
        ix = np.minimum(np.floor(px), rx - 2)
        iy = np.minimum(np.floor(py), ry - 2)
        fx, fy = (px - ix)[:, None], (py - iy)[:, None]
        ix, iy = ix.astype(int), iy.astype(int)
        g = lambda yy, xx: lev[j, :, yy, xx]  # noqa: E731  [S, Ch]
        return ((1 - fx) * (1 - fy) * g(iy, ix) + fx * (1 - fy) * g(iy, ix + 1)
                + (1 - fx) * fy * g(iy + 1, ix) + fx * fy * g(iy + 1, ix + 1))

    def feats(self, levels: list[np.ndarray], j, u, v) -> np.ndarray:
        return np.concatenate([self.sample(lev, j, u, v) for lev in levels], axis=1)  # level-major

    def flow(self, x: np.ndarray, y: np.ndarray, tau_g: float, tau_p: float) -> np.ndarray:
        """11.4: hyper-network, then the generated SIREN at the unaligned points: r [S, 2|P|]."""
        fl = self.cfg["flow"]
        a = np.array([tau_g, tau_p])
        for uw, cb in self.hyper:
            a = np.sin(fl["hyper_omega"] * (uw @ a + cb))
        theta = self.theta_w @ a + self.theta_b
        assert theta.shape == (sum(self.d[i + 1] * (self.d[i] + 1) for i in range(len(self.d) - 1)),)
        # generated SIREN
        e = np.stack([2 * x - 1, 2 * y - 1], axis=1)  # [S, 2]
        off = 0
        nl = len(self.d) - 1
        for li in range(nl):
            di, do = self.d[li], self.d[li + 1]
            vmat = theta[off:off + do * di].reshape(do, di)  # row-major
            off += do * di
            beta = theta[off:off + do]
            off += do
            pre = e @ vmat.T + beta
            e = np.sin(fl["omega"] * pre) if li < nl - 1 else pre
        return e

    def frame(self, xy: np.ndarray, t: float) -> np.ndarray:
        """Unclamped RGB [S, 3] at points xy [S, 2] of the float32 time t."""
        t32 = np.float32(t)
        x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
        s_pts = xy.shape[0]
        n, T = self.n, self.T
        # 11.3: k from the float32 quotient
        k = int(min(max(math.floor(np.float32(t32 / np.float32(n))), 0), self.m - 1))
        t = float(t32)
        tk = k * n
        tau_g = 2 * t / max(1, T - 1) - 1
        tau_p = 2 * (t - tk) / n - 1
        r = self.flow(x, y, tau_g, tau_p) if self.aligned else np.zeros((s_pts, 2 * len(self.P)))
        # 11.3 log time factors, 11.4 aligned points, 11.7 normalisation, 11.8 z
        zs = []
        for p in self.P:
            s = math.log1p(max(t - tk, 0.0)) if p == 0 else math.log1p(max(tk + n - t, 0.0))
            xp, yp = x + s * r[:, 2 * p], y + s * r[:, 2 * p + 1]
            x0, y0, x1, y1 = self.bounds[k + p]
            u = np.clip((xp - x0) / (x1 - x0), 0, 1)
            v = np.clip((yp - y0) / (y1 - y0), 0, 1)
            self.stats["clipped"] += int(np.sum((u == 0) | (u == 1) | (v == 0) | (v == 1)))
            self.stats["max_flow"] = max(self.stats["max_flow"], float(np.abs(s * r[:, 2 * p:2 * p + 2]).max()))
            zs.append(self.feats(self.latent, np.full(s_pts, k + p), u, v))
        if self.use_static:
            zs.append(self.feats(self.static, np.zeros(s_pts, int), x, y))
        z = np.concatenate(zs, axis=1)
        assert z.shape == (s_pts, self.Z)
        # 11.9 base network
        base = self.cfg["base"]
        q = np.stack([2 * x - 1, 2 * y - 1, np.full(s_pts, tau_g)], axis=1)
        mp = base["modulator_width"]
        h = q if self.mod else np.concatenate([q, z], axis=1)
        g = None
        for i in range(base["depth"]):
            om = base["omega_first"] if i == 0 else base["omega"]
            s = np.sin(om * (h @ self.syn_w[i].T + self.syn_b[i]))
            if self.mod:
                pre = z @ self.mod_z[i].T + self.mod_b[i]
                if i > 0:
                    pre = pre + g @ self.mod_g[i].T
                g = np.maximum(pre, 0)
                s = np.concatenate([g * s[:, :mp], s[:, mp:]], axis=1)
            h = s
        return h @ self.out_w.T + self.out_b


# ---------------------------------------------------------------------------------------
# The reference model with random tensors, and what a file would hand the decoder
# ---------------------------------------------------------------------------------------

def _randomised(cfg: NVTMConfig, w: int, h: int, frames: int, seed: int) -> NVTM:
    model = NVTM(cfg, w, h, frames, seed=1)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for g in model.grid_tensors().values():
            g.copy_(torch.from_numpy(rng.uniform(-1, 1, g.shape).astype(np.float32)))
        weights = list(model.weight_tensors().values())
        for i, p in enumerate(weights):
            # keep SIREN-like magnitudes: random values with the spread of the init
            # (constant-initialised biases get a spread of their own value, so some
            # modulator units turn off); larger ones only amplify float32 rounding
            spread = float(p.abs().max()) or 0.1
            p.copy_(torch.from_numpy(rng.uniform(-spread, spread, p.shape).astype(np.float32)))
        # flow.head_bias holds the generated flow network (11.4): give its last layer a
        # size that moves points by a fraction of the frame, so normalisation clips some
        if cfg.alignment == "flow":
            theta_b = weights[1]
            last = 2 * len(cfg.neighbors) * (cfg.flow.hidden + 1)
            theta_b[-last:] = torch.from_numpy(rng.uniform(-0.15, 0.15, last).astype(np.float32))
        lo = rng.uniform(-0.2, 0.2, (model.num_latent, 2))
        hi = lo + rng.uniform(0.6, 1.3, (model.num_latent, 2))
        model.norm_bounds.copy_(torch.from_numpy(np.concatenate([lo, hi], 1).astype(np.float32)))
    return model.eval()


def _spec_decoder(model: NVTM) -> SpecDecoder:
    """What a decoder gets from the file: the configuration object, geometry, tensors by position."""
    grids = model.grid_tensors()
    cfg = model.config.to_dict()
    latent = [grids[f"latent.{i}"].detach().numpy() for i in range(cfg["latent"]["levels"])]
    static = ([grids[f"static.{i}"].detach().numpy() for i in range(cfg["static"]["levels"])]
              if cfg["use_static_grid"] else [])
    weights = [w.detach().numpy() for w in model.weight_tensors().values()]  # positions only
    state = np.concatenate([s.detach().numpy().ravel() for s in model.state_tensors().values()])
    return SpecDecoder(cfg, model.width, model.height, model.frames, latent, static, weights, state)


def _tiny_variant(**kw) -> NVTMConfig:
    return NVTMConfig.tiny().replace(**kw)


CASES = {
    "tiny": (NVTMConfig.tiny(), 13, 9, 5),
    "P0-nostatic-input": (_tiny_variant(neighbors=(0,), use_static_grid=False, latent_mode="input"), 13, 9, 5),
    "partial-mod-deep": (_tiny_variant(
        gop_size=3, base=BaseNetConfig(depth=3, width=16, modulator_width=10, omega_first=25.0, omega=20.0),
        flow=FlowConfig(layers=4, hidden=5, omega=20.0, hyper_layers=2, hyper_hidden=6, hyper_omega=15.0),
        latent=GridConfig(base_resolution=3, levels=3, scale=None, features=3)), 11, 7, 8),
    "input-static-P01": (_tiny_variant(latent_mode="input", gop_size=4), 9, 12, 9),
    "one-frame": (NVTMConfig.tiny(), 6, 5, 1),
    "no-alignment": (_tiny_variant(alignment="none"), 13, 9, 5),
}


def _times(frames: int, n: int, rng: np.random.Generator) -> list[float]:
    """Every frame (keyframes, the last frame), just below keyframes, random fractions."""
    ts = [float(i) for i in range(frames)]
    ts += [float(np.nextafter(np.float32(k * n), np.float32(0))) for k in range(1, -(-frames // n)) if k * n < frames]
    ts += list(rng.uniform(0, frames - 1, 4)) if frames > 1 else []
    return ts


@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_forward_matches_reference(case):
    cfg, w, h, frames = CASES[case]
    model = _randomised(cfg, w, h, frames, seed=sorted(CASES).index(case) + 11)
    dec = _spec_decoder(model)
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 1, (48, 2))
    pts[:6] = [[0, 0], [1, 1], [0, 1], [1, 0], [0.5, 0.5], [1e-3, 0.999]]
    centres = np.stack(np.meshgrid((np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h), -1).reshape(-1, 2)
    xy = np.concatenate([pts, centres]).astype(np.float32)
    times = _times(frames, cfg.gop_size, rng)
    with torch.no_grad():
        ref = model.forward_frames(torch.from_numpy(xy)[None].expand(len(times), -1, -1).contiguous(),
                                   torch.tensor(times, dtype=torch.float32)).numpy()
    worst = 0.0
    for f, t in enumerate(times):
        ours = dec.frame(xy, t)
        worst = max(worst, float(np.abs(ours - ref[f]).max()))
    assert worst < TOL, f"{case}: max |spec - reference| = {worst:.3g}"
    # the test must exercise what it claims: non-trivial outputs, flows and clipping
    assert float(np.abs(ref).max()) > 0.05
    assert dec.stats["clipped"] > 0, dec.stats
    assert (dec.stats["max_flow"] > 0.05) == (cfg.alignment == "flow"), dec.stats
    # the float32 difference above is rounding only: in float64 the reference agrees exactly
    with torch.no_grad():
        ref64 = model.double().forward_frames(
            torch.from_numpy(xy).double()[None].expand(len(times), -1, -1).contiguous(),
            torch.tensor(times, dtype=torch.float32).double()).numpy()
    exact = max(float(np.abs(dec.frame(xy, t) - ref64[f]).max()) for f, t in enumerate(times))
    assert exact < 1e-9, f"{case}: max |spec - float64 reference| = {exact:.3g}"


def test_keyframe_reads_unaligned_point():
    """11.3: at t = t_k the flow towards the own keyframe is exactly zero."""
    model = _randomised(NVTMConfig.tiny(), 13, 9, 5, seed=3)
    xy = torch.rand(1, 20, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for t in (0.0, 2.0, 4.0):
            _, flow = model.forward_frames(xy, torch.tensor([t]), return_flow=True)
            assert torch.equal(flow[..., :2], torch.zeros_like(flow[..., :2]))
            assert bool((flow[..., 2:].abs() > 0).any())


@pytest.mark.parametrize("alignment", ["flow", "none"])
def test_output_frames_follow_section_11_10(alignment):
    """Pixel centres at any output size, raster order, clamping (render.py), sizes and times; without
    a flow the renderer's separable lookups and reused GOP terms give the spec's values too."""
    model = _randomised(NVTMConfig.tiny().replace(alignment=alignment), 13, 9, 5, seed=4)
    dec = _spec_decoder(model)
    for (wo, ho), t in (((13, 9), 2.0), ((7, 5), 3.25), ((26, 18), 4.0)):
        out = render_frame(model, t, wo, ho, tile_points=40)  # several tiles
        xs = (np.arange(wo, dtype=np.float32) + np.float32(0.5)) / np.float32(wo)
        ys = (np.arange(ho, dtype=np.float32) + np.float32(0.5)) / np.float32(ho)
        xy = np.stack([np.tile(xs, ho), np.repeat(ys, wo)], 1)  # rows top to bottom
        ours = np.clip(dec.frame(xy, t), 0, 1).reshape(ho, wo, 3)
        assert np.abs(ours - out).max() < TOL
        reused = list(render_frames(model, [t], wo, ho, tile_points=40))[0]
        assert np.abs(ours - reused).max() < TOL
    # sizes: half to even, even for 4:2:0 (both) and 4:2:2 (width)
    assert output_size(13, 9, "420", scale=1.0) == (12, 8)
    assert output_size(13, 9, "444", scale=0.5) == (6, 4)
    assert output_size(10, 6, "422", scale=0.5) == (4, 3)
    assert output_size(13, 9, "420", size=(13, 9)) == (12, 8)
    assert output_size(13, 9, "444") == (13, 9)

    # times: t_i = min(A + i/mu, T-1), count = round((B-A) mu)
    def spec_times(frames, fps, mult=None, rate=None, a=0, b=None):
        b = frames if b is None else b
        mu = Fraction(rate) / fps if rate is not None else Fraction(mult or 1).limit_denominator(65536)
        count = max(1, round((b - a) * mu))
        return tuple(float(np.float32(min(float(a + Fraction(i) / mu), float(frames - 1)))) for i in range(count))

    fps = Fraction(30000, 1001)
    for kw in ({"mult": 2}, {"mult": 1 / 3, "a": 1}, {"rate": Fraction(24)}, {"mult": 0.7, "a": 2, "b": 5},
               {"mult": 2.5}):
        grid = output_times(5, fps, fps_mult=kw.get("mult"), fps=kw.get("rate"),
                            frame_range=(kw.get("a"), kw.get("b")))
        assert tuple(float(np.float32(x)) for x in grid.times) == spec_times(5, fps, **kw), kw
    assert output_times(5, Fraction(25), fps_mult=2).times[-2:] == (4.0, 4.0)
