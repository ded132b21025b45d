"""PE's claims, computed from its Parquet tables (see :mod:`ltpipe.claims` for the row format)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ltpipe.claims import claim_row, fmt, spearman

__all__ = ["claims"]


def _pe_means(selected: pd.DataFrame) -> pd.DataFrame:
    """Per (network, variant, keep): the validation-selected test accuracy in points, mean over trials, and the
    mean weights kept."""
    g = selected.assign(acc=100 * selected["test_acc_selected"]).groupby(["network", "variant", "keep"], sort=False)
    return g.agg(acc=("acc", "mean"), params_kept=("params_kept", "mean")).reset_index()


def claims(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PE (Experiment 2, Fig. 2), per network, from the validation-selected epoch budget of each keep:

    - ``pe.relu_hurts_small``: the structure without its extra ReLU beats the structure with it at small
      parameter counts (keep <= ``small_keep``): the mean over those keeps and trials of the paired
      accuracy difference (the two share their random network, data and batches) exceeds ``min_relu_gap``
      points (the paper: "the use of additional ReLU activations leads to worse performance ... when the
      number of parameters is small");
    - ``pe.structure_matches_wide``: at every keep (about the same kept weights: the two networks have
      about equally many), the structure (no ReLU) and the wide network are within ``max_wide_gap`` points;
      the value is the largest gap, the detail says which wins at each keep;
    - ``pe.approaches_baseline`` (per masked variant): the gap to the trained dense baseline shrinks as keep
      grows over keep <= ``approach_max_keep`` (edge-popup's accuracy is known to peak below keep = 1, where
      the network is the random one): Spearman's rank correlation of keep and gap at most ``-min_order``;
    - ``pe.near_baseline`` (per masked variant): the best keep comes within ``max_baseline_gap`` points of the
      baseline.
    """
    selected = tables["selected"]
    means = _pe_means(selected)
    rows = []
    for network, g in means.groupby("network", sort=False):
        acc = {v: part.set_index("keep") for v, part in g.groupby("variant", sort=False)}
        base = acc.get("baseline")
        if {"structure", "structure-relu"} <= set(acc):
            sel = selected[selected["network"] == network]
            pair = sel.pivot_table(index=["keep", "trial"], columns="variant", values="test_acc_selected")
            small = pair[pair.index.get_level_values("keep") <= c["small_keep"]]
            diff = 100 * (small["structure"] - small["structure-relu"])
            keeps = sorted(set(small.index.get_level_values("keep")))
            rows.append(
                claim_row(
                    f"pe.relu_hurts_small[network={network}]",
                    "pe",
                    f"{network}: the structure without its extra ReLU beats it with the ReLU at small "
                    f"parameter counts (keep <= {c['small_keep']:g})",
                    diff.mean(),
                    ">",
                    c["min_relu_gap"],
                    f"mean over keeps {fmt(keeps)} and trials of test accuracy (validation-selected budget) "
                    f"without minus with the ReLU, in points: {fmt(diff.groupby(level='keep').mean())} per "
                    f"keep; {len(diff)} paired runs",
                )
            )
        if {"structure", "wide"} <= set(acc):
            s, w = acc["structure"], acc["wide"]
            common = s.index.intersection(w.index)
            gap = s.loc[common, "acc"] - w.loc[common, "acc"]
            wins = ", ".join(
                f"keep {k:g}: {'structure' if d > 0 else 'wide' if d < 0 else 'tie'} by {abs(d):.2f} "
                f"({s.loc[k, 'params_kept']:.0f} vs {w.loc[k, 'params_kept']:.0f} weights)"
                for k, d in gap.items()
            )
            mean = gap.mean()
            rows.append(
                claim_row(
                    f"pe.structure_matches_wide[network={network}]",
                    "pe",
                    f"{network}: the structure (no ReLU) and the wide network, at about the same kept "
                    f"weights, are within {c['max_wide_gap']:g} points at every keep",
                    gap.abs().max(),
                    "<=",
                    c["max_wide_gap"],
                    f"structure minus wide, points: {wins}; on average "
                    f"{'structure' if mean > 0 else 'wide'} ahead by {abs(mean):.2f}",
                )
            )
        if base is None:
            continue
        base_acc = float(base["acc"].iloc[0])
        for variant, part in acc.items():
            if variant == "baseline":
                continue
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
                )
            )
            best = gap.idxmin()
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
