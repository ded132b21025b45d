"""MN: neuron-subnetworks are random features (Malach et al. 2020, Theorem 3.2, Theorem 3.3, Remark 3.5).

Remark 3.5's algorithm (:func:`ltpipe.engines.random_features.neuron_prune`)
prunes whole neurons of a random two-layer network of width k m (m blocks of
k); it is compared with the random-features model of k features (a block's:
what Theorem 3.2 says it competes with) and of all k m features (what it
cannot beat: a neuron-subnetwork is one random-features model of its width,
:func:`ltpipe.engines.random_features.full_features`), fitted by ridge
least squares on the same data. On the single neuron, random features of
the first k of the network's neurons for every k of ``k_sweep`` give the
number of features a fixed error needs as d grows. Two tasks:

- ``neuron``: a single ReLU neuron y = relu(<w*, x>), w* uniform on the
  unit sphere, x ~ N(0, I_d), as d grows at fixed k and m: the case where
  random features, and so neuron pruning, need a width exponential in d
  (Yehudai and Shamir 2019, cited by the paper). Beside them, weight pruning
  of the same target (a depth-2 target [w*^T], [[1]] inside a random 4-layer
  network, :mod:`ltpipe.engines.construct`) with the widths the theorems
  prescribe: Pensia's n = ceil(pc_c log2(d / eps)) products per weight
  (Theorem 1, logarithmic) and Malach's n = ceil(mw_c d / eps) (Theorem
  2.1, polynomial);
- ``mnist``: a finite dataset (Theorem 3.3, case 1): ``n_train`` MNIST
  images of two digits, scaled to the unit sphere, labels +1 / -1, fitted as
  a regression as the width k grows; the error on the training set is the
  theorem's (it overfits the sample), the test accuracy (sign of the output)
  is recorded beside it.

Table ``trials`` (one row per task, grid point, method and trial): task,
method (neuron_pruning | random_features | random_features_full |
random_features_k (k of k_sweep, single neuron) | pc | mw), d, k, m, delta,
width (neurons of the fitted or pruned network; for
pc / mw the hidden units of its first pair), n (pc / mw: products per
weight), trial, seed, train_error, test_error (||pred - y|| / ||y||),
test_acc (mnist), kept (neurons kept by neuron pruning; weights kept for
pc / mw), c (neuron pruning's output constant).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ltpipe.config import job_parser, start_job
from ltpipe.data import mnist
from ltpipe.data.mnist import data_root
from ltpipe.engines.construct import build
from ltpipe.engines.random_features import (
    features,
    fit_readout,
    full_features,
    neuron_prune,
    random_network,
    relative_error,
)
from ltpipe.seeds import derive_seed, numpy_generator
from ltpipe.tables import write_table

__all__ = ["mnist_rows", "neuron_rows", "weight_pruning_n"]

log = logging.getLogger(__name__)


def weight_pruning_n(d: int, cfg: dict[str, Any]) -> dict[str, int]:
    """The width factors (products per weight and side) of weight pruning at input dimension d, so that the
    d per-weight errors add up to about eps: PC's ceil(pc_c log2(d / eps)), logarithmic in d / eps as in
    Pensia et al.'s Theorem 1 (width C d log(d l / eps)); MW's ceil(mw_c d / eps), from the rate of Malach et
    al.'s one-product rule (a weight's error falls like 1 / n, Lemma A.1). The latter is our per-weight
    choice, not Theorem 2.1's width, which is a larger polynomial in d, the target's width and depth and
    1 / eps (Pensia et al. summarise it as a factor O(d^4 l^2) wider than the target); it is the least width
    that rate allows, which favours MW."""
    eps = float(cfg["eps"])
    return {
        "pc": max(1, math.ceil(float(cfg["pc_c"]) * math.log2(max(d, 2) / eps))),
        "mw": max(1, math.ceil(float(cfg["mw_c"]) * d / eps)),
    }


def _feature_rows(
    data: tuple[np.ndarray, ...], w: np.ndarray, u: np.ndarray, cfg: dict[str, Any], keys: dict[str, Any]
) -> list[dict]:
    """Neuron pruning of the k m network and random features of its first block (k neurons), on
    ``data`` = (x_train, y_train, x_test, y_test)."""
    x_train, y_train, x_test, y_test = data
    k, m, delta, ridge = int(keys["k"]), int(cfg["m"]), float(cfg["delta"]), float(cfg["ridge"])

    def row(method: str, width: int, train: np.ndarray, test: np.ndarray, **extra) -> dict:
        out = {
            **keys,
            "method": method,
            "m": m,
            "delta": delta,
            "ridge": ridge,
            "width": width,
            "train_error": relative_error(train, y_train),
            "test_error": relative_error(test, y_test),
            "test_acc": float(np.mean(np.sign(test) == np.sign(y_test))),
        }
        out.update(extra)
        return out

    pruned = neuron_prune(x_train, y_train, w, u, k, m, delta, ridge)
    rows = [
        row(
            "neuron_pruning",
            k * m,
            pruned.predict(x_train, w, u),
            pruned.predict(x_test, w, u),
            kept=int(pruned.keep.sum()),
            c=pruned.c,
        )
    ]
    alpha = pruned.readouts[0]  # block 0's fitted readout: random features of its k neurons
    rows.append(row("random_features", k, features(x_train, w[:k]) @ alpha, features(x_test, w[:k]) @ alpha, kept=k))
    if cfg.get("full", True):
        # its cost grows as N^2 k m: config/paper.yaml turns it off where that is out of reach
        full_train, full_test = full_features(x_train, y_train, x_test, w, ridge)
        rows.append(row("random_features_full", k * m, full_train, full_test, kept=k * m))
    for k_i in map(int, cfg.get("k_sweep", [])):
        # the first k_i of the network's neurons, each fitted on its own: the features the error needs
        f_train, f_test = features(x_train, w[:k_i]), features(x_test, w[:k_i])
        a = fit_readout(f_train, y_train, ridge)
        rows.append(row("random_features_k", k_i, f_train @ a, f_test @ a, kept=k_i, k=k_i))
    return rows


def neuron_rows(cfg: dict[str, Any], base_seed: int, device: str = "cpu") -> pd.DataFrame:
    """The single-neuron task over the grid of d, every method, ``trials`` trials."""
    k, m = int(cfg["k"]), int(cfg["m"])
    rows = []
    for d in map(int, cfg["d"]):
        for t in range(int(cfg["trials"])):
            seed = derive_seed(base_seed, "malach2020", "mn", "neuron", d, t)
            gen = numpy_generator(seed, "data")
            w_star = gen.standard_normal(d)
            w_star /= np.linalg.norm(w_star)
            x_train = gen.standard_normal((int(cfg["n_train"]), d))
            x_test = gen.standard_normal((int(cfg["n_test"]), d))
            y_train, y_test = np.maximum(x_train @ w_star, 0), np.maximum(x_test @ w_star, 0)
            w, u = random_network(numpy_generator(seed, "network"), d, k * m)
            keys = {"task": "neuron", "d": d, "k": k, "trial": t, "seed": seed}
            rows += _feature_rows((x_train, y_train, x_test, y_test), w, u, cfg, keys)
            target = [w_star[None, :], np.ones((1, 1))]
            for construction, n in weight_pruning_n(d, cfg["weight_pruning"]).items():
                rule = "subset_sum" if construction == "pc" else "closest"
                net = build(target, derive_seed(seed, construction), n, rule, device)
                with torch.no_grad():
                    pred = net.forward(torch.as_tensor(x_test)).numpy()[:, 0]
                    pred_train = net.forward(torch.as_tensor(x_train)).numpy()[:, 0]
                rows.append(
                    {
                        **keys,
                        "method": construction,
                        "m": m,
                        "delta": float(cfg["delta"]),
                        "ridge": float(cfg["ridge"]),
                        "width": 2 * n * d,
                        "n": n,
                        "train_error": relative_error(pred_train, y_train),
                        "test_error": relative_error(pred, y_test),
                        "test_acc": float(np.mean(np.sign(pred) == np.sign(y_test))),
                        "kept": net.params_kept,
                    }
                )
        done = [r for r in rows if r["d"] == d]
        log.info(
            "neuron d=%d: %s",
            d,
            ", ".join(
                f"{meth} {np.median([r['test_error'] for r in done if r['method'] == meth]):.3g}"
                for meth in dict.fromkeys(r["method"] for r in done)
            ),
        )
    return pd.DataFrame(rows)


def _two_digits(root: str, split: str, digits: Sequence[int], n: int | None, seed: int) -> tuple[np.ndarray, ...]:
    x, y = mnist.load(root, split)
    x, y = np.asarray(x, dtype=np.float64).reshape(len(x), -1), np.asarray(y)
    idx = np.flatnonzero(np.isin(y, digits))
    if n is not None:
        mnist.check_size(int(n), idx.size, f"{split} images of digits {list(digits)} in {root}")
        per = [np.flatnonzero(y[idx] == dgt) for dgt in digits]
        gen = numpy_generator(seed, "subset", split)
        half = [int(n) // 2, int(n) - int(n) // 2]
        if any(h > p.size for h, p in zip(half, per, strict=True)):
            raise ValueError(
                f"{n} {split} images in two equal halves: digits {list(digits)} have {[p.size for p in per]} in {root}"
            )
        idx = np.sort(np.concatenate([idx[gen.choice(p, h, replace=False)] for p, h in zip(per, half, strict=True)]))
    x = x[idx]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.where(y[idx] == digits[0], 1.0, -1.0)


def mnist_rows(cfg: dict[str, Any], root: str, base_seed: int) -> pd.DataFrame:
    """The finite-dataset task: two digits, unit-norm images, +1 / -1 targets, over the grid of k."""
    digits = [int(v) for v in cfg["digits"]]
    seed0 = derive_seed(base_seed, "malach2020", "mn", "mnist")
    x_train, y_train = _two_digits(root, "train", digits, cfg["n_train"], seed0)
    x_test, y_test = _two_digits(root, "test", digits, cfg.get("n_test"), seed0)
    m = int(cfg["m"])
    rows = []
    for k in map(int, cfg["k"]):
        for t in range(int(cfg["trials"])):
            seed = derive_seed(base_seed, "malach2020", "mn", "mnist", k, t)
            w, u = random_network(numpy_generator(seed, "network"), x_train.shape[1], k * m)
            keys = {"task": "mnist", "d": x_train.shape[1], "k": k, "trial": t, "seed": seed}
            rows += _feature_rows((x_train, y_train, x_test, y_test), w, u, cfg, keys)
        done = [r for r in rows if r["k"] == k]
        log.info(
            "mnist k=%d: %s",
            k,
            ", ".join(
                f"{meth} train {np.median([r['train_error'] for r in done if r['method'] == meth]):.3g}"
                for meth in dict.fromkeys(r["method"] for r in done)
            ),
        )
    return pd.DataFrame(rows)


def mn_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe mn: Remark 3.5's neuron pruning against random features, on a single neuron and on
    two MNIST digits."""
    parser = job_parser("ltpipe mn", mn_main.__doc__, "mn")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--mnist", nargs="+", required=True, help="the four MNIST IDX files (or the data root)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    df = pd.concat(
        [neuron_rows(cfg["neuron"], args.seed, device), mnist_rows(cfg["mnist"], data_root(args.mnist), args.seed)],
        ignore_index=True,
    )
    write_table(df, args.out, config={"seed": args.seed, "mn": cfg}, device=device)
