from __future__ import annotations

import numpy as np
import torch

from nvcodec.fit.optical_flow import compute_flow_targets


def _textured_pan(frames: int, shift: int, h: int = 64, w: int = 80) -> torch.Tensor:
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (h, w + shift * frames), dtype=np.uint8)
    big = np.asarray(
        __import__("cv2").GaussianBlur(big, (0, 0), 1.5), dtype=np.uint8)
    # content moves right by `shift` px per frame
    out = [big[:, shift * (frames - t):shift * (frames - t) + w] for t in range(frames)]
    return torch.from_numpy(np.stack(out)[..., None].repeat(3, -1).copy())


def test_units_direction_keyframes_and_validity():
    v = _textured_pan(5, 2)  # gop 3 -> GOPs {0,1,2}, {3,4}
    ft = compute_flow_targets(v, 3, (0, 1), stride=1)
    assert ft.flow.shape == (5, 4, 64, 80) and ft.flow.dtype == torch.float16
    assert torch.all(ft.flow[0, :2] == 0) and torch.all(ft.flow[3, :2] == 0)  # keyframes
    # frame 2 -> keyframe 0: content moved right by 4 px, so go back 4 px: -4 / W
    centre = ft.flow[2, 0, 16:48, 20:60].float()
    assert abs(float(centre.median()) - (-4 / 80)) < 0.5 / 80
    assert abs(float(ft.flow[2, 1, 16:48, 20:60].float().median())) < 0.5 / 64
    # frame 1 -> next keyframe 3: +4 px
    assert abs(float(ft.flow[1, 2, 16:48, 20:60].float().median()) - 4 / 80) < 0.5 / 80
    assert ft.valid.tolist() == [[True, True]] * 3 + [[True, False]] * 2  # keyframe 6 does not exist
    frames = torch.tensor([2, 4])
    pixels = torch.tensor([[0, 85], [5, 6]])
    vals, wgt = ft.lookup(frames, pixels)
    assert vals.shape == (2, 2, 4) and wgt.shape == (2, 1, 4)
    assert wgt[1, 0].tolist() == [1, 1, 0, 0]
    assert torch.equal(vals[0, 1], ft.flow[2, :, 1, 5].float())


def test_half_resolution_storage():
    v = _textured_pan(3, 1, 33, 41)
    ft = compute_flow_targets(v, 3, (0,), stride=2, preset="fast")
    assert ft.flow.shape == (3, 2, 17, 21)
    vals, _ = ft.lookup(torch.tensor([1]), torch.tensor([[33 * 41 - 1]]))
    assert torch.equal(vals[0, 0], ft.flow[1, :, 16, 20].float())
