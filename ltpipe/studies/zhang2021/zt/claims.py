"""ZT's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit, per_eta
from ltpipe.claims import claim_row, fmt
from ltpipe.studies.zhang2021.common import SUCCESS_TEXT, budget_claim

__all__ = ["claims"]


def n_within(errors: pd.Series, target: float) -> tuple[float, str]:
    """The N at which the median error (indexed by N) first comes within ``target``, interpolated on log-log
    axes between the grid points around the crossing; ``exact``, ``upper`` (within it at the smallest N
    already: at most that N) or ``lower`` (never within it: more than the largest N)."""
    errors = errors.sort_index()
    n, e = errors.index.to_numpy(dtype=float), errors.to_numpy(dtype=float)
    inside = np.nonzero(e <= target)[0]
    if not inside.size:
        return float(n[-1]), "lower"
    i = int(inside[0])
    if i == 0:
        return float(n[0]), "upper"
    x0, x1, y0, y1 = np.log(n[i - 1]), np.log(n[i]), np.log(e[i - 1]), np.log(e[i])
    return float(np.exp(x0 + (np.log(target) - y0) * (x1 - x0) / (y1 - y0))), "exact"


def _targets(value: float | list[float]) -> list[float]:
    return [float(v) for v in (value if isinstance(value, list) else [value])]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """ZT (Algorithm 1's tensor initialisation, beyond the paper's experiments): the samples the initialisation
    needs grow with r (Lemma 1: N = Omega(eps^-2 K^8 r log^4 d)), its estimation error falls like 1/sqrt N,
    and AGD from it succeeds.

    - ``samples_grow`` (per error of ``target_error``: Lemma 1 holds for every eps and the paper fixes none,
      so the error is an axis): N_eps(r), the N at which the median relative error of W(0) comes within eps
      (interpolated on log-log axes), rises with r: the least-squares slope of log N_eps on log r is positive
      (Lemma 1 has it linear in r, a slope of 1; the detail gives the fit); untestable with fewer than three r
      values whose N_eps lies inside the N grid.
    - ``error_rate`` (per r): the log-log slope of the median estimation error (||W(0) - W_pop(0)||_F /
      ||W~*||_F, the part of W(0)'s error from estimating the moments) on N over the ``fit_points`` largest
      N within ``slope_tolerance`` of -1/2.
    - ``succeeds``, ``no_worse_than_ball`` (per r): AGD from the tensor start succeeds at the largest N
      (rate >= ``min_success``), and at most ``max_gap`` less often than from a ball at the same relative
      distance on the same trials. Both are untestable where the matched balls succeed at every N: AGD then
      succeeds from any start as far away, so success says nothing of the tensor start.
    """
    trials = tables["trials"]
    rows = []
    groups = per_eta(trials)
    for eta, by_eta in groups:
        matched = by_eta[by_eta["init"] == "matched"]
        tensor = by_eta[by_eta["init"] == "tensor"]
        suffix = "" if len(groups) == 1 else f"[eta={eta:g}]"
        for target in _targets(c["target_error"]):
            needed = {
                int(r): n_within(g.groupby("n_samples")["init_error"].median(), target)
                for r, g in tensor.groupby("r", sort=True)
            }
            exact = {r: v for r, (v, b) in needed.items() if b == "exact"}
            slope, _, r2 = linear_fit(np.log(list(exact)), np.log(list(exact.values())))
            shown = "; ".join(
                f"r = {r}: {'<= ' if b == 'upper' else '> ' if b == 'lower' else ''}{v:.3g}"
                for r, (v, b) in needed.items()
            )
            qualifier = ",".join(q for q in (f"error={target:g}", suffix.strip("[]")) if q)
            rows.append(
                claim_row(
                    f"zt.samples_grow[{qualifier}]",
                    "zt",
                    f"the samples the tensor initialisation needs to come within {target:g} of W~* (relative "
                    "error) grow with r (Lemma 1)",
                    slope,
                    ">",
                    0.0,
                    f"N at which the median relative error of W(0) reaches {target:g} (log-log interpolation "
                    f"between grid points), per r: {shown}; fit of log N on log r over the {len(exact)} inside the "
                    f"grid: exponent {slope:.3g} (Lemma 1: 1), R^2 {r2:.3g}",
                    untestable=""
                    if len(exact) >= 3
                    else f"only {len(exact)} r values reach the error inside the N grid; three are needed for a fit",
                )
            )
        for r, g in tensor.groupby("r", sort=True):
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
            mrate = matched[matched["r"] == r].groupby("n_samples")["success"].mean().reindex(rate.index)
            vacuous = (
                "no matched-ball trials (the section's init lacks matched)"
                if not mrate.notna().any()
                else "the balls at the same distance succeed at every N: AGD succeeds from any start this far away "
                "at this scale, so the claim cannot fail"
                if bool((mrate >= 1.0).all())
                else ""
            )
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
                    untestable=vacuous,
                )
            )
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
                    f"matched-ball success rate per N ({fmt(mrate.index)}): {fmt(mrate)}; tensor: {fmt(rate)}",
                    untestable=vacuous,
                )
            )
    rows.append(budget_claim("zt", "zt", trials, c["max_capped"]))
    return rows
