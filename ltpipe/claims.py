"""Each figure's claims (EXPERIMENTS.md), computed from its Parquet tables.

``results/claims.parquet`` has one row per claim: id, figure, claim (the
sentence), value (what was measured), op and threshold (the test applied:
``value op threshold``), verdict (pass | fail) and detail (how the value was
obtained, and why a claim could not be tested when it could not). A claim
that cannot be evaluated (e.g. no boundary inside the grid) fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit, method_label, n_needed, radius
from ltpipe.tables import read_table, write_table

__all__ = ["CLAIMS", "claim_row", "evaluate"]

log = logging.getLogger(__name__)

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}


def claim_row(cid: str, figure: str, text: str, value: float, op: str, threshold: float, detail: str) -> dict:
    """One claims row; NaN values fail."""
    value = float(value)
    ok = math.isfinite(value) and OPS[op](value, float(threshold))
    return {
        "id": cid,
        "figure": figure,
        "claim": text,
        "value": value,
        "op": op,
        "threshold": float(threshold),
        "verdict": "pass" if ok else "fail",
        "detail": detail,
    }


def trend_claims(
    ids: tuple[str, str],
    figure: str,
    texts: tuple[str, str],
    x: Sequence[float],
    y: Sequence[float],
    *,
    direction: str,
    min_r2: float,
    note: str,
) -> list[dict]:
    """Two claims on a least-squares line of y on x: its slope has the sign ``direction``
    (``">"`` rising, ``"<"`` falling) and its R^2 is at least ``min_r2``."""
    slope, _, r2 = linear_fit(x, y)
    return [
        claim_row(ids[0], figure, texts[0], slope, direction, 0.0, note + "; slope"),
        claim_row(ids[1], figure, texts[1], r2, ">=", min_r2, note + "; R^2"),
    ]


def _fmt(values: Sequence[float]) -> str:
    return ", ".join("nan" if not np.isfinite(v) else f"{v:.4g}" for v in values)


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
        f"({_fmt(rad['r'])}): {_fmt(rad['radius'])}",
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
            note=f"{label}: fit of mean nu on sqrt r, nu per r ({_fmt(g['r'])}) = {_fmt(g['rate'])}",
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
            note=f"N_needed per r ({_fmt(need['r'])}): {_fmt(need['n_needed'])}; "
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
            f"slopes of median error on sqrt r per noise level ({_fmt(levels)}): {_fmt(slopes)}; value = smallest",
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
            f"R^2 per noise level ({_fmt(levels)}): {_fmt(r2s)}; value = smallest",
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
            f"|slope - 1| of log10 median error on log10 noise, worst over r; slopes per r: {_fmt(per_r)}",
        )
    )
    return rows


def claims_pl(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PL (Lueker; Theorem 3, Cor. 2): the n needed grows linearly in log(1/eps)."""
    rows = []
    for dist, g in tables["needed"].groupby("distribution", sort=False):
        g = g.sort_values("eps", ascending=False)
        reached = int(g["n_needed"].notna().sum())
        note = (
            f"{dist}: n_needed per eps ({_fmt(g['eps'])}) = {_fmt(g['n_needed'])}; "
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


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN with fewer than 3 points."""
    x, y = pd.Series(np.asarray(x, dtype=float)), pd.Series(np.asarray(y, dtype=float))
    if len(x) < 3:
        return float("nan")
    return float(x.rank().corr(y.rank()))


def _mean_rank_order(table: pd.DataFrame, value: str) -> tuple[float, int]:
    """Mean over rounds of Spearman(n_samples, median ``value`` over trials), and the rounds used."""
    med = table.groupby(["round", "n_samples"])[value].median().reset_index()
    rhos = [_spearman(g["n_samples"], g[value]) for _, g in med.groupby("round")]
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
                  f"per N {_fmt([falls[n] for n in sizes])} for N = {sizes}"),
        claim_row("z6.rises", "z6", f"for N > {smallest}, test error rises sharply when pruned below r*/d",
                  min(rises[n] for n in others), ">=", c["min_rise"],
                  f"last-round error / least error (median over trials), worst over N; "
                  f"per N {_fmt([rises[n] for n in sizes])}"),
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
                  f"least errors {_fmt([best[n] for n in sizes])}")
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
                      f"per N {_fmt([rise[n] for n in sizes])} for N = {sizes}")
        )  # fmt: skip
        rows.append(
            claim_row(f"z7.drops[{arch}]", "z7", f"{arch}: accuracy drops when over-pruned (every N)",
                      min(drop.values()), ">=", c["min_drop"],
                      f"best accuracy - last-round accuracy, worst over N; per N {_fmt([drop[n] for n in sizes])}; "
                      f"last round leaves {_fmt([med.loc[n]['remaining'].iloc[-1] for n in sizes])}")
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


def claims_ps(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """PS (Experiment 1): every weight within eps; the approximation's accuracy equals the target's."""
    rows = []
    for s in tables["summary"].itertuples():
        rows.append(
            claim_row(f"ps.within_eps[{s.solution}]", "ps", f"{s.solution}: every weight within eps = {s.eps:g}",
                      s.max_error, "<=", s.eps,
                      f"max |w - approx| over {s.n_weights} weights; {s.within_eps} within eps; "
                      f"kept {s.kept_total} of {s.total_coefficients} coefficients")
        )  # fmt: skip
        rows.append(
            claim_row(f"ps.accuracy[{s.solution}]", "ps",
                      f"{s.solution}: approximation accuracy equals the target's to within "
                      f"{c['max_acc_drop']:g} points", round(100 * abs(s.approx_acc - s.target_acc), 9), "<=",
                      c["max_acc_drop"], f"target {100 * s.target_acc:.2f}%, approximation {100 * s.approx_acc:.2f}%")
        )  # fmt: skip
    return rows


CLAIMS: dict[str, Callable[[dict[str, pd.DataFrame], dict[str, Any]], list[dict]]] = {
    "z2": claims_z2,
    "z3": claims_z3,
    "z4": claims_z4,
    "z5": claims_z5,
    "z6": claims_z6,
    "z7": claims_z7,
    "pl": claims_pl,
    "ps": claims_ps,
}


def evaluate(tables: dict[str, dict[str, pd.DataFrame]], thresholds: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """All claims of the experiments in ``tables`` ({exp: {name: table}})."""
    rows = []
    for exp, exp_tables in tables.items():
        rows += CLAIMS[exp](exp_tables, thresholds.get(exp, {}))
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    """The claims as a Markdown table, failures first flagged in bold."""
    lines = [
        f"# Claims: {int((df['verdict'] == 'pass').sum())} of {len(df)} pass",
        "",
        "| verdict | id | claim | value | test | detail |",
        "|---|---|---|---|---|---|",
    ]
    for row in df.itertuples():
        verdict = "pass" if row.verdict == "pass" else "**FAIL**"
        lines.append(
            f"| {verdict} | {row.id} | {row.claim} | {row.value:.4g} | {row.op} {row.threshold:g} | {row.detail} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """ltpipe claims: check every claim from the tables (EXP.NAME=PATH) into claims.parquet."""
    parser = argparse.ArgumentParser(prog="ltpipe claims", description=main.__doc__)
    parser.add_argument("--config", required=True, help="JSON {exp: claim thresholds}")
    parser.add_argument("--out", required=True)
    parser.add_argument("--markdown", help="also write the claims as a Markdown table here")
    parser.add_argument("tables", nargs="+", help="EXP.NAME=PATH, e.g. z3.rates=results/zhang2021/z3/rates.parquet")
    args = parser.parse_args(argv)
    thresholds = json.loads(args.config)
    tables: dict[str, dict[str, pd.DataFrame]] = {}
    for item in args.tables:
        key, _, path = item.partition("=")
        exp, _, name = key.partition(".")
        tables.setdefault(exp, {})[name] = read_table(path)
    df = evaluate(tables, thresholds)
    write_table(df, args.out, config=thresholds)
    if args.markdown:
        Path(args.markdown).write_text(markdown(df))
    for row in df.itertuples():
        log.info(
            "%-4s %-40s value=%.4g %s %.4g  %s",
            row.verdict.upper(),
            row.id,
            row.value,
            row.op,
            row.threshold,
            row.detail,
        )
