"""MN's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit
from ltpipe.claims import claim_row, fmt, spearman

__all__ = ["claims"]


def _medians(trials: pd.DataFrame, task: str, axis: str, value: str) -> pd.DataFrame:
    t = trials[(trials["task"] == task) & (trials["method"] != "random_features_k")]
    return t.pivot_table(index=axis, columns="method", values=value, aggfunc="median").sort_index()


def k_needed(trials: pd.DataFrame, error: float) -> pd.Series:
    """Per d: the fewest random features (over the sweep) whose median test error on the single neuron is at
    most ``error``; inf where no k of the sweep gets there."""
    sweep = trials[(trials["task"] == "neuron") & (trials["method"] == "random_features_k")]
    med = sweep.pivot_table(index="d", columns="k", values="test_error", aggfunc="median").sort_index()
    return med.apply(lambda row: float(row.index[row <= error].min()) if (row <= error).any() else np.inf, axis=1)


def _k_rows(trials: pd.DataFrame, c: dict[str, Any]) -> list[dict]:
    need = k_needed(trials, c["k_error"])
    if need.empty:
        return []
    ok = np.isfinite(need)
    ranked = need.where(ok, need[ok].max() * 2 if ok.any() else 1.0)
    top = trials.loc[trials["method"] == "random_features_k", "k"].max()
    shown = ", ".join(f"{v:g}" if np.isfinite(v) else f"> {top:g}" for v in need)
    note = f"k needed per d ({fmt(need.index)}) = {shown} for median relative test error <= {c['k_error']:g}"
    rows = [
        claim_row(
            "mn.k_grows",
            "mn",
            f"the random features a single ReLU neuron needs for relative error <= {c['k_error']:g} grow with d",
            spearman(need.index, ranked),
            ">=",
            c["min_order"],
            note + "; value = Spearman of d and k",
        )
    ]
    x, k = np.asarray(need.index[ok], dtype=float), np.log(need[ok].to_numpy(dtype=float))
    _, _, r2_exp = linear_fit(x, k)
    p, _, r2_pow = linear_fit(np.log(x), k)
    rows.append(
        claim_row(
            "mn.k_exponential",
            "mn",
            "that number grows exponentially in d (fits better than a power of d), for a unit-norm neuron "
            "without bias under N(0, I_d)",
            r2_exp - r2_pow,
            ">",
            0.0,
            note + f"; ln k on d: R^2 {r2_exp:.3f}; ln k on ln d: R^2 {r2_pow:.3f}, k ~ d^{p:.3g}; value = R^2 "
            "(exponential) - R^2 (power)",
            untestable="" if ok.sum() >= 3 else f"the sweep reaches it at {int(ok.sum())} values of d (3 needed)",
        )
    )
    return rows


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """MN (Theorem 3.2, 3.3, Remark 3.5):

    - ``mn.tracks`` (per task): neuron pruning's median error is within a factor ``max_ratio`` of the
      random-features model of k features at every grid point (test error on the single neuron, training
      error on the finite dataset, the quantity Theorem 3.3 bounds); the value is the largest factor either
      way;
    - ``mn.degrades`` (neuron pruning, random features): on the single neuron at fixed width, the median test
      error at the largest d is at least ``min_rise`` times that at the smallest;
    - ``mn.weight_pruning_holds`` (PC, MW): weight pruning of the same neuron, with the widths its theorem
      prescribes, does not degrade: that ratio is at most ``max_rise``;
    - ``mn.full_bounds`` (per task): neuron pruning does not beat the random-features model of all its k m
      features on the training set (a neuron-subnetwork is one such model): its median training error is at
      least the full model's at every grid point; the value is the smallest ratio;
    - ``mn.k_grows``: the number of random features k the single neuron needs for a median relative test
      error <= ``k_error`` grows with d: Spearman's correlation of d and that k (a k beyond the sweep counts
      as the largest) at least ``min_order``;
    - ``mn.k_exponential``: that growth is exponential in d, as the paper reads Yehudai and Shamir ([36]: "a
      random features model cannot approximate a single ReLU neuron even under standard Gaussian
      distribution, unless the amount of features or the magnitude of the weights (or both) are exponential
      in the input dimension"): ln k on d fits better (R^2) than ln k on ln d (a power of d), over the d
      whose k the sweep reaches; untestable with fewer than 3. The neuron here has a unit weight vector and
      no bias; [36]'s lower bound is for a neuron of its own choosing.
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
    for task, axis in (("neuron", "d"), ("mnist", "k")):
        med = _medians(trials, task, axis, "train_error")
        if not {"neuron_pruning", "random_features_full"} <= set(med.columns):
            continue
        ratio = med["neuron_pruning"] / med["random_features_full"]
        rows.append(
            claim_row(
                f"mn.full_bounds[task={task}]",
                "mn",
                f"{task}: neuron pruning does not beat the random-features model of all k m features "
                f"(training error) at any {axis}",
                float(ratio.min()),
                ">=",
                1.0,
                f"median train error per {axis} ({fmt(med.index)}): neuron pruning {fmt(med['neuron_pruning'])}, "
                f"all k m features {fmt(med['random_features_full'])}; value = the smallest ratio",
            )
        )
    rows += _k_rows(trials, c)
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
