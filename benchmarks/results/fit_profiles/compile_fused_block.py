import torch, time
torch.set_num_threads(1)
R, Wd, D = 512, 32, 3
torch.manual_seed(0)
def frame(sin_a, cos_a, ct, st, gs, ws_om, bs_om, out_w, out_b, target):
    s1 = sin_a * ct + cos_a * st
    co1 = cos_a * ct - sin_a * st
    sins, coss, hs = [s1], [co1], []
    h = s1 * gs[0]
    hs.append(h)
    for i in range(1, D):
        pre = h @ ws_om[i].t() + bs_om[i]
        sins.append(torch.sin(pre)); coss.append(torch.cos(pre))
        h = sins[-1] * gs[i]
        hs.append(h)
    diff = h @ out_w.t() + out_b - target
    sq = (diff * diff).sum()
    diff = diff * 2.0
    g_out_w = diff.t() @ hs[-1]
    g_out_b = diff.sum(0)
    dh = diff @ out_w
    dgs, gws, gbs = [], [], []
    d_a = None
    for i in reversed(range(D)):
        dgs.append(dh * sins[i])
        dh = dh * gs[i]
        dpre = dh * coss[i]
        if i > 0:
            gws.append(dpre.t() @ hs[i - 1]); gbs.append(dpre.sum(0))
            dh = dpre @ ws_om[i]
        else:
            d_a = dpre
    return sq, g_out_w, g_out_b, dgs, gws, gbs, d_a
args = (torch.randn(R, Wd), torch.randn(R, Wd), torch.randn(Wd), torch.randn(Wd), [torch.rand(R, Wd) for _ in range(D)],
        [None] + [torch.randn(Wd, Wd) for _ in range(D - 1)], [None] + [torch.randn(Wd) for _ in range(D - 1)],
        torch.randn(3, Wd), torch.randn(3), torch.randn(R, 3))
def bench(f, n=300):
    for _ in range(20): f(*args)
    t = time.perf_counter()
    for _ in range(n): f(*args)
    return (time.perf_counter() - t) / n * 1e6
e = bench(frame)
try:
    cf = torch.compile(frame, dynamic=False)
    t0 = time.perf_counter(); cf(*args); print("compile s", round(time.perf_counter() - t0, 1))
    c = bench(cf)
    r1 = frame(*args); r2 = cf(*args)
    print("max diff sq", float((r1[0] - r2[0]).abs() / r1[0].abs()))
    print(f"eager {e:.0f} us/frame-chunk, compiled {c:.0f} us, ratio {e / c:.2f}")
except Exception as ex:
    print("compile failed", type(ex).__name__, str(ex)[:300])
