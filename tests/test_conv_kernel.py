"""The compiled first convolution (ltpipe.engines.conv_kernel) against PyTorch's grouped convolution."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as fn

from ltpipe.engines.conv_kernel import FirstConv, available
from ltpipe.engines.models import build
from ltpipe.engines.stacked import StackedNet

pytestmark = pytest.mark.skipif(not available(), reason="the kernel needs llvmlite and a processor with AVX-512")


@pytest.mark.parametrize(
    ("k", "c", "ks", "pad", "h", "w"),
    [(6, 6, 5, 2, 28, 28), (1, 6, 5, 2, 28, 28), (3, 6, 5, 2, 28, 28), (9, 6, 5, 2, 28, 28), (15, 4, 3, 1, 10, 10),
     (2, 5, 3, 0, 7, 7), (4, 3, 3, 1, 9, 12), (8, 8, 5, 2, 6, 6)],
)  # fmt: skip
def test_first_conv_equals_the_grouped_convolution(k, c, ks, pad, h, w):
    g = torch.Generator().manual_seed(k * 100 + c)
    x = torch.randn(5, k, h, w, generator=g)
    weight = torch.randn(k, c, 1, ks, ks, generator=g, requires_grad=True)
    bias = torch.randn(k, c, generator=g, requires_grad=True)
    out = FirstConv.apply(x, weight, bias, pad)
    ref = fn.conv2d(x, weight.detach().reshape(k * c, 1, ks, ks), bias.detach().reshape(-1), padding=pad, groups=k)
    assert out.shape == ref.shape and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn(ref.shape, generator=g)
    out.backward(grad)
    # the gradients are sums over the batch and the image: against float64, within rounding of the sum of the
    # terms' magnitudes (a wrong lane or tap is off by the size of the terms themselves)
    x64, grad64, w64 = x.double(), grad.double(), weight.detach().double().reshape(k * c, 1, ks, ks)

    def weight_grad(a, b):
        return torch.ops.aten.convolution_backward(b, a, w64, [k * c], [1, 1], [pad, pad], [1, 1], False, [0, 0], k,
                                                   (False, True, True))[1:]  # fmt: skip

    (gw, gb), (gw_abs, gb_abs) = weight_grad(x64, grad64), weight_grad(x64.abs(), grad64.abs())
    assert ((weight.grad.double().reshape(gw.shape) - gw).abs() <= 1e-6 * gw_abs).all()
    assert ((bias.grad.double().reshape(-1) - gb).abs() <= 1e-6 * gb_abs).all()
    assert gw.abs().max() > 1 and gb.abs().max() > 1  # real sums, not vanishing ones


def test_stacked_net_uses_the_kernel_only_where_it_applies(monkeypatch):
    calls = []
    apply = FirstConv.apply
    monkeypatch.setattr(FirstConv, "apply", lambda *a: calls.append(1) or apply(*a))
    torch.manual_seed(0)
    models = [build("lenet5") for _ in range(3)]
    x = torch.randn(3, 4, 1, 28, 28)
    on, off = StackedNet(models), StackedNet(models, first_conv_kernel=False)
    torch.testing.assert_close(on(x), off(x), rtol=1e-5, atol=1e-6)
    assert len(calls) == 1  # on's first convolution only: not the second (6 input channels), not off's
    x.requires_grad_(True)  # a gradient for the input: the grouped convolution, which gives it
    on(x).sum().backward()
    assert len(calls) == 1 and x.grad is not None and x.grad.abs().sum() > 0


def test_first_conv_refuses_what_the_kernel_cannot_read():
    x, weight, bias = torch.randn(2, 3, 8, 8), torch.randn(3, 6, 1, 3, 3), torch.randn(3, 6)
    with pytest.raises(ValueError, match="float32 tensors on the CPU"):
        FirstConv.apply(x.double(), weight.double(), bias.double(), 1)
