"""Pensia et al. 2020's claims (PL, PS), computed from the experiments' Parquet tables.

Experiment ``EXP``'s claims are ``claims_EXP(tables, thresholds) -> rows``
(see :mod:`ltpipe.claims` for the row format and the driver).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.claims import claim_row, fmt, trend_claims

__all__ = ["claims_pl", "claims_ps"]


def claims_pl(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PL (Lueker; Theorem 3, Cor. 2): the n needed grows linearly in log(1/eps)."""
    rows = []
    for dist, g in tables["needed"].groupby("distribution", sort=False):
        g = g.sort_values("eps", ascending=False)
        reached = int(g["n_needed"].notna().sum())
        note = (
            f"{dist}: n_needed per eps ({fmt(g['eps'])}) = {fmt(g['n_needed'])}; "
            f"fit of n_needed on ln(1/eps) over the {reached} eps reached within the n grid"
        )
        rows.append(
            claim_row(f"pl.reached[{dist}]", "pl_b", f"{dist}: every eps is reached within the n grid",
                      reached / len(g), ">=", 1.0, note)
        )  # fmt: skip
        rows += trend_claims(
            (f"pl.increases[{dist}]", f"pl.linear[{dist}]"),
            "pl_b",
            (f"{dist}: n_needed grows with log(1/eps)", f"{dist}: n_needed is linear in log(1/eps)"),
            np.log(1.0 / g["eps"]),
            g["n_needed"],
            direction=">",
            min_r2=c["min_r2"],
            note=note,
        )
    return rows


def claims_ps(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PS (Experiment 1): every weight within eps; the approximation's accuracy equals the target's."""
    rows = []
    for s in tables["summary"].itertuples():
        rows.append(
            claim_row(f"ps.within_eps[{s.solution}]", "ps", f"{s.solution}: every weight within eps = {s.eps:g}",
                      s.max_error, "<=", s.eps,
                      f"max |w - approx| over {s.n_weights} weights; {s.within_eps} within eps; "
                      f"kept {s.kept_total} of {s.total_coefficients} coefficients")
        )  # fmt: skip
        rows.append(
            claim_row(f"ps.accuracy[{s.solution}]", "ps",
                      f"{s.solution}: approximation accuracy equals the target's to within "
                      f"{c['max_acc_drop']:g} points", round(100 * abs(s.approx_acc - s.target_acc), 9), "<=",
                      c["max_acc_drop"], f"target {100 * s.target_acc:.2f}%, approximation {100 * s.approx_acc:.2f}%")
        )  # fmt: skip
    return rows
