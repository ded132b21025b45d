"""Z2's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit, per_eta
from ltpipe.claims import claim_row, fmt
from ltpipe.studies.zhang2021.common import budget_claim, eta_id

__all__ = ["censored_tau", "claims", "intervals"]


def intervals(rad: pd.DataFrame) -> list[tuple[float, float]]:
    """Each radius as the closed interval the grid pins it to: [v, v] exact, [v, inf) at least v, and below v
    (the grid's smallest lambda) [0, the float just under v]."""
    out = []
    for v, bound in zip(rad["radius"], rad["bound"], strict=True):
        out.append(
            (v, np.inf) if bound == "lower" else (0.0, float(np.nextafter(v, 0))) if bound == "upper" else (v, v)
        )
    return out


def censored_tau(x: list[float], spans: list[tuple[float, float]]) -> tuple[float, int, int, int]:
    """Kendall's tau of x against interval-censored values: a pair counts as decreasing (increasing) only when
    the intervals say so for certain, undecided otherwise. Returns (tau, decreasing, increasing, pairs)."""
    down = up = 0
    pairs = list(combinations(range(len(x)), 2))
    for i, j in pairs:
        (lo_i, hi_i), (lo_j, hi_j) = spans[i], spans[j]
        if x[i] == x[j]:
            continue
        a, b = ((lo_i, hi_i), (lo_j, hi_j)) if x[i] < x[j] else ((lo_j, hi_j), (lo_i, hi_i))  # a: the smaller x
        if a[0] > b[1]:
            down += 1
        elif a[1] < b[0]:
            up += 1
    return ((up - down) / len(pairs) if pairs else float("nan")), down, up, len(pairs)


def _describe(rad: pd.DataFrame) -> str:
    return ", ".join(
        f"r = {r}: {'>= ' if b == 'lower' else '< ' if b == 'upper' else ''}{v:g}"
        for r, v, b in zip(rad["r"], rad["radius"], rad["bound"], strict=True)
    )


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z2 (Fig. 2), per step size: "the radius of convex region is indeed linear in -sqrt r, as predicted by
    Theorem 1" (Sec. 5.1).

    The radius per r is the largest lambda with success rate >= 0.5 among the settled trials; where the grid
    cannot pin it down it is censored (at least the grid's largest lambda, or below its smallest), never
    dropped. ``radius_decreases``: Kendall's tau of sqrt r and the radius, counting a pair only where the
    censored intervals decide it, at most ``-min_order``. ``radius_linear``: the least-squares line of the
    exact radii on sqrt r has R^2 >= ``min_r2``; untestable with fewer than three exact radii (the grid then
    cannot show a line). ``budget``: at most ``max_capped`` of the trials still moving at max_iter.
    """
    rows = []
    table = tables["radius"]
    for eta, trials in per_eta(tables["trials"]):
        rad = table[table["eta"] == eta] if "eta" in table else table
        rad = rad.sort_values("r")
        sq = list(np.sqrt(rad["r"].to_numpy(dtype=float)))
        tau, down, up, pairs = censored_tau(sq, intervals(rad))
        e = f"eta = {eta:g}: " if np.isfinite(eta) else ""
        described = _describe(rad)
        rows.append(
            claim_row(
                eta_id("z2.radius_decreases", eta),
                "z2",
                f"{e}the radius of the local convex region decreases as sqrt r grows",
                tau,
                "<=",
                -c["min_order"],
                f"Kendall's tau of sqrt r and the radius over censored values: {down} of {pairs} pairs of r surely "
                f"decreasing, {up} surely increasing, the rest undecided by the grid; radius per r: {described}",
                untestable="" if down + up else "no pair of r values is decided by the lambda grid",
            )
        )
        exact = rad[rad["bound"] == "exact"]
        slope, _, r2 = linear_fit(np.sqrt(exact["r"]), exact["radius"])
        rows.append(
            claim_row(
                eta_id("z2.radius_linear", eta),
                "z2",
                f"{e}the radius is roughly linear in -sqrt r (Theorem 1)",
                r2 if slope < 0 else float("nan"),
                ">=",
                c["min_r2"],
                f"least-squares line of the radius on sqrt r over the {len(exact)} radii inside the lambda grid: "
                f"slope {slope:.3g}, R^2 {r2:.3g} (a rising line fails); radius per r: {described}",
                untestable=""
                if len(exact) >= 3
                else f"only {len(exact)} radii lie inside the lambda grid ({fmt(exact['r'])}), too few for a line",
            )
        )
        rows.append(budget_claim("z2", "z2", trials, c["max_capped"], eta=eta))
    return rows
