"""ZT's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit, per_eta
from ltpipe.claims import claim_row, fmt
from ltpipe.studies.zhang2021.common import SUCCESS_TEXT, budget_claim

__all__ = ["claims"]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """ZT (Algorithm 1's tensor initialisation): the estimation error of W(0) falls like 1/sqrt N, and AGD
    started from it succeeds at the grid's largest N and no less often than from a ball at the same distance.

    Per r. ``slope``/``slope_tolerance``: the log-log slope of the median estimation error
    (||W(0) - W_pop(0)||_F / ||W~*||_F, the part of W(0)'s error that comes from estimating the moments)
    on N over the ``fit_points`` largest N must lie within the tolerance of -1/2. ``min_success``: the
    success rate from the tensor start at the largest N. ``max_gap``: how much lower than the matched
    ball's (same trials, same relative distance) the tensor start's success rate may be at any N.
    """
    trials = tables["trials"]
    rows = []
    groups = per_eta(trials)
    for eta, by_eta in groups:
        matched = by_eta[by_eta["init"] == "matched"]
        for r, g in by_eta[by_eta["init"] == "tensor"].groupby("r", sort=True):
            tag = f"r={r}" if len(groups) == 1 else f"r={r},eta={eta:g}"
            med = g.groupby("n_samples")[["init_estimation", "init_error", "init_floor"]].median()
            top = med.tail(int(c["fit_points"]))
            ok = (top["init_estimation"] > 0).to_numpy()
            x, y = np.log10(top.index.to_numpy(dtype=float)[ok]), np.log10(top["init_estimation"].to_numpy()[ok])
            slope, _, r2 = linear_fit(x, y, min_points=3)
            rows.append(
                claim_row(
                    f"zt.error_rate[{tag}]",
                    "zt",
                    f"r = {r}: the estimation error of the tensor initialisation falls like N^(-1/2) "
                    f"(log-log slope within {c['slope_tolerance']:g} of {c['slope']:g})",
                    abs(slope - float(c["slope"])),
                    "<=",
                    c["slope_tolerance"],
                    f"slope {slope:.3f} (R^2 {r2:.3f}) of log10 median estimation error on log10 N over N = "
                    f"{fmt(top.index)}: {fmt(top['init_estimation'])}; median relative error of W(0) per N "
                    f"({fmt(med.index)}): {fmt(med['init_error'])}; of the population-moment W(0) (the floor): "
                    f"{fmt(med['init_floor'])}",
                )
            )
            rate = g.groupby("n_samples")["success"].mean()
            big = rate.index.max()
            rows.append(
                claim_row(
                    f"zt.succeeds[{tag}]",
                    "zt",
                    f"r = {r}: AGD from the tensor initialisation succeeds at the largest N "
                    f"(rate >= {c['min_success']:g})",
                    float(rate.loc[big]),
                    ">=",
                    c["min_success"],
                    f"success rate per N ({fmt(rate.index)}): {fmt(rate)}; {SUCCESS_TEXT}",
                )
            )
            mrate = matched[matched["r"] == r].groupby("n_samples")["success"].mean().reindex(rate.index)
            gap = float((mrate - rate).max()) if mrate.notna().any() else float("nan")
            rows.append(
                claim_row(
                    f"zt.no_worse_than_ball[{tag}]",
                    "zt",
                    f"r = {r}: AGD from the tensor initialisation succeeds no less often than from a ball at the "
                    f"same relative distance (at most {c['max_gap']:g} lower at every N)",
                    gap,
                    "<=",
                    c["max_gap"],
                    f"matched-ball success rate per N ({fmt(mrate.index)}): {fmt(mrate)}; tensor: {fmt(rate)}"
                    if mrate.notna().any()
                    else "no matched-ball trials (the section's init lacks matched)",
                )
            )
    rows.append(budget_claim("zt", "zt", trials, c["max_capped"]))
    return rows
