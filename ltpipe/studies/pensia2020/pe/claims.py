"""PE's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format).

Fig. 2 of Pensia et al. 2020 compares, per network, Fig. 1c's structure with and without its extra ReLU and a
wide random network of about the same number of weights, all pruned by edge-popup. What the paper says of it:
"the use of additional ReLU activations leads to worse performance than the use of an identity mapping when the
number of parameters is small", and "the different network topologies all contain, approximately, the same
number of weights, hence should lead to similar approximations. However we see that the choice of architecture
plays an important role" -- in its figures the wide network is far ahead at small keep (two-layer FC at about
20K weights: about 88% against 39%) and LeNet5's structure ahead near keep 0.95-0.98.

Each comparison of two variants reads the validation-selected accuracy (``selected``) and guards its verdict in
two ways (both ``untestable``, with the reason, rather than failed):

- chance: only keeps where at least one of the two is more than ``chance_margin`` points above chance (10%)
  are read; none left, nothing to compare;
- budget: the variant behind still gains, from the second-largest epoch budget to the largest (``runs``, mean
  over the keeps read), at least as many points as it trails by: a longer budget could reverse the order, so
  the budget decides it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ltpipe.claims import claim_row, fmt, spearman

__all__ = ["claims"]

CHANCE = 10.0  # MNIST, ten classes, in points

LABELS = {"structure": "the structure", "structure-relu": "the structure with its ReLU", "wide": "the wide network"}


def _pe_means(selected: pd.DataFrame) -> pd.DataFrame:
    """Per (network, variant, keep): the validation-selected test accuracy in points, mean over trials, and the
    mean weights kept."""
    g = selected.assign(acc=100 * selected["test_acc_selected"]).groupby(["network", "variant", "keep"], sort=False)
    return g.agg(acc=("acc", "mean"), params_kept=("params_kept", "mean")).reset_index()


def _rise(runs: pd.DataFrame | None, network: str, variant: str, keeps: list[float]) -> tuple[float, str]:
    """How much ``variant`` still gains from its second-largest epoch budget to its largest (test accuracy,
    points, mean over trials and over ``keeps``, as the comparison it guards), and a note; NaN with one
    budget."""
    if runs is None:
        return float("nan"), "no runs table: flatness over budgets not checked"
    part = runs[(runs["network"] == network) & (runs["variant"] == variant) & runs["keep"].isin(keeps)]
    budgets = sorted(set(part["epochs"]))
    if len(budgets) < 2:
        return float("nan"), f"one epoch budget ({fmt(budgets)}): flatness not checked"
    acc = 100 * part.groupby(["keep", "epochs"])["test_acc"].mean().unstack("epochs")
    gain = acc[budgets[-1]] - acc[budgets[-2]]
    return float(gain.mean()), (
        f"{LABELS[variant]} gains {fmt(gain)} points per keep from {budgets[-2]} to {budgets[-1]} epochs"
    )


def _compare(
    selected: pd.DataFrame,
    runs: pd.DataFrame | None,
    network: str,
    ahead: str,
    behind: str,
    keeps: list[float],
    c: dict[str, Any],
) -> tuple[float, str, str]:
    """``ahead`` minus ``behind`` in points over ``keeps`` (paired per trial, mean over keeps and trials), the
    detail, and why the data cannot test it ("" when they can)."""
    sel = selected[(selected["network"] == network) & selected["keep"].isin(keeps)]
    pair = 100 * sel.pivot_table(index=["keep", "trial"], columns="variant", values="test_acc_selected")
    if pair.empty or not {ahead, behind} <= set(pair.columns):
        return float("nan"), "", f"no keep in {fmt(keeps)} has both variants"
    per_keep = pair.groupby(level="keep")[[ahead, behind]].mean()
    above = per_keep[per_keep.max(axis=1) > CHANCE + c["chance_margin"]].index
    detail = (
        f"{LABELS[ahead]} / {LABELS[behind]}, test accuracy (validation-selected budget), points, per keep "
        f"{fmt(per_keep.index)}: {fmt(per_keep[ahead])} / {fmt(per_keep[behind])}"
    )
    if not len(above):
        return float("nan"), detail, f"both within {c['chance_margin']:g} points of chance at every keep"
    diff = (
        pair.loc[pair.index.get_level_values("keep").isin(above), ahead]
        - pair.loc[pair.index.get_level_values("keep").isin(above), behind]
    )
    value = float(diff.mean())
    skipped = sorted(set(per_keep.index) - set(above))
    detail += f"; mean difference over keeps {fmt(above)} ({len(diff)} paired runs)"
    if skipped:
        detail += f"; keeps {fmt(skipped)} left out (both near chance)"
    trailing = behind if value > 0 else ahead
    rise, note = _rise(runs, network, trailing, list(above))
    detail += f"; {note}"
    why = ""
    if rise == rise and rise >= abs(value):
        why = (
            f"the budget decides: {LABELS[trailing]} still gains {rise:.2f} points between the two largest "
            f"budgets, as much as the {abs(value):.2f} points between them"
        )
    return value, detail, why


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PE (Experiment 2, Fig. 2), per network, from the validation-selected epoch budget of each keep:

    - ``pe.relu_hurts_small``: the structure without its extra ReLU beats the structure with it at small
      parameter counts (keep <= ``relu_keep``, the figure's window): the mean paired accuracy difference (the
      two share their random network, data and batches) exceeds ``min_relu_gap`` points;
    - ``pe.wide_ahead_small`` (networks of ``wide.networks``, the paper's fully connected ones): the wide
      network is ahead of the structure (no ReLU) at small keep (keep <= ``wide.keep``) by more than
      ``wide.min_lead`` points; the value says by how much;
    - ``pe.structure_ahead_high`` (networks of ``flip.networks``, the paper's LeNet5): the order flips near
      keep 1, the structure ahead of the wide network at the keeps of ``flip.keep`` (0.95-0.98 in the figure);
      untestable when the grid has none of them;
    - ``pe.collapses_near_one`` (per masked variant): near keep 1 edge-popup can barely prune, so accuracy
      falls back towards the random network's: the best keep beats the largest keep below 1 that is at least
      ``collapse_keep`` by at least ``min_collapse`` points; untestable when the grid has no such keep;
    - ``pe.approaches_baseline`` (per masked variant): the gap to the trained dense baseline shrinks as keep
      grows over keep <= ``approach_max_keep``: Spearman's rank correlation of keep and gap at most
      ``-min_order``;
    - ``pe.near_baseline`` (per masked variant): the best keep comes within ``max_baseline_gap`` points of the
      baseline.
    """
    selected, runs = tables["selected"], tables.get("runs")
    means = _pe_means(selected)
    rows = []
    for network, g in means.groupby("network", sort=False):
        acc = {v: part.set_index("keep") for v, part in g.groupby("variant", sort=False)}
        keeps = sorted(set(g.loc[g["variant"] != "baseline", "keep"]))
        if {"structure", "structure-relu"} <= set(acc):
            window = [k for k in keeps if k <= c["relu_keep"]]
            value, detail, why = _compare(selected, runs, network, "structure", "structure-relu", window, c)
            rows.append(
                claim_row(
                    f"pe.relu_hurts_small[network={network}]",
                    "pe",
                    f"{network}: the structure without its extra ReLU beats it with the ReLU at small "
                    f"parameter counts (keep <= {c['relu_keep']:g})",
                    value,
                    ">",
                    c["min_relu_gap"],
                    detail,
                    untestable=why,
                )
            )
        if {"structure", "wide"} <= set(acc) and network in c["wide"]["networks"]:
            top = c["wide"]["keep"]
            window = [k for k in keeps if k <= top]
            if window:
                value, detail, why = _compare(selected, runs, network, "wide", "structure", window, c)
            else:
                value, detail, why = float("nan"), f"keeps run: {fmt(keeps)}", f"the keep grid has no keep <= {top:g}"
            s, w = acc["structure"], acc["wide"]
            common = s.index.intersection(w.index)
            detail += "; weights kept, structure / wide: " + ", ".join(
                f"keep {k:g}: {s.loc[k, 'params_kept']:.0f} / {w.loc[k, 'params_kept']:.0f}" for k in common
            )
            rows.append(
                claim_row(
                    f"pe.wide_ahead_small[network={network}]",
                    "pe",
                    f"{network}: at small keep (<= {top:g}) the wide network is ahead of the structure of about "
                    f"the same weights (the architecture matters)",
                    value,
                    ">",
                    c["wide"]["min_lead"],
                    detail,
                    untestable=why,
                )
            )
        if {"structure", "wide"} <= set(acc) and network in c["flip"]["networks"]:
            lo, hi = c["flip"]["keep"]
            window = [k for k in keeps if lo <= k <= hi]
            if window:
                value, detail, why = _compare(selected, runs, network, "structure", "wide", window, c)
            else:
                value, detail = float("nan"), f"keeps run: {fmt(keeps)}"
                why = f"the keep grid has no keep in [{lo:g}, {hi:g}] (config/paper.yaml has)"
            rows.append(
                claim_row(
                    f"pe.structure_ahead_high[network={network}]",
                    "pe",
                    f"{network}: near keep 1 ({lo:g} to {hi:g}) the order flips, the structure ahead of "
                    f"the wide network",
                    value,
                    ">",
                    0.0,
                    detail,
                    untestable=why,
                )
            )
        base = acc.get("baseline")
        for variant, part in acc.items():
            if variant == "baseline":
                continue
            high = [k for k in part.index if c["collapse_keep"] <= k < 1]
            best = part["acc"].idxmax()
            note = f"accuracy per keep ({fmt(part.index)}): {fmt(part['acc'])} points"
            rows.append(
                claim_row(
                    f"pe.collapses_near_one[network={network},variant={variant}]",
                    "pe",
                    f"{network}, {variant}: near keep 1 accuracy collapses: the best keep beats keep "
                    f">= {c['collapse_keep']:g} by at least {c['min_collapse']:g} points",
                    part.loc[best, "acc"] - part.loc[max(high), "acc"] if high else float("nan"),
                    ">=",
                    c["min_collapse"],
                    note + (f"; best at keep {best:g}, against keep {max(high):g}" if high else ""),
                    untestable="" if high else f"the keep grid has no keep in [{c['collapse_keep']:g}, 1)",
                )
            )
            if base is None:
                continue
            base_acc = float(base["acc"].iloc[0])
            gap = base_acc - part["acc"]
            low = gap[gap.index <= c["approach_max_keep"]]
            note = (
                f"baseline {base_acc:.2f}% with {base['params_kept'].iloc[0]:.0f} weights; gap in points per "
                f"keep ({fmt(gap.index)}): {fmt(gap)}"
            )
            rows.append(
                claim_row(
                    f"pe.approaches_baseline[network={network},variant={variant}]",
                    "pe",
                    f"{network}, {variant}: the gap to the dense baseline shrinks as keep grows (keep <= "
                    f"{c['approach_max_keep']:g})",
                    spearman(low.index, low),
                    "<=",
                    -c["min_order"],
                    note + f"; Spearman of keep and gap over the {len(low)} keeps <= {c['approach_max_keep']:g}",
                    untestable="" if len(low) >= 3 else f"{len(low)} keeps <= {c['approach_max_keep']:g}: 3 needed",
                )
            )
            rows.append(
                claim_row(
                    f"pe.near_baseline[network={network},variant={variant}]",
                    "pe",
                    f"{network}, {variant}: the best keep comes within {c['max_baseline_gap']:g} points of "
                    f"the dense baseline",
                    gap.min(),
                    "<=",
                    c["max_baseline_gap"],
                    note + f"; best at keep {best:g} ({part.loc[best, 'acc']:.2f}%)",
                )
            )
    return rows
