"""Point sets per step (`FitOptions.sets_per_step`, 512 points x 10 frames each) against decoded
PSNR at a fixed --time: encodes through `nvcodec.api.encode` with the set count overridden,
alternating A B per clip, the report's own figures (decoded PSNR-YUV, passes, samples/s).

    PYTHONPATH=. python benchmarks/results/fit_profiles/batch_sets.py OUT_DIR SETS,SETS CLIP[@WxHxT]:BPP ... [--time 120]
"""
import argparse, json, tempfile
from pathlib import Path

import torch

from benchmarks.engine_ab import resolve_clip
from nvcodec import api

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("sets")
p.add_argument("clips", nargs="+")
p.add_argument("--time", type=float, default=120.0)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
rows = []
with tempfile.TemporaryDirectory() as tmp:
    work = Path(tmp)
    for spec in a.clips:
        name, bpp = spec.rsplit(":", 1)
        src = resolve_clip(name, Path("/work/shared/clips"), work)
        for sets in (int(s) for s in a.sets.split(",")):
            opts = api.EncodeOptions(bpp=float(bpp), time_budget=a.time, threads=a.threads, overwrite=True,
                                     progress=False, fit_overrides={"sets_per_step": sets})
            r = api.encode(src, work / "o.nvc", opts)
            row = {"clip": name, "bpp_target": float(bpp), "sets_per_step": sets, "bpp": r.bpp,
                   "psnr_yuv": r.psnr_yuv, "fit_steps": r.fit_steps, "samples_per_second": r.samples_per_second,
                   "passes": r.passes}
            print(json.dumps(row), flush=True)
            rows.append(row)
(out / "batch_sets.json").write_text(json.dumps({"time_s": a.time, "threads": a.threads,
                                                 "torch": torch.__version__, "rows": rows}, indent=1))
