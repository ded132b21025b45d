"""PC and MW: target networks found inside random ones by masks, Pensia et al.'s subset-sum construction
(Lemma 1-3, Theorem 1) against Malach et al.'s single-product construction (Theorem 2.1, Lemma A.1).

Both are built by :mod:`ltpipe.engines.construct` on the same random
networks (same seeds), so that every difference between them is the rule
that chose the second layer's mask. Three parts:

- single weight (Lemma 1): per trial one random g(x) = v^T relu(u x),
  u, v in R^2n from U[-1, 1], pruned once per target w on a grid of
  ``targets`` points in [-1, 1]; the error is sup over |x| <= 1 of
  |w x - g(x)|, exact (:func:`ltpipe.engines.construct.single_weight`);
- random targets (Theorem 1; Malach Theorem 2.1): per depth l, width d
  (``widths``: the sweep in d that sets the two constructions' widths
  apart, O(d log(d l / eps)) against polynomial in d) and trial a
  target of l layers of width d with spectral norm 1 per layer,
  and for every width factor n the random 2l-layer network pruned by both
  rules; the error is sup over ||x|| <= 1 of ||f(x) - g(x)||_2, estimated
  from below by sampling the sphere and a gradient search from the worst
  samples (:func:`ltpipe.engines.construct.sup_ball`);
- the PS target (the trained 784-500-10 network of Experiment 1): the same,
  plus the test accuracy of the pruned network and its agreement with the
  target's predictions.

Tables (one per part; PC's tables hold both constructions, MW's the rows of
Malach's construction only, written by the same job):

- ``single``: construction (pc | mw), n (products per side; g has 4n random
  weights), random_weights, trial, seed, target (w), error (the exact sup
  over |x| <= 1), slope_pos, slope_neg (g's slopes for x > 0 and x < 0).
- ``network``: construction, target (``depth<l>_width<d>``), depth, width, n, trial,
  seed, error (the searched sup over the unit ball), error_sampled (the
  largest over the sampled points alone), weight_error (the largest
  per-weight sup error max(|P - W|, |N - W|) over the layers),
  params_target, params_random, params_kept.
- ``ps``: construction, target (``ps``), n, seed, error, error_sampled,
  weight_error, params_target, params_random, params_kept, target_acc,
  pruned_acc (test accuracy, fractions), agreement (fraction of test images
  given the target's class), output_error (the largest ||f(x) - g(x)|| over
  the test images, which lie far outside the unit ball).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ltpipe.config import job_parser, start_job
from ltpipe.data.mnist import data_root
from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.compiled import one_thread
from ltpipe.engines.construct import build, random_target, single_weight, sup_ball, target_forward
from ltpipe.progress import Progress
from ltpipe.seeds import derive_seed, numpy_generator
from ltpipe.tables import load_torch, write_table

__all__ = ["CONSTRUCTIONS", "network_rows", "ps_rows", "single_rows"]

log = logging.getLogger(__name__)
CONSTRUCTIONS = {"pc": "subset_sum", "mw": "closest"}


def single_rows(pc: dict[str, Any], mw: dict[str, Any], base_seed: int, device: str = "cpu") -> pd.DataFrame:
    """Lemma 1 for both constructions: PC at the n of ``pc['single']['n']``, MW at ``mw['single']['n']``; a
    trial at an n both use prunes the same random g."""
    cfg = pc["single"]
    targets = np.linspace(-1.0, 1.0, int(cfg["targets"]))
    rows = []
    for construction, grid in (("pc", cfg["n"]), ("mw", mw["single"]["n"])):
        for n in map(int, grid):
            start = time.perf_counter()
            for t in range(int(cfg["trials"])):
                seed = derive_seed(base_seed, "construct", "single", n, t)
                gen = numpy_generator(seed, "g")
                u, v = gen.uniform(-1.0, 1.0, 2 * n), gen.uniform(-1.0, 1.0, 2 * n)
                err, p, q = single_weight(u, v, targets, CONSTRUCTIONS[construction], device)
                rows += [
                    {
                        "construction": construction,
                        "n": n,
                        "random_weights": 4 * n,
                        "trial": t,
                        "seed": seed,
                        "target": float(w),
                        "error": float(e),
                        "slope_pos": float(a),
                        "slope_neg": float(b),
                    }
                    for w, e, a, b in zip(targets, err, p, q, strict=True)
                ]
            worst = max(r["error"] for r in rows[-len(targets) * int(cfg["trials"]) :])
            log.info("single %s n=%d: worst error %.3g (%.2f s)", construction, n, worst, time.perf_counter() - start)
    return pd.DataFrame(rows)


def _errors(target: Sequence[np.ndarray], pruned, ev: dict[str, Any], seed: int) -> tuple[float, float]:
    def f(x: torch.Tensor) -> torch.Tensor:
        return target_forward(target, x)

    d = target[0].shape[1]
    return sup_ball(
        f, pruned.forward, d, int(ev["samples"]), int(ev["starts"]), int(ev["steps"]), seed, float(ev["lr"])
    )


def _row(construction: str, pruned, weights: Sequence[np.ndarray], errors: tuple[float, float], **keys) -> dict:
    return {
        "construction": construction,
        **keys,
        "error": errors[1],
        "error_sampled": errors[0],
        "weight_error": float(max(e.max() for e in pruned.weight_error)),
        "params_target": int(sum(w.size for w in weights)),
        "params_random": pruned.params_random,
        "params_kept": pruned.params_kept,
    }


def _cost(construction: str, n: int) -> float:
    """A construction's relative cost at width factor n, for the estimate of what is left: the subset sums
    PC's exact solve forms per weight (two halves of 2^(n/2)), MW's n products."""
    return 2.0 ** (n / 2) if construction == "pc" else float(n)


def network_rows(pc: dict[str, Any], mw: dict[str, Any], base_seed: int, device: str = "cpu") -> pd.DataFrame:
    """Random targets of each depth and width (spectral norm 1 per layer), pruned by both rules at every n of
    their grids; a trial's target is the same at every n and for both constructions."""
    cfg, ev = pc["network"], pc["eval"]
    rows = []
    grids = (("pc", cfg["n"]), ("mw", mw["network"]["n"]))
    each = [_cost(c, int(n)) * w * w for w in cfg["widths"] for c, grid in grids for n in grid]
    progress = Progress(weights=each * len(cfg["depths"]) * int(cfg["trials"]), logger=log)
    for depth in map(int, cfg["depths"]):
        for width in map(int, cfg["widths"]):
            name = f"depth{depth}_width{width}"
            for t in range(int(cfg["trials"])):
                tseed = derive_seed(base_seed, "construct", "target", name, t)
                target = random_target(tseed, [width] * (depth + 1))
                for construction, grid in grids:
                    for n in map(int, grid):
                        seed = derive_seed(base_seed, "construct", "network", name, n, t)
                        pruned = build(target, seed, n, CONSTRUCTIONS[construction], device)
                        errors = _errors(target, pruned, ev, seed)
                        rows.append(
                            _row(
                                construction,
                                pruned,
                                target,
                                errors,
                                target=name,
                                depth=depth,
                                width=width,
                                n=n,
                                trial=t,
                                seed=seed,
                            )
                        )
                        progress.step(
                            "%s trial %d %s n=%d: sup error %.3g (sampled %.3g), %d of %d weights kept",
                            name,
                            t,
                            construction,
                            n,
                            errors[1],
                            errors[0],
                            pruned.params_kept,
                            pruned.params_random,
                        )
    return pd.DataFrame(rows)


