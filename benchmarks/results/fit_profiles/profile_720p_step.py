import torch, time
from nvcodec.rate.sizing import choose_config
from nvcodec.model.nvtm import NVTM
from nvcodec.fit import FitOptions
from nvcodec.fit.loop import _Run
from nvcodec.fit.regularize import coding_cost_proxy
torch.set_num_threads(1)
W,H,T=1280,720,30
cfg=choose_config(W,H,T,0.3).config
video=torch.randint(0,256,(T,H,W,3),dtype=torch.uint8)
m=NVTM(cfg,W,H,T,seed=0)
print("grid values", m.num_parameters())
for reg, every in ((0.0, 8), (1e-3, 8), (1e-3, 1)):
    run=_Run(m, video, FitOptions(steps=100, device="cpu", grid_smoothness=reg, grid_steadiness=reg,
                                  regularize_every=every), None, None); run.state.step=1
    for i in range(5): run.step(0.5)
    t=time.perf_counter(); n=20
    for i in range(n): run.step(0.5)
    print("reg", reg, "every", every, "ms/step", round((time.perf_counter()-t)/n*1e3,1))
lat=list(m.latent); st=list(m.static)
t=time.perf_counter()
for i in range(10):
    c=coding_cost_proxy(lat, st, 1e-3, 1e-3); c.backward()
print("proxy fwd+bwd ms", round((time.perf_counter()-t)/10*1e3,1))
