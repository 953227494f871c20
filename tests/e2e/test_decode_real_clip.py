"""The decoder's options on a real 360x240x47 clip (issue 5's acceptance shapes).

A centre crop of ../shared/clips/basketballpass (skipped when the shared clips are absent, a
failure under CI=true),
encoded with a few steps: the shapes, frame counts and random access are what is checked,
not the quality. Slow (about a minute on two idle cores: 50 M output pixels), so CI's
fast set leaves it out; run with `-m slow`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nvcodec import api
from nvcodec.video import Frame, create_writer, open_video

pytestmark = pytest.mark.slow

W, H, T = 360, 240, 47


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, shared_clip) -> Path:
    clip = shared_clip("basketballpass_416x240_50f.y4m")
    work = tmp_path_factory.mktemp("real")
    src = work / "crop.y4m"
    with open_video(clip) as r:
        x0 = (r.info.width - W) // 2
        with create_writer(src, r.info.replace(width=W, height=H, frames=T), overwrite=True) as w:
            for i in range(T):
                y, u, v = r.read(i).planes
                w.write(Frame((y[:, x0:x0 + W].copy(), u[:, x0 // 2:(x0 + W) // 2].copy(),
                               v[:, x0 // 2:(x0 + W) // 2].copy())))
    out = work / "crop.nvc"
    api.encode(src, out, api.EncodeOptions(bpp=0.1, steps=4, device="cpu", progress=False))
    return out


def _frames(path: Path) -> tuple[object, list]:
    with open_video(path) as r:
        return r.info, [r.read(i) for i in range(len(r))]


@pytest.mark.parametrize("options,shape", [
    (dict(scale=2.0, fps_mult=2.0), (720, 480, 94)),
    (dict(scale=0.5), (180, 120, 47)),
    (dict(scale=1.5), (540, 360, 47)),
    (dict(frame_range=(10, 20)), (360, 240, 10)),
])
def test_shapes(encoded, tmp_path, options, shape):
    rep = api.decode(encoded, tmp_path / "o.y4m", api.DecodeOptions(device="cpu", progress=False, **options))
    info, frames = _frames(tmp_path / "o.y4m")
    assert (info.width, info.height, len(frames)) == shape and info.frames == shape[2]
    assert (rep.width, rep.height, rep.frames) == shape
    assert info.fps == Fraction(50) * Fraction(options.get("fps_mult", 1.0)).limit_denominator()


def test_random_access_equals_the_full_decode(encoded, tmp_path):
    api.decode(encoded, tmp_path / "all.y4m", api.DecodeOptions(device="cpu", progress=False))
    api.decode(encoded, tmp_path / "part.y4m", api.DecodeOptions(device="cpu", progress=False, frame_range=(10, 20)))
    _, full = _frames(tmp_path / "all.y4m")
    _, part = _frames(tmp_path / "part.y4m")
    assert len(full) == T and len(part) == 10
    for a, b in zip(part, full[10:20]):
        assert all(np.array_equal(p, q) for p, q in zip(a.planes, b.planes))
    assert not np.array_equal(full[9].planes[0], full[10].planes[0])  # a real test: the frames differ
