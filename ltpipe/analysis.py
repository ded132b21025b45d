"""Quantities derived from the trial tables, shared by the figures and the claims."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "capped_majority",
    "linear_fit",
    "mcnemar_exact",
    "method_label",
    "moving",
    "n_needed",
    "per_eta",
    "radius",
    "settled",
]


def linear_fit(x: Iterable[float], y: Iterable[float], min_points: int = 3) -> tuple[float, float, float]:
    """Least-squares line y = a x + b; returns (a, b, R^2).

    NaN with fewer than ``min_points`` finite points (two points fit any line
    exactly, so they can confirm no trend) or a single distinct x.
    """
    x = np.asarray(list(x), dtype=float)
    y = np.asarray(list(y), dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < max(2, min_points) or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan")
    a, b = np.polyfit(x, y, 1)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - (a * x + b)) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return float(a), float(b), r2


def mcnemar_exact(b: int, c: int) -> float:
    """The exact (binomial) McNemar test of two classifiers' equal accuracy on the same items: ``b`` items only
    the first gets right, ``c`` only the second; under equal accuracy each discordant item is either with
    probability 1/2. Returns the two-sided p-value, 2 P(X <= min(b, c)) for X ~ Bin(b + c, 1/2), at most 1 (1
    with no discordant item)."""
    from scipy.stats import binom

    n = b + c
    return 1.0 if n == 0 else float(min(1.0, 2 * binom.cdf(min(b, c), n, 0.5)))


def per_eta(trials: pd.DataFrame) -> list[tuple[float, pd.DataFrame]]:
    """The rows of each step size, in increasing eta (tables without an ``eta`` column are one group)."""
    if "eta" not in trials:
        return [(float("nan"), trials)]
    return [(float(e), g) for e, g in trials.groupby("eta", sort=True)]


def settled(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials whose outcome is not the iteration budget's: they converged (by the step tolerance),
    settled at the cap (their loss and error no longer moved over the last window of iterations: more
    iterations would not change the outcome) or succeeded. A trial still moving at the cap and short of
    success is left out: more iterations might have made it succeed, so it says nothing about the
    landscape."""
    return trials[trials["settled"] | trials["success"]]


def moving(rows: pd.DataFrame) -> pd.Series:
    """Per row: capped while still moving (not settled), the runs the iteration budget decided."""
    return (rows["stop"] == "capped") & ~rows["settled"].astype(bool)


def capped_majority(trials: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """Per (index, columns) cell: whether most trials were still moving at max_iter (the budget decided them)."""
    capped = trials.assign(capped=moving(trials))
    return capped.pivot_table(index=index, columns=columns, values="capped", aggfunc="mean") > 0.5


def _threshold(
    trials: pd.DataFrame, axis: str, pick: str, level: float, counted: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per eta and r, the largest/smallest ``axis`` value whose success rate is >= level.

    The rate is taken over the ``counted`` trials (default: all). Every (eta, r) of ``trials`` gets a row;
    ``censored`` marks a value the grid does not pin down and ``bound`` says which way: ``exact``;
    ``lower`` (the true value is at least the one given: the level holds at the grid's far edge) or
    ``upper`` (at most it: the level holds at the grid's near edge already, or, when no grid point reaches
    the level, the value given is that near edge and the true one lies below it for ``max``, NaN for
    ``min``).
    """
    keys = ["eta", "r"] if "eta" in trials else ["r"]
    counted = trials if counted is None else counted
    rate = counted.groupby([*keys, axis])["success"].mean().reset_index()
    grid = np.sort(trials[axis].unique())
    rows = []
    for key, _ in trials.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        same = np.logical_and.reduce([rate[k] == v for k, v in zip(keys, key, strict=True)])
        ok = rate.loc[same & (rate["success"] >= level), axis]
        if ok.empty:
            value, bound = (float(grid.min()), "upper") if pick == "max" else (float("nan"), "lower")
        elif pick == "max":
            value = float(ok.max())
            bound = "lower" if value == grid.max() else "exact"
        else:
            value = float(ok.min())
            bound = "upper" if value == grid.min() else "exact"
        row = {**dict(zip(keys, key, strict=True)), axis: value, "censored": bound != "exact", "bound": bound}
        rows.append(row)
    return pd.DataFrame(rows).astype({"r": int})


def radius(trials: pd.DataFrame, level: float = 0.5) -> pd.DataFrame:
    """Z2: per eta and r, the largest lambda with success rate >= level among the :func:`settled` trials
    (Zhang et al. 2021, Fig. 2): a trial still moving at the cap is the budget's verdict, not the landscape's.

    ``bound``: ``lower`` where that lambda is the grid's largest (the region reaches beyond the grid: the
    radius is at least it), ``upper`` where no lambda reaches the level (the radius lies below the grid's
    smallest, which is given).
    """
    return _threshold(trials, "lam", "max", level, settled(trials)).rename(columns={"lam": "radius"})


def n_needed(trials: pd.DataFrame, level: float = 0.5) -> pd.DataFrame:
    """Z4: per eta and r, the smallest N with success rate >= level among the :func:`settled` trials
    (Zhang et al. 2021, Fig. 4); censored at the grid's edges. A (r, N) cell whose trials were all
    still moving at the cap short of success has no rate and counts as below the level."""
    return _threshold(trials, "n_samples", "min", level, settled(trials)).rename(columns={"n_samples": "n_needed"})


def method_label(beta: pd.Series) -> list[str]:
    """'GD' for beta = 0, else 'AGD (beta=...)'."""
    return ["GD" if b == 0 else f"AGD (β={b:g})" for b in beta]
