"""What the claims of Zhang et al. 2021's experiments share: per-eta claim ids and the budget claim."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltpipe.analysis import moving
from ltpipe.claims import claim_row

__all__ = ["SUCCESS_TEXT", "budget_claim", "eta_id", "label", "tag"]

SUCCESS_TEXT = "success: ||W - W~*||_F / ||W~*||_F below success_tol at the stop (as Z2-Z5)"


def tag(**axes: float) -> str:
    """A claim id's qualifier for the method axes of a group: ``[eta=2.5,lam=0.1]`` (NaN axes left out)."""
    parts = [f"{k}={v:g}" for k, v in axes.items() if np.isfinite(v)]
    return f"[{','.join(parts)}]" if parts else ""


def label(**axes: float) -> str:
    """The same group as a claim's lead: ``eta = 2.5, lam = 0.1: `` (empty without axes)."""
    parts = [f"{k} = {v:g}" for k, v in axes.items() if np.isfinite(v)]
    return ", ".join(parts) + ": " if parts else ""


def eta_id(cid: str, eta: float) -> str:
    """``cid[eta=...]``, or ``cid`` for a table without step sizes."""
    return cid + tag(eta=eta)


def budget_claim(exp: str, figure: str, rows: pd.DataFrame, limit: float, **axes: float) -> dict:
    """The iteration budget did not decide the figure: at most ``limit`` of the runs were still moving when
    they reached max_iter (capped and not settled: their loss or error changed by more than ``settle_tol``
    over the last window of iterations).

    When it fails, the figure's other claims at this step size measure the budget, not the landscape.
    """
    unit = "rounds" if "round" in rows else "trials"
    still = moving(rows)
    capped = rows["stop"] == "capped"
    return claim_row(
        f"{exp}.budget{tag(**axes)}",
        figure,
        f"{label(**axes)}the iteration budget does not decide the outcome (at most {limit:g} of the {unit} "
        "still moving at max_iter)",
        float(still.mean()),
        "<=",
        limit,
        f"{int(still.sum())} of {len(rows)} {unit} still moving at max_iter, {int((capped & ~still).sum())} "
        f"capped but settled there (loss and error unchanged over the window), "
        f"{int((rows['stop'] == 'diverged').sum())} diverged; the rest converged by the step tolerance",
    )
