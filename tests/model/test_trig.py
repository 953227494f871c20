import torch

from nvcodec.model import trig


def test_numpy_sines_match_torch_to_one_float32_ulp_over_the_fit_range():
    x = (torch.rand(200_000, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 3000.0
    exact_sin, exact_cos = torch.sin(x.double()), torch.cos(x.double())
    s = trig.sin(x)
    c = x.clone()
    assert trig.cos_(c) is c  # in place
    assert s.dtype == torch.float32 and s.shape == x.shape
    assert float((s.double() - exact_sin).abs().max()) < 1.2e-7  # one ulp below 1 is 6e-8
    assert float((c.double() - exact_cos).abs().max()) < 1.2e-7
    assert not torch.equal(s, x)


def test_other_tensors_take_torchs_kernels():
    x = torch.linspace(-50, 50, 1001, dtype=torch.float64)
    assert torch.equal(trig.sin(x), torch.sin(x))
    y = torch.linspace(-50, 50, 2002)[::2]  # a strided view
    assert not y.is_contiguous()
    assert torch.equal(trig.sin(y), torch.sin(y))
    w = torch.linspace(-5, 5, 11, requires_grad=True)
    assert trig.sin(w).requires_grad  # autograd still sees it
    z = x.clone()
    assert torch.equal(trig.cos_(z), torch.cos(x))
