"""PS's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ltpipe.analysis import mcnemar_exact
from ltpipe.claims import claim_row

__all__ = ["claims"]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
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

    The paper: "our approximated network maintained the 97.19% test set accuracy". The two networks classify
    the same test images, so the accuracy claim is a paired test: the exact McNemar test on the images they
    classify differently (one image is 0.05 points of 2,000, so comparing the two accuracies to a tolerance
    would turn on a single image); it fails when p < ``alpha``.
    """
    rows = []
    summary = tables["summary"]
    for name, g in summary.groupby("coefficient_range", sort=False):
        opt = g[g["solution"] == "optimal"].iloc[0]
        rng = f"{name}, U[{opt.low:.3g}, {opt.high:.3g}]"
        outside = int(opt.n_weights - opt.within_eps)
        limit = c["max_error_factor"] * opt.eps
        rows.append(
            claim_row(
                f"ps.within_eps[range={name}]",
                "ps",
                f"{rng}: at least a fraction {c['min_within_fraction']:g} of the weights within eps = {opt.eps:g}",
                opt.within_eps / opt.n_weights,
                ">=",
                c["min_within_fraction"],
                f"{opt.within_eps} of {opt.n_weights} weights within eps, {outside} outside; n = "
                f"{opt.n_coefficients} coefficients per weight ({opt.coefficients})",
            )
        )
        rows.append(
            claim_row(
                f"ps.max_error[range={name}]",
                "ps",
                f"{rng}: the worst weight within {c['max_error_factor']:g} eps = {limit:g}",
                opt.max_error,
                "<=",
                limit,
                f"max |w - approx| over {opt.n_weights} weights = {opt.max_error:.4g} "
                f"({opt.max_error / opt.eps:.3g} eps); {outside} weights beyond eps",
            )
        )
        for s in g.itertuples():
            rows.append(
                claim_row(
                    f"ps.accuracy[range={name},solution={s.solution}]",
                    "ps",
                    f"{rng}, {s.solution}: the approximation keeps the target's accuracy (exact McNemar test "
                    f"on the same test images, p >= {c['alpha']:g})",
                    mcnemar_exact(s.target_only, s.approx_only),
                    ">=",
                    c["alpha"],
                    f"target {100 * s.target_acc:.2f}%, approximation {100 * s.approx_acc:.2f}% of {s.n_test} "
                    f"test images; {s.target_only} only the target and {s.approx_only} only the approximation "
                    f"classifies right; kept {s.kept_total} of {s.total_coefficients} coefficients",
                )
            )
    return rows
