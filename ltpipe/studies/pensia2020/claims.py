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
    """PL (Lueker; Theorem 3, Cor. 2): the n needed for the supremum of the optimal error over the target
    interval to fall below eps (in a fraction ``probability`` of the trials) grows linearly in log(1/eps)."""
    rows = []
    for dist, g in tables["needed"].groupby("distribution", sort=False):
        g = g.sort_values("eps", ascending=False)
        reached = int(g["n_needed"].notna().sum())
        note = (
            f"{dist}: n_needed (sup over the targets of the optimal error <= eps in a fraction "
            f"{g['probability'].iloc[0]:g} of trials) per eps ({fmt(g['eps'])}) = {fmt(g['n_needed'])}; "
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
    """PS (Experiment 1), per coefficient range: nearly every weight within eps, how far the worst one is, and
    the approximation's accuracy equal to the target's (per solution).

    Theorem 3 (Lueker) holds for one weight's coefficients with probability 1 - delta, and the paper reports
    that "most weights ... were well below 0.01 error": the within-eps claim asks for a fraction of at least
    ``min_within_fraction``. The worst error is its own claim, at most ``max_error_factor`` * eps, a
    heuristic bound on chance misses: if the subset sums near a weight fell like a Poisson process,
    P(error > k eps) would be about P(error > eps)^k, so with at most 1e-3 of the weights beyond eps a
    weight beyond 2 eps would have probability about 1e-6 (0.4 expected among 397,000); a worse one points
    to misses that are not chance (e.g. a range with few coefficients of the weight's sign). Both are read
    from the optimal solution: the sparsest subsets are within eps for exactly the same weights and have
    the optimal error on the others.
    """
    rows = []
    summary = tables["summary"]
    for name, g in summary.groupby("coefficient_range", sort=False):
        opt = g[g["solution"] == "optimal"].iloc[0]
        rng = f"{name}, U[{opt.low:.3g}, {opt.high:.3g}]"
        outside = int(opt.n_weights - opt.within_eps)
        limit = c["max_error_factor"] * opt.eps
        rows.append(
            claim_row(f"ps.within_eps[range={name}]", "ps",
                      f"{rng}: at least a fraction {c['min_within_fraction']:g} of the weights within eps = "
                      f"{opt.eps:g}", opt.within_eps / opt.n_weights, ">=", c["min_within_fraction"],
                      f"{opt.within_eps} of {opt.n_weights} weights within eps, {outside} outside; n = "
                      f"{opt.n_coefficients} coefficients per weight ({opt.coefficients})")
        )  # fmt: skip
        rows.append(
            claim_row(f"ps.max_error[range={name}]", "ps",
                      f"{rng}: the worst weight within {c['max_error_factor']:g} eps = {limit:g}", opt.max_error,
                      "<=", limit,
                      f"max |w - approx| over {opt.n_weights} weights = {opt.max_error:.4g} "
                      f"({opt.max_error / opt.eps:.3g} eps); {outside} weights beyond eps")
        )  # fmt: skip
        for s in g.itertuples():
            rows.append(
                claim_row(f"ps.accuracy[range={name},solution={s.solution}]", "ps",
                          f"{rng}, {s.solution}: approximation accuracy equals the target's to within "
                          f"{c['max_acc_drop']:g} points", round(100 * abs(s.approx_acc - s.target_acc), 9), "<=",
                          c["max_acc_drop"], f"target {100 * s.target_acc:.2f}%, approximation "
                          f"{100 * s.approx_acc:.2f}%; kept {s.kept_total} of {s.total_coefficients} coefficients")
            )  # fmt: skip
    return rows