def ps_rows(
    pc: dict[str, Any], mw: dict[str, Any], state: dict, root: str, base_seed: int, device: str = "cpu"
) -> pd.DataFrame:
    """The PS target (784-500-10, bias-free) pruned out of random 4-layer networks by both rules, evaluated
    on the unit ball and on the MNIST test images."""
    names = [k for k in state if k.endswith("weight")]
    target = [state[k].double().cpu().numpy() for k in names]
    data = prepare_data(root, None, 0.0, 0, "cpu")
    x = data["x_test"].flatten(1).double()
    limit = pc["ps"].get("test_images")
    if limit is not None:
        x = x[: int(limit)]
    y = data["y_test"][: len(x)]
    with torch.no_grad(), one_thread():  # the same bits whatever the job's threads
        fx = target_forward(target, x)
    target_pred = fx.argmax(dim=1)
    target_acc = float((target_pred == y).double().mean())
    rows = []
    grids = (("pc", pc["ps"]["n"]), ("mw", mw["ps"]["n"]))
    progress = Progress(weights=[_cost(c, int(n)) for c, grid in grids for n in grid], logger=log)
    for construction, grid in grids:
        for n in map(int, grid):
            seed = derive_seed(base_seed, "construct", "ps", n)
            pruned = build(target, seed, n, CONSTRUCTIONS[construction], device)
            errors = _errors(target, pruned, pc["ps"]["eval"], seed)
            with torch.no_grad(), one_thread():
                gx = torch.cat([pruned.forward(part) for part in x.split(1000)])
            pred = gx.argmax(dim=1)
            row = _row(construction, pruned, target, errors, target="ps", n=n, seed=seed)
            row.update(
                target_acc=target_acc,
                pruned_acc=float((pred == y).double().mean()),
                agreement=float((pred == target_pred).double().mean()),
                output_error=float((fx - gx).norm(dim=1).max()),
            )
            rows.append(row)
            progress.step(
                "ps %s n=%d: sup error %.3g, accuracy %.4f (target %.4f), %d of %d weights kept",
                construction,
                n,
                errors[1],
                row["pruned_acc"],
                target_acc,
                pruned.params_kept,
                pruned.params_random,
            )
    return pd.DataFrame(rows)


