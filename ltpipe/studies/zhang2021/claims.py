"""Zhang et al. 2021's claims (Figs. 2-7, and ZT), computed from the experiments' Parquet tables.

Experiment ``EXP``'s claims are ``claims_EXP(tables, thresholds) -> rows``
(see :mod:`ltpipe.claims` for the row format and the driver).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit, method_label, n_needed, per_eta, radius, settled
from ltpipe.claims import claim_row, fmt, spearman, trend_claims

__all__ = ["budget_claim", "claims_z2", "claims_z3", "claims_z4", "claims_z5", "claims_z6", "claims_z7", "claims_zt"]


def _eta_id(cid: str, eta: float) -> str:
    return f"{cid}[eta={eta:g}]" if np.isfinite(eta) else cid


def budget_claim(exp: str, figure: str, rows: pd.DataFrame, limit: float, eta: float = float("nan")) -> dict:
    """The iteration budget did not decide the figure: at most ``limit`` of the runs stopped at max_iter.

    When it fails, the figure's other claims at this step size measure the budget, not the landscape.
    """
    capped = rows["stop"] == "capped"
    unit = "rounds" if "round" in rows else "trials"
    label = f"eta = {eta:g}: " if np.isfinite(eta) else ""
    return claim_row(
        _eta_id(f"{exp}.budget", eta),
        figure,
        f"{label}the iteration budget does not decide the outcome (at most {limit:g} of the {unit} capped)",
        float(capped.mean()),
        "<=",
        limit,
        f"{int(capped.sum())} of {len(rows)} {unit} stopped at max_iter while still contracting, "
        f"{int((rows['stop'] == 'stalled').sum())} stalled there (no longer contracting), "
        f"{int((rows['stop'] == 'diverged').sum())} diverged; the rest converged by the step tolerance",
    )


def claims_z2(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z2 (Fig. 2): the radius of the local convex region decreases with sqrt r, roughly linearly; per eta."""
    rows = []
    for eta, trials in per_eta(tables["trials"]):
        rad = radius(trials)
        inside = int((~rad["censored"]).sum())
        rows.append(
            claim_row(
                _eta_id("z2.boundary_visible", eta),
                "z2",
                f"eta = {eta:g}: the success boundary (rate 0.5) lies inside the lambda grid at every r",
                inside / len(rad),
                ">=",
                1.0,
                f"boundary inside the grid at {inside} of {len(rad)} r values; radius per r "
                f"({fmt(rad['r'])}): {fmt(rad['radius'])}",
            )
        )
        fit_rows = rad[~rad["censored"]]
        rows += trend_claims(
            (_eta_id("z2.radius_decreases", eta), _eta_id("z2.radius_linear", eta)),
            "z2",
            (
                f"eta = {eta:g}: the radius decreases with sqrt r",
                f"eta = {eta:g}: the radius is roughly linear in sqrt r",
            ),
            np.sqrt(fit_rows["r"]),
            fit_rows["radius"],
            direction="<",
            min_r2=c["min_r2"],
            note=f"linear fit of radius on sqrt r over the {len(fit_rows)} uncensored r values",
        )
        rows.append(budget_claim("z2", "z2", trials, c["max_capped"], eta))
    return rows


