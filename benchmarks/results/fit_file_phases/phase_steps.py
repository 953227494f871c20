"""Where an encode's time goes with HEVC in the loop: the fit's steps per phase, the codec round
trips, and the encoder's final rate search (seconds and x265 encodes), for whichever commit's
`nvcodec` is first on PYTHONPATH. Counts are exact; seconds drift with the machine.

    PYTHONPATH=<tree> python benchmarks/results/fit_file_phases/phase_steps.py CLIP BPP SECONDS THREADS

Prints one JSON line."""

import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import nvcodec
from nvcodec import api
from nvcodec.compress import model_codec
from nvcodec.fit import loop
from nvcodec import segment


def main(clip: str, bpp: float, seconds: float, threads: int) -> None:
    phases: collections.Counter = collections.Counter()
    hevc = {"fit": [0, 0.0], "search": [0, 0.0]}
    where = ["fit"]
    plain_step, plain_encode, plain_code = loop._Run.step, model_codec.encode_grid_payload, segment._code

    def step(self, frac):
        phase = plain_step(self, frac)
        phases[phase.name] += 1
        return phase

    def encode(*a, **k):
        t = time.perf_counter()
        out = plain_encode(*a, **k)
        hevc[where[0]][0] += 1
        hevc[where[0]][1] += time.perf_counter() - t
        return out

    def final_search(*a, **k):  # the segment's search after the fit (the round trips' are the fit's)
        where[0] = "search"
        t = time.perf_counter()
        out = plain_code(*a, **k)
        final_search.seconds = time.perf_counter() - t
        where[0] = "fit"
        return out

    loop._Run.step, model_codec.encode_grid_payload, segment._code = step, encode, final_search
    with tempfile.TemporaryDirectory() as tmp:
        report = api.encode(clip, Path(tmp) / "out.nvc",
                            api.EncodeOptions(bpp=bpp, time_budget=seconds, threads=threads, progress=False))
    print(json.dumps({"nvcodec": str(Path(nvcodec.__file__).parent), "steps": dict(phases),
                      "hevc_encodes": {k: v[0] for k, v in hevc.items()},
                      "hevc_seconds": {k: round(v[1], 2) for k, v in hevc.items()},
                      "final_search_seconds": round(final_search.seconds, 2),
                      "encode_seconds": round(report.encode_seconds, 1), "fit_seconds": round(report.fit_seconds, 1),
                      "psnr_yuv": report.psnr_yuv, "psnr_stages": report.psnr_stages, "bpp": report.bpp}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
