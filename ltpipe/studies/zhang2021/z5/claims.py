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

    On the trials that converged or stalled (a capped trial's error is where the budget left it;
    a stalled one no longer contracts, so more iterations would not change it). The stop rule must
    not set the error: the distance it leaves (``stop_floor``) must lie well below it.
    """
    rows = []
    for eta, all_trials in per_eta(tables["trials"]):
        trials = all_trials[all_trials["stop"].isin(("converged", "stalled"))]
        med = trials.groupby(["noise_level", "r"])[["rel_error", "stop_floor"]].median().reset_index()
        levels = sorted(all_trials["noise_level"].unique())
        slopes, r2s = [], []
        for level in levels:
            g = med[med["noise_level"] == level]
            slope, _, r2 = linear_fit(np.sqrt(g["r"]), g["rel_error"])
            slopes.append(slope)
            r2s.append(r2)
        used = f"{len(trials)} of {len(all_trials)} trials converged or stalled"
        per_r = []
        for _, g in med.groupby("r"):
            per_r.append(linear_fit(np.log10(g["noise_level"]), np.log10(g["rel_error"]))[0])
        worst = float(np.max(np.abs(np.asarray(per_r) - 1.0))) if per_r else float("nan")
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
                f"|slope - 1| of log10 median error on log10 noise, worst over r; slopes per r: {fmt(per_r)}; " + used,
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
            budget_claim("z5", "z5", all_trials, c["max_capped"], eta),
        ]
    return rows
