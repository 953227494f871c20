import sys, numpy as np, torch, pickle
from nvcodec import api, segment
from nvcodec.compress import model_codec
from nvcodec.compress.hevc import encode_canvases, decode_canvases, PRESETS
from nvcodec.compress.mosaic import pack_levels
torch.set_num_threads(1)
def _code(model, header, target, options, fit_steps):
    q = model_codec.quantize_model(model, 1/64)
    for kind, gs in (("latent", q.latent), ("static", q.static)):
        canv = pack_levels(gs.codes)
        np.save(f"/tmp/canv_{kind}.npy", canv)
        for p in PRESETS:
            d = encode_canvases(canv, qp=None, preset=p); r = decode_canvases(d, *canv.shape)
            print(kind, canv.shape, p, len(d), int((r != canv).sum()), flush=True)
    raise SystemExit(0)
segment._code = _code
api.encode(f"/work/shared/clips/mobile_cif_30f.y4m", "/tmp/x.nvc", api.EncodeOptions(bpp=0.1, steps=int(sys.argv[1]), progress=False))
