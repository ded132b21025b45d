"""PS: a trained MNIST network approximated weight by weight by subset sums (Pensia et al. 2020, Experiment 1).

The target is the bias-free fully connected 784-500-10 ReLU network, trained
with SGD (momentum 0.9, weight decay 5e-4, cosine schedule, batch 64, lr 0.1,
10 epochs). Every weight w is replaced by the subset sum closest to w of
n = c * round(log2(1/eps)) coefficients drawn i.i.d. from a uniform range
(Experiment 1; c = 3, eps = 0.01 gives n = 21). ``coefficient_range`` picks
the range: ``target`` is U[l, u], (l, u) the smallest and largest weight of
the whole target, as in the paper; ``symmetric`` is U[-m, m], m the largest
|w|: Theorem 3's (Lueker's) U[-1, 1] scaled by m, centred like the theorem's
(which covers targets in [-m/2, m/2]; the largest |w| lie beyond). A list
runs each range on the same target, the coefficients of every range drawn
from the same uniform variates (an affine map of them), so that the ranges
are compared weight by weight. By default each weight gets its own
coefficients, as the paper's text says; ``coefficients: per_row`` draws one
set per output row of a layer and reuses it across the row, as the paper's
released code does. Every instance is solved exactly
(:func:`ltpipe.engines.subsetsum.solve`), as the paper reports of its MIP solver
("the solver finds the optimal solution"). With ``sparsest`` the fewest
coefficients within eps are also found (:func:`ltpipe.engines.subsetsum.solve_sparsest`),
a sparser ticket than the paper's at the same eps.

Tables:

- ``weights`` (one row per coefficient range and target weight):
  coefficient_range, layer (0 = 784->500, 1 = 500->10), row, col, target,
  approx, error (|target - approx|), kept (coefficients in the subset); with
  ``sparsest`` also approx_sparsest, error_sparsest, kept_sparsest.
- ``summary`` (one row per coefficient range and solution, ``solution``
  optimal | sparsest): coefficient_range, low, high (the coefficients'
  uniform range), target_acc, approx_acc (test accuracy, fractions, on
  the same n_test images), target_only / approx_only (images only the
  target / only the approximation classifies right: the discordant pairs of
  McNemar's test),
  max_error, within_eps (weights with error <= eps), n_weights,
  n_coefficients (n per weight), kept_total, total_coefficients
  (n_weights * n), solve_seconds, eps, coefficients, n_train.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ltpipe.config import job_parser, start_job
from ltpipe.data.mnist import data_root
from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.models import build
from ltpipe.engines.subsetsum import solve, solve_sparsest
from ltpipe.engines.train import evaluate, predictions, seeded_init, train_epochs
from ltpipe.progress import Progress
from ltpipe.seeds import derive_seed, numpy_generator, torch_generator
from ltpipe.tables import atomic_path, load_torch, write_table

__all__ = [
    "RANGES",
    "approximate",
    "coefficient_bounds",
    "coefficient_ranges",
    "draw_coefficients",
    "n_coefficients",
    "train_target",
]

log = logging.getLogger(__name__)
ARCH = "fc-784-500-10-nobias"
RANGES = ("target", "symmetric")


def n_coefficients(eps: float, c: int) -> int:
    """n = c * round(log2(1/eps)) (Pensia et al., Experiment 1: c = 3, eps = 0.01 -> 21)."""
    return int(c) * round(math.log2(1.0 / eps))


def train_target(cfg: dict[str, Any], root: str, seed: int, device: str = "cpu") -> tuple[dict, float, int]:
    """Train the target; returns (state dict on the CPU, test accuracy, training images used)."""
    data = prepare_data(root, cfg.get("n_samples"), 0.0, derive_seed(seed, "data"), device)
    model = seeded_init(lambda: build(ARCH), seed, "target").to(device)

    def on_epoch(epoch: int, loss: float) -> None:
        _, acc = evaluate(model, data["x_test"], data["y_test"])
        log.info("target epoch %d of %d: train loss %.4f, test accuracy %.4f", epoch, cfg["epochs"], loss, acc)

    train_epochs(model, data, cfg, generator=torch_generator(seed, "batches"), on_epoch=on_epoch)
    _, acc = evaluate(model, data["x_test"], data["y_test"])
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return state, acc, len(data["y_train"])


def coefficient_bounds(weights: Sequence[np.ndarray], coefficient_range: str) -> tuple[float, float]:
    """The coefficients' uniform range (low, high): ``target`` = (min w, max w) over the whole network
    (Experiment 1), ``symmetric`` = (-m, m) with m = max |w|."""
    low = min(float(w.min()) for w in weights)
    high = max(float(w.max()) for w in weights)
    if coefficient_range == "target":
        return low, high
    if coefficient_range == "symmetric":
        m = max(-low, high)
        return -m, m
    raise ValueError(f"coefficient_range must be one of {', '.join(RANGES)}, not {coefficient_range!r}")


def draw_coefficients(
    shapes: Sequence[tuple[int, int]], n: int, low: float, high: float, mode: str, seed: int
) -> list[np.ndarray]:
    """Coefficients U[low, high] per layer as (rows, cols, n): per weight, or one (n,) per row (``per_row``).

    The same seed gives the same uniform variates for any (low, high), mapped affinely onto the range.
    """
    gen = numpy_generator(seed, "coefficients")
    out = []
    for rows, cols in shapes:
        if mode == "per_weight":
            out.append(gen.uniform(low, high, size=(rows, cols, n)))
        elif mode == "per_row":
            out.append(np.broadcast_to(gen.uniform(low, high, size=(rows, 1, n)), (rows, cols, n)))
        else:
            raise ValueError(f"coefficients must be 'per_weight' or 'per_row', not {mode!r}")
    return out


def approximate(
    weights: Sequence[np.ndarray],
    coefficients: Sequence[np.ndarray],
    eps: float,
    sparsest: bool,
    device: str | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Solve every weight (on ``device``, the CPU by default); the ``weights`` table and each solution's time."""
    frames = []
    seconds = {"optimal": 0.0, "sparsest": 0.0}
    progress = Progress(weights=[w.size for w in weights], logger=log)
    for layer, (w, a) in enumerate(zip(weights, coefficients, strict=True)):
        rows, cols = w.shape
        flat_w = w.reshape(-1)
        flat_a = np.ascontiguousarray(a.reshape(rows * cols, -1))
        began = time.perf_counter()
        _, mask = solve(flat_a, flat_w, device=device)
        seconds["optimal"] += time.perf_counter() - began
        mask = mask.numpy()
        approx = (flat_a * mask).sum(1)
        frame = {
            "layer": np.full(rows * cols, layer, dtype=np.int16),
            "row": np.repeat(np.arange(rows, dtype=np.int32), cols),
            "col": np.tile(np.arange(cols, dtype=np.int32), rows),
            "target": flat_w,
            "approx": approx,
            "error": np.abs(flat_w - approx),
            "kept": mask.sum(1).astype(np.int16),
        }
        if sparsest:
            began = time.perf_counter()
            _, smask, _ = solve_sparsest(flat_a, flat_w, eps, device=device)
            seconds["sparsest"] += time.perf_counter() - began
            smask = smask.numpy()
            sapprox = (flat_a * smask).sum(1)
            frame |= {
                "approx_sparsest": sapprox,
                "error_sparsest": np.abs(flat_w - sapprox),
                "kept_sparsest": smask.sum(1).astype(np.int16),
            }
        progress.step("layer %d: %d weights solved", layer, rows * cols)
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True), seconds


