import torch, time, sys
from nvcodec.rate.sizing import choose_config
from nvcodec.model.nvtm import NVTM
from nvcodec.fit.dense import *
from nvcodec.fit.dense import _point_set_inputs
from nvcodec.fit.loop import _grid_aliases, _hand_over_grads, _param_groups
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv)>4 else 1)
W,H,T=360,240,47
cfg=choose_config(W,H,T,0.3).config
video=torch.randint(0,256,(T,H,W,3),dtype=torch.uint8)
m=NVTM(cfg,W,H,T,seed=0)
al=_grid_aliases(m); opt=torch.optim.Adam(_param_groups(m,[a for _,a in al],3e-2,1e-3,1e-3),fused=True)
g=torch.Generator().manual_seed(0)
P=int(sys.argv[1]); ns=int(sys.argv[2]); fpt=int(sys.argv[3])
s=PointSetSampler(W,H,T,cfg.gop_size,P,fpt,ns,g)
acc={}
def tick(k,t0):
    t=time.perf_counter(); acc[k]=acc.get(k,0)+t-t0; return t
for i in range(60):
    if i==10: acc={}
    t0=time.perf_counter()
    tl=s.next(); b=gather_batch(video,tl); t0=tick('sample',t0)
    gt=m.grid_tensors(); lat=[gt[f"latent.{i}"] for i in range(len(m.latent))]; st=[gt[f"static.{i}"] for i in range(len(m.static))]
    inp=_point_set_inputs(m,b.sets,lat,st); t0=tick('feat_fwd',t0)
    ws=m.base.weight_list(); tot=0
    for part,(xy,z),rgb in zip(b.sets,inp,b.rgb):
        tn = m._time_input(torch.tensor(part.frames, dtype=z.dtype))
        tot = tot + point_set_sse(m.base.spec, ws, xy, z, tn, rgb, None, 1024)
    loss=tot/b.count; t0=tick('mse_fwdbwd',t0)
    opt.zero_grad(set_to_none=True); loss.backward(); t0=tick('backward(feat)',t0)
    _hand_over_grads(al); opt.step(); t0=tick('adam',t0)
print({k: round(v/50*1e3,2) for k,v in acc.items()}, 'ms/step', 'samples/step', sum(t.samples for t in tl))
