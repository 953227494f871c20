"""render_frames reuses a GOP's time-free terms without an alignment flow and renders frames side by side:
the same bytes either way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM
from nvcodec.render import feature_bytes, frame_features, render_frame, render_frames

W, H, T = 13, 9, 7  # tiny() has GOP 2: GOPs {0,1} {2,3} {4,5} {6}


def _model(alignment: str, latent_mode: str = "modulation") -> NVTM:
    m = NVTM(NVTMConfig.tiny().replace(alignment=alignment, latent_mode=latent_mode), W, H, T, seed=3)
    with torch.no_grad():
        for g in m.grid_tensors().values():
            g.uniform_(-1, 1, generator=torch.Generator().manual_seed(1))
    return m.eval()


def test_feature_key_is_the_gop_without_flow_and_none_with_it():
    assert [_model("none").feature_key(t) for t in (0.0, 1.0, 1.99, 2.0, 5.5, 6.0)] == [0, 0, 0, 1, 2, 3]
    assert _model("flow").feature_key(1.0) is None


@pytest.mark.parametrize("alignment", ["none", "flow"])
@pytest.mark.parametrize("latent_mode", ["modulation", "input"])
@pytest.mark.parametrize("size", [(W, H), (2 * W, 2 * H), (7, 5)])
def test_reused_latent_gives_the_same_bytes(alignment, latent_mode, size):
    m = _model(alignment, latent_mode)
    m.infer_chunk = 7  # several modulator chunks per tile
    times = [0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 4.75, 6.0]
    w, h = size
    reused = list(render_frames(m, times, w, h, tile_points=20))  # several tiles per frame
    for t, frame in zip(times, reused):
        assert np.array_equal(frame, render_frame(m, t, w, h, tile_points=20)), t
    assert len({f.tobytes() for f in reused}) == len(times)  # the frames do differ


def test_reuse_is_skipped_over_the_memory_bound(monkeypatch):
    m = _model("none")
    calls = []
    monkeypatch.setattr("nvcodec.render.frame_features", lambda *a, **k: calls.append(a) or frame_features(*a, **k))
    list(render_frames(m, [0.0, 1.0, 2.0], W, H))
    assert len(calls) == 2  # once per GOP
    calls.clear()
    list(render_frames(m, [0.0, 1.0, 2.0], W, H, cache_bytes=feature_bytes(m, W, H) - 1))
    assert calls == []


@pytest.mark.parametrize("alignment", ["none", "flow"])
def test_frames_side_by_side_give_the_same_bytes_in_order_and_restore_threads(alignment):
    m = _model(alignment)
    times = [0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 4.75, 6.0]
    outer = torch.get_num_threads()
    torch.set_num_threads(2)
    before = torch.get_num_threads()
    one = list(render_frames(m, times, W, H, tile_points=20, workers=1))
    three = list(render_frames(m, times, W, H, tile_points=20, workers=3))
    assert torch.get_num_threads() == before
    assert all(np.array_equal(a, b) for a, b in zip(one, three)) and len(three) == len(times)
    for t, frame in zip(times, three):  # in order: each is its own time's frame
        assert np.array_equal(frame, render_frame(m, t, W, H, tile_points=20))
    gen = render_frames(m, times, W, H, workers=2)
    next(gen)
    assert torch.get_num_threads() == 1  # one thread per operation while frames render side by side
    gen.close()  # a consumer that stops early (an error, Ctrl-C) gets its thread count back
    assert torch.get_num_threads() == before == 2
    torch.set_num_threads(outer)


@pytest.mark.parametrize("first_closed", [0, 1])
def test_interleaved_renderers_restore_the_thread_count_whichever_ends_first(first_closed):
    """The encoder renders the decoded and the fitted model in step; neither may leave torch at one thread."""
    m = _model("none")
    outer = torch.get_num_threads()
    torch.set_num_threads(2)
    gens = [render_frames(m, [0.0, 1.0], W, H), render_frames(m, [0.0, 1.0], W, H)]
    for g in gens:
        next(g)
    assert torch.get_num_threads() == 1
    gens[first_closed].close()
    assert torch.get_num_threads() == 1  # the other one still renders
    gens[1 - first_closed].close()
    assert torch.get_num_threads() == 2
    torch.set_num_threads(outer)
