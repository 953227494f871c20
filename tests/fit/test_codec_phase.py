"""HEVC in the loop: the fit's last phases see the codec's grids (`FitOptions.grid_codec`).

A stand-in codec (grids rounded to 9 levels per tensor range: a coarse, deterministic loss that
a fit can learn to absorb) keeps these tests fast; tests/rate/test_coded_grids.py runs the real
x265 round trip.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nvcodec.errors import InputError, Interrupted
from nvcodec.fit import FitOptions, fit
from nvcodec.fit.evaluate import evaluate_psnr
from nvcodec.fit.checkpoint import FitState, restore_checkpoint, save_checkpoint
from nvcodec.fit.schedule import codec_refresh_points, plan_phases
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM

T, H, W = 6, 16, 24


def coarse_codec(calls: list | None = None):
    """Like a coarse HEVC: each grid loses its fine detail (a 3x3 box blur) and is rounded to 17
    levels between its min and max."""

    @torch.no_grad()
    def codec(model: NVTM) -> dict[str, torch.Tensor]:
        if calls is not None:
            calls.append(model)
        out = {}
        for k, p in model.grid_tensors().items():
            n, c, h, w = p.shape
            blur = torch.nn.functional.avg_pool2d(p.reshape(n * c, 1, h, w), 3, 1, 1, count_include_pad=False)
            lo, hi = p.min(), p.max()
            step = (hi - lo).clamp(min=1e-12) / 16
            q = torch.round((blur.reshape(n, c, h, w) - lo) / step) * step + lo
            out[k] = q.contiguous(memory_format=torch.channels_last)
        return out

    return codec


def _model() -> NVTM:
    return NVTM(NVTMConfig.tiny().replace(alignment="none"), W, H, T, seed=0)


def _opts(**kw) -> FitOptions:
    base = dict(steps=200, device="cpu", seed=2, eval_pixels=None, points_per_set=96, sets_per_step=2,
                qat_fraction=0.3, finetune_fraction=0.1, weight_rel_step=1 / 64, progress_every_s=0,
                codec_refreshes=2)
    base.update(kw)
    return FitOptions(**base)


def test_phases_and_refresh_points():
    opts = _opts(grid_codec=coarse_codec(), codec_refreshes=2)
    phases = plan_phases(opts, has_aux=False)
    assert [(p.name, round(p.start, 3)) for p in phases] == [("main", 0.0), ("codec", 0.7), ("finetune", 0.9)]
    assert codec_refresh_points(phases, 2) == pytest.approx([0.7, 0.8, 0.9])
    plain = plan_phases(_opts(), has_aux=False)  # no codec: the QAT phase rounds to 8 bits, no fine-tuning
    assert [p.name for p in plain] == ["main", "qat"]
    with pytest.raises(InputError):
        _opts(finetune_fraction=0.5).validate()


def test_the_codec_phase_absorbs_the_codec_loss(make_clip):
    """After the codec phases the model decodes better through the codec than a model fitted the
    same way without them (the float model may get worse: it is not what the file holds)."""
    v = make_clip(T, H, W)
    calls: list = []
    seen = []
    aware, plain = _model(), _model()
    fit(aware, v, _opts(grid_codec=coarse_codec(calls)), progress=lambda p: seen.append(p.phase))
    fit(plain, v, _opts())
    assert len(calls) == 3  # at 0.7, 0.8 and where the grids freeze (0.9)
    assert seen.index("codec") < seen.index("finetune") and seen[-1] == "finetune"

    def through_codec(m: NVTM) -> float:
        with torch.no_grad():
            for k, g in coarse_codec()(m).items():
                m.grid_tensors()[k].copy_(g)
        return evaluate_psnr(m, v)

    # measured: the stand-in codec costs the plain fit 8.6 dB (31.6 -> 22.9); the aware fit decodes
    # 4.3 dB better through it (27.3); without the codec phases (or with a broken refresh) ~0
    gain = through_codec(aware) - through_codec(plain)
    assert gain > 2.0, gain


def test_grids_are_frozen_during_the_fine_tuning(make_clip):
    v = make_clip(T, H, W)
    snaps = {}

    def snap(p):
        if p.phase == "finetune" and "first" not in snaps:
            snaps["first"] = {k: t.detach().clone() for k, t in m.grid_tensors().items()}

    m = _model()
    fit(m, v, _opts(grid_codec=coarse_codec()), progress=snap)
    # the first fine-tuning step has run when the callback sees it: the grids did not move after
    assert all(torch.equal(snaps["first"][k], t) for k, t in m.grid_tensors().items())


def test_resume_inside_the_codec_phase_is_bit_exact(make_clip, tmp_path: Path):
    v = make_clip(T, H, W)
    ref = _model()
    fit(ref, v, _opts(grid_codec=coarse_codec()))
    ckpt = str(tmp_path / "fit.ckpt")

    def stop_at(p):
        if p.step == 165:  # after the refresh at 0.8 (step 160), before the freeze at 0.9
            raise KeyboardInterrupt

    m = _model()
    with pytest.raises(Interrupted):
        fit(m, v, _opts(grid_codec=coarse_codec(), checkpoint_path=ckpt), progress=stop_at)
    calls: list = []
    fresh = _model()
    fit(fresh, v, _opts(grid_codec=coarse_codec(calls), checkpoint_path=ckpt, resume=True))
    assert len(calls) == 1  # only the freeze's round trip is left
    ta, tb = ref.all_tensors(), fresh.all_tensors()
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


class _Clock:
    """A clock that moves by `tick` s per reading, and by whatever a fake codec adds."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_slow_round_trips_do_not_skip_the_phases_that_fit_the_file(make_clip):
    """The schedule's clock stops while the grids go through the codec: a first round trip longer
    than what is left of the budget (a 720p rate search at --time 60) used to end the fit after
    one step of the codec phase and none of the fine-tuning."""
    v = make_clip(T, H, W)
    clock = _Clock(0.01)
    inner = coarse_codec()
    spent: list[float] = []

    def slow_codec(model):
        spent.append(8.0 if not spent else 0.5)
        clock.now += spent[-1]
        return inner(model)

    phases: list[str] = []
    res = fit(_model(), v, _opts(steps=None, time_budget=20.0, clock=clock, grid_codec=slow_codec),
              progress=lambda p: phases.append(p.phase))
    assert len(spent) == 3
    steps = {name: phases.count(name) for name in ("main", "codec", "finetune")}
    # each phase has its share of the steps (main 0.7, codec 0.2, fine-tuning 0.1 of the schedule);
    # with the round trips on the schedule's clock: main ~350 steps, codec 1, no fine-tuning, one round trip
    assert steps["codec"] == pytest.approx(steps["main"] * 2 / 7, rel=0.2), steps
    assert steps["finetune"] == pytest.approx(steps["main"] / 7, rel=0.25), steps
    assert res.seconds == pytest.approx(20.0 + sum(spent), abs=0.2)  # the round trips come on top


def test_the_round_trips_seconds_survive_a_checkpoint(tmp_path: Path):
    m = _model()
    opt = torch.optim.Adam(m.parameters())
    path = str(tmp_path / "a.ckpt")
    save_checkpoint(path, m, opt, FitState(step=3, codec_seconds=41.5), torch.Generator().get_state(), 0)
    back = restore_checkpoint(path, _model(), torch.optim.Adam(_model().parameters()), torch.Generator())
    assert back.codec_seconds == 41.5
