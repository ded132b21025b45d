"""Zhang et al. 2021's claims (Figs. 2-7), computed from the experiments' Parquet tables.

Experiment ``EXP``'s claims are ``claims_EXP(tables, thresholds) -> rows``
(see :mod:`ltpipe.claims` for the row format and the driver).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit, method_label, n_needed, radius
from ltpipe.claims import claim_row, fmt, spearman, trend_claims

__all__ = ["claims_z2", "claims_z3", "claims_z4", "claims_z5", "claims_z6", "claims_z7"]


def claims_z2(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z2: the radius of the local convex region decreases with sqrt r, roughly linearly."""
    rad = radius(tables["trials"])
    inside = int((~rad["censored"]).sum())
    visible = claim_row(
        "z2.boundary_visible",
        "z2",
        "the success boundary (rate 0.5) lies inside the lambda grid at every r",
        inside / len(rad),
        ">=",
        1.0,
        f"boundary inside the grid at {inside} of {len(rad)} r values; radius per r "
        f"({fmt(rad['r'])}): {fmt(rad['radius'])}",
    )
    fit_rows = rad[~rad["censored"]]
    return [
        visible,
        *trend_claims(
            ("z2.radius_decreases", "z2.radius_linear"),
            "z2",
            ("the radius decreases with sqrt r", "the radius is roughly linear in sqrt r"),
            np.sqrt(fit_rows["r"]),
            fit_rows["radius"],
            direction="<",
            min_r2=c["min_r2"],
            note=f"linear fit of radius on sqrt r over the {len(fit_rows)} uncensored r values",
        ),
    ]


