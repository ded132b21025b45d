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
    """Z3 (Fig. 3): "the relative error decreases exponentially as the number of iterations increases,
    indicating the linear convergence" (Sec. 5.1); nu grows with sqrt r roughly linearly; AGD faster than GD.

    ``log_linear`` asks every trial's log error to be a line over the fit window (R^2 > ``min_fit_r2``), the
    least R^2 counting. Its detail says where the least fits are and why: the contraction over the window's
    first decade of error against its last (``rate_early``, ``rate_late``) and the slowest mode's, 1 - eta
    h_min (h_min of J^T J / N at the teacher, from the trials): a curve whose late contraction is slower
    bends, several modes decaying at their own rates until the slowest one is left.
    """
    rates = tables["rates"]
    worst = rates.loc[rates["r2"].idxmin()] if rates["r2"].notna().any() else None
    why = ""
    if worst is not None:
        keys = [k for k in ("r", "beta", "trial") if k in rates and k in tables["trials"]]
        trial = tables["trials"]
        match = trial[np.logical_and.reduce([trial[k] == worst[k] for k in keys])] if keys else trial.iloc[:0]
        slow = float(1 - match["eta"].iloc[0] * match["h_min"].iloc[0]) if len(match) and "h_min" in match else np.nan
        below = rates[rates["r2"] <= c["min_fit_r2"]]
        why = (
            f"; fits at or below {c['min_fit_r2']:g} per r: "
            + ", ".join(
                f"r = {r}: {int((below['r'] == r).sum())} of {int((rates['r'] == r).sum())}"
                for r in sorted(rates["r"].unique())
            )
            + f"; the least (r = {worst['r']}, beta = {worst.get('beta', float('nan')):g}, trial "
            f"{int(worst['trial'])}): R^2 {worst['r2']:.4f}, contraction over the window's first decade "
            f"{worst.get('rate_early', float('nan')):.5f}, over its last {worst.get('rate_late', float('nan')):.5f}, "
            f"the slowest mode's 1 - eta h_min {slow:.5f}: the curve bends as the slowest mode takes over"
        )
    rows = [
        claim_row(
            "z3.log_linear",
            "z3_a",
            "the error decays linearly (log-linear fit R^2 > threshold for every trial)",
            rates["r2"].min(skipna=False),
            ">",
            c["min_fit_r2"],
            f"minimum R^2 over {len(rates)} fits (median {rates['r2'].median():.6f}); "
            f"{int(rates['r2'].isna().sum())} curves had no usable fit window" + why,
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
