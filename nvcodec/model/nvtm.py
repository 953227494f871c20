"""NVTM: Neural Video representation with Temporally coherent Modulation.

Conventions (the paper leaves them open; this file defines them for the codec):

* Time is in **frame units**: t = 0 .. frames-1 (fractional t allowed, for frame
  interpolation). GOP k = clamp(floor(t / n), 0, m-1) with m = ceil(frames / n);
  its keyframe is t_k = k n (the first frame of the GOP); the last GOP may be short.
* Log time factor (Eq. 3-4): log(t - t_k) is -inf at the keyframe, so we use
  s_0(t) = log(1 + (t - t_k)), which is exactly 0 at t = t_k (the keyframe aligns
  to itself) and grows like the paper's factor elsewhere. For the neighbour p = 1
  (Eq. 6) the flow points to the *next* keyframe t_{k+1} = (k+1) n with
  s_1(t) = log(1 + (t_{k+1} - t)) > 0.
* Grid count: with P = {0, 1} there are m + 1 latent grids; grid j sits at keyframe
  time j n, GOP k reads grids k and k+1, so the last GOP has a real "next" grid
  (at time m n, possibly past the end of the clip). With P = {0} there are m grids.
* Coordinates: x, y in [0, 1] with pixel centres at (i + 0.5) / W, (j + 0.5) / H.
  The alignment flow is in the same normalised units (per axis). The base network
  sees (2x - 1, 2y - 1, 2 t / (frames - 1) - 1).
* z = concat(latent levels of grid k, of grid k+1 (if P = {0, 1}), static levels).
* Normalisation bounds (Eq. 5) are per latent grid, [N, 4] = (x_min, y_min,
  x_max, y_max), computed by the encoder over every frame that reads the grid
  (both neighbours), stored in the file, never recomputed by the decoder.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from ..errors import BitstreamError
from . import siren
from .config import NVTMConfig
from .flow import HyperFlow
from .flow import weight_count as flow_weight_count
from .grids import grid_lookup, lattice_lookup, new_grid
from .normalize import compute_bounds, normalize, normalize_axis
from .point_features import native_gop_features

MAX_DIM = 1 << 15
MAX_FRAMES = 1 << 20


def synthesis_spec(config: NVTMConfig) -> siren.SirenSpec:
    """The synthesis network a config builds (what its decoder's per-pixel terms hold)."""
    return siren.spec_of(config.base, config.latent_dim, config.latent_mode == "modulation")


class NVTM(nn.Module):
    """The NVTM model for a video of `width` x `height` x `frames` (RGB).

    `seed` makes the initialisation reproducible without touching the global RNG
    (None: use the global RNG).
    """

    def __init__(self, config: NVTMConfig, width: int, height: int, frames: int, *,
                 seed: int | None = 0):
        super().__init__()
        for name, v, hi in (("width", width, MAX_DIM), ("height", height, MAX_DIM), ("frames", frames, MAX_FRAMES)):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise BitstreamError(f"invalid video geometry: {name}={v!r}")
        self.config = config.validate()
        self.width, self.height, self.frames = width, height, frames
        gen = None
        if seed is not None:
            gen = torch.Generator().manual_seed(seed)
        self.num_gops = config.num_gops(frames)
        self.num_latent = config.num_latent(frames)
        shapes = config.grid_shapes(width, height, frames)
        self.latent_res = [(rx, ry) for _, _, ry, rx in shapes.latent]
        self.static_res = [(rx, ry) for _, _, ry, rx in shapes.static]
        self.latent = nn.ParameterList([
            nn.Parameter(new_grid(self.num_latent, config.latent.features, r, config.latent.init_range, gen))
            for r in self.latent_res])
        self.static = nn.ParameterList([
            nn.Parameter(new_grid(1, config.static.features, r, config.static.init_range, gen))
            for r in self.static_res])
        self.flow = HyperFlow(config.flow, _flow_channels(config), gen) if config.alignment == "flow" else None
        spec = synthesis_spec(config)
        self.base = siren.ModulatedSiren(config.base, spec.latent_dim, spec.modulated, gen)
        bounds = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(self.num_latent, 1)
        self.register_buffer("norm_bounds", bounds)
        self.fused_chunk = 1024  # rows per chunk of the fused fitting path (cache-sized)
        self.infer_chunk = 4096  # rows per chunk of the decoding path (fastest on the 2-core CPU)
        # Scale of the reconstruction gradient that reaches the alignment flow through
        # the grid lookup (fitting only; 1 = plain backprop, 0 = the flow learns from
        # the optical-flow loss alone). Set by the fitting loop.
        self.flow_grad_scale = 1.0

    # ------------------------------------------------------------------ tensors
    def grid_tensors(self) -> dict[str, nn.Parameter]:
        """All grids, [N, C, H, W] float (channels-last memory; use .contiguous() for
        a packed NCHW copy): `latent.{level}` (N = num_latent), `static.{level}` (N = 1)."""
        out = {f"latent.{i}": p for i, p in enumerate(self.latent)}
        out.update({f"static.{i}": p for i, p in enumerate(self.static)})
        return out

    def weight_tensors(self) -> dict[str, nn.Parameter]:
        """Every learnable tensor that is not a grid, in a fixed order."""
        grids = {id(p) for p in self.grid_tensors().values()}
        return {k: p for k, p in self.named_parameters() if id(p) not in grids}

    def state_tensors(self) -> dict[str, Tensor]:
        """Non-learned state the decoder needs: `norm_bounds` [num_latent, 4] float32."""
        return {"norm_bounds": self.norm_bounds}

    def all_tensors(self) -> dict[str, Tensor]:
        return {**self.grid_tensors(), **self.weight_tensors(), **self.state_tensors()}

    @torch.no_grad()
    def load_tensors(self, tensors: Mapping[str, Tensor], strict: bool = True) -> None:
        """Fill the model from named tensors (as stored in a file).

        Shapes must match exactly; values must be finite. strict: every tensor of
        the model must be given and no unknown name may appear.
        """
        own = self.all_tensors()
        unknown = set(tensors) - set(own)
        if unknown:
            raise BitstreamError(f"unknown model tensor(s): {sorted(unknown)[:5]}")
        if strict:
            missing = set(own) - set(tensors)
            if missing:
                raise BitstreamError(f"missing model tensor(s): {sorted(missing)[:5]}")
        for name, src in tensors.items():
            dst = own[name]
            if not isinstance(src, Tensor) or tuple(src.shape) != tuple(dst.shape):
                shape = tuple(src.shape) if isinstance(src, Tensor) else type(src).__name__
                raise BitstreamError(f"model tensor {name}: shape {shape}, expected {tuple(dst.shape)}")
            if not src.is_floating_point() or not bool(torch.isfinite(src).all()):
                raise BitstreamError(f"model tensor {name}: not finite floating point values")
            dst.copy_(src.to(dtype=dst.dtype, device=dst.device))
        b = self.norm_bounds
        if bool(((b[:, 2:] - b[:, :2]) <= 0).any()):
            raise BitstreamError("normalisation bounds with max <= min")

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts by group (rate control): grids, latent, static, weights, total."""
        lat = sum(p.numel() for p in self.latent)
        sta = sum(p.numel() for p in self.static)
        w = sum(p.numel() for p in self.weight_tensors().values())
        return {"grids": lat + sta, "latent": lat, "static": sta, "weights": w, "total": lat + sta + w}

    # ------------------------------------------------------------------ time
    def gop_index(self, t: Tensor) -> Tensor:
        """GOP k of each time (float frame units) as float: clamp(floor(t / n), 0, m-1)."""
        return torch.clamp(torch.floor(t / self.config.gop_size), 0, self.num_gops - 1)

    def time_scales(self, t: Tensor) -> Tensor:
        """s_p(t) per neighbour, [F, |P|]: log(1 + |t - t_{k+p}|), zero at t = t_k for p = 0."""
        n = self.config.gop_size
        tk = self.gop_index(t) * n
        cols = []
        for p in self.config.neighbors:
            cols.append(torch.log1p((t - tk).clamp(min=0) if p == 0 else (tk + p * n - t).clamp(min=0)))
        return torch.stack(cols, dim=1)

    def _tau(self, t: Tensor) -> Tensor:
        n = self.config.gop_size
        tk = self.gop_index(t) * n
        tn = t / max(1, self.frames - 1)
        return torch.stack([2 * tn - 1, 2 * (t - tk) / n - 1], dim=1)

    # ------------------------------------------------------------------ forward
    def alignment_flow(self, xy: Tensor, t: Tensor) -> Tensor:
        """Alignment flows [F, P, 2|P|] (normalised units): channels 2p, 2p+1 move
        (x, y) at time t to keyframe t_{k+p} (zeros with alignment="none")."""
        if self.flow is None:
            return xy.new_zeros(xy.shape[0], xy.shape[1], 2 * len(self.config.neighbors))
        raw = self.flow(xy, self._tau(t))
        s = self.time_scales(t)  # [F, |P|]
        return raw * s.repeat_interleave(2, dim=1).unsqueeze(1)

    def _inputs(self, xy: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(u [S, 3], z [S, Z], flow [F, P, 2|P|]) for F frames x P points."""
        fr, pts = xy.shape[0], xy.shape[1]
        t = t.to(device=xy.device, dtype=xy.dtype)
        flow = self.alignment_flow(xy, t)
        z = self._features(xy, t, flow)
        tn = self._time_input(t).repeat_interleave(pts).unsqueeze(1)
        u = torch.cat([xy.reshape(fr * pts, 2) * 2 - 1, tn], dim=1)
        return u, z, flow

    def _time_input(self, t: Tensor) -> Tensor:
        """The base network's time coordinate 2 t / (frames - 1) - 1 of frame times t [F]."""
        return 2 * t / max(1, self.frames - 1) - 1

    def feature_key(self, t: float) -> int | None:
        """What the latent z at a point depends on besides the point: without an alignment
        flow only the GOP of t (so a decoder may reuse `lattice_terms` for every frame of a
        GOP); None with the flow (z moves with t)."""
        if self.flow is not None:
            return None
        return int(self.gop_index(torch.tensor([t], dtype=torch.float32)).item())

    def _features(self, xy: Tensor, t: Tensor, flow: Tensor, latent: Sequence[Tensor] | None = None,
                  static: Sequence[Tensor] | None = None) -> Tensor:
        """Latent z [F * P, Z] of points xy [F, P, 2] at times t [F]; `latent` / `static`
        replace the model's grid tables (fake-quantised copies during quantisation-aware fits)."""
        latent = list(self.latent) if latent is None else list(latent)
        static = list(self.static) if static is None else list(static)
        fr, pts = xy.shape[0], xy.shape[1]
        s_all = fr * pts
        k = self.gop_index(t).long()
        coords, gidx = [], []
        lookup_flow = flow
        if self.flow_grad_scale != 1.0 and flow.requires_grad:
            lookup_flow = _scale_grad(flow, self.flow_grad_scale)
        for j, p in enumerate(self.config.neighbors):
            aligned = xy + lookup_flow[..., 2 * j:2 * j + 2]
            bounds = self.norm_bounds[k + p]  # [F, 4]
            coords.append(normalize(aligned, bounds.unsqueeze(1)).reshape(s_all, 2))
            gidx.append((k + p).repeat_interleave(pts))
        feats = []
        lat = grid_lookup(latent, torch.cat(coords), torch.cat(gidx))
        feats.extend(lat.split(s_all, dim=0))
        xy_flat = xy.reshape(s_all, 2)
        if static:
            feats.append(grid_lookup(static, xy_flat))
        return torch.cat(feats, dim=1)

    def gop_features(self, pix: Tensor, gop: Tensor, latent: Sequence[Tensor] | None = None,
                     static: Sequence[Tensor] | None = None) -> Tensor:
        """`_features` of a model without an alignment flow at the pixels pix [P] (flat y W + x) of
        GOPs gop [P], the same values: the normalisation acts on each axis alone, so it runs on
        the axes of every grid and the points gather it (in C on a CPU fit:
        `point_features.native_gop_features`, the same floats)."""
        assert self.flow is None, "gop_features is the latent of a model without an alignment flow"
        latent = list(self.latent) if latent is None else list(latent)
        static = list(self.static) if static is None else list(static)
        b = self.norm_bounds  # [grids, 4]
        z = native_gop_features(pix, gop, self.config.neighbors, b, (self.width, self.height), latent, static)
        if z is not None:
            return z
        px, py = pix % self.width, torch.div(pix, self.width, rounding_mode="floor")
        xs, ys = pixel_axis(self.width, b.dtype, b.device), pixel_axis(self.height, b.dtype, b.device)
        nx = normalize_axis(xs.unsqueeze(0), b[:, 0:1], b[:, 2:3])  # [grids, W]
        ny = normalize_axis(ys.unsqueeze(0), b[:, 1:2], b[:, 3:4])
        coords, gidx = [], []
        for p in self.config.neighbors:
            g = gop + p
            coords.append(torch.stack([nx[g, px], ny[g, py]], dim=1))
            gidx.append(g)
        feats = list(grid_lookup(latent, torch.cat(coords), torch.cat(gidx)).split(pix.shape[0], dim=0))
        if static:
            feats.append(grid_lookup(static, torch.stack([xs[px], ys[py]], dim=1)))
        return torch.cat(feats, dim=1)

    def forward(self, xy: Tensor, t: Tensor, target: Tensor | None = None, return_flow: bool = False):
        """See `forward_frames` (target=None) and `fit_loss` (target given)."""
        fr, pts = xy.shape[0], xy.shape[1]
        u, z, flow = self._inputs(xy, t)
        ws = self.base.weight_list()
        if target is not None:
            loss = siren.fused_mse(self.base.spec, ws, u, z, target.reshape(fr * pts, 3), self.fused_chunk)
            return loss, flow
        if torch.is_grad_enabled() and (z.requires_grad or any(w.requires_grad for w in ws)):
            rgb = siren.reference(self.base.spec, ws, u, z)
        else:
            rgb = siren.infer(self.base.spec, ws, u, z, self.infer_chunk)
        rgb = rgb.view(fr, pts, 3)
        return (rgb, flow) if return_flow else rgb

    def forward_frames(self, xy: Tensor, t: Tensor, return_flow: bool = False):
        """RGB [F, P, 3] (not clamped) at points xy [F, P, 2] of frames t [F] (frame
        units, fractional allowed). With return_flow, also the alignment flow
        [F, P, 2|P|] (normalised units)."""
        return self(xy, t, return_flow=return_flow)

    def fit_loss(self, xy: Tensor, t: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """(MSE against target [F, P, 3], alignment flow) via the fused fitting path."""
        return self(xy, t, target=target)

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def lattice_terms(self, xs: Tensor, ys: Tensor, t: float) -> siren.PointTerms:
        """The time-free part of decoding the points of the lattice xs [W] x ys [H] (raster order)
        at frame time t (`siren.PointTerms`): grid lookups, modulator, the first layer's point
        factors. Without an alignment flow it depends on t only through the GOP (`feature_key`)
        and the grids are looked up separably (`grids.lattice_lookup`)."""
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        xy = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
        if self.flow is None:
            z = self._lattice_features(xs, ys, t)
        else:
            tt = torch.tensor([t], dtype=xy.dtype, device=xy.device)
            z = self._features(xy[None], tt, self.alignment_flow(xy[None], tt))
        return siren.point_terms(self.base.spec, self.base.weight_list(), xy * 2 - 1, z, self.infer_chunk)

    def _lattice_features(self, xs: Tensor, ys: Tensor, t: float) -> Tensor:
        """`_features` without an alignment flow at the lattice points (same values up to float
        rounding), as a transposed view of planar [Z, points] features: matrix products take it as
        it is, no transposing copy."""
        k = self.feature_key(t)
        feats = []
        for p in self.config.neighbors:
            b = self.norm_bounds[k + p]
            feats.append(lattice_lookup(list(self.latent), normalize_axis(xs, b[0], b[2]),
                                        normalize_axis(ys, b[1], b[3]), k + p))
        if len(self.static):
            feats.append(lattice_lookup(list(self.static), xs, ys))
        return torch.cat(feats, dim=0).t()

    @torch.no_grad()
    def synthesize(self, terms: siren.PointTerms, t: float) -> Tensor:
        """RGB [P, 3] (not clamped) at frame time t from the `lattice_terms` of its points at t, or
        at any time of the same GOP without an alignment flow."""
        tt = torch.tensor([t], dtype=terms.first_sin.dtype, device=terms.first_sin.device)
        return siren.synthesize(self.base.spec, self.base.weight_list(), terms, self._time_input(tt),
                                self.infer_chunk)

    # ------------------------------------------------------------------ normalisation
    @torch.no_grad()
    def estimate_bounds(self, xy: Tensor, frames: Sequence[int] | None = None,
                        frames_per_call: int = 16) -> Tensor:
        """Normalisation bounds [num_latent, 4] from the current alignment flow, using
        the points xy [Q, 2] of every frame (or of `frames`)."""
        cfg = self.config
        dev = self.norm_bounds.device
        xy = xy.to(dev, torch.float32)
        frames = list(range(self.frames)) if frames is None else list(frames)
        per_grid_x: list[list[Tensor]] = [[] for _ in range(self.num_latent)]
        per_grid_y: list[list[Tensor]] = [[] for _ in range(self.num_latent)]
        for c0 in range(0, len(frames), frames_per_call):
            ts = torch.tensor(frames[c0:c0 + frames_per_call], dtype=torch.float32, device=dev)
            pts = xy.unsqueeze(0).expand(len(ts), -1, -1)
            flow = self.alignment_flow(pts, ts)
            k = self.gop_index(ts).long().tolist()
            for j, p in enumerate(cfg.neighbors):
                aligned = pts + flow[..., 2 * j:2 * j + 2]
                for f, kk in enumerate(k):
                    per_grid_x[kk + p].append(aligned[f, :, 0])
                    per_grid_y[kk + p].append(aligned[f, :, 1])
        out = self.norm_bounds.clone()
        for g in range(self.num_latent):
            if not per_grid_x[g]:
                continue
            b = compute_bounds(torch.cat(per_grid_x[g]), torch.cat(per_grid_y[g]), cfg.normalization,
                               cfg.norm_threshold, cfg.norm_bins)
            out[g] = torch.tensor(b, dtype=out.dtype, device=dev)
        return out

    def extra_repr(self) -> str:
        n = self.num_parameters()
        return (f"{self.width}x{self.height}x{self.frames}, gops={self.num_gops}, "
                f"latent grids={self.num_latent}, params={n}")


def _flow_channels(config: NVTMConfig) -> int:
    """Outputs of the alignment flow: an (x, y) offset towards each neighbour keyframe."""
    return 2 * len(config.neighbors)


def weight_count(config: NVTMConfig) -> int:
    """The network weights of every NVTM of `config` (`num_parameters()["weights"]`, whatever the
    video geometry), counted from the config alone: no allocation, so safe on untrusted configs."""
    n = siren.weight_count(config.base, config.latent_dim, config.latent_mode == "modulation")
    if config.alignment == "flow":
        n += flow_weight_count(config.flow, _flow_channels(config))
    return n


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        return g * ctx.scale, None


def _scale_grad(x: Tensor, scale: float) -> Tensor:
    """Identity whose backward multiplies the gradient by `scale` (0: detach)."""
    return x.detach() if scale == 0 else _ScaleGrad.apply(x, scale)


def pixel_axis(size: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """[size] normalised coordinates (i + 0.5) / size of the pixel centres along an axis."""
    return (torch.arange(size, dtype=dtype, device=device) + 0.5) / size


def pixel_centres(width: int, height: int, device: torch.device | str | None = None) -> Tensor:
    """[H*W, 2] normalised (x, y) of every pixel centre, raster order."""
    xs, ys = pixel_axis(width, device=device), pixel_axis(height, device=device)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)


__all__ = ["NVTM", "pixel_axis", "pixel_centres", "weight_count"]
