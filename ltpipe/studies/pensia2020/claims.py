"""Pensia et al. 2020's claims (PL, PS, PE), computed from the experiments' Parquet tables.

Experiment ``EXP``'s claims are ``claims_EXP(tables, thresholds) -> rows``
(see :mod:`ltpipe.claims` for the row format and the driver).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.claims import claim_row, fmt, spearman, trend_claims

__all__ = ["claims_pe", "claims_pl", "claims_ps"]


def claims_pl(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PL (Lueker; Theorem 3, Cor. 2): the n needed for the supremum of the optimal error over the target
    interval to fall below eps (in a fraction ``probability`` of the trials) grows linearly in log(1/eps)."""
    rows = []
    for dist, g in tables["needed"].groupby("distribution", sort=False):
        g = g.sort_values("eps", ascending=False)
        reached = int(g["n_needed"].notna().sum())
        note = (
            f"{dist}: n_needed (sup over the targets of the optimal error <= eps in a fraction "
            f"{g['probability'].iloc[0]:g} of trials) per eps ({fmt(g['eps'])}) = {fmt(g['n_needed'])}; "
            f"fit of n_needed on ln(1/eps) over the {reached} eps reached within the n grid"
        )
        rows.append(
            claim_row(f"pl.reached[{dist}]", "pl_b", f"{dist}: every eps is reached within the n grid",
                      reached / len(g), ">=", 1.0, note)
        )  # fmt: skip
        rows += trend_claims(
            (f"pl.increases[{dist}]", f"pl.linear[{dist}]"),
            "pl_b",
            (f"{dist}: n_needed grows with log(1/eps)", f"{dist}: n_needed is linear in log(1/eps)"),
            np.log(1.0 / g["eps"]),
            g["n_needed"],
            direction=">",
            min_r2=c["min_r2"],
            note=note,
        )
    return rows


def claims_ps(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PS (Experiment 1), per coefficient range: nearly every weight within eps, how far the worst one is, and
    the approximation's accuracy equal to the target's (per solution).

    Theorem 3 (Lueker) holds for one weight's coefficients with probability 1 - delta, and the paper reports
    that "most weights ... were well below 0.01 error": the within-eps claim asks for a fraction of at least
    ``min_within_fraction``. The worst error is its own claim, at most ``max_error_factor`` * eps, a
    heuristic bound on chance misses: if the subset sums near a weight fell like a Poisson process,
    P(error > k eps) would be about P(error > eps)^k, so with at most 1e-3 of the weights beyond eps a
    weight beyond 2 eps would have probability about 1e-6 (0.4 expected among 397,000); a worse one points
    to misses that are not chance (e.g. a range with few coefficients of the weight's sign). Both are read
    from the optimal solution: the sparsest subsets are within eps for exactly the same weights and have
    the optimal error on the others.
    """
    rows = []
    summary = tables["summary"]
    for name, g in summary.groupby("coefficient_range", sort=False):
        opt = g[g["solution"] == "optimal"].iloc[0]
        rng = f"{name}, U[{opt.low:.3g}, {opt.high:.3g}]"
        outside = int(opt.n_weights - opt.within_eps)
        limit = c["max_error_factor"] * opt.eps
        rows.append(
            claim_row(f"ps.within_eps[range={name}]", "ps",
                      f"{rng}: at least a fraction {c['min_within_fraction']:g} of the weights within eps = "
                      f"{opt.eps:g}", opt.within_eps / opt.n_weights, ">=", c["min_within_fraction"],
                      f"{opt.within_eps} of {opt.n_weights} weights within eps, {outside} outside; n = "
                      f"{opt.n_coefficients} coefficients per weight ({opt.coefficients})")
        )  # fmt: skip
        rows.append(
            claim_row(f"ps.max_error[range={name}]", "ps",
                      f"{rng}: the worst weight within {c['max_error_factor']:g} eps = {limit:g}", opt.max_error,
                      "<=", limit,
                      f"max |w - approx| over {opt.n_weights} weights = {opt.max_error:.4g} "
                      f"({opt.max_error / opt.eps:.3g} eps); {outside} weights beyond eps")
        )  # fmt: skip
        for s in g.itertuples():
            rows.append(
                claim_row(f"ps.accuracy[range={name},solution={s.solution}]", "ps",
                          f"{rng}, {s.solution}: approximation accuracy equals the target's to within "
                          f"{c['max_acc_drop']:g} points", round(100 * abs(s.approx_acc - s.target_acc), 9), "<=",
                          c["max_acc_drop"], f"target {100 * s.target_acc:.2f}%, approximation "
                          f"{100 * s.approx_acc:.2f}%; kept {s.kept_total} of {s.total_coefficients} coefficients")
            )  # fmt: skip
    return rows


def _pe_means(selected: pd.DataFrame) -> pd.DataFrame:
    """Per (network, variant, keep): the validation-selected test accuracy in points, mean over trials, and the
    mean weights kept."""
    g = selected.assign(acc=100 * selected["test_acc_selected"]).groupby(["network", "variant", "keep"], sort=False)
    return g.agg(acc=("acc", "mean"), params_kept=("params_kept", "mean")).reset_index()


def claims_pe(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
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
                claim_row(f"pe.relu_hurts_small[network={network}]", "pe",
                          f"{network}: the structure without its extra ReLU beats it with the ReLU at small "
                          f"parameter counts (keep <= {c['small_keep']:g})", diff.mean(), ">", c["min_relu_gap"],
                          f"mean over keeps {fmt(keeps)} and trials of test accuracy (validation-selected budget) "
                          f"without minus with the ReLU, in points: {fmt(diff.groupby(level='keep').mean())} per "
                          f"keep; {len(diff)} paired runs")
            )  # fmt: skip
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
                claim_row(f"pe.structure_matches_wide[network={network}]", "pe",
                          f"{network}: the structure (no ReLU) and the wide network, at about the same kept "
                          f"weights, are within {c['max_wide_gap']:g} points at every keep", gap.abs().max(),
                          "<=", c["max_wide_gap"],
                          f"structure minus wide, points: {wins}; on average "
                          f"{'structure' if mean > 0 else 'wide'} ahead by {abs(mean):.2f}")
            )  # fmt: skip
        if base is None:
            continue
        base_acc = float(base["acc"].iloc[0])
        for variant, part in acc.items():
            if variant == "baseline":
                continue
            gap = base_acc - part["acc"]
            low = gap[gap.index <= c["approach_max_keep"]]
            note = (f"baseline {base_acc:.2f}% with {base['params_kept'].iloc[0]:.0f} weights; gap in points per "
                    f"keep ({fmt(gap.index)}): {fmt(gap)}")  # fmt: skip
            rows.append(
                claim_row(f"pe.approaches_baseline[network={network},variant={variant}]", "pe",
                          f"{network}, {variant}: the gap to the dense baseline shrinks as keep grows (keep <= "
                          f"{c['approach_max_keep']:g})", spearman(low.index, low), "<=", -c["min_order"],
                          note + f"; Spearman of keep and gap over the {len(low)} keeps <= "
                          f"{c['approach_max_keep']:g}")
            )  # fmt: skip
            best = gap.idxmin()
            rows.append(
                claim_row(f"pe.near_baseline[network={network},variant={variant}]", "pe",
                          f"{network}, {variant}: the best keep comes within {c['max_baseline_gap']:g} points of "
                          f"the dense baseline", gap.min(), "<=", c["max_baseline_gap"],
                          note + f"; best at keep {best:g} ({part.loc[best, 'acc']:.2f}%)")
            )  # fmt: skip
    return rows
