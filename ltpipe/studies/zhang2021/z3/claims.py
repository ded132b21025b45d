"""Z3's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import method_label
from ltpipe.claims import claim_row, fmt, trend_claims
from ltpipe.studies.zhang2021.common import budget_claim

__all__ = ["claims"]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z3 (Fig. 3): linear convergence, nu grows with sqrt r roughly linearly, AGD faster than GD."""
    rates = tables["rates"]
    rows = [
        claim_row(
            "z3.log_linear",
            "z3_a",
            "the error decays linearly (log-linear fit R^2 > threshold for every trial)",
            rates["r2"].min(skipna=False),
            ">",
            c["min_fit_r2"],
            f"minimum R^2 over {len(rates)} fits (median {rates['r2'].median():.6f}); "
            f"{int(rates['r2'].isna().sum())} curves had no usable fit window",
        ),
        budget_claim("z3", "z3_a", tables["trials"], c["max_capped"]),
    ]
    mean = rates.groupby(["beta", "r"])["rate"].mean().reset_index()
    for beta, g in mean.groupby("beta"):
        label = method_label([beta])[0]
        rows += trend_claims(
            (f"z3.rate_increases[beta={beta:g}]", f"z3.rate_linear[beta={beta:g}]"),
            "z3_b",
            (f"{label}: nu grows with sqrt r", f"{label}: nu is roughly linear in sqrt r"),
            np.sqrt(g["r"]),
            g["rate"],
            direction=">",
            min_r2=c["min_rate_r2"],
            note=f"{label}: fit of mean nu on sqrt r, nu per r ({fmt(g['r'])}) = {fmt(g['rate'])}",
        )
    wide = mean.pivot(index="r", columns="beta", values="rate")
    if 0.0 in wide.columns and len(wide.columns) > 1:
        for beta in [b for b in wide.columns if b != 0]:
            faster = (wide[beta] < wide[0.0]).to_numpy()
            rows.append(
                claim_row(
                    f"z3.agd_faster[beta={beta:g}]",
                    "z3_b",
                    "AGD's nu is smaller than GD's at every r",
                    faster.mean(),
                    ">=",
                    1.0,
                    f"fraction of r values where mean nu(AGD, beta={beta:g}) < mean nu(GD): "
                    f"{int(faster.sum())} of {faster.size}",
                )
            )
    return rows
