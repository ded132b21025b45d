"""Quantities derived from the trial tables, shared by the figures and the claims."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["linear_fit", "method_label", "n_needed", "radius"]


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


def _threshold(trials: pd.DataFrame, axis: str, pick: str, level: float) -> pd.DataFrame:
    """Per r, the largest/smallest ``axis`` value whose success rate is >= level."""
    rate = trials.groupby(["r", axis])["success"].mean().reset_index()
    rows = []
    for r, g in rate.groupby("r", sort=True):
        g = g.sort_values(axis)
        ok = g[g["success"] >= level]
        grid = g[axis].to_numpy()
        if ok.empty:
            value, censored = float("nan"), True
        elif pick == "max":
            value = float(ok[axis].max())
            censored = value == grid.max()
        else:
            value = float(ok[axis].min())
            censored = value == grid.min()
        rows.append({"r": int(r), axis: value, "censored": bool(censored)})
    return pd.DataFrame(rows)


def radius(trials: pd.DataFrame, level: float = 0.5) -> pd.DataFrame:
    """Z2: per r, the largest lambda with success rate >= level (Zhang et al. 2021, Fig. 2).

    ``censored`` is true where that lambda is the grid's largest (the boundary
    lies beyond the grid) or no lambda reaches the level (radius NaN).
    """
    return _threshold(trials, "lam", "max", level).rename(columns={"lam": "radius"})


def n_needed(trials: pd.DataFrame, level: float = 0.5) -> pd.DataFrame:
    """Z4: per r, the smallest N with success rate >= level; censored at the grid's edges."""
    return _threshold(trials, "n_samples", "min", level).rename(columns={"n_samples": "n_needed"})


def method_label(beta: pd.Series) -> list[str]:
    """'GD' for beta = 0, else 'AGD (beta=...)'."""
    return ["GD" if b == 0 else f"AGD (β={b:g})" for b in beta]