def claims_z3(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z3 (Fig. 3): linear convergence, nu grows with sqrt r roughly linearly, AGD faster than GD."""
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
        ),
        budget_claim("z3", "z3_a", tables["trials"], c["max_capped"]),
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
    """Z4 (Fig. 4): the N needed for success rate >= 0.5 grows linearly in r; per eta.

    The rate counts the trials that converged or succeeded (:func:`ltpipe.analysis.settled`):
    a trial capped short of success is the budget's verdict, not the sample size's.
    """
    rows = []
    for eta, trials in per_eta(tables["trials"]):
        need = n_needed(trials)
        inside = int((~need["censored"]).sum())
        fit_rows = need[~need["censored"]]
        left = len(trials) - len(settled(trials))
        rows += [
            claim_row(
                _eta_id("z4.transition_visible", eta),
                "z4",
                f"eta = {eta:g}: the phase transition (rate 0.5) lies inside the N grid at every r",
                inside / len(need),
                ">=",
                1.0,
                f"transition inside the grid at {inside} of {len(need)} r values; N_needed per r "
                f"({fmt(need['r'])}): {fmt(need['n_needed'])}; {left} capped trials without success left out",
            ),
            *trend_claims(
                (_eta_id("z4.n_needed_increases", eta), _eta_id("z4.n_needed_linear", eta)),
                "z4",
                (f"eta = {eta:g}: N_needed grows with r", f"eta = {eta:g}: N_needed is linear in r"),
                fit_rows["r"],
                fit_rows["n_needed"],
                direction=">",
                min_r2=c["min_r2"],
                note=f"fit over {len(fit_rows)} uncensored r values",
            ),
            budget_claim("z4", "z4", trials, c["max_capped"], eta),
        ]
    return rows


def claims_z5(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z5 (Fig. 5): error grows with sqrt r roughly linearly; a decade of noise moves it a decade; per eta.

    On the trials that converged or stalled (a capped trial's error is where the budget left it;
    a stalled one no longer contracts, so more iterations would not change it). The stop rule must
    not set the error: the distance it leaves (``stop_floor``) must lie well below it.
    """
    rows = []
    for eta, all_trials in per_eta(tables["trials"]):
        trials = all_trials[all_trials["stop"].isin(("converged", "stalled"))]
        med = trials.groupby(["noise_level", "r"])[["rel_error", "stop_floor"]].median().reset_index()
        levels = sorted(all_trials["noise_level"].unique())
        slopes, r2s = [], []
        for level in levels:
            g = med[med["noise_level"] == level]
            slope, _, r2 = linear_fit(np.sqrt(g["r"]), g["rel_error"])
            slopes.append(slope)
            r2s.append(r2)
        used = f"{len(trials)} of {len(all_trials)} trials converged or stalled"
        per_r = []
        for _, g in med.groupby("r"):
            per_r.append(linear_fit(np.log10(g["noise_level"]), np.log10(g["rel_error"]))[0])
        worst = float(np.max(np.abs(np.asarray(per_r) - 1.0))) if per_r else float("nan")
        floor = (med["stop_floor"] / med["rel_error"]).max() if len(med) else float("nan")
        rows += [
            claim_row(
                _eta_id("z5.error_increases", eta), "z5",
                f"eta = {eta:g}: the error grows with sqrt r at every noise level", min(slopes), ">", 0.0,
                f"slopes of median error on sqrt r per noise level ({fmt(levels)}): {fmt(slopes)}; value = smallest; "
                + used,
            ),
            claim_row(
                _eta_id("z5.error_linear", eta), "z5",
                f"eta = {eta:g}: the error is roughly linear in sqrt r at every noise level", min(r2s), ">=",
                c["min_r2"], f"R^2 per noise level ({fmt(levels)}): {fmt(r2s)}; value = smallest; " + used,
            ),
            claim_row(
                _eta_id("z5.error_proportional_to_noise", eta), "z5",
                f"eta = {eta:g}: the error is proportional to the noise level (slope of log error on log noise = 1)",
                worst, "<=", c["decade_tolerance"],
                f"|slope - 1| of log10 median error on log10 noise, worst over r; slopes per r: {fmt(per_r)}; " + used,
            ),
            claim_row(
                _eta_id("z5.floor_below_error", eta), "z5",
                f"eta = {eta:g}: the stop rule does not set the error (its floor lies well below it)",
                floor, "<=", c["max_floor_ratio"],
                "largest over (noise level, r) of median stop_floor / median error (stop_floor = rel_change q / "
                "(1 - q), the distance the tolerance leaves to the limit); " + used,
            ),
            budget_claim("z5", "z5", all_trials, c["max_capped"], eta),
        ]  # fmt: skip
    return rows


def _mean_rank_order(table: pd.DataFrame, value: str) -> tuple[float, int]:
    """Mean over rounds of Spearman(n_samples, median ``value`` over trials), and the rounds used."""
    med = table.groupby(["round", "n_samples"])[value].median().reset_index()
    rhos = [spearman(g["n_samples"], g[value]) for _, g in med.groupby("round")]
    rhos = [r for r in rhos if np.isfinite(r)]
    return (float(np.mean(rhos)) if rhos else float("nan")), len(rhos)


def claims_z6(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z6 (Fig. 6): error falls while pruning down to r*/d, rises sharply below; larger N lower; smallest N high.

    Per step size; medians over trials per (N, round). ``rises`` compares the first round below
    r*/d with the best round, so that only the step across r*/d can pass it (not a slow drift
    over the later rounds).
    """
    rows = []
    for eta, rounds in per_eta(tables["rounds"]):
        rows += _z6_one(rounds, c, eta)
        rows.append(budget_claim("z6", "z6", rounds, c["max_capped"], eta))
    return rows


def _z6_one(rounds: pd.DataFrame, c: dict[str, Any], eta: float) -> list[dict]:
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
        below = g[g["remaining"] < ratio - 1e-12]
        best[n] = float(g["error"].min())
        falls[n] = float(g["error"].iloc[0] / above["error"].min())
        rises[n] = float(below["error"].iloc[0] / best[n]) if len(below) else float("nan")
    e = f"eta = {eta:g}: "
    rows = [
        claim_row(_eta_id("z6.falls", eta), "z6", f"{e}for N > {smallest}, test error falls as pruning proceeds "
                  "down to r*/d", min(falls[n] for n in others), ">=", c["min_fall"],
                  f"dense error / least error with >= r*/d = {ratio:g} left (median over trials), worst over N; "
                  f"per N {fmt([falls[n] for n in sizes])} for N = {sizes}"),
        claim_row(_eta_id("z6.rises", eta), "z6", f"{e}for N > {smallest}, test error rises sharply when pruned "
                  "below r*/d", min(rises[n] for n in others), ">=", c["min_rise"],
                  "error of the first round below r*/d / least error (medians over trials), worst over N; "
                  f"per N {fmt([rises[n] for n in sizes])}"),
    ]  # fmt: skip
    above = rounds[rounds["remaining"] >= ratio - 1e-12]
    order, used = _mean_rank_order(above, "test_error")
    rows.append(
        claim_row(_eta_id("z6.larger_n_lower", eta), "z6", f"{e}larger N gives lower test error at a fixed "
                  "remaining fraction", -order, ">=", c["min_order"],
                  f"-Spearman(N, median test error), mean over the {used} rounds with >= r*/d left")
    )  # fmt: skip
    other_best = max(best[n] for n in others)
    rows.append(
        claim_row(_eta_id("z6.smallest_n_high", eta), "z6", f"{e}N = {smallest} stays high (never reaches the "
                  "larger N's errors)", best[smallest] / other_best, ">=", c["high_factor"],
                  f"least median error of N = {smallest} / largest least error of the other N; "
                  f"least errors {fmt([best[n] for n in sizes])}")
    )  # fmt: skip
    return rows


def _z7_bound(d: list[float], margin: float) -> tuple[float, float, float]:
    """(mean, standard error sd/sqrt(T), mean - margin * SE) of per-trial values; SE NaN below 2 trials."""
    d = np.asarray(d, dtype=float)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), se, float(d.mean()) - margin * se


def _z7_worst(stats: dict[int, tuple[float, float, float]]) -> float:
    """The least bound (NaN if any is NaN, or if there is none)."""
    return float(np.min([b for *_, b in stats.values()])) if stats else float("nan")


def _z7_text(stats: dict[int, tuple[float, float, float]]) -> str:
    return "; ".join(f"N={n}: {m:+.4f} +- {se:.4f} (bound {b:+.4f})" for n, (m, se, b) in stats.items())


def claims_z7(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """Z7 (Sec. 5.2, Fig. 7), per architecture: moderate pruning raises the accuracy (some N), over-pruning
    drops it (every N), larger N is higher, IMP beats Frankle & Carbin's (2019) controls once sparse.

    Test accuracy at the end of each round (nothing selected on the test set; ``rises_at_best_val``: at the
    epoch of best validation accuracy). Each claim takes a per-trial difference d_t (modes share a trial's
    data and batches) and tests its bound mean(d) - se_margin * sd(d) / sqrt(T); one trial gives NaN, a
    fail. With se_margin 2 and normal errors a zero effect passes one comparison with probability
    P(t_{T-1} > 2): 9% at T = 3 trials, 5% at T = 5. "Moderate" rounds are rounds >= 1 with
    moderate[0] <= remaining <= moderate[1]; "sparse" rounds leave less than moderate[0].

    - rises: d_t = mean accuracy over the moderate rounds - dense accuracy (round 0); the best N's bound
      must exceed min_rise. Sec. 5.2: the accuracy "first increases when we properly prune the network
      (e.g., the case of N = 20000)" of N = 10,000..40,000, "not as obvious as the results on synthetic
      data": one example N, so the claim is for some N (with 3 N and T = 3, a zero effect passes ~25%).
    - drops: d_t = mean accuracy over the moderate rounds - accuracy of the last round (which must be
      sparse); the worst N's bound must exceed min_drop.
    - larger_n_higher: accuracy averaged over all rounds, each N minus the next smaller, mean over trials
      less se_margin * sqrt(SE_1^2 + SE_2^2) (independent trials); the worst pair must exceed min_gain.
    - beats_<mode>, per control N: d_t = mean over sparse rounds of IMP - control accuracy (same trial and
      round); the bound must exceed min_control_gap.
    """
    lo, hi = c["moderate"]
    margin, nan = float(c["se_margin"]), float("nan")
    window, bound = f"rounds with {lo:g}-{hi:g} left", f"mean over trials +- SE, bound = mean - {margin:g} SE"
    rows = []
    for arch, r in tables["rounds"].groupby("arch", sort=False):
        r = r.sort_values(["n_samples", "trial", "round"])
        imp = r[r["mode"] == "imp"]
        sizes = sorted(int(n) for n in imp["n_samples"].unique())

        def per_trial(fn, frame=imp) -> dict[int, tuple[float, float, float]]:
            return {int(n): _z7_bound([fn(t) for _, t in g.groupby("trial")], margin)
                    for n, g in frame.groupby("n_samples")}  # fmt: skip

        def moderate(t: pd.DataFrame, col: str = "test_acc") -> float:
            w = t[(t["round"] > 0) & t["remaining"].between(lo, hi)]
            return float(w[col].mean()) if len(w) else nan

        def dense(t: pd.DataFrame, col: str) -> float:
            return float(t[t["round"] == 0][col].iloc[0]) if (t["round"] == 0).any() else nan

        def last(t: pd.DataFrame) -> float:
            return float(t["test_acc"].iloc[-1]) if t["remaining"].iloc[-1] < lo else nan

        for cid, col, when in (
            ("z7.rises", "test_acc", "end of round"),
            ("z7.rises_at_best_val", "test_acc_at_best_val", "epoch of best validation"),
        ):
            stats = per_trial(lambda t, col=col: moderate(t, col) - dense(t, col))
            rows.append(
                claim_row(f"{cid}[{arch}]", "z7", f"{arch}: moderate pruning raises the test accuracy ({when}) "
                          "above the dense accuracy, for some N", max((b for *_, b in stats.values() if np.isfinite(b)),
                          default=nan), ">", c["min_rise"], f"per N, mean accuracy over {window} - dense "
                          f"accuracy, {bound}; passes if some N's bound does: {_z7_text(stats)}")
            )  # fmt: skip
        stats = per_trial(lambda t: moderate(t) - last(t))
        rows.append(
            claim_row(f"z7.drops[{arch}]", "z7", f"{arch}: accuracy drops when over-pruned (every N)",
                      _z7_worst(stats), ">", c["min_drop"],
                      f"per N, mean accuracy over {window} - last-round accuracy (last round leaves "
                      f"{fmt(imp.groupby('n_samples')['remaining'].min())}), {bound}; the worst N counts: "
                      f"{_z7_text(stats)}")
        )  # fmt: skip
        level = {n: _z7_bound(g.groupby("trial")["test_acc"].mean(), margin) for n, g in imp.groupby("n_samples")}
        diff = {b: (level[b][0] - level[a][0], float(np.hypot(level[b][1], level[a][1]))) for a, b in pairwise(sizes)}
        gains = {n: (gain, se, gain - margin * se) for n, (gain, se) in diff.items()}
        rows.append(
            claim_row(f"z7.larger_n_higher[{arch}]", "z7", f"{arch}: larger N gives higher accuracy",
                      _z7_worst(gains), ">", c["min_gain"],
                      f"accuracy averaged over all rounds, each N minus the next smaller (N = {sizes}), {bound}; "
                      f"the worst pair counts: {_z7_text(gains)}")
        )  # fmt: skip
        for mode, ctrl in r[r["mode"] != "imp"].groupby("mode", sort=False):
            paired = imp.merge(ctrl, on=["n_samples", "trial", "round"], suffixes=("", "_ctrl"))
            paired = paired[paired["remaining"] < lo]
            stats = per_trial(lambda t: float((t["test_acc"] - t["test_acc_ctrl"]).mean()), paired)
            for n in sorted(int(n) for n in ctrl["n_samples"].unique()):
                stat = stats.get(n, (nan, nan, nan))
                rows.append(
                    claim_row(f"z7.beats_{mode}[{arch},N={n}]", "z7",
                              f"{arch}, N = {n}: IMP beats the {mode} control once sparse (Frankle & Carbin)",
                              stat[2], ">", c["min_control_gap"], f"mean over rounds with < {lo:g} left of IMP "
                              f"accuracy - {mode} accuracy (same trial and round), {bound}: {_z7_text({n: stat})}")
                )  # fmt: skip
    return rows


def claims_zt(tables: dict[str, pd.DataFrame], c: dict[str, Any]) -> list[dict]:
    """ZT (Algorithm 1's tensor initialisation): the estimation error of W(0) falls like 1/sqrt N, and AGD
    started from it succeeds at the grid's largest N and no less often than from a ball at the same distance.

    Per r. ``slope``/``slope_tolerance``: the log-log slope of the median estimation error
    (||W(0) - W_pop(0)||_F / ||W~*||_F, the part of W(0)'s error that comes from estimating the moments)
    on N over the ``fit_points`` largest N must lie within the tolerance of -1/2. ``min_success``: the
    success rate from the tensor start at the largest N. ``max_gap``: how much lower than the matched
    ball's (same trials, same relative distance) the tensor start's success rate may be at any N.
    """
    trials = tables["trials"]
    rows = []
    groups = per_eta(trials)
    for eta, by_eta in groups:
        matched = by_eta[by_eta["init"] == "matched"]
        for r, g in by_eta[by_eta["init"] == "tensor"].groupby("r", sort=True):
            tag = f"r={r}" if len(groups) == 1 else f"r={r},eta={eta:g}"
            med = g.groupby("n_samples")[["init_estimation", "init_error", "init_floor"]].median()
            top = med.tail(int(c["fit_points"]))
            ok = (top["init_estimation"] > 0).to_numpy()
            x, y = np.log10(top.index.to_numpy(dtype=float)[ok]), np.log10(top["init_estimation"].to_numpy()[ok])
            slope, _, r2 = linear_fit(x, y, min_points=3)
            rows.append(
                claim_row(
                    f"zt.error_rate[{tag}]",
                    "zt",
                    f"r = {r}: the estimation error of the tensor initialisation falls like N^(-1/2) "
                    f"(log-log slope within {c['slope_tolerance']:g} of {c['slope']:g})",
                    abs(slope - float(c["slope"])),
                    "<=",
                    c["slope_tolerance"],
                    f"slope {slope:.3f} (R^2 {r2:.3f}) of log10 median estimation error on log10 N over N = "
                    f"{fmt(top.index)}: {fmt(top['init_estimation'])}; median relative error of W(0) per N "
                    f"({fmt(med.index)}): {fmt(med['init_error'])}; of the population-moment W(0) (the floor): "
                    f"{fmt(med['init_floor'])}",
                )
            )
            rate = g.groupby("n_samples")["success"].mean()
            big = rate.index.max()
            rows.append(
                claim_row(
                    f"zt.succeeds[{tag}]",
                    "zt",
                    f"r = {r}: AGD from the tensor initialisation succeeds at the largest N "
                    f"(rate >= {c['min_success']:g})",
                    float(rate.loc[big]),
                    ">=",
                    c["min_success"],
                    f"success rate per N ({fmt(rate.index)}): {fmt(rate)}; {_SUCCESS_TEXT}",
                )
            )
            mrate = matched[matched["r"] == r].groupby("n_samples")["success"].mean().reindex(rate.index)
            gap = float((mrate - rate).max()) if mrate.notna().any() else float("nan")
            rows.append(
                claim_row(
                    f"zt.no_worse_than_ball[{tag}]",
                    "zt",
                    f"r = {r}: AGD from the tensor initialisation succeeds no less often than from a ball at the "
                    f"same relative distance (at most {c['max_gap']:g} lower at every N)",
                    gap,
                    "<=",
                    c["max_gap"],
                    f"matched-ball success rate per N ({fmt(mrate.index)}): {fmt(mrate)}; tensor: {fmt(rate)}"
                    if mrate.notna().any()
                    else "no matched-ball trials (the section's init lacks matched)",
                )
            )
    rows.append(budget_claim("zt", "zt", trials, c["max_capped"]))
    return rows


_SUCCESS_TEXT = "success: ||W - W~*||_F / ||W~*||_F below success_tol at the stop (as Z2-Z5)"
