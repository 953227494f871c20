"""Shared fixtures of the hardening tests: a small valid .nvc and a small clip (helpers: hardening_util).

Every heavy thing is built once per session. Torch runs on one thread here (and in the
CLI subprocesses): on the 2-core CI machine, shared with other jobs, more threads only
add contention (a 4-frame encode drops from ~80 s to ~5 s).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` (the fuzzer's mutations) lives at the repository root
    sys.path.insert(0, str(ROOT))

from nvcodec import api  # noqa: E402
from nvcodec.model.config import NVTMConfig  # noqa: E402
from nvcodec.video import open_video, sample_clip_path  # noqa: E402

from hardening_util import SMALL  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def valid_nvc(tmp_path_factory) -> Path:
    """A small valid .nvc: 4 frames of the bundled 320x240 clip, 3 fitting steps (~5 s), the
    paper's family (the alignment flow included: the widest decoder surface)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp("nvc") / "t.nvc"
        api.encode(sample_clip_path(), path, api.EncodeOptions(bpp=0.3, steps=3, progress=False, frame_range=(0, 4),
                                                                   device="cpu",
                                                                   model_template=NVTMConfig.paper()))
    finally:
        torch.set_num_threads(before)
    path.chmod(0o444)
    return path


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """A 128x96, 4-frame y4m cropped from the bundled clip (cheap to encode at 2 bpp)."""
    w, h, t = SMALL
    out = bytearray(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420jpeg\n".encode())
    with open_video(sample_clip_path()) as reader:
        assert reader.info.chroma == "420" and reader.info.bit_depth == 8
        for i in range(t):
            y, u, v = reader.read(i).planes
            out += b"FRAME\n"
            for plane, (ph, pw) in ((y, (h, w)), (u, (h // 2, w // 2)), (v, (h // 2, w // 2))):
                out += np.ascontiguousarray(plane[:ph, :pw]).tobytes()
    path = tmp_path_factory.mktemp("clip") / "small.y4m"
    path.write_bytes(bytes(out))
    return path
