"""MW's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ltpipe.studies.pensia2020.pc.laws import d_growth_rows, error_curves, law_parts, law_rows, ps_accuracy_rows

__all__ = ["claims"]


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """MW (Theorem 2.1, Lemma A.1), per part (one weight; each random target; the PS target):

    - ``mw.power``: the error falls like a power of the width factor n: ln(error) on ln(n) has
      R^2 >= ``min_r2`` (so the width for eps grows polynomially in 1/eps; the exponent is stated);
    - ``mw.beats_exponential``: that fits better than an exponential in n (ln(error) on n): an error
      falling exponentially, as the subset-sum construction's does, fails here;
    - ``mw.width_poly``: the width factor needed for eps grows like a power of 1/eps: ln(n) on ln(1/eps)
      fits better than n on ln(1/eps) (the exponent is stated);
    - ``mw.ps_accuracy``: at MW's largest n the pruned PS target's test accuracy is within ``max_acc_drop``
      points of the target's;
    - ``mw.n_grows_power_d`` (per depth): the width factor needed for a sup error <= ``eps_d`` grows like a
      power of the random targets' width d (Theorem 2.1: polynomial in d), better than like log d.

    The law claims read one weight, the widest random target of each depth and the PS target.
    """
    rows = []
    fitted = law_parts(tables)
    for part, cons, curve in error_curves(tables):
        if cons != "mw" or part not in fitted:
            continue
        rows += law_rows(part, curve, "mw", "mw", "power", c["min_r2"])
    rows += ps_accuracy_rows(tables, "mw", "mw.ps_accuracy", "mw", "by single products", c["max_acc_drop"])
    if "network" in tables and len(tables["network"]):
        rows += d_growth_rows(tables["network"], "mw", "mw", "mw", c["eps_d"], "power")
    return rows
