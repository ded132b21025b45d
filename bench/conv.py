"""The stacked networks' first convolution: the compiled kernel against PyTorch's grouped convolution.

k LeNet-5s' first convolutions (1 -> 6 channels each, 5 x 5, padding 2, on
28 x 28 digits, batch 60), as :class:`ltpipe.engines.stacked.StackedNet`
runs them: :class:`ltpipe.engines.conv_kernel.FirstConv` (the default on
AVX-512 CPUs) and the grouped, channels-last convolution (``groups=k``,
oneDNN) that runs elsewhere. For each k: the seconds to compile the kernel;
milliseconds, best of ``--repeats`` calls after a warm-up, for the forward
pass (with the kernel's padded input copy) and for the weight and bias
gradients; and the largest difference of each against the other (rounding:
another summation order).

    python bench/conv.py                  # k = 3, 6, 9, one thread
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from torch.nn import functional as fn

from ltpipe.engines.conv_kernel import FirstConv, available, kernels


def best(f, repeats: int) -> float:
    for _ in range(5):
        f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[3, 6, 9])
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not available():
        raise SystemExit("the kernel needs llvmlite and a processor with AVX-512: nothing to compare here")
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    for k in args.k:
        compare(k, args.batch, args.repeats)


def compare(k: int, batch: int, repeats: int) -> None:
    """Time and compare the two for k networks."""
    t0 = time.perf_counter()
    kernels(k, 6, 5, 2, 28, 28)  # the IR generated and compiled for this shape (once per process)
    print(f"k={k}: kernel compiled in {time.perf_counter() - t0:.2f} s")
    g = torch.Generator().manual_seed(k)
    x = torch.randn(batch, k, 28, 28, generator=g).contiguous(memory_format=torch.channels_last)
    w = torch.randn(k, 6, 1, 5, 5, generator=g, requires_grad=True)
    b = torch.randn(k, 6, generator=g, requires_grad=True)
    grad = torch.randn(batch, 6 * k, 28, 28, generator=g).contiguous(memory_format=torch.channels_last)
    w2, b2 = w.detach().reshape(6 * k, 1, 5, 5), b.detach().reshape(-1)
    out = FirstConv.apply(x, w, b, 2)
    ref = fn.conv2d(x, w2, b2, padding=2, groups=k)
    fwd_k = best(lambda: FirstConv.apply(x, w.detach(), b.detach(), 2), repeats)
    fwd_t = best(lambda: fn.conv2d(x, w2, b2, padding=2, groups=k), repeats)

    def kernel_grad():
        w.grad = b.grad = None
        FirstConv.apply(x, w, b, 2).backward(grad)

    def torch_grad():
        return torch.ops.aten.convolution_backward(grad, x, w2, [6 * k], [1, 1], [2, 2], [1, 1], False, [0, 0], k,
                                                   (False, True, True))  # fmt: skip

    bwd_k = best(kernel_grad, repeats) - fwd_k  # the backward alone: the forward's best subtracted
    bwd_t = best(torch_grad, repeats)
    _, gw, _ = torch_grad()
    kernel_grad()
    fwd_diff = float((out.detach() - ref).abs().max())
    gw_diff = float((w.grad.reshape(gw.shape) - gw).abs().max())
    print(
        f"k={k}: forward {fwd_k:.3f} ms against {fwd_t:.3f} ({fwd_t / fwd_k:.2f}x), weight and bias gradients"
        f" {bwd_k:.3f} ms against {bwd_t:.3f} ({bwd_t / bwd_k:.2f}x); max |difference| forward {fwd_diff:.1e},"
        f" weight gradient {gw_diff:.1e} (of values up to {float(gw.abs().max()):.0f})"
    )


if __name__ == "__main__":
    main()
