"""Time of evaluating LeNet-5s on 2,000 digits by chunk size: one network (``evaluate``) and k stacked
(``evaluate_stacked``), one thread, best of ``--repeats``.

Every IMP epoch evaluates on the validation split and the 2,000 test digits; the chunk is how many samples
(over all networks of a stack) go through the network at a time. ``ltpipe.engines.train.eval_batch`` picks
256 on the CPU. Prints ``ms_<which>_chunk<size>:`` and ``speedup_<which>:`` (chunks of 2,000 over the default).

    python bench/evaluate.py
"""

from __future__ import annotations

import argparse
import time

import torch

from ltpipe.engines.models import build
from ltpipe.engines.stacked import StackedNet, evaluate_stacked
from ltpipe.engines.train import eval_batch, evaluate


def best_ms(f, repeats: int) -> float:
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return 1000 * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--stacked", type=int, nargs="*", default=[3, 9])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(args.samples, 1, 28, 28)
    y = torch.randint(0, 10, (args.samples,))
    default = eval_batch(x)
    chunks = sorted({2000, 512, default, 128}, reverse=True)
    print(f"torch {torch.__version__}, 1 thread, {args.samples} random digits, default chunk {default}")
    alone = build("lenet5")
    runs = {"lenet5": lambda c: evaluate(alone, x, y, batch=c)}
    for k in args.stacked:
        net = StackedNet([build("lenet5") for _ in range(k)])
        runs[f"stacked{k}"] = lambda c, net=net: evaluate_stacked(net, x, y, batch=c)
    for which, run in runs.items():
        times = {c: best_ms(lambda c=c, run=run: run(c), args.repeats) for c in chunks}
        for c, ms in times.items():
            print(f"ms_{which}_chunk{c}: {ms:.1f}")
        print(f"speedup_{which}: {times[2000] / times[default]:.2f}")


if __name__ == "__main__":
    main()
