"""What the claims of Zhang et al. 2021's experiments share: per-eta claim ids and the budget claim."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltpipe.claims import claim_row

__all__ = ["SUCCESS_TEXT", "budget_claim", "eta_id"]

SUCCESS_TEXT = "success: ||W - W~*||_F / ||W~*||_F below success_tol at the stop (as Z2-Z5)"


def eta_id(cid: str, eta: float) -> str:
    """``cid[eta=...]``, or ``cid`` for a table without step sizes."""
    return f"{cid}[eta={eta:g}]" if np.isfinite(eta) else cid


def budget_claim(exp: str, figure: str, rows: pd.DataFrame, limit: float, eta: float = float("nan")) -> dict:
    """The iteration budget did not decide the figure: at most ``limit`` of the runs stopped at max_iter.

    When it fails, the figure's other claims at this step size measure the budget, not the landscape.
    """
    capped = rows["stop"] == "capped"
    unit = "rounds" if "round" in rows else "trials"
    label = f"eta = {eta:g}: " if np.isfinite(eta) else ""
    return claim_row(
        eta_id(f"{exp}.budget", eta),
        figure,
        f"{label}the iteration budget does not decide the outcome (at most {limit:g} of the {unit} capped)",
        float(capped.mean()),
        "<=",
        limit,
        f"{int(capped.sum())} of {len(rows)} {unit} stopped at max_iter while still contracting, "
        f"{int((rows['stop'] == 'stalled').sum())} stalled there (no longer contracting), "
        f"{int((rows['stop'] == 'diverged').sum())} diverged; the rest converged by the step tolerance",
    )
