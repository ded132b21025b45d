"""Z7's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from ltpipe.claims import claim_row, fmt

__all__ = ["claims"]


def _bound(d: list[float], margin: float) -> tuple[float, float, float]:
    """(mean, standard error sd/sqrt(T), mean - margin * SE) of per-trial values; SE NaN below 2 trials."""
    d = np.asarray(d, dtype=float)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), se, float(d.mean()) - margin * se


def _worst(stats: dict[int, tuple[float, float, float]]) -> float:
    """The least bound (NaN if any is NaN, or if there is none)."""
    return float(np.min([b for *_, b in stats.values()])) if stats else float("nan")


def _text(stats: dict[int, tuple[float, float, float]]) -> str:
    return "; ".join(f"N={n}: {m:+.4f} +- {se:.4f} (bound {b:+.4f})" for n, (m, se, b) in stats.items())


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z7 (Sec. 5.2, Fig. 7), per architecture: moderate pruning raises the accuracy (some N), over-pruning
    drops it (every N), larger N is higher, IMP beats Frankle & Carbin's (2019) controls once sparse.

    Test accuracy at the end of each round (nothing selected on the test set; ``rises_at_best_val``: at the
    epoch of best validation accuracy). Each claim takes a per-trial difference d_t (modes share a trial's
    data and batches) and tests its bound mean(d) - se_margin * sd(d) / sqrt(T); one trial gives NaN, a
    fail. With se_margin 2 and normal errors a zero effect passes one comparison with probability
    P(t_{T-1} > 2): 9% at T = 3 trials, 5% at T = 5. "Moderate" rounds are rounds >= 1 with
    moderate[0] <= remaining <= moderate[1]; "sparse" rounds leave less than moderate[0].

    - rises: d = mean accuracy over the moderate rounds - dense accuracy (round 0), per (N, trial); the test
      is paired and pooled over every N: the bound of the mean over all N x T differences must exceed
      min_rise. Sec. 5.2: the accuracy "first increases when we properly prune the network (e.g., the case
      of N = 20000)", "not as obvious as the results on synthetic data". A rise of about a point cannot be
      decided from 3 trials of one N (its standard error is 0.4-0.8 points at the default scale), nor by
      "some N passes" (with 3 N a zero effect passes about 25% of the time); pooled over N it is one test of
      3 T pairs, and the detail still gives each N's mean.
    - drops: d_t = mean accuracy over the moderate rounds - accuracy of the last round (which must be
      sparse); the worst N's bound must exceed min_drop.
    - larger_n_higher: accuracy averaged over all rounds, each N minus the next smaller, mean over trials
      less se_margin * sqrt(SE_1^2 + SE_2^2) (independent trials); the worst pair must exceed min_gain.
    - beats_<mode>, per control N: d_t = mean over sparse rounds of IMP - control accuracy (same trial and
      round); the bound must exceed min_control_gap.
    """
    lo, hi = c["moderate"]
    margin, nan = float(c["se_margin"]), float("nan")
    window, bound = f"rounds with {lo:g}-{hi:g} left", f"mean over trials +- SE, bound = mean - {margin:g} SE"
    rows = []
    for arch, r in tables["rounds"].groupby("arch", sort=False):
        r = r.sort_values(["n_samples", "trial", "round"])
        imp = r[r["mode"] == "imp"]
        sizes = sorted(int(n) for n in imp["n_samples"].unique())

        def per_trial(fn, frame=imp) -> dict[int, tuple[float, float, float]]:
            return {
                int(n): _bound([fn(t) for _, t in g.groupby("trial")], margin) for n, g in frame.groupby("n_samples")
            }

        def moderate(t: pd.DataFrame, col: str = "test_acc") -> float:
            w = t[(t["round"] > 0) & t["remaining"].between(lo, hi)]
            return float(w[col].mean()) if len(w) else nan

        def dense(t: pd.DataFrame, col: str) -> float:
            return float(t[t["round"] == 0][col].iloc[0]) if (t["round"] == 0).any() else nan

        def last(t: pd.DataFrame) -> float:
            return float(t["test_acc"].iloc[-1]) if t["remaining"].iloc[-1] < lo else nan

        for cid, col, when in (
            ("z7.rises", "test_acc", "end of round"),
            ("z7.rises_at_best_val", "test_acc_at_best_val", "epoch of best validation"),
        ):
            rises = {key: moderate(t, col) - dense(t, col) for key, t in imp.groupby(["n_samples", "trial"])}
            stats = per_trial(lambda t, col=col: moderate(t, col) - dense(t, col))
            pooled = _bound(list(rises.values()), margin)
            rows.append(
                claim_row(
                    f"{cid}[{arch}]",
                    "z7",
                    f"{arch}: moderate pruning raises the test accuracy ({when}) above the dense accuracy "
                    "(paired, pooled over N)",
                    pooled[2],
                    ">",
                    c["min_rise"],
                    f"mean accuracy over {window} - dense accuracy, per (N, trial), pooled over the "
                    f"{len(rises)} pairs: {pooled[0]:+.4f} +- {pooled[1]:.4f} "
                    f"(bound {pooled[2]:+.4f} = mean - {margin:g} SE); per N ({bound}): {_text(stats)}",
                )
            )
        stats = per_trial(lambda t: moderate(t) - last(t))
        rows.append(
            claim_row(
                f"z7.drops[{arch}]",
                "z7",
                f"{arch}: accuracy drops when over-pruned (every N)",
                _worst(stats),
                ">",
                c["min_drop"],
                f"per N, mean accuracy over {window} - last-round accuracy (last round leaves "
                f"{fmt(imp.groupby('n_samples')['remaining'].min())}), {bound}; the worst N counts: "
                f"{_text(stats)}",
            )
        )
        level = {n: _bound(g.groupby("trial")["test_acc"].mean(), margin) for n, g in imp.groupby("n_samples")}
        diff = {b: (level[b][0] - level[a][0], float(np.hypot(level[b][1], level[a][1]))) for a, b in pairwise(sizes)}
        gains = {n: (gain, se, gain - margin * se) for n, (gain, se) in diff.items()}
        rows.append(
            claim_row(
                f"z7.larger_n_higher[{arch}]",
                "z7",
                f"{arch}: larger N gives higher accuracy",
                _worst(gains),
                ">",
                c["min_gain"],
                f"accuracy averaged over all rounds, each N minus the next smaller (N = {sizes}), {bound}; "
                f"the worst pair counts: {_text(gains)}",
            )
        )
        for mode, ctrl in r[r["mode"] != "imp"].groupby("mode", sort=False):
            paired = imp.merge(ctrl, on=["n_samples", "trial", "round"], suffixes=("", "_ctrl"))
            paired = paired[paired["remaining"] < lo]
            stats = per_trial(lambda t: float((t["test_acc"] - t["test_acc_ctrl"]).mean()), paired)
            for n in sorted(int(n) for n in ctrl["n_samples"].unique()):
                stat = stats.get(n, (nan, nan, nan))
                rows.append(
                    claim_row(
                        f"z7.beats_{mode}[{arch},N={n}]",
                        "z7",
                        f"{arch}, N = {n}: IMP beats the {mode} control once sparse (Frankle & Carbin)",
                        stat[2],
                        ">",
                        c["min_control_gap"],
                        f"mean over rounds with < {lo:g} left of IMP "
                        f"accuracy - {mode} accuracy (same trial and round), {bound}: {_text({n: stat})}",
                    )
                )
    return rows