def coefficient_ranges(cfg: dict[str, Any]) -> list[str]:
    """The configured ``coefficient_range``: one name, or a list of them (a method axis on one target)."""
    value = cfg["coefficient_range"]
    return [value] if isinstance(value, str) else list(value)


def _layers(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in state if k.endswith("weight")]


def target_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe ps-target: train the bias-free 784-500-10 target on MNIST."""
    parser = job_parser("ltpipe ps-target", target_main.__doc__, "ps training")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--mnist", nargs="+", required=True, help="the four MNIST IDX files (or the data root)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    root = data_root(args.mnist)
    seed = derive_seed(args.seed, "pensia2020", "ps")
    state, acc, n_train = train_target(cfg, root, seed, device)
    with atomic_path(args.out) as tmp:
        torch.save({"state": state, "test_acc": acc, "n_train": n_train, "seed": seed, "config": cfg}, tmp)
    log.info("target test accuracy %.4f on %s", acc, device)


def solve_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe ps-solve: replace every target weight by its best subset sum, per coefficient range;
    evaluate."""
    parser = job_parser("ltpipe ps-solve", solve_main.__doc__, "ps solve")
    parser.add_argument("--target", required=True)
    parser.add_argument("--mnist", nargs="+", required=True, help="the four MNIST IDX files (or the data root)")
    parser.add_argument("--weights-out", required=True)
    parser.add_argument("--summary-out", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    saved = load_torch(args.target)
    state = saved["state"]
    names = _layers(state)
    weights = [state[k].double().numpy() for k in names]
    eps = float(cfg["eps"])
    n = n_coefficients(eps, int(cfg["c"]))
    data = prepare_data(data_root(args.mnist), None, 0.0, 0, device)
    model = build(ARCH).to(device)

    def correct(values: np.ndarray | None) -> np.ndarray:
        """Per test image, whether the network with these weights (None: the target's) classifies it right."""
        approx = dict(state)
        start = 0
        for k, w in zip(names, weights, strict=True):
            if values is not None:
                approx[k] = torch.tensor(values[start : start + w.size].reshape(w.shape), dtype=state[k].dtype)
            start += w.size
        model.load_state_dict(approx)
        return predictions(model.to(device), data["x_test"]).cpu().numpy() == data["y_test"].cpu().numpy()

    target_correct = correct(None)

    tables, rows = [], []
    for name in coefficient_ranges(cfg):
        low, high = coefficient_bounds(weights, name)
        log.info(
            "%s range: coefficients U[%.4f, %.4f], n = %d per weight (%s)", name, low, high, n, cfg["coefficients"]
        )
        coefficients = draw_coefficients([w.shape for w in weights], n, low, high, cfg["coefficients"], saved["seed"])
        table, seconds = approximate(weights, coefficients, eps, bool(cfg["sparsest"]), device)
        del coefficients
        for solution, suffix in [("optimal", ""), ("sparsest", "_sparsest")]:
            if f"approx{suffix}" not in table:
                continue
            approx_correct = correct(table[f"approx{suffix}"].to_numpy())
            target_only = int((target_correct & ~approx_correct).sum())
            approx_only = int((approx_correct & ~target_correct).sum())
            rows.append(
                {
                    "coefficient_range": name,
                    "solution": solution,
                    "low": low,
                    "high": high,
                    "target_acc": float(target_correct.mean()),
                    "approx_acc": float(approx_correct.mean()),
                    "n_test": len(target_correct),
                    "target_only": target_only,
                    "approx_only": approx_only,
                    "max_error": float(table[f"error{suffix}"].max()),
                    "within_eps": int((table[f"error{suffix}"] <= eps).sum()),
                    "n_weights": len(table),
                    "n_coefficients": n,
                    "kept_total": int(table[f"kept{suffix}"].sum()),
                    "total_coefficients": len(table) * n,
                    "solve_seconds": seconds[solution],
                    "eps": eps,
                    "coefficients": cfg["coefficients"],
                    "n_train": int(saved["n_train"]),
                }
            )
            log.info("%s", rows[-1])
        table.insert(0, "coefficient_range", name)
        tables.append(table)
    meta = {"ps": cfg, "target": saved["config"], "seed": saved["seed"]}
    write_table(pd.concat(tables, ignore_index=True), args.weights_out, config=meta, device=device)
    write_table(pd.DataFrame(rows), args.summary_out, config=meta, device=device)
