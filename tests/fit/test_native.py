"""The C point-set kernel of the dense engine (`nvcodec.native`) against the torch path it replaces."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from nvcodec import native
from nvcodec.fit import dense
from nvcodec.model import siren

# width, modulated units, depth: vectors of 16, 8 and 4 floats (the widest dividing both widths)
SHAPES = [(32, 32, 3), (32, 16, 3), (24, 24, 1), (40, 8, 2), (12, 4, 2)]
Z = 8


def _kernel_or_skip(width=32, mod_width=32, depth=3):
    if native.point_set(width, mod_width, depth, Z) is None:
        pytest.skip("no C compiler here (or the kernel did not build): the torch path is what runs")


class _Cfg:
    def __init__(self, width, mod_width, depth):
        self.width, self.modulator_width, self.depth = width, mod_width, depth


def _problem(width, mod_width, depth, dtype=torch.float32, points=100, frames=5, seed=0):
    spec = siren.SirenSpec(depth, width, mod_width, 30.0, 30.0, True, Z)
    g = torch.Generator().manual_seed(seed)
    shapes = siren.parameter_shapes(_Cfg(width, mod_width, depth), Z, True)
    ws = [(torch.randn(s, generator=g) * (0.05 if k == "syn_w" else 0.3)).to(dtype)
          for k in ("syn_w", "syn_b", "out_w", "out_b", "mod_z", "mod_b", "mod_g") for s in shapes[k]]
    xy = (torch.rand(points, 2, generator=g) * 2 - 1).to(dtype)
    z = torch.randn(points, Z, generator=g).to(dtype)
    tn = torch.linspace(-1, 1, frames, dtype=dtype)
    target = torch.rand(frames, points, 3, generator=g).to(dtype)
    weight = (torch.rand(frames, points, generator=g) > 0.3).to(dtype)
    return spec, ws, xy, z, tn, target, weight


def _loss_and_grads(spec, ws, xy, z, tn, target, weight, chunk=37):
    ws = [w.clone().requires_grad_() for w in ws]
    z = z.clone().requires_grad_()
    loss = dense.point_set_sse(spec, ws, xy, z, tn, target, weight, chunk)
    loss.backward()
    return loss.item(), [w.grad for w in ws] + [z.grad]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_native_loss_and_gradients_match_the_torch_path(shape, weighted, monkeypatch):
    """Both float32 paths against the float64 torch path: the C loop is as close to it as the
    torch loop is (chunks of 37 points: full blocks of 16 and a short one)."""
    _kernel_or_skip(*shape)
    spec, ws, xy, z, tn, target, weight = _problem(*shape)
    weight = weight if weighted else None
    native_loss, native_grads = _loss_and_grads(spec, ws, xy, z, tn, target, weight)
    monkeypatch.setenv(native.SWITCH, "0")
    torch_loss, torch_grads = _loss_and_grads(spec, ws, xy, z, tn, target, weight)
    exact_loss, exact_grads = _loss_and_grads(spec, [w.double() for w in ws], xy.double(), z.double(), tn.double(),
                                              target.double(), None if weight is None else weight.double())
    assert abs(native_loss - exact_loss) <= 1e-5 * exact_loss
    assert abs(torch_loss - exact_loss) <= 1e-5 * exact_loss
    for n, t, e in zip(native_grads, torch_grads, exact_grads):
        scale = float(e.abs().max())
        err_native, err_torch = float((n.double() - e).abs().max()), float((t.double() - e).abs().max())
        assert err_native <= max(4 * err_torch, 1e-6 * scale), (err_native, err_torch, scale)
        assert err_native <= 1e-3 * scale


@pytest.mark.parametrize("chunk", [16, 45, 1024])
def test_sets_in_one_call_add_up_to_their_own_calls(chunk, monkeypatch):
    """Three sets of different frames in one fused call (chunks inside a set, across sets, and
    all at once) give the sum of each set's own loss and gradients, on both paths."""
    spec, ws, xy, z, tn, target, weight = _problem(32, 16, 3, points=90)
    cuts = [(0, 30), (30, 71), (71, 90)]
    frames = [tn[:2], tn[1:5], tn[3:4]]
    parts = [dense.SetFrames(r, f, target[:len(f), r[0]:r[1]].contiguous(), None if i else weight[:len(f), r[0]:r[1]])
             for i, (r, f) in enumerate(zip(cuts, frames))]
    for switch in ("1", "0"):
        monkeypatch.setenv(native.SWITCH, switch)
        wsg = [w.clone().requires_grad_() for w in ws]
        zg = z.clone().requires_grad_()
        dense.point_sets_sse(spec, wsg, xy, zg, parts, chunk).backward()
        total, grads = 0.0, None
        for p in parts:
            a, b = p.rows
            loss, g = _loss_and_grads(spec, ws, xy[a:b], z[a:b], p.tn, p.target, p.weight)
            total += loss
            grads = g[:-1] if grads is None else [x + y for x, y in zip(grads, g[:-1])]
            assert torch.allclose(zg.grad[a:b], g[-1], rtol=1e-4, atol=1e-6)
        for x, y in zip([w.grad for w in wsg], grads):
            assert torch.allclose(x, y, rtol=1e-4, atol=1e-5 * float(y.abs().max()))


