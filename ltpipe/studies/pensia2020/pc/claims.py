"""PC's claims, computed from its tables and MW's rows in them (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ltpipe.claims import claim_row
from ltpipe.studies.pensia2020.pc.laws import d_growth_rows, error_curves, law_parts, law_rows, ps_accuracy_rows

__all__ = ["claims"]


def _matched(pc: pd.DataFrame, mw: pd.DataFrame) -> tuple[float, str]:
    """MW's random parameters at its smallest median error over PC's at the fewest parameters reaching it
    (NaN when PC never does)."""
    best = mw.loc[mw["error"].idxmin()]
    reach = pc[pc["error"] <= best["error"]]
    if not len(reach):
        return float("nan"), f"MW's best median error {best['error']:.3g} (n = {best['n']:g}) not reached by PC"
    first = reach.loc[reach["params"].idxmin()]
    return float(best["params"] / first["params"]), (
        f"MW reaches {best['error']:.3g} at n = {best['n']:g} ({best['params']:.0f} random parameters); PC reaches "
        f"{first['error']:.3g} at n = {first['n']:g} ({first['params']:.0f})"
    )


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PC (Lemma 1-3, Theorem 1), per part (one weight; each random target; the PS target):

    - ``pc.exponential``: the subset-sum construction's median error falls exponentially in the width
      factor n: ln(error) on n has R^2 >= ``min_r2`` (a width O(log 1/eps)), fitted on the tail of the curve
      (median error <= ``tail_error``): Lemma 1 bounds n only beyond an unknown constant, and before the
      products can reach the targets near +-1 the error sits on a plateau that is no exponential;
    - ``pc.beats_power``: that line fits better than a power law (ln(error) on ln(n)): an error that fell
      like a power of the width, as MW's does, fails here;
    - ``pc.width_log``: the width factor needed for eps (read off the median curve at eps = 10^(-j/2))
      grows like log(1/eps): n on ln(1/eps) fits better than ln(n) on ln(1/eps) (a polynomial width);
    - ``pc.fewer_weights``: to reach the smallest error Malach's construction reaches on its grid, the
      subset-sum construction needs fewer random parameters: the ratio of MW's to PC's is >= 1;
    - ``pc.ps_accuracy``: at PC's largest n the pruned PS target's test accuracy is within
      ``max_acc_drop`` points of the target's;
    - ``pc.n_grows_log_d`` (per depth): the width factor needed for a sup error <= ``eps_d`` grows like log d
      in the random targets' width d (Theorem 1: width C d log(d l / eps)), better than like a power of d.

    The law claims read one weight, the widest random target of each depth and the PS target.
    """
    rows = []
    curves = error_curves(tables)
    by = {(part, cons): curve for part, cons, curve in curves}
    fitted = law_parts(tables)
    for (part, cons), curve in by.items():
        if cons != "pc" or part not in fitted:
            continue
        tail = curve[curve["error"] <= c["tail_error"]]
        rows += law_rows(part, tail, "pc", "pc_mw", "exponential", c["min_r2"], f"median error <= {c['tail_error']:g}")
        if (part, "mw") in by:
            ratio, detail = _matched(curve, by[(part, "mw")])
            rows.append(
                claim_row(
                    f"pc.fewer_weights[part={part}]",
                    "pc_mw",
                    f"{part}: for MW's smallest error the subset-sum construction needs fewer random parameters",
                    ratio,
                    ">=",
                    1.0,
                    detail + "; value = MW's / PC's",
                )
            )
    rows += ps_accuracy_rows(tables, "pc", "pc.ps_accuracy", "pc_mw", "out of a random network", c["max_acc_drop"])
    if "network" in tables and len(tables["network"]):
        rows += d_growth_rows(tables["network"], "pc", "pc", "pc_mw", c["eps_d"], "log")
    return rows