def claims_z3(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z3: linear convergence, nu grows with sqrt r roughly linearly, AGD faster than GD."""
    rates = tables["rates"]
    rows = [
        claim_row(
            "z3.log_linear",
            "z3_a",
            "the error decays linearly (log-linear fit R^2 > threshold for every trial)",
            rates["r2"].min(skipna=False),
            ">",
            c["min_fit_r2"],
            f"minimum R^2 over {len(rates)} fits (median {rates['r2'].median():.6f}); "
            f"{int(rates['r2'].isna().sum())} curves had no usable fit window",
        )
    ]
    mean = rates.groupby(["beta", "r"])["rate"].mean().reset_index()
    for beta, g in mean.groupby("beta"):
        label = method_label([beta])[0]
        rows += trend_claims(
            (f"z3.rate_increases[beta={beta:g}]", f"z3.rate_linear[beta={beta:g}]"),
            "z3_b",
            (f"{label}: nu grows with sqrt r", f"{label}: nu is roughly linear in sqrt r"),
            np.sqrt(g["r"]),
            g["rate"],
            direction=">",
            min_r2=c["min_rate_r2"],
            note=f"{label}: fit of mean nu on sqrt r, nu per r ({fmt(g['r'])}) = {fmt(g['rate'])}",
        )
    wide = mean.pivot(index="r", columns="beta", values="rate")
    if 0.0 in wide.columns and len(wide.columns) > 1:
        for beta in [b for b in wide.columns if b != 0]:
            faster = (wide[beta] < wide[0.0]).to_numpy()
            rows.append(
                claim_row(
                    f"z3.agd_faster[beta={beta:g}]",
                    "z3_b",
                    "AGD's nu is smaller than GD's at every r",
                    faster.mean(),
                    ">=",
                    1.0,
                    f"fraction of r values where mean nu(AGD, beta={beta:g}) < mean nu(GD): "
                    f"{int(faster.sum())} of {faster.size}",
                )
            )
    return rows


def claims_z4(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z4: the N needed for success rate >= 0.5 grows linearly in r."""
    need = n_needed(tables["trials"])
    inside = int((~need["censored"]).sum())
    fit_rows = need[~need["censored"]]
    return [
        claim_row(
            "z4.transition_visible",
            "z4",
            "the phase transition (rate 0.5) lies inside the N grid at every r",
            inside / len(need),
            ">=",
            1.0,
            f"transition inside the grid at {inside} of {len(need)} r values",
        ),
        *trend_claims(
            ("z4.n_needed_increases", "z4.n_needed_linear"),
            "z4",
            ("N_needed grows with r", "N_needed is linear in r"),
            fit_rows["r"],
            fit_rows["n_needed"],
            direction=">",
            min_r2=c["min_r2"],
            note=f"N_needed per r ({fmt(need['r'])}): {fmt(need['n_needed'])}; "
            f"fit over {len(fit_rows)} uncensored r values",
        ),
    ]


def claims_z5(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z5: error grows with sqrt r roughly linearly; a decade of noise moves it a decade."""
    trials = tables["trials"]
    med = trials.groupby(["noise_level", "r"])["rel_error"].median().reset_index()
    rows = []
    slopes, r2s = [], []
    for _level, g in med.groupby("noise_level"):
        slope, _, r2 = linear_fit(np.sqrt(g["r"]), g["rel_error"])
        slopes.append(slope)
        r2s.append(r2)
    levels = sorted(med["noise_level"].unique())
    rows.append(
        claim_row(
            "z5.error_increases",
            "z5",
            "the error grows with sqrt r at every noise level",
            min(slopes),
            ">",
            0.0,
            f"slopes of median error on sqrt r per noise level ({fmt(levels)}): {fmt(slopes)}; value = smallest",
        )
    )
    rows.append(
        claim_row(
            "z5.error_linear",
            "z5",
            "the error is roughly linear in sqrt r at every noise level",
            min(r2s),
            ">=",
            c["min_r2"],
            f"R^2 per noise level ({fmt(levels)}): {fmt(r2s)}; value = smallest",
        )
    )
    per_r = []
    for _, g in med.groupby("r"):
        slope, _, _ = linear_fit(np.log10(g["noise_level"]), np.log10(g["rel_error"]))
        per_r.append(slope)
    worst = float(np.max(np.abs(np.asarray(per_r) - 1.0)))
    rows.append(
        claim_row(
            "z5.error_proportional_to_noise",
            "z5",
            "the error is proportional to the noise level (slope of log error on log noise = 1)",
            worst,
            "<=",
            c["decade_tolerance"],
            f"|slope - 1| of log10 median error on log10 noise, worst over r; slopes per r: {fmt(per_r)}",
        )
    )
    return rows


def _mean_rank_order(table: pd.DataFrame, value: str) -> tuple[float, int]:
    """Mean over rounds of Spearman(n_samples, median ``value`` over trials), and the rounds used."""
    med = table.groupby(["round", "n_samples"])[value].median().reset_index()
    rhos = [spearman(g["n_samples"], g[value]) for _, g in med.groupby("round")]
    rhos = [r for r in rhos if np.isfinite(r)]
    return (float(np.mean(rhos)) if rhos else float("nan")), len(rhos)


def claims_z6(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z6 (Fig. 6): error falls while pruning down to r*/d, rises sharply below; larger N lower; smallest N high."""
    rounds = tables["rounds"]
    ratio = float((rounds["r_star"] / rounds["d"]).iloc[0])
    med = rounds.groupby(["n_samples", "round"]).agg(
        remaining=("remaining", "median"), error=("test_error", "median"), kept=("teacher_kept", "median")
    )
    sizes = sorted(int(n) for n in rounds["n_samples"].unique())
    smallest, others = sizes[0], sizes[1:]
    falls, rises, best = {}, {}, {}
    for n in sizes:
        g = med.loc[n].sort_index()
        above = g[g["remaining"] >= ratio - 1e-12]
        best[n] = float(g["error"].min())
        falls[n] = float(g["error"].iloc[0] / above["error"].min())
        rises[n] = float(g["error"].iloc[-1] / best[n])
    rows = [
        claim_row("z6.falls", "z6", f"for N > {smallest}, test error falls as pruning proceeds down to r*/d",
                  min(falls[n] for n in others), ">=", c["min_fall"],
                  f"dense error / least error with >= r*/d = {ratio:g} left (median over trials), worst over N; "
                  f"per N {fmt([falls[n] for n in sizes])} for N = {sizes}"),
        claim_row("z6.rises", "z6", f"for N > {smallest}, test error rises sharply when pruned below r*/d",
                  min(rises[n] for n in others), ">=", c["min_rise"],
                  f"last-round error / least error (median over trials), worst over N; "
                  f"per N {fmt([rises[n] for n in sizes])}"),
    ]  # fmt: skip
    above = rounds[rounds["remaining"] >= ratio - 1e-12]
    order, used = _mean_rank_order(above, "test_error")
    rows.append(
        claim_row("z6.larger_n_lower", "z6", "larger N gives lower test error at a fixed remaining fraction",
                  -order, ">=", c["min_order"],
                  f"-Spearman(N, median test error), mean over the {used} rounds with >= r*/d left")
    )  # fmt: skip
    other_best = max(best[n] for n in others)
    rows.append(
        claim_row("z6.smallest_n_high", "z6", f"N = {smallest} stays high (never reaches the larger N's errors)",
                  best[smallest] / other_best, ">=", c["high_factor"],
                  f"least median error of N = {smallest} / largest least error of the other N; "
                  f"least errors {fmt([best[n] for n in sizes])}")
    )  # fmt: skip
    return rows


def claims_z7(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z7 (Fig. 7): accuracy first rises with moderate pruning (some N), drops when over-pruned, larger N higher.

    Test accuracy at the end of each round (nothing selected on the test set),
    median over trials; per architecture.
    """
    rows = []
    rounds = tables["rounds"]
    for arch, r in rounds.groupby("arch", sort=False):
        imp = r[r["mode"] == "imp"]
        med = imp.groupby(["n_samples", "round"]).agg(remaining=("remaining", "median"), acc=("test_acc", "median"))
        sizes = sorted(int(n) for n in imp["n_samples"].unique())
        rise, drop = {}, {}
        for n in sizes:
            g = med.loc[n].sort_index()
            moderate = g[(g.index > 0) & (g["remaining"] >= c["moderate"])]
            rise[n] = float(moderate["acc"].max() - g["acc"].iloc[0]) if len(moderate) else float("nan")
            drop[n] = float(g["acc"].max() - g["acc"].iloc[-1])
        rows.append(
            claim_row(f"z7.rises[{arch}]", "z7", f"{arch}: moderate pruning reaches at least the dense accuracy "
                      "(for some N)", max(rise.values()), ">=", c["min_rise"],
                      f"best accuracy with >= {c['moderate']:g} left (rounds >= 1) - dense accuracy; "
                      f"per N {fmt([rise[n] for n in sizes])} for N = {sizes}")
        )  # fmt: skip
        rows.append(
            claim_row(f"z7.drops[{arch}]", "z7", f"{arch}: accuracy drops when over-pruned (every N)",
                      min(drop.values()), ">=", c["min_drop"],
                      f"best accuracy - last-round accuracy, worst over N; per N {fmt([drop[n] for n in sizes])}; "
                      f"last round leaves {fmt([med.loc[n]['remaining'].iloc[-1] for n in sizes])}")
        )  # fmt: skip
        order, used = _mean_rank_order(imp, "test_acc")
        rows.append(
            claim_row(f"z7.larger_n_higher[{arch}]", "z7", f"{arch}: larger N gives higher accuracy",
                      order, ">=", c["min_order"], f"Spearman(N, median test accuracy), mean over {used} rounds")
        )  # fmt: skip
        for mode, ctrl in r[r["mode"] != "imp"].groupby("mode", sort=False):
            for n, cg in ctrl.groupby("n_samples"):
                ig = imp[imp["n_samples"] == n]
                a = ig.groupby("round").agg(remaining=("remaining", "median"), acc=("test_acc", "median"))
                b = cg.groupby("round")["test_acc"].median()
                sparse = a[a["remaining"] < c["moderate"]].index.intersection(b.index)
                gap = float((a.loc[sparse, "acc"] - b.loc[sparse]).mean()) if len(sparse) else float("nan")
                rows.append(
                    claim_row(f"z7.beats_{mode}[{arch},N={n}]", "z7",
                              f"{arch}, N = {n}: IMP beats the {mode} control once sparse (Frankle & Carbin)",
                              gap, ">=", c["min_control_gap"],
                              f"mean over the {len(sparse)} rounds with < {c['moderate']:g} left of "
                              f"IMP accuracy - {mode} accuracy")
                )  # fmt: skip
    return rows
