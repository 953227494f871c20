"""rate.search: the file is never above target x (1 + tol), and below target x (1 - tol) only
with the reason reported (`under_target`); the lossless, coarsest-weights and failure paths.

Two kinds of model: a fake whose file size is a formula of (grid QPs, weight step), so that
each path of the search is hit on purpose in milliseconds, and a tiny real NVTM coded for real
(HEVC grids, entropy-coded weights) for the bounds on actual bytes.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from nvcodec.bitstream.format import StreamHeader
from nvcodec.bitstream.reader import read_container
from nvcodec.compress import model_codec
from nvcodec.errors import EncodeError
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.rate import search
from nvcodec.rate.search import MAX_QP, search_rate, smallest_fitting_qp

TOL = 0.03
STEP = 1 / 16  # the encoder's weight step (RateModel.weight_rel_step)


# ------------------------------------------------------------------ fake sizes

def fake_search(monkeypatch, target: float, *, grid: float = 4000.0, qp_ratio: float = 0.95,
                weights: float = 1000.0, weight_exp: float = 1.0, static_share: float = 0.2, step: float = STEP):
    """search_rate on a model whose file has `100 + grids(QP) + weights(step)` bytes:
    grids = grid * qp_ratio^QP (static_share of it the static grid's; lossless = QP -6), weights =
    weights * (STEP / step)^weight_exp. Returns (choice, size function)."""

    def size(lq, sq, st):
        g = lambda qp: grid * qp_ratio ** (-6 if qp is None else qp)  # noqa: E731
        return int(round(100 + (1 - static_share) * g(lq) + static_share * g(sq) + weights * (STEP / st) ** weight_exp))

    def build(q, header, lq, sq, st, preset, info, payloads=None):
        return search.RateChoice(lq, sq, st, b"\0" * size(lq, sq, st), q)

    monkeypatch.setattr(search, "build_choice", build)
    q = types.SimpleNamespace(static=object())
    return search_rate(lambda s: q, None, target, weight_rel_step=step, tolerance=TOL), size


@pytest.mark.parametrize("target", np.linspace(1500, 6000, 13).tolist())
def test_lands_in_the_window_when_settings_are_fine_enough(monkeypatch, target):
    c, _ = fake_search(monkeypatch, target, qp_ratio=0.97)  # 3 % per QP: a window of 6 % is always hit
    assert target * (1 - TOL) <= c.size <= target * (1 + TOL), c.size / target
    assert c.under_target is None and search.describe(c)["under_target"] is None


def test_lossless_below_the_target_is_reported(monkeypatch):
    c, size = fake_search(monkeypatch, 20000)
    assert (c.latent_qp, c.static_qp, c.weight_rel_step) == (None, None, STEP)
    assert c.size == size(None, None, STEP) < 20000 * (1 - TOL)
    assert "lossless" in c.under_target and f"{c.size} bytes" in c.under_target
    # lossless inside the window: not under the target, nothing to report
    c, size = fake_search(monkeypatch, size(None, None, STEP) * 1.01)
    assert c.latent_qp is None and c.under_target is None


def test_coarser_weights_when_the_coarsest_grids_do_not_fit(monkeypatch):
    # the weights alone (5000 bytes at STEP) exceed the target: the search coarsens them (x1.5 per try)
    c, size = fake_search(monkeypatch, 3000, weights=5000.0)
    assert c.weight_rel_step > STEP and c.size <= 3000 * (1 + TOL)
    assert size(MAX_QP, MAX_QP, STEP) > 3000 * (1 + TOL)


def test_nothing_fits_fails_with_the_smallest_size(monkeypatch):
    with pytest.raises(EncodeError, match=r"cannot reach 150 bytes: the smallest file this model allows is \d+ bytes "
                                          r"\(~\d+\.\dx the target\); raise --bpp"):
        fake_search(monkeypatch, 150, weights=5000.0)


def test_coarse_qp_steps_that_overshoot_are_reported(monkeypatch):
    # one QP step changes the file by ~15 % and finer weights add ~15 % a step: no setting in the window
    c, size = fake_search(monkeypatch, 2600, grid=30000.0, qp_ratio=0.7, weights=1500.0, static_share=0.0)
    assert c.size <= 2600 * (1 + TOL)
    assert c.size < 2600 * (1 - TOL) and "exceed the target" in c.under_target
    assert size(c.latent_qp - 1, c.latent_qp - 1, STEP) > 2600 * (1 + TOL)  # the report is true


def test_weight_refinement_cap_is_reported(monkeypatch):
    # finer weights barely grow the file (+2 % over 10 steps): the refinement stops at ~1/8 of the step
    c, _ = fake_search(monkeypatch, 2600, grid=30000.0, qp_ratio=0.7, weights=1500.0, weight_exp=0.01,
                       static_share=0.0)
    assert c.size < 2600 * (1 - TOL) and "finest weight step" in c.under_target
    assert c.weight_rel_step < STEP / 7


# ------------------------------------------------------------------ a real model, real bytes

@pytest.fixture(scope="module")
def real():
    """A tiny NVTM with random grids (so that HEVC's QP moves the size) and its header."""
    torch.manual_seed(0)
    m = NVTM(NVTMConfig.tiny(), 48, 32, 4, seed=0)
    with torch.no_grad():
        for g in m.grid_tensors().values():
            g.uniform_(-0.3, 0.3)
    header = StreamHeader.from_video_info(types.SimpleNamespace(
        width=48, height=32, frames=4, fps=25, chroma="420", chroma_siting="jpeg", bit_depth=8,
        matrix="bt601", color_range="limited"))
    quantize = lambda step: model_codec.quantize_model(m, step)  # noqa: E731
    sizes = {qp: search.build_choice(quantize(STEP), header, qp, qp, STEP, "medium", None).size for qp in (None, MAX_QP)}
    return quantize, header, sizes


def test_real_model_sizes_are_bounded_on_both_sides(real):
    quantize, header, sizes = real
    lossless, coarsest = sizes[None], sizes[MAX_QP]
    assert coarsest < lossless / 2  # the grids' QP spans a real range here
    landed = 0
    for target in np.geomspace(coarsest * 1.1, lossless * 0.9, 5):
        c = search_rate(quantize, header, target, weight_rel_step=STEP, tolerance=TOL)
        assert c.size <= target * (1 + TOL)
        assert c.size >= target * (1 - TOL) or c.under_target, (target, c.size, search.describe(c))
        landed += c.under_target is None
        back = read_container(c.data, known_types=model_codec.KNOWN_TYPES)  # the bytes are a valid file
        assert back.header.width == 48
    assert landed >= 3  # most targets are hit, not merely reported
    c = search_rate(quantize, header, lossless * 2, weight_rel_step=STEP, tolerance=TOL)
    assert c.latent_qp is None and c.size == lossless and "lossless" in c.under_target


def test_progress_hears_every_setting_tried_once(monkeypatch):
    heard: list[str] = []

    def build(q, header, lq, sq, st, preset, info, payloads=None):
        return search.RateChoice(lq, sq, st, b"\0" * int(100 + 4000 * 0.97 ** (-6 if lq is None else lq)), q)

    monkeypatch.setattr(search, "build_choice", build)
    q = types.SimpleNamespace(static=object())
    c = search_rate(lambda s: q, None, 2500, weight_rel_step=STEP, tolerance=TOL, progress=heard.append)
    assert heard[0].startswith(f"grid QP {search.DEFAULT_START_QP}/") and len(heard) == len(set(heard)) >= 3
    assert heard[-1].endswith(f"{len(heard)} tried)") and any(f": {c.size} bytes" in h for h in heard)


def test_settings_that_share_a_grid_stream_code_it_once(real, monkeypatch):
    """Each (grid set, QP) is coded once per search, and the file is the one that building the
    chosen settings from scratch writes."""
    quantize, header, sizes = real
    encodes: list[tuple] = []
    plain = model_codec.encode_grid_payload
    monkeypatch.setattr(model_codec, "encode_grid_payload",
                        lambda grids, qp, preset="medium": encodes.append((qp, tuple(grids.shapes)))
                        or plain(grids, qp, preset))
    tried: list[str] = []
    target = (sizes[None] * sizes[MAX_QP]) ** 0.5
    c = search_rate(quantize, header, target, weight_rel_step=STEP, tolerance=TOL, progress=tried.append)
    grid_kinds = 2  # latent and static
    assert len(encodes) < grid_kinds * len(tried)  # some settings reused a stream
    assert len(set(encodes)) == len(encodes)  # the grids are the same in every setting: none coded twice
    monkeypatch.setattr(model_codec, "encode_grid_payload", plain)
    fresh = search.build_choice(quantize(c.weight_rel_step), header, c.latent_qp, c.static_qp, c.weight_rel_step,
                                "medium")
    assert fresh.data == c.data


def test_grid_payloads_tell_different_grids_apart(real):
    quantize, _, _ = real
    q = quantize(STEP)
    other = model_codec.GridSet([c.copy() for c in q.latent.codes], q.latent.ranges)
    other.codes[0][0, 0, 0, 0] ^= 1
    coder = model_codec.GridPayloads()
    a = coder.encode(q.latent, 30)
    assert coder.encode(model_codec.GridSet([c.copy() for c in q.latent.codes], q.latent.ranges), 30) is a
    assert coder.encodes == 1
    coder.encode(other, 30)
    coder.encode(q.latent, 31)
    assert coder.encodes == 3


# ------------------------------------------------------------------ where the QP search starts

@pytest.mark.parametrize("threshold", [0, 1, 2, 13, 26, 27, 28, 40, 50, MAX_QP, None])
def test_smallest_fitting_qp_is_the_threshold_from_any_start(threshold):
    """The gallop + bisection finds the same QP a scan would, from every start, never asks about
    a QP twice, and costs two questions when the start is the answer."""
    for start in range(-3, MAX_QP + 4):
        asked: list[int] = []

        def fits(qp: int) -> bool:
            assert 0 <= qp <= MAX_QP and qp not in asked
            asked.append(qp)
            return threshold is not None and qp >= threshold

        assert smallest_fitting_qp(fits, start) == threshold, (start, asked)
        assert len(asked) <= 2 * 6 + 1  # two gallops of at most six strides, then the bisection
        if start == threshold and threshold not in (0, MAX_QP):
            assert asked == [threshold, threshold - 1]


def test_a_start_at_the_answer_costs_fewer_files(monkeypatch):
    def tried(start_qp):
        heard: list[str] = []

        def build(q, header, lq, sq, st, preset, info, payloads=None):
            return search.RateChoice(lq, sq, st, b"\0" * int(100 + 4000 * 0.97 ** (-6 if lq is None else lq)), q)

        monkeypatch.setattr(search, "build_choice", build)
        c = search_rate(lambda s: types.SimpleNamespace(static=None), None, 2500, weight_rel_step=STEP,
                        tolerance=TOL, progress=heard.append, start_qp=start_qp)
        return c, heard

    cold, cold_heard = tried(None)
    warm, warm_heard = tried(cold.latent_qp)
    assert warm.data == cold.data and (warm.latent_qp, warm.weight_rel_step) == (cold.latent_qp, cold.weight_rel_step)
    assert len(warm_heard) < len(cold_heard)
    assert [h.split(",")[0] for h in warm_heard[:2]] == [f"grid QP {cold.latent_qp}/None",
                                                         f"grid QP {cold.latent_qp - 1}/None"]


def test_grid_payloads_remember_the_last_grid_sets_of_each_shape(real):
    quantize, _, _ = real
    q = quantize(STEP)

    def variant(i: int) -> model_codec.GridSet:
        g = model_codec.GridSet([c.copy() for c in q.latent.codes], q.latent.ranges)
        g.codes[0][0, 0, 0, 0] ^= i
        return g

    coder = model_codec.GridPayloads(keep=2)
    a, b, c = variant(0), variant(1), variant(2)
    coder.encode(a, 40)
    coder.encode(b, 40)
    coder.encode(a, 40)  # a used last: b is the one to go
    coder.encode(c, 40)
    assert coder.encodes == 3
    coder.encode(a, 40)
    assert coder.encodes == 3  # still known
    coder.encode(b, 40)
    assert coder.encodes == 4  # forgotten, coded again
