"""Z6's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import per_eta
from ltpipe.claims import claim_row, fmt, spearman
from ltpipe.studies.zhang2021.common import budget_claim, label
from ltpipe.studies.zhang2021.common import tag as qualifier

__all__ = ["claims"]


def _mean_rank_order(table: pd.DataFrame, value: str) -> tuple[float, int]:
    """Mean over rounds of Spearman(n_samples, median ``value`` over trials), and the rounds used."""
    med = table.groupby(["round", "n_samples"])[value].median().reset_index()
    rhos = [spearman(g["n_samples"], g[value]) for _, g in med.groupby("round")]
    rhos = [r for r in rhos if np.isfinite(r)]
    return (float(np.mean(rhos)) if rhos else float("nan")), len(rhos)


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z6 (Fig. 6): error falls while pruning down to r*/d, rises sharply below; larger N lower; smallest N high.

    Per step size and initial radius lam (the paper gives none, and it decides what pruning meets: see
    :mod:`ltpipe.studies.zhang2021.z6.job`); medians over trials per (N, round). ``rises`` compares the first
    round below r*/d with the best round, so that only the step across r*/d can pass it (not a slow drift
    over the later rounds); its detail gives the fraction of the teacher's weights kept there.
    """
    rows = []
    table = tables["rounds"]
    lams = sorted(table["lam"].unique()) if "lam" in table else [float("nan")]
    for eta, by_eta in per_eta(table):
        for lam in lams:
            rounds = by_eta[by_eta["lam"] == lam] if "lam" in table else by_eta
            rows += _z6_one(rounds, c, eta=eta, lam=lam)
            rows.append(budget_claim("z6", "z6", rounds, c["max_capped"], eta=eta, lam=lam))
    return rows


def _z6_one(rounds: pd.DataFrame, c: dict[str, Any], **axes: float) -> list[dict]:
    ratio = float((rounds["r_star"] / rounds["d"]).iloc[0])
    med = rounds.groupby(["n_samples", "round"]).agg(
        remaining=("remaining", "median"), error=("test_error", "median"), kept=("teacher_kept", "median")
    )
    sizes = sorted(int(n) for n in rounds["n_samples"].unique())
    smallest, others = sizes[0], sizes[1:]
    falls, rises, best, kept_above, kept_below = {}, {}, {}, {}, {}
    for n in sizes:
        g = med.loc[n].sort_index()
        above = g[g["remaining"] >= ratio - 1e-12]
        below = g[g["remaining"] < ratio - 1e-12]
        best[n] = float(g["error"].min())
        falls[n] = float(g["error"].iloc[0] / above["error"].min())
        rises[n] = float(below["error"].iloc[0] / best[n]) if len(below) else float("nan")
        kept_above[n] = float(above["kept"].iloc[-1]) if len(above) else float("nan")
        kept_below[n] = float(below["kept"].iloc[0]) if len(below) else float("nan")
    e, tag = label(**axes), qualifier(**axes)
    rows = [
        claim_row(
            f"z6.falls{tag}",
            "z6",
            f"{e}for N > {smallest}, test error falls as pruning proceeds down to r*/d",
            min(falls[n] for n in others),
            ">=",
            c["min_fall"],
            f"dense error / least error with >= r*/d = {ratio:g} left (median over trials), worst over N; "
            f"per N {fmt([falls[n] for n in sizes])} for N = {sizes}",
        ),
        claim_row(
            f"z6.rises{tag}",
            "z6",
            f"{e}for N > {smallest}, test error rises sharply when pruned below r*/d",
            min(rises[n] for n in others),
            ">=",
            c["min_rise"],
            "error of the first round below r*/d / least error (medians over trials), worst over N; "
            f"per N {fmt([rises[n] for n in sizes])}; teacher weights kept (median) in the last round at or "
            f"above r*/d per N {fmt([kept_above[n] for n in sizes])}, in the first below "
            f"{fmt([kept_below[n] for n in sizes])}",
        ),
    ]
    above = rounds[rounds["remaining"] >= ratio - 1e-12]
    order, used = _mean_rank_order(above, "test_error")
    rows.append(
        claim_row(
            f"z6.larger_n_lower{tag}",
            "z6",
            f"{e}larger N gives lower test error at a fixed remaining fraction",
            -order,
            ">=",
            c["min_order"],
            f"-Spearman(N, median test error), mean over the {used} rounds with >= r*/d left",
        )
    )
    other_best = max(best[n] for n in others)
    rows.append(
        claim_row(
            f"z6.smallest_n_high{tag}",
            "z6",
            f"{e}N = {smallest} stays high (never reaches the larger N's errors)",
            best[smallest] / other_best,
            ">=",
            c["high_factor"],
            f"least median error of N = {smallest} / largest least error of the other N; "
            f"least errors {fmt([best[n] for n in sizes])}",
        )
    )
    return rows
