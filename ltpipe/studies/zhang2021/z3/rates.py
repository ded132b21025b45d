"""Z3's convergence rates: nu per trial, fitted on the linear part of each error curve (Zhang et al. 2021,
Fig. 3b; eq. 9's contraction).

Table ``rates``: r, beta (and the other method and problem axes present),
trial, seed, rate (nu, the per-iteration contraction exp(slope) of log
rel_error vs iteration), fit_start, fit_end (iterations of the fit window: from
the first error <= fit.upper to the last error >= fit.lower), r2 (of the
log-linear fit), n_points, rate_early and rate_late (the contraction fitted on
the window's first and last decade of error alone, fit.upper to 10 fit.upper
... and 10 fit.lower to fit.lower: where they differ the curve bends, several
modes decaying at their own rates, and a line fits it less well).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ltpipe.config import job_parser, start_job
from ltpipe.data.grid import CURVE_KEYS
from ltpipe.tables import read_table, write_table

__all__ = ["fit_rates", "rates_main"]

log = logging.getLogger(__name__)


def fit_rates(curves: pd.DataFrame, upper: float, lower: float, min_points: int = 10) -> pd.DataFrame:
    """Per-trial convergence rate nu from the linear part of log(rel_error) vs iteration.

    The window runs from the first recorded error <= ``upper`` (past the
    initial transient) to the last error >= ``lower`` (above the noise or
    stopping floor). nu = exp(slope) is the per-iteration contraction of
    eq. (9): nu < 1, smaller is faster. Windows with fewer than
    ``min_points`` points give NaN.
    """
    keys = [c for c in CURVE_KEYS if c in curves.columns]
    rows = []
    for key, g in curves.groupby(keys, sort=True):
        it = g["iteration"].to_numpy(dtype=float)
        err = g["rel_error"].to_numpy(dtype=float)
        ok = np.isfinite(err) & (err > 0)
        below = np.nonzero(ok & (err <= upper))[0]
        above = np.nonzero(ok & (err >= lower))[0]
        rate = r2 = early = late = np.nan
        start = end = -1
        n = 0
        if below.size and above.size and above[-1] > below[0]:
            sel = np.arange(below[0], above[-1] + 1)
            sel = sel[ok[sel]]
            n = sel.size
            start, end = int(it[sel[0]]), int(it[sel[-1]])
            if n >= min_points:
                x, ly = it[sel], np.log(err[sel])
                slope, intercept = np.polyfit(x, ly, 1)
                resid = ly - (slope * x + intercept)
                ss_tot = np.sum((ly - ly.mean()) ** 2)
                r2 = 1.0 - np.sum(resid**2) / ss_tot if ss_tot > 0 else np.nan
                rate = float(np.exp(slope))
                early = _contraction(x, ly, np.log(upper) - np.log(10.0), np.log(upper), min_points)
                late = _contraction(x, ly, np.log(lower), np.log(lower) + np.log(10.0), min_points)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "rate": rate,
                "fit_start": start,
                "fit_end": end,
                "r2": r2,
                "n_points": n,
                "rate_early": early,
                "rate_late": late,
            }
        )
    return pd.DataFrame(rows)


def _contraction(x: np.ndarray, ly: np.ndarray, lo: float, hi: float, min_points: int) -> float:
    """exp(slope) of log error on iteration over the points with log error in [lo, hi] (NaN if too few)."""
    part = (ly >= lo) & (ly <= hi)
    if part.sum() < min_points:
        return float("nan")
    return float(np.exp(np.polyfit(x[part], ly[part], 1)[0]))


def rates_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe z3-rates: fit the Z3 convergence rates from the error curves."""
    parser = job_parser("ltpipe z3-rates", rates_main.__doc__, "fit ({upper, lower, min_points})")
    parser.add_argument("--curves", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    fit, _ = start_job(args)
    rates = fit_rates(read_table(args.curves), float(fit["upper"]), float(fit["lower"]), int(fit.get("min_points", 10)))
    write_table(rates, args.out, config={"fit": fit})
    log.info("fitted %d curves, %d without a usable window", len(rates), int(rates["rate"].isna().sum()))
