"""Same fitted model, grids coded with x265 presets medium/slow/slower/veryslow by the rate search:
bytes, grid QP, decoded PSNR-YUV, rate-search seconds. Usage: clip bpp steps"""
import sys, time, json
import torch
from nvcodec import api, segment
from nvcodec.rate.search import search_rate, describe
from nvcodec.compress import model_codec
from nvcodec.bitstream.reader import read_container
from nvcodec.metrics.quality import measure_quality

clip, bpp, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
presets = sys.argv[4].split(",") if len(sys.argv) > 4 else ["medium", "slow", "slower", "veryslow"]
torch.set_num_threads(1)
rows = []
orig_code = segment._code
def _code(model, header, target, options, fit_steps):
    for p in presets:
        t0 = time.perf_counter()
        ch = search_rate(lambda step: model_codec.quantize_model(model, step), header, target,
                         weight_rel_step=options.rate_model.weight_rel_step, tolerance=options.tolerance, preset=p)
        dt = time.perf_counter() - t0
        dec = model_codec.model_from_container(read_container(ch.data, known_types=model_codec.KNOWN_TYPES))
        q = measure_quality(dec, {}, CTX["info"], CTX["frames"])
        rows.append({"preset": p, "bytes": len(ch.data), "psnr_yuv": round(q["psnr_yuv"], 3), "search_s": round(dt, 1),
                     "qp": (ch.latent_qp, ch.static_qp), "step": ch.weight_rel_step})
        print(rows[-1], flush=True)
    return orig_code(model, header, target, options, fit_steps)
segment._code = _code
CTX = {}
orig_encode_segment = segment.encode_segment
def encode_segment(info, frames, options, **kw):
    CTX["info"], CTX["frames"] = info, frames
    return orig_encode_segment(info, frames, options, **kw)
segment.encode_segment = encode_segment
import nvcodec.api as A
if hasattr(A, "encode_segment"): A.encode_segment = encode_segment
opts = api.EncodeOptions(bpp=bpp, steps=steps, progress=False, threads=1) if "threads" in api.EncodeOptions.__dataclass_fields__ else api.EncodeOptions(bpp=bpp, steps=steps, progress=False)
rep = api.encode(f"/work/shared/clips/{clip}.y4m", f"/tmp/{clip}_{bpp}.nvc", opts)
print("encoder's own:", rep.bytes, rep.psnr_yuv)
json.dump(rows, open(f"/tmp/preset_{clip}_{bpp}.json", "w"))