def _split(df: pd.DataFrame, outputs: dict[str, str], meta: dict, device: str) -> None:
    """Write PC's table (both constructions) and MW's (its rows only)."""
    write_table(df, outputs["pc"], config=meta, device=device)
    write_table(df[df["construction"] == "mw"].reset_index(drop=True), outputs["mw"], config=meta, device=device)


def _parser(prog: str, doc: str | None):
    parser = job_parser(prog, doc, 'pc ({"pc": {...}, "mw": {...}})')
    parser.add_argument("--seed", type=int, required=True)
    return parser


def construct_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pc: the single-weight and random-target constructions, PC and MW."""
    parser = _parser("ltpipe pc", construct_main.__doc__)
    for name in ("single", "network"):
        for c in ("pc", "mw"):
            parser.add_argument(f"--{name}-{c}", required=True, help=f"{c.upper()}'s {name} table")
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    meta = {"seed": args.seed, **cfg}
    single = single_rows(cfg["pc"], cfg["mw"], args.seed, device)
    _split(single, {"pc": args.single_pc, "mw": args.single_mw}, meta, device)
    network = network_rows(cfg["pc"], cfg["mw"], args.seed, device)
    _split(network, {"pc": args.network_pc, "mw": args.network_mw}, meta, device)


def construct_ps_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pc-ps: the PS target pruned out of random networks, PC and MW."""
    parser = _parser("ltpipe pc-ps", construct_ps_main.__doc__)
    parser.add_argument("--target", required=True, help="the PS target (results/pensia2020/ps/target.pt)")
    parser.add_argument("--mnist", nargs="+", required=True, help="the four MNIST IDX files (or the data root)")
    parser.add_argument("--out-pc", required=True)
    parser.add_argument("--out-mw", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    saved = load_torch(args.target)
    df = ps_rows(cfg["pc"], cfg["mw"], saved["state"], data_root(args.mnist), args.seed, device)
    meta = {"seed": args.seed, **cfg, "target": saved["config"]}
    _split(df, {"pc": args.out_pc, "mw": args.out_mw}, meta, device)
