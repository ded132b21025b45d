"""Z4's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ltpipe.analysis import n_needed, per_eta, settled
from ltpipe.claims import claim_row, fmt, trend_claims
from ltpipe.studies.zhang2021.common import budget_claim, eta_id

__all__ = ["claims"]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z4 (Fig. 4): the N needed for success rate >= 0.5 grows linearly in r; per eta.

    The rate counts the trials that converged or succeeded (:func:`ltpipe.analysis.settled`):
    a trial capped short of success is the budget's verdict, not the sample size's.
    """
    rows = []
    for eta, trials in per_eta(tables["trials"]):
        need = n_needed(trials)
        inside = int((~need["censored"]).sum())
        fit_rows = need[~need["censored"]]
        left = len(trials) - len(settled(trials))
        rows += [
            claim_row(
                eta_id("z4.transition_visible", eta),
                "z4",
                f"eta = {eta:g}: the phase transition (rate 0.5) lies inside the N grid at every r",
                inside / len(need),
                ">=",
                1.0,
                f"transition inside the grid at {inside} of {len(need)} r values; N_needed per r "
                f"({fmt(need['r'])}): {fmt(need['n_needed'])}; {left} capped trials without success left out",
            ),
            *trend_claims(
                (eta_id("z4.n_needed_increases", eta), eta_id("z4.n_needed_linear", eta)),
                "z4",
                (f"eta = {eta:g}: N_needed grows with r", f"eta = {eta:g}: N_needed is linear in r"),
                fit_rows["r"],
                fit_rows["n_needed"],
                direction=">",
                min_r2=c["min_r2"],
                note=f"fit over {len(fit_rows)} uncensored r values",
            ),
            budget_claim("z4", "z4", trials, c["max_capped"], eta=eta),
        ]
    return rows