def test_native_kernel_is_deterministic_across_thread_counts():
    """Sets run side by side on torch's threads; each set has its own gradient buffer, summed in
    set order, so 1, 2 or 3 threads give the same bits."""
    _kernel_or_skip()
    spec, ws, xy, z, tn, target, weight = _problem(32, 32, 3, points=300)
    parts = [dense.SetFrames((i * 50, (i + 1) * 50), tn, target[:, i * 50:(i + 1) * 50].contiguous())
             for i in range(6)]
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            wsg = [w.clone().requires_grad_() for w in ws]
            zg = z.clone().requires_grad_()
            loss = dense.point_sets_sse(spec, wsg, xy, zg, parts)
            loss.backward()
            results.append((loss.item(), [w.grad for w in wsg] + [zg.grad]))
    finally:
        torch.set_num_threads(before)
    for loss, grads in results[1:]:
        assert loss == results[0][0]
        assert all(torch.equal(x, y) for x, y in zip(grads, results[0][1]))


def test_kernel_threads_are_set_apart_from_torch_threads():
    """`threads_for_kernels` decides how many sets run side by side, not torch's thread count (a
    fit runs torch on one thread and the kernels on every core): the same bits either way."""
    _kernel_or_skip()
    spec, ws, xy, z, tn, target, weight = _problem(32, 32, 3, points=200)
    parts = [dense.SetFrames((i * 50, (i + 1) * 50), tn, target[:, i * 50:(i + 1) * 50].contiguous())
             for i in range(4)]
    before = torch.get_num_threads()
    results, seen = [], []
    real_pool = native.pool
    try:
        torch.set_num_threads(1)
        for threads in (1, 3):
            with native.threads_for_kernels(threads):
                assert native.threads() == threads
                native.pool = lambda n: seen.append(n) or real_pool(n)
                wsg = [w.clone().requires_grad_() for w in ws]
                loss = dense.point_sets_sse(spec, wsg, xy, z, parts)
                loss.backward()
                results.append((loss.item(), [w.grad for w in wsg]))
        assert native.threads() == 1  # torch's count again outside the block
    finally:
        native.pool = real_pool
        torch.set_num_threads(before)
    assert seen == [2, 2]  # one thread: no pool; three: the caller and two pool workers, a task each
    assert results[0][0] == results[1][0] and all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_native_sines_are_accurate():
    _kernel_or_skip()
    fn = native.sincos()
    x = np.concatenate([np.linspace(-3000, 3000, 200_001), np.linspace(-4, 4, 20_001)]).astype(np.float32)
    s, c = np.empty_like(x), np.empty_like(x)
    fn(x.size, x.ctypes.data, s.ctypes.data, c.ctypes.data)
    xd = x.astype(np.float64)
    assert np.abs(s - np.sin(xd)).max() < 4e-7
    assert np.abs(c - np.cos(xd)).max() < 4e-7


@pytest.mark.parametrize("width, mod_width", [(6, 3), (185, 185), (32, 18)])
def test_widths_off_the_kernels_vectors_take_the_torch_path(width, mod_width):
    assert native.point_set(width, mod_width, 3, Z) is None
    spec, ws, xy, z, tn, target, _ = _problem(width, mod_width, 2)
    call = dense._PointSetCall(spec, ws, [dense.SetFrames((0, z.shape[0]), tn, target)], z, True)
    assert call.native is None


