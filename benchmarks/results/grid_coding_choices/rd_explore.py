"""Same fitted model: which (latent QP, static QP, weight step) under the size window gives the
best decoded PSNR, against the size-only search's choice. Usage: clip bpp steps"""
import sys, time, json
import torch
from nvcodec import api, segment
from nvcodec.rate.search import search_rate, build_choice
from nvcodec.compress import model_codec
from nvcodec.bitstream.reader import read_container
from nvcodec.metrics.quality import measure_quality
clip, bpp, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
CTX = {}
def psnr(ch):
    dec = model_codec.model_from_container(read_container(ch.data, known_types=model_codec.KNOWN_TYPES))
    return measure_quality(dec, {}, CTX["info"], CTX["frames"])["psnr_yuv"]
def _code(model, header, target, options, fit_steps):
    base = search_rate(lambda s: model_codec.quantize_model(model, s), header, target,
                       weight_rel_step=options.rate_model.weight_rel_step, tolerance=options.tolerance)
    upper = target * (1 + options.tolerance)
    print("search:", base.latent_qp, base.static_qp, base.weight_rel_step, len(base.data), round(psnr(base), 3), flush=True)
    qs = {}
    rows = []
    for step in (base.weight_rel_step * 1.5, base.weight_rel_step, base.weight_rel_step / 1.5):
        q = qs.setdefault(step, model_codec.quantize_model(model, step))
        for lq in range(base.latent_qp - 2, base.latent_qp + 3):
            best = None
            for sq in range(lq + 8, lq - 9, -1):  # finest static that fits
                ch = build_choice(q, header, lq, sq, step, "medium")
                if len(ch.data) <= upper: best = ch
                else: break
            if best is None: continue
            p = psnr(best)
            rows.append((lq, best.static_qp, round(step, 5), len(best.data), round(p, 3)))
            print(rows[-1], flush=True)
    json.dump(rows, open(f"/tmp/rd_{clip}_{bpp}.json", "w"))
    raise SystemExit(0)
segment._code = _code
orig = segment.encode_segment
def enc(info, frames, options, **kw):
    CTX["info"], CTX["frames"] = info, frames
    return orig(info, frames, options, **kw)
import nvcodec.api as A
A.encode_segment = enc
api.encode(f"/work/shared/clips/{clip}.y4m", f"/tmp/{clip}_{bpp}.nvc", api.EncodeOptions(bpp=bpp, steps=steps, progress=False, overwrite=True))
