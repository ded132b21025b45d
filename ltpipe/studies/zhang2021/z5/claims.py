"""Z5's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit, per_eta
from ltpipe.claims import claim_row, fmt
from ltpipe.studies.zhang2021.common import budget_claim, eta_id

__all__ = ["claims"]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z5 (Fig. 5): error grows with sqrt r roughly linearly; a decade of noise moves it a decade; per eta.

    On the settled trials: converged, or capped with an error that no longer moved over the last window
    of iterations (a trial still moving at the cap has the error where the budget left it). The stop rule must
    not set the error: the distance it leaves (``stop_floor``) must lie well below it.
    """
    rows = []
    for eta, all_trials in per_eta(tables["trials"]):
        trials = all_trials[all_trials["settled"]]
        med = trials.groupby(["noise_level", "r"])[["rel_error", "stop_floor"]].median().reset_index()
        levels = sorted(all_trials["noise_level"].unique())
        slopes, r2s = [], []
        for level in levels:
            g = med[med["noise_level"] == level]
            slope, _, r2 = linear_fit(np.sqrt(g["r"]), g["rel_error"])
            slopes.append(slope)
            r2s.append(r2)
        used = f"{len(trials)} of {len(all_trials)} trials settled (converged, or unchanged over the window at the cap)"
        per_r, rs = [], sorted(all_trials["r"].unique())
        for r in rs:
            g = med[med["r"] == r]
            per_r.append(linear_fit(np.log10(g["noise_level"]), np.log10(g["rel_error"]))[0])
        fitted = np.isfinite(per_r)
        worst = float(np.max(np.abs(np.asarray(per_r)[fitted] - 1.0))) if fitted.any() else float("nan")
        missing = [f"{r:g}" for r, ok in zip(rs, fitted, strict=True) if not ok]
        unfit = f"; r = {', '.join(missing)} left out: settled trials at fewer than 3 noise levels" if missing else ""
        floor = (med["stop_floor"] / med["rel_error"]).max() if len(med) else float("nan")
        rows += [
            claim_row(
                eta_id("z5.error_increases", eta),
                "z5",
                f"eta = {eta:g}: the error grows with sqrt r at every noise level",
                min(slopes),
                ">",
                0.0,
                f"slopes of median error on sqrt r per noise level ({fmt(levels)}): {fmt(slopes)}; value = smallest; "
                + used,
            ),
            claim_row(
                eta_id("z5.error_linear", eta),
                "z5",
                f"eta = {eta:g}: the error is roughly linear in sqrt r at every noise level",
                min(r2s),
                ">=",
                c["min_r2"],
                f"R^2 per noise level ({fmt(levels)}): {fmt(r2s)}; value = smallest; " + used,
            ),
            claim_row(
                eta_id("z5.error_proportional_to_noise", eta),
                "z5",
                f"eta = {eta:g}: the error is proportional to the noise level (slope of log error on log noise = 1)",
                worst,
                "<=",
                c["decade_tolerance"],
                f"|slope - 1| of log10 median error on log10 noise, worst over r; slopes per r ({fmt(rs)}): "
                f"{fmt(per_r)}{unfit}; " + used,
                untestable="" if fitted.any() else "no r has settled trials at 3 noise levels",
            ),
            claim_row(
                eta_id("z5.floor_below_error", eta),
                "z5",
                f"eta = {eta:g}: the stop rule does not set the error (its floor lies well below it)",
                floor,
                "<=",
                c["max_floor_ratio"],
                "largest over (noise level, r) of median stop_floor / median error (stop_floor = rel_change q / "
                "(1 - q), the distance the tolerance leaves to the limit); " + used,
            ),
            budget_claim("z5", "z5", all_trials, c["max_capped"], eta=eta),
        ]
    return rows