def test_switch_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv(native.SWITCH, "0")
    assert native.point_set(32, 32, 3, Z) is None
    spec, ws, xy, z, tn, target, _ = _problem(32, 32, 3)
    call = dense._PointSetCall(spec, ws, [dense.SetFrames((0, z.shape[0]), tn, target)], z, True)
    assert call.native is None


@pytest.mark.parametrize("cc, says", [("/nonexistent/cc", "no C compiler"), ("false", "did not build")])
def test_without_a_working_compiler_the_torch_path_runs_and_says_so_once(cc, says, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CC", cc)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native._load.cache_clear()
    native._say_once.cache_clear()
    try:
        assert native.point_set(32, 32, 3, Z) is None
        assert native.point_set(32, 16, 3, Z) is None
        err = capsys.readouterr().err
        assert err.count("nvcodec:") == 1 and says in err and "torch path" in err
        spec, ws, xy, z, tn, target, weight = _problem(32, 32, 3)
        loss, grads = _loss_and_grads(spec, ws, xy, z, tn, target, weight)  # the torch path, still right
        assert loss > 0 and all(torch.isfinite(g).all() for g in grads)
    finally:
        native._load.cache_clear()
        native._say_once.cache_clear()


def test_builds_are_cached_by_shape(monkeypatch, tmp_path):
    _kernel_or_skip()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native._load.cache_clear()
    try:
        assert native.point_set(32, 32, 3, Z) is not None and native.point_set(32, 16, 3, Z) is not None
        built = sorted(p.name for p in (tmp_path / "nvcodec" / "kernels").iterdir())
        assert len(built) == 2 and all(n.startswith("point_set-") and n.endswith(".so") for n in built)
        native._load.cache_clear()
        assert native.point_set(32, 32, 3, Z) is not None  # the cached build is loaded, nothing new is built
        assert sorted(p.name for p in (tmp_path / "nvcodec" / "kernels").iterdir()) == built
    finally:
        native._load.cache_clear()


def test_a_fit_builds_its_kernels_before_its_clock_starts(monkeypatch, tmp_path):
    """A first-use compile (~1-2 s) must not eat a short --time budget: every build happens before
    the fit's first clock reading."""
    import time

    from nvcodec.fit import FitOptions, fit
    from nvcodec.model.config import NVTMConfig
    from nvcodec.model.nvtm import NVTM

    _kernel_or_skip()
    events: list[str] = []
    real_build = native._build

    def build(*args):
        events.append("build")
        return real_build(*args)

    def clock() -> float:
        events.append("clock")
        return time.perf_counter()

    monkeypatch.setattr(native, "_build", build)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: the kernels are compiled
    native._load.cache_clear()
    try:
        video = torch.randint(0, 256, (4, 16, 24, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        model = NVTM(NVTMConfig.tiny().replace(alignment="none"), 24, 16, 4, seed=0)
        opts = FitOptions(steps=2, device="cpu", engine="dense", points_per_set=32, sets_per_step=2,
                          eval_pixels=256, clock=clock)
        fit(model, video, opts)
        assert events.count("build") == 3  # the point-set kernel of this shape, the grid lookup, the proxy
        assert events.index("clock") > max(i for i, e in enumerate(events) if e == "build"), events[:8]
    finally:
        native._load.cache_clear()


def test_side_by_side_keeps_item_order_and_waits_for_every_thread():
    """The caller and the pool threads take items as they come; results in item order; an error
    in the caller's items comes out only once the pool's threads are done with theirs."""
    import threading

    where: dict[int, int] = {}

    def fn(x: int) -> int:
        where[x] = threading.get_ident()
        time.sleep(0.002)
        return x * x

    assert native.side_by_side(fn, list(range(9)), 3) == [x * x for x in range(9)]
    assert threading.get_ident() in where.values() and len(set(where.values())) >= 2
    done = []

    def slow_or_fail(x: int) -> None:
        if x == 0:
            raise ValueError("the caller's item")
        time.sleep(0.05)
        done.append(x)

    with pytest.raises(ValueError):
        native.side_by_side(slow_or_fail, [0, 1], 2)
    assert done == [1]  # the pool's item had finished when the error came out
