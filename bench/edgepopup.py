"""A training step of the project's supermask FC2 against the reference code's mask step, same shapes.

Both networks are the two-layer 784-500-10 supermask network of Pensia et
al.'s Experiment 2 (``wide`` at 500 hidden units: frozen Kaiming-normal
weights, trainable scores), trained by SGD (momentum 0.9, weight decay 5e-4)
on batches of 64 random MNIST-shaped inputs, from the same weights and scores:

- project: :class:`ltpipe.engines.supermask.SupermaskLinear`, whose mask is
  the top ``keep`` of |scores| by ``torch.topk`` (a partial selection);
- reference: the same layer with the mask of hidden-networks' ``GetSubnet``
  (allenai/hidden-networks, ``simple_mnist_example.py``): a full sort of the
  scores per forward, the lowest ``1 - keep`` set to 0 and the rest to 1
  (:func:`ltpipe.engines.supermask.sorted_mask`, the same function).

Both compute the same masks (checked on the first step: the outputs must be
equal). A second pair times Fig. 1c's structure (r = 5) in the project's
collapsed form (one dense product per layer) against the paper's code's
expanded form (x repeated r times, the hidden layer materialised).

The last line is ``ratio: <reference / project seconds per step>`` for FC2,
the median of ``--repeats`` timed runs (the two alternate in order).

    python bench/edgepopup.py [--keep 0.5] [--steps 30] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from ltpipe.engines.supermask import StructuredSupermaskLinear, SupermaskLinear, sorted_mask
from ltpipe.seeds import torch_generator


class ReferenceLinear(SupermaskLinear):
    """The same layer with the reference code's mask rule: a full sort per forward."""

    select = staticmethod(sorted_mask)


def fc2(cls: type, keep: float) -> nn.Module:
    gen = torch_generator(0, "bench")
    return nn.Sequential(nn.Flatten(), cls(784, 500, keep, gen), nn.ReLU(), cls(500, 10, keep, gen))


def structure(expanded: bool, keep: float) -> nn.Module:
    gen = torch_generator(0, "bench-structure")
    layers = [
        StructuredSupermaskLinear(784, 500, 5, keep, False, gen),
        StructuredSupermaskLinear(500, 10, 5, keep, False, gen),
    ]
    if expanded:
        for layer in layers:
            layer.forward = layer.forward_expanded
    return nn.Sequential(nn.Flatten(), layers[0], nn.ReLU(), layers[1])


def seconds_per_step(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for x, y in batches[:3]:  # warm-up
        step(x, y)
    began = time.perf_counter()
    for x, y in batches:
        step(x, y)
    return (time.perf_counter() - began) / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch_generator(1, "bench-data")
    batches = [
        (torch.randn(64, 1, 28, 28, generator=gen), torch.randint(0, 10, (64,), generator=gen))
        for _ in range(args.steps)
    ]
    x = batches[0][0]
    same = torch.equal(fc2(SupermaskLinear, args.keep)(x), fc2(ReferenceLinear, args.keep)(x))
    close = torch.allclose(structure(False, args.keep)(x), structure(True, args.keep)(x), rtol=1e-4, atol=1e-4)
    if not (same and close):
        raise SystemExit(f"the two forms disagree (fc2 equal: {same}, structure close: {close})")
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s); "
        f"keep {args.keep}, batch 64, {args.steps} steps x {args.repeats} repeats"
    )
    pairs = {
        "fc2": (lambda: fc2(ReferenceLinear, args.keep), lambda: fc2(SupermaskLinear, args.keep)),
        "structure_fc2": (lambda: structure(True, args.keep), lambda: structure(False, args.keep)),
    }
    ratios = {}
    for name, (make_ref, make_new) in pairs.items():
        ref, new = [], []
        for i in range(args.repeats):
            order = [(ref, make_ref), (new, make_new)]
            for times, make in order if i % 2 == 0 else order[::-1]:
                times.append(seconds_per_step(make(), batches))
        ratios[name] = statistics.median(ref) / statistics.median(new)
        print(
            f"{name}: reference {1e3 * statistics.median(ref):.2f} ms/step, project "
            f"{1e3 * statistics.median(new):.2f} ms/step, ratio {ratios[name]:.2f}"
        )
    print(f"structure_ratio: {ratios['structure_fc2']:.2f}")
    print(f"ratio: {ratios['fc2']:.2f}")


if __name__ == "__main__":
    main()
