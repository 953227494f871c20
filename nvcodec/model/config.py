"""NVTM hyper-parameters: frozen dataclasses with a strict JSON round trip.

Configs travel inside .nvc files, so `from_dict` trusts nothing: every field is
type- and range-checked and any problem raises `BitstreamError`. Every size that
rate control may choose (grid resolutions, levels, features, widths, GOP size,
SIREN omegas) is a field here; the model derives all tensor shapes from a config
plus the video geometry, so a decoder rebuilds identical shapes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar, Mapping, TypeVar

from ..errors import BitstreamError

NORMALIZATIONS = ("adaptive", "clip", "minmax")
ALIGNMENTS = ("flow", "none")
LATENT_MODES = ("modulation", "input")

# Upper bounds keep a hostile or corrupt file from asking for absurd allocations.
_MAX_RES = 1 << 15
_MAX_LEVELS = 32
_MAX_FEATURES = 64
_MAX_WIDTH = 4096
_MAX_DEPTH = 64


def _fail(where: str, msg: str) -> BitstreamError:
    return BitstreamError(f"invalid model config: {where}: {msg}")


def _get_int(d: Mapping[str, Any], key: str, where: str, lo: int, hi: int) -> int:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(f"{where}.{key}", f"expected an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise _fail(f"{where}.{key}", f"{v} outside [{lo}, {hi}]")
    return v


def _get_float(d: Mapping[str, Any], key: str, where: str, lo: float, hi: float,
               lo_open: bool = False) -> float:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(f"{where}.{key}", f"expected a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v) or v > hi or v < lo or (lo_open and v <= lo):
        raise _fail(f"{where}.{key}", f"{v} outside {'(' if lo_open else '['}{lo}, {hi}]")
    return v


def _get_bool(d: Mapping[str, Any], key: str, where: str) -> bool:
    v = d[key]
    if not isinstance(v, bool):
        raise _fail(f"{where}.{key}", f"expected a boolean, got {type(v).__name__}")
    return v


def _get_choice(d: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...],
                default: str | None = None) -> str:
    v = d.get(key, default) if default is not None else d[key]
    if not isinstance(v, str) or v not in choices:
        raise _fail(f"{where}.{key}", f"{v!r} is not one of {choices}")
    return v


def _check_keys(d: Any, cls: type, where: str, optional: frozenset[str] = frozenset()) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise _fail(where, f"expected an object, got {type(d).__name__}")
    names = {f.name for f in fields(cls)}
    extra = set(d) - names
    missing = names - set(d) - optional
    if extra:
        raise _fail(where, f"unknown field(s) {sorted(map(str, extra))}")
    if missing:
        raise _fail(where, f"missing field(s) {sorted(missing)}")
    return d


#: a field's check: (the section's dict, the field's name, where, the fields checked before it) -> value
_Check = Callable[[Mapping[str, Any], str, str, Mapping[str, Any]], Any]


def _checked_field(default: Any, check: _Check) -> Any:
    return field(default=default, metadata={"check": check})


def _int_field(default: int, lo: int, hi: int | str) -> Any:
    """An integer field in [lo, hi]; a string hi names an earlier field of the section (its value)."""
    return _checked_field(default, lambda d, k, where, got: _get_int(
        d, k, where, lo, got[hi] if isinstance(hi, str) else hi))


def _float_field(default: float | None, lo: float, hi: float, *, lo_open: bool = False,
                 optional: bool = False) -> Any:
    """A finite number in [lo, hi] ((lo, hi] with lo_open); also None when optional."""
    return _checked_field(default, lambda d, k, where, got: (
        None if optional and d[k] is None else _get_float(d, k, where, lo, hi, lo_open)))


_S = TypeVar("_S", bound="_Section")


class _Section:
    """A part of the model config: a frozen dataclass whose fields carry their own checks
    (`_int_field`, `_float_field`), with a strict JSON round trip (`where` names it in errors)."""

    WHERE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def validate(self: _S, where: str | None = None) -> _S:
        type(self).from_dict(self.to_dict(), where)
        return self

    @classmethod
    def from_dict(cls: type[_S], d: Any, where: str | None = None) -> _S:
        where = where or cls.WHERE
        d = _check_keys(d, cls, where)
        got: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            got[f.name] = f.metadata["check"](d, f.name, where, got)
        return cls(**got)


@dataclass(frozen=True)
class GridConfig(_Section):
    """A multi-resolution 2-D feature grid pyramid.

    Level l has resolution min(floor(base_resolution * scale**l), frame size) per
    axis (at least 2). `scale=None` picks the growth factor so that the finest
    level reaches the larger frame dimension (Instant-NGP's rule):
    scale = (max(W, H) / base) ** (1 / (levels - 1)).
    """

    WHERE: ClassVar[str] = "grid"

    base_resolution: int = _int_field(16, 2, _MAX_RES)
    levels: int = _int_field(7, 1, _MAX_LEVELS)
    scale: float | None = _float_field(1.8, 1.0, 64.0, optional=True)
    features: int = _int_field(4, 1, _MAX_FEATURES)
    init_range: float = _float_field(1e-4, 0.0, 10.0)  # U(-r, r) initialisation (Instant-NGP)

    def resolutions(self, width: int, height: int) -> list[tuple[int, int]]:
        """(res_x, res_y) per level for a frame of `width` x `height` pixels.

        Pure float64 arithmetic on config values: every machine gets the same shapes.
        """
        scale = self.growth(width, height)
        out = []
        for lev in range(self.levels):
            r = math.floor(self.base_resolution * scale**lev + 1e-6)
            out.append((max(2, min(r, width)), max(2, min(r, height))))
        return out

    def growth(self, width: int, height: int) -> float:
        """The per-level growth factor (resolves `scale=None`)."""
        if self.scale is not None:
            return self.scale
        big = max(width, height)
        if self.levels <= 1 or big <= self.base_resolution:
            return 1.0
        return (big / self.base_resolution) ** (1.0 / (self.levels - 1))


@dataclass(frozen=True)
class FlowConfig(_Section):
    """Hyper-SIREN alignment flow F_H(t)(x, y) (Eq. 2-4).

    The flow SIREN has `layers` linear layers (2 -> hidden -> ... -> 2|P|) whose
    weights a hyper-network generates per frame; the hyper-network has
    `hyper_layers` sine hidden layers of `hyper_hidden` units fed with
    (t / (T-1), (t - t_k) / n).
    """

    WHERE: ClassVar[str] = "flow"

    layers: int = _int_field(5, 2, _MAX_DEPTH)
    hidden: int = _int_field(8, 1, 256)
    omega: float = _float_field(30.0, 0.0, 1e4, lo_open=True)
    hyper_layers: int = _int_field(1, 1, 8)
    hyper_hidden: int = _int_field(64, 1, 1024)
    hyper_omega: float = _float_field(30.0, 0.0, 1e4, lo_open=True)


@dataclass(frozen=True)
class BaseNetConfig(_Section):
    """Modulated SIREN (Mehta et al. 2021): `depth` modulated sine layers of `width`.

    Synthesis h_i = g_i * sin(omega (W_i h_{i-1} + b_i)) (omega_first for i = 1),
    modulator g_i = ReLU(W'_i [g_{i-1}; z] + b'_i). With modulator_width < width,
    only the first modulator_width synthesis units are modulated (a cheaper
    modulator; the rest behave as a plain SIREN).
    """

    WHERE: ClassVar[str] = "base"

    depth: int = _int_field(3, 1, _MAX_DEPTH)
    width: int = _int_field(185, 1, _MAX_WIDTH)
    modulator_width: int = _int_field(185, 1, "width")
    omega_first: float = _float_field(30.0, 0.0, 1e4, lo_open=True)
    omega: float = _float_field(30.0, 0.0, 1e4, lo_open=True)


@dataclass(frozen=True)
class GridShapes:
    """Per-level grid shapes [count, features, ry, rx] of a model on a clip."""

    latent: list[tuple[int, int, int, int]]
    static: list[tuple[int, int, int, int]]

    @property
    def values(self) -> int:
        """Grid values in all: what the grid bit budget pays for."""
        return sum(n * f * ry * rx for n, f, ry, rx in self.latent + self.static)


@dataclass(frozen=True)
class NVTMConfig:
    """Everything that defines an NVTM model besides the video geometry.

    Ablation switches: `normalization` (Eq. 5 adaptive / clip / min-max),
    `use_static_grid`, `latent_mode` ("modulation" or "input": z concatenated to
    (x, y, t)), `neighbors` (the index set P: (0,) or (0, 1)), `gop_size` (n),
    `alignment` ("flow": the hyper-SIREN flow of Eq. 2-4; "none": points look up
    the keyframe grids unmoved, no flow network is stored). `norm_threshold` is
    r_th; `norm_bins` the histogram bins per unit length used to find the dense region.
    """

    gop_size: int = 10
    neighbors: tuple[int, ...] = (0, 1)
    latent: GridConfig = field(default_factory=GridConfig)
    static: GridConfig = field(
        default_factory=lambda: GridConfig(base_resolution=16, levels=16, scale=None, features=2))
    use_static_grid: bool = True
    flow: FlowConfig = field(default_factory=FlowConfig)
    base: BaseNetConfig = field(default_factory=BaseNetConfig)
    normalization: str = "adaptive"
    norm_threshold: float = 0.5
    norm_bins: int = 32
    latent_mode: str = "modulation"
    alignment: str = "flow"

    def __post_init__(self) -> None:
        # tuples survive JSON as lists; normalise so that equality works
        object.__setattr__(self, "neighbors", tuple(self.neighbors))

    @classmethod
    def paper(cls) -> "NVTMConfig":
        """The paper's defaults: a one-line delegate to `model.presets.paper` (defined there)."""
        from .presets import paper
        return paper()

    @classmethod
    def tiny(cls) -> "NVTMConfig":
        """A very small model for tests: a one-line delegate to `model.presets.tiny` (defined there)."""
        from .presets import tiny
        return tiny()

    def num_gops(self, frames: int) -> int:
        """GOPs of a clip: ceil(frames / n), the last one possibly short."""
        return -(-frames // self.gop_size)

    def num_latent(self, frames: int) -> int:
        """Latent grids a clip stores: one per GOP keyframe, plus the clip's end when P = {0, 1}
        (the last GOP interpolates towards it)."""
        return self.num_gops(frames) + (1 if 1 in self.neighbors else 0)

    def grid_shapes(self, width: int, height: int, frames: int) -> "GridShapes":
        """The shape [count, features, ry, rx] of every grid level of a clip (the one rule NVTM,
        sizing and the decoder's size checks share)."""
        n = self.num_latent(frames)
        latent = [(n, self.latent.features, ry, rx) for rx, ry in self.latent.resolutions(width, height)]
        static = ([(1, self.static.features, ry, rx) for rx, ry in self.static.resolutions(width, height)]
                  if self.use_static_grid else [])
        return GridShapes(latent, static)

    @property
    def latent_dim(self) -> int:
        """Size of the modulation latent z (Eq. 6 plus the static features)."""
        z = len(self.neighbors) * self.latent.levels * self.latent.features
        if self.use_static_grid:
            z += self.static.levels * self.static.features
        return z

    def replace(self, **changes: Any) -> "NVTMConfig":
        d = self.to_dict()
        for k, v in changes.items():
            d[k] = v.to_dict() if hasattr(v, "to_dict") else (list(v) if isinstance(v, tuple) else v)
        return NVTMConfig.from_dict(d)

    def validate(self) -> "NVTMConfig":
        return NVTMConfig.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "gop_size": self.gop_size,
            "neighbors": list(self.neighbors),
            "latent": self.latent.to_dict(),
            "static": self.static.to_dict(),
            "use_static_grid": self.use_static_grid,
            "flow": self.flow.to_dict(),
            "base": self.base.to_dict(),
            "normalization": self.normalization,
            "norm_threshold": self.norm_threshold,
            "norm_bins": self.norm_bins,
            "latent_mode": self.latent_mode,
            "alignment": self.alignment,
        }

    @classmethod
    def from_dict(cls, d: Any) -> "NVTMConfig":
        where = "config"
        # `alignment` came after the first files were written: absent means "flow"
        d = _check_keys(d, cls, where, optional=frozenset({"alignment"}))
        nb = d["neighbors"]
        if (not isinstance(nb, (list, tuple)) or any(isinstance(x, bool) for x in nb)
                or tuple(nb) not in ((0,), (0, 1))):
            raise _fail(f"{where}.neighbors", f"{nb!r} is not [0] or [0, 1]")
        return cls(
            gop_size=_get_int(d, "gop_size", where, 1, 1 << 20),
            neighbors=tuple(int(x) for x in nb),
            latent=GridConfig.from_dict(d["latent"], f"{where}.latent"),
            static=GridConfig.from_dict(d["static"], f"{where}.static"),
            use_static_grid=_get_bool(d, "use_static_grid", where),
            flow=FlowConfig.from_dict(d["flow"], f"{where}.flow"),
            base=BaseNetConfig.from_dict(d["base"], f"{where}.base"),
            normalization=_get_choice(d, "normalization", where, NORMALIZATIONS),
            norm_threshold=_get_float(d, "norm_threshold", where, 0.0, 1.0, lo_open=True),
            norm_bins=_get_int(d, "norm_bins", where, 2, 4096),
            latent_mode=_get_choice(d, "latent_mode", where, LATENT_MODES),
            alignment=_get_choice(d, "alignment", where, ALIGNMENTS, default="flow"),
        )
