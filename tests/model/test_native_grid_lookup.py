"""The C grid lookup (`nvcodec.native`, used while fitting) against the torch lookup."""

from __future__ import annotations

import pytest
import torch

from nvcodec import native
from nvcodec.model import grids

RES = [(2, 2), (3, 5), (17, 9), (64, 40)]


def _tables(count, channels, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [grids.new_grid(count, channels, r, 0.5, g).requires_grad_() for r in RES]


def _coords(samples, count, seed=1):
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(samples, 2, generator=g) * 1.2 - 0.1  # some outside [0, 1]: clamped to the border
    c[:4] = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    return c, torch.randint(0, count, (samples,), generator=g)


def _run(tables, coords, index, grad_out):
    for t in tables:
        t.grad = None
    out = grids.grid_lookup(tables, coords, index)
    (out * grad_out).sum().backward()
    return out.detach(), [t.grad.clone() for t in tables]


@pytest.mark.parametrize("count, channels, indexed", [(1, 2, False), (4, 3, True), (3, 1, True)])
def test_native_lookup_matches_the_torch_lookup(count, channels, indexed, monkeypatch):
    if native.grid_lookup() is None:
        pytest.skip("no C compiler here (or the kernel did not build): the torch lookup is what runs")
    tables = _tables(count, channels)
    coords, index = _coords(500, count)
    index = index if indexed else None
    grad_out = torch.randn(500, len(RES) * channels, generator=torch.Generator().manual_seed(2))
    out_c, grads_c = _run(tables, coords, index, grad_out)
    monkeypatch.setenv(native.SWITCH, "0")
    out_t, grads_t = _run(tables, coords, index, grad_out)
    assert torch.allclose(out_c, out_t, rtol=0, atol=3e-7)
    assert torch.allclose(out_c, grids.grid_lookup_reference(tables, coords, index).detach(), atol=1e-6)
    for a, b in zip(grads_c, grads_t):  # the same products added in the same order as index_add_
        assert torch.equal(a, b)
        assert a.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_levels_side_by_side_give_the_bits_of_one_thread(threads):
    """The levels split over threads (each writes its own columns and its own table): the same
    output and gradients as one call, whatever the split."""
    if native.grid_lookup() is None:
        pytest.skip("no C compiler here (or the kernel did not build): the torch lookup is what runs")
    tables = _tables(3, 2)
    coords, index = _coords(700, 3)
    grad_out = torch.randn(700, len(RES) * 2, generator=torch.Generator().manual_seed(3))
    with native.threads_for_kernels(1):
        assert grids._level_ranges(len(RES)) == [(0, len(RES))]
        out_1, grads_1 = _run(tables, coords, index, grad_out)
    with native.threads_for_kernels(threads):
        ranges = grids._level_ranges(len(RES))
        assert len(ranges) == min(threads, len(RES)) and ranges[0][0] == 0 and ranges[-1][1] == len(RES)
        assert all(a < b and b == c for (a, b), (c, _) in zip(ranges, ranges[1:] + [(ranges[-1][1], 0)]))
        out_n, grads_n = _run(tables, coords, index, grad_out)
    assert torch.equal(out_1, out_n)
    assert all(torch.equal(a, b) for a, b in zip(grads_1, grads_n))


def test_decoding_and_coordinate_gradients_keep_the_torch_lookup(monkeypatch):
    """No table gradient (decoding) or a coordinate gradient (alignment flow): torch's lookup."""
    monkeypatch.setattr(native, "grid_lookup", lambda: pytest.fail("the C lookup was asked for"))
    tables = _tables(2, 2)
    coords, index = _coords(50, 2)
    with torch.no_grad():
        grids.grid_lookup(tables, coords, index)
    coords.requires_grad_()
    grids.grid_lookup(tables, coords, index).sum().backward()
    assert coords.grad is not None and coords.grad.abs().sum() > 0


def test_a_nan_coordinate_reads_the_first_cell():
    """A NaN position clamps to 0 in the C lookup: the value of the grid's first cell, never a
    read outside the table (only a hostile or degenerate model can produce one)."""
    if native.grid_lookup() is None:
        pytest.skip("no C compiler here (or the kernel did not build): the torch lookup is what runs")
    tables = _tables(3, 2)
    coords = torch.tensor([[float("nan"), float("nan")], [float("nan"), 0.0]])
    index = torch.tensor([2, 1])
    out = grids.grid_lookup(tables, coords, index).detach()
    for lev, t in enumerate(tables):
        assert torch.equal(out[0, 2 * lev:2 * lev + 2], t.detach()[2, :, 0, 0])
        assert torch.equal(out[1, 2 * lev:2 * lev + 2], t.detach()[1, :, 0, 0])
