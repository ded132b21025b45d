"""Pensia et al. 2020's claims (PL, PS, PE), computed from the experiments' Parquet tables.

Experiment ``EXP``'s claims are ``claims_EXP(tables, thresholds) -> rows``
(see :mod:`ltpipe.claims` for the row format and the driver).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit
from ltpipe.claims import claim_row, fmt, spearman, trend_claims

__all__ = [
    "claims_pc",
    "claims_pe",
    "claims_pl",
    "claims_ps",
    "error_curves",
    "fits",
    "law_rows",
    "ps_accuracy_rows",
    "width_needed",
    "width_note",
]


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


def error_curves(tables: dict[str, pd.DataFrame]) -> list[tuple[str, str, pd.DataFrame]]:
    """Per part (``single``, ``network:depth<l>``) and construction: the median over trials of the error at
    each n, with the random network's parameters; for a single weight the error of a trial is its sup over
    the grid of targets (Lemma 1's "for every w")."""
    out = []
    if "single" in tables and len(tables["single"]):
        s = tables["single"]
        worst = s.groupby(["construction", "n", "trial"], sort=True).agg(
            error=("error", "max"), params=("random_weights", "first")
        )
        for c, g in worst.groupby(level="construction", sort=False):
            curve = g.groupby(level="n").agg(error=("error", "median"), params=("params", "first")).reset_index()
            out.append(("single", str(c), curve))
    for name in ("network", "ps"):
        if name not in tables or not len(tables[name]):
            continue
        for (target, c), g in tables[name].groupby(["target", "construction"], sort=False):
            curve = g.groupby("n").agg(error=("error", "median"), params=("params_random", "first")).reset_index()
            out.append((f"network:{target}", str(c), curve))
    return out


def fits(curve: pd.DataFrame) -> dict[str, float]:
    """Least-squares lines of ln(error) on n (exponential decay: r2_exp, rate = -slope per unit of n) and
    on ln(n) (a power law: r2_power, exponent = slope), over the points with a positive error."""
    ok = curve[curve["error"] > 0]
    y = np.log(ok["error"].to_numpy(dtype=float))
    n = ok["n"].to_numpy(dtype=float)
    slope_e, _, r2_e = linear_fit(n, y)
    slope_p, _, r2_p = linear_fit(np.log(n), y)
    return {"r2_exp": r2_e, "rate": -slope_e, "r2_power": r2_p, "exponent": slope_p, "points": len(ok)}


def width_needed(curve: pd.DataFrame) -> dict[str, float]:
    """The width factor needed for each eps = 10^(-j/2) between the curve's largest and smallest median error
    (the smallest n whose median error is <= eps), and two fits of it: n on ln(1/eps) (r2_log: a width
    O(log 1/eps); slope = n per e-fold) and ln(n) on ln(1/eps) (r2_poly: a width eps^-p; p = exponent)."""
    err = curve["error"].to_numpy(dtype=float)
    n = curve["n"].to_numpy(dtype=float)
    pos = err[err > 0]
    if not pos.size:
        return {"eps": [], "n_needed": [], "r2_log": float("nan"), "slope": float("nan"),
                "r2_poly": float("nan"), "exponent": float("nan")}  # fmt: skip
    hi, lo = np.ceil(-2 * np.log10(err.max())), np.floor(-2 * np.log10(pos.min()))
    eps = [10 ** (-j / 2) for j in np.arange(hi, lo + 1)]
    need = [float(n[err <= e].min()) for e in eps]
    x = np.log(1 / np.asarray(eps)) if eps else np.array([])
    slope, _, r2_log = linear_fit(x, need)
    exponent, _, r2_poly = linear_fit(x, np.log(need))
    return {"eps": eps, "n_needed": need, "r2_log": r2_log, "slope": slope, "r2_poly": r2_poly, "exponent": exponent}


def width_note(w: dict[str, Any]) -> str:
    return (f"n needed per eps ({fmt(w['eps'])}) = {fmt(w['n_needed'])}; n on ln(1/eps): R^2 {w['r2_log']:.3f}, "
            f"{w['slope']:.3g} per e-fold; ln(n) on ln(1/eps): R^2 {w['r2_poly']:.3f}, "
            f"n ~ eps^-{w['exponent']:.3g}")  # fmt: skip


def _describe(curve: pd.DataFrame, f: dict[str, float]) -> str:
    return (f"median error per n ({fmt(curve['n'])}) = {fmt(curve['error'])}; ln(error) on n: R^2 "
            f"{f['r2_exp']:.3f}, {f['rate']:.3g} per unit of n; on ln(n): R^2 {f['r2_power']:.3f}, "
            f"exponent {f['exponent']:.3g}")  # fmt: skip


LAWS = {
    # law: (fit ids, the fitted R^2 key and the alternative's, width R^2 key and alternative's, wording)
    "exponential": (("exponential", "beats_power", "width_log"), "r2_exp", "r2_power", "r2_log", "r2_poly",
                    "the subset-sum construction's", ("falls exponentially in n", "an exponential in n", "a power of n",
                                                      "log(1/eps)", "a power of 1/eps")),
    "power": (("power", "beats_exponential", "width_poly"), "r2_power", "r2_exp", "r2_poly", "r2_log",
              "the single-product construction's", ("falls like a power of the width", "a power of n",
                                                    "an exponential in n", "a power of 1/eps", "log(1/eps)")),
}  # fmt: skip


def law_rows(part: str, curve: pd.DataFrame, exp: str, figure: str, law: str, min_r2: float) -> list[dict]:
    """Three claims on one median error curve, for the ``law`` the construction should follow
    (``exponential``: PC; ``power``: MW): its fit has R^2 >= ``min_r2``; it fits better than the other law;
    the width read off the curve for eps = 10^(-j/2) grows like the law says (log(1/eps) or a power of 1/eps)
    better than like the other."""
    ids, fit, alt, wfit, walt, who, words = LAWS[law]
    f, w = fits(curve), width_needed(curve)
    note = _describe(curve, f)
    falls, this, other, wthis, wother = words
    return [
        claim_row(f"{exp}.{ids[0]}[part={part}]", figure, f"{part}: {who} error {falls}", f[fit], ">=", min_r2,
                  note),
        claim_row(f"{exp}.{ids[1]}[part={part}]", figure,
                  f"{part}: {this} fits {who} error better than {other}", f[fit] - f[alt], ">", 0.0,
                  note + f"; value = R^2 ({this}) - R^2 ({other})"),
        claim_row(f"{exp}.{ids[2]}[part={part}]", figure,
                  f"{part}: {who} width for eps grows like {wthis} (fits better than {wother})", w[wfit] - w[walt],
                  ">", 0.0, width_note(w) + f"; value = R^2 ({wthis}) - R^2 ({wother})"),
    ]  # fmt: skip


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


def claims_pc(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PC (Lemma 1-3, Theorem 1), per part (one weight; each random target; the PS target):

    - ``pc.exponential``: the subset-sum construction's median error falls exponentially in the width
      factor n: ln(error) on n has R^2 >= ``min_r2`` (a width O(log 1/eps));
    - ``pc.beats_power``: that line fits better than a power law (ln(error) on ln(n)): an error that fell
      like a power of the width, as MW's does, fails here;
    - ``pc.width_log``: the width factor needed for eps (read off the median curve at eps = 10^(-j/2))
      grows like log(1/eps): n on ln(1/eps) fits better than ln(n) on ln(1/eps) (a polynomial width);
    - ``pc.fewer_weights``: to reach the smallest error Malach's construction reaches on its grid, the
      subset-sum construction needs fewer random parameters: the ratio of MW's to PC's is >= 1;
    - ``pc.ps_accuracy``: at PC's largest n the pruned PS target's test accuracy is within
      ``max_acc_drop`` points of the target's.
    """
    rows = []
    curves = error_curves(tables)
    by = {(part, cons): curve for part, cons, curve in curves}
    for (part, cons), curve in by.items():
        if cons != "pc":
            continue
        rows += law_rows(part, curve, "pc", "pc_mw", "exponential", c["min_r2"])
        if (part, "mw") in by:
            ratio, detail = _matched(curve, by[(part, "mw")])
            rows.append(claim_row(f"pc.fewer_weights[part={part}]", "pc_mw",
                                  f"{part}: for MW's smallest error the subset-sum construction needs fewer random "
                                  "parameters", ratio, ">=", 1.0, detail + "; value = MW's / PC's"))  # fmt: skip
    rows += ps_accuracy_rows(tables, "pc", "pc.ps_accuracy", "pc_mw", "out of a random network", c["max_acc_drop"])
    return rows


def ps_accuracy_rows(
    tables: dict[str, pd.DataFrame], construction: str, cid: str, figure: str, how: str, max_drop: float
) -> list[dict]:
    """The claim that the PS target, pruned by ``construction`` at its largest n, keeps its test accuracy to
    within ``max_drop`` points (no row without a ``ps`` table)."""
    if "ps" not in tables or not len(tables["ps"]):
        return []
    ps = tables["ps"][tables["ps"]["construction"] == construction]
    if not len(ps):
        return []
    top = ps.loc[ps["n"].idxmax()]
    drop = 100 * (top["target_acc"] - top["pruned_acc"])
    return [claim_row(cid, figure, f"the PS target pruned {how} (n = {top['n']:g}) keeps its test accuracy to "
                      f"within {max_drop:g} points", drop, "<=", max_drop,
                      f"target {100 * top['target_acc']:.2f}%, pruned {100 * top['pruned_acc']:.2f}% (agreement "
                      f"{100 * top['agreement']:.2f}%); {top['params_kept']:.0f} of {top['params_random']:.0f} "
                      "random weights kept")]  # fmt: skip
