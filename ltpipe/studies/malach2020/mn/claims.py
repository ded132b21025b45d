"""MN's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.claims import claim_row, fmt, spearman

__all__ = ["claims"]


def _medians(trials: pd.DataFrame, task: str, axis: str, value: str) -> pd.DataFrame:
    t = trials[trials["task"] == task]
    return t.pivot_table(index=axis, columns="method", values=value, aggfunc="median").sort_index()


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """MN (Theorem 3.2, 3.3, Remark 3.5):

    - ``mn.tracks`` (per task): neuron pruning's median error is within a factor ``max_ratio`` of the
      random-features model of k features at every grid point (test error on the single neuron, training
      error on the finite dataset, the quantity Theorem 3.3 bounds); the value is the largest factor either
      way;
    - ``mn.degrades`` (neuron pruning, random features): on the single neuron at fixed width, the median test
      error at the largest d is at least ``min_rise`` times that at the smallest;
    - ``mn.weight_pruning_holds`` (PC, MW): weight pruning of the same neuron, with the widths its theorem
      prescribes, does not degrade: that ratio is at most ``max_rise``.
    """
    trials = tables["trials"]
    rows = []
    for task, axis, value in (("neuron", "d", "test_error"), ("mnist", "k", "train_error")):
        med = _medians(trials, task, axis, value)
        if not {"neuron_pruning", "random_features"} <= set(med.columns):
            continue
        ratio = med["neuron_pruning"] / med["random_features"]
        worst = float(np.maximum(ratio, 1 / ratio).max())
        rows.append(
            claim_row(
                f"mn.tracks[task={task}]",
                "mn",
                f"{task}: neuron pruning's {value.replace('_', ' ')} is within a factor "
                f"{c['max_ratio']:g} of random features' (k features) at every {axis}",
                worst,
                "<=",
                c["max_ratio"],
                f"median {value} per {axis} ({fmt(med.index)}): neuron pruning "
                f"{fmt(med['neuron_pruning'])}, random features "
                f"{fmt(med['random_features'])}",
            )
        )
    med = _medians(trials, "neuron", "d", "test_error")
    for method in ("neuron_pruning", "random_features", "pc", "mw"):
        if method not in med.columns:
            continue
        col = med[method]
        rise = float(col.iloc[-1] / col.iloc[0])
        note = (
            f"median test error per d ({fmt(med.index)}) = {fmt(col)}; Spearman of d and error "
            f"{spearman(med.index, col):.3g}"
        )
        if method in ("pc", "mw"):
            rows.append(
                claim_row(
                    f"mn.weight_pruning_holds[method={method}]",
                    "mn",
                    f"{method}: weight pruning of the single neuron does not degrade as d grows (error "
                    f"at d = {med.index[-1]} at most {c['max_rise']:g} times that at d = "
                    f"{med.index[0]})",
                    rise,
                    "<=",
                    c["max_rise"],
                    note,
                )
            )
        else:
            rows.append(
                claim_row(
                    f"mn.degrades[method={method}]",
                    "mn",
                    f"{method}: the single neuron's error grows with d at fixed width (at d = "
                    f"{med.index[-1]} at least {c['min_rise']:g} times that at d = {med.index[0]})",
                    rise,
                    ">=",
                    c["min_rise"],
                    note,
                )
            )
    return rows
