"""The rate search with grid payloads coded once per (grid set, QP) against coding every setting's
streams afresh (the search before this change), A B A B in one process on one fitted model.

    PYTHONPATH=. python benchmarks/results/rate_search_reuse/ab_search.py CLIP BPP FIT_SECONDS ROUNDS

Prints each search's seconds, HEVC encodes and settings tried, and whether the files are identical."""

import statistics
import sys
import time

import torch

from nvcodec.bitstream.format import StreamHeader
from nvcodec.compress import model_codec
from nvcodec.fit import fit, fit_preset
from nvcodec.model.nvtm import NVTM
from nvcodec.rate.sizing import choose_config, RateModel
from nvcodec.rate.search import search_rate
from nvcodec.video import open_video, read_rgb


class CodeEverySetting(model_codec.GridPayloads):
    """The previous search: every setting codes both grid streams."""

    def encode(self, grids, qp, preset="medium"):
        self.encodes += 1
        return model_codec.encode_grid_payload(grids, qp, preset)


def main(clip: str, bpp: float, fit_s: float, rounds: int) -> None:
    with open_video(clip) as reader:
        info = reader.info
        rgb = read_rgb(reader)
    video = torch.from_numpy((rgb * 255).round().astype("uint8"))
    T, H, W = video.shape[:3]
    model = NVTM(choose_config(W, H, T, bpp).config, W, H, T, seed=0)
    fit(model, video, fit_preset("default", time_budget=fit_s, device="cpu"))
    header = StreamHeader.from_video_info(info)
    target = bpp * W * H * T / 8
    step = RateModel().weight_rel_step
    quantize = lambda s: model_codec.quantize_model(model, s)  # noqa: E731
    times = {"every setting": [], "reuse": []}
    files = {}
    plain = model_codec.GridPayloads
    for r in range(rounds):
        for name, cls in (("every setting", CodeEverySetting), ("reuse", plain)):
            made = []
            model_codec.GridPayloads = lambda: made.append(cls()) or made[-1]  # noqa: E731
            tried = []
            t0 = time.perf_counter()
            c = search_rate(quantize, header, target, weight_rel_step=step, progress=tried.append)
            dt = time.perf_counter() - t0
            model_codec.GridPayloads = plain
            times[name].append(dt)
            files.setdefault(name, c.data)
            print(f"round {r} {name}: {dt:.2f} s, {made[0].encodes} HEVC encodes, {len(tried)} settings, "
                  f"{len(c.data)} bytes, QP {c.latent_qp}/{c.static_qp}", flush=True)
    a, b = statistics.median(times["every setting"]), statistics.median(times["reuse"])
    print(f"median {a:.2f} s -> {b:.2f} s ({a / b:.2f}x); files identical: {files['every setting'] == files['reuse']}")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
