"""Pensia et al. 2020: random subset sum needs only logarithmically many samples (PL).

Lueker's theorem (Pensia et al., Theorem 3 and Corollary 2): with n i.i.d.
coefficients from a distribution that contains a uniform one (such as
U[-1, 1] or the product X Y of two U[-1, 1] variables, Lemma 4), every target
z in [-0.5, 0.5] is within eps of some subset sum, with high probability,
once n = O(log(1/eps)). PL measures, per trial, the worst optimal error over
a grid of targets, exactly (ltpipe.subsetsum), and from it the n needed for
each eps.

Tables:

- ``trials``: distribution, n, trial, seed, worst_error (max over the target
  grid of the optimal |z - subset sum|), worst_target (where it occurs).
- ``needed``: distribution, eps, n_needed (smallest n of the grid whose
  trials have worst_error <= eps with frequency >= ``probability``; NaN when
  no n of the grid does), probability.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ltpipe.config import job_parser, start_job
from ltpipe.engines.subsetsum import solve
from ltpipe.seeds import derive_seed, numpy_generator
from ltpipe.tables import read_table, write_table

__all__ = ["DISTRIBUTIONS", "coefficients", "n_needed", "pl_trials"]

log = logging.getLogger(__name__)


def _uniform(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size)


def _product(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size) * rng.uniform(-1.0, 1.0, size)


def _normal(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(size)


DISTRIBUTIONS = {"uniform": _uniform, "product": _product, "normal": _normal}


def coefficients(distribution: str, n: int, seed: int) -> np.ndarray:
    """The n coefficients of one trial: U[-1, 1], X Y with X, Y ~ U[-1, 1] (Lemma 4), or N(0, 1)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[distribution](numpy_generator(seed, "coefficients"), (n,))


def pl_trials(cfg: dict[str, Any], base_seed: int, chunk_rows: int = 200_000) -> pd.DataFrame:
    """Worst optimal error over the target grid for every (distribution, n, trial)."""
    grid = np.linspace(-cfg["target_range"], cfg["target_range"], int(cfg["grid_points"]))
    rows = []
    for dist in cfg["distributions"]:
        for n in cfg["n"]:
            seeds = [derive_seed(base_seed, "pensia2020", "pl", dist, int(n), t) for t in range(int(cfg["trials"]))]
            a = np.stack([coefficients(dist, int(n), s) for s in seeds])
            per = max(1, chunk_rows // grid.size)
            worst = np.empty(len(seeds))
            where = np.empty(len(seeds))
            for lo in range(0, len(seeds), per):
                block = a[lo : lo + per]
                err, _ = solve(np.repeat(block, grid.size, axis=0), np.tile(grid, len(block)))
                err = err.numpy().reshape(len(block), grid.size)
                worst[lo : lo + per] = err.max(axis=1)
                where[lo : lo + per] = grid[err.argmax(axis=1)]
            for t, seed in enumerate(seeds):
                rows.append(
                    {
                        "distribution": dist,
                        "n": int(n),
                        "trial": t,
                        "seed": seed,
                        "worst_error": worst[t],
                        "worst_target": where[t],
                    }
                )
            log.info("%s n=%d: median worst error %.3g over %d trials", dist, n, float(np.median(worst)), len(seeds))
    return pd.DataFrame(rows)


def n_needed(trials: pd.DataFrame, eps: Sequence[float], probability: float) -> pd.DataFrame:
    """Per distribution and eps, the smallest n with P(worst_error <= eps) >= probability."""
    rows = []
    for dist, g in trials.groupby("distribution", sort=False):
        for e in eps:
            freq = (g["worst_error"] <= e).groupby(g["n"]).mean().sort_index()
            ok = freq[freq >= probability]
            rows.append(
                {
                    "distribution": dist,
                    "eps": float(e),
                    "n_needed": float(ok.index.min()) if len(ok) else float("nan"),
                    "probability": probability,
                }
            )
    return pd.DataFrame(rows)


def pl_trials_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pensia2020-pl-trials: worst optimal subset-sum error over a target grid, per n and trial."""
    parser = job_parser("ltpipe pensia2020-pl-trials", pl_trials_main.__doc__, "pl")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, _ = start_job(args)
    write_table(pl_trials(cfg, args.seed), args.out, config={"seed": args.seed, "pl": cfg})


def pl_needed_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pensia2020-pl-needed: the n needed for each eps, from the PL trials."""
    parser = job_parser(
        "ltpipe pensia2020-pl-needed", pl_needed_main.__doc__, 'needed ({"eps": [...], "probability": p})'
    )
    parser.add_argument("--trials", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, _ = start_job(args)
    df = n_needed(read_table(args.trials), cfg["eps"], float(cfg.get("probability", 0.9)))
    write_table(df, args.out, config=cfg)
