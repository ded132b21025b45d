"""Z2's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import per_eta, radius
from ltpipe.claims import claim_row, fmt, trend_claims
from ltpipe.studies.zhang2021.common import budget_claim, eta_id

__all__ = ["claims"]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z2 (Fig. 2): the radius of the local convex region decreases with sqrt r, roughly linearly; per eta."""
    rows = []
    for eta, trials in per_eta(tables["trials"]):
        rad = radius(trials)
        inside = int((~rad["censored"]).sum())
        rows.append(
            claim_row(
                eta_id("z2.boundary_visible", eta),
                "z2",
                f"eta = {eta:g}: the success boundary (rate 0.5) lies inside the lambda grid at every r",
                inside / len(rad),
                ">=",
                1.0,
                f"boundary inside the grid at {inside} of {len(rad)} r values; radius per r "
                f"({fmt(rad['r'])}): {fmt(rad['radius'])}",
            )
        )
        fit_rows = rad[~rad["censored"]]
        rows += trend_claims(
            (eta_id("z2.radius_decreases", eta), eta_id("z2.radius_linear", eta)),
            "z2",
            (
                f"eta = {eta:g}: the radius decreases with sqrt r",
                f"eta = {eta:g}: the radius is roughly linear in sqrt r",
            ),
            np.sqrt(fit_rows["r"]),
            fit_rows["radius"],
            direction="<",
            min_r2=c["min_r2"],
            note=f"linear fit of radius on sqrt r over the {len(fit_rows)} uncensored r values",
        )
        rows.append(budget_claim("z2", "z2", trials, c["max_capped"], eta))
    return rows
