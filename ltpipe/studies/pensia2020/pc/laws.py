"""What PC's and MW's claims and figures share: the median error curves of the constructions, their fits to an
exponential and a power law, the width read off them, and the accuracy of the pruned PS target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit
from ltpipe.claims import claim_row, fmt

__all__ = [
    "LAWS",
    "d_growth_rows",
    "error_curves",
    "fits",
    "law_parts",
    "law_rows",
    "n_for_eps",
    "ps_accuracy_rows",
    "width_needed",
    "width_note",
]


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


def _margin(difference: float) -> float:
    """A difference of two fits' R^2, with rounding noise taken as a tie (0: neither law fits better). When the
    fitted values take two levels only, any monotone map of them fits alike, and the last bits would decide."""
    return 0.0 if abs(difference) < 1e-9 else float(difference)


def law_parts(tables: dict[str, pd.DataFrame]) -> set[str]:
    """The parts whose error curves the law claims read: one weight, the widest random target of each depth
    (the sweep in d has claims of its own, :func:`d_growth_rows`) and the PS target."""
    parts = {"single", "network:ps"}
    if "network" in tables and len(tables["network"]):
        net = tables["network"]
        widest = net[net["width"] == net.groupby("depth")["width"].transform("max")]
        parts |= {f"network:{t}" for t in widest["target"].unique()}
    return parts


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
        return {
            "eps": [],
            "n_needed": [],
            "r2_log": float("nan"),
            "slope": float("nan"),
            "r2_poly": float("nan"),
            "exponent": float("nan"),
        }
    hi, lo = np.ceil(-2 * np.log10(err.max())), np.floor(-2 * np.log10(pos.min()))
    eps = [10 ** (-j / 2) for j in np.arange(hi, lo + 1)]
    need = [float(n[err <= e].min()) for e in eps]
    x = np.log(1 / np.asarray(eps)) if eps else np.array([])
    slope, _, r2_log = linear_fit(x, need)
    exponent, _, r2_poly = linear_fit(x, np.log(need))
    return {"eps": eps, "n_needed": need, "r2_log": r2_log, "slope": slope, "r2_poly": r2_poly, "exponent": exponent}


def n_for_eps(curve: pd.DataFrame, eps: float) -> float:
    """The width factor n at which the median error curve first comes down to ``eps``: ln(error) interpolated
    linearly in n between the last grid point above eps and the first at or below it (the grid's first n when
    it starts below; inf when the grid never reaches eps: a lower bound, censored)."""
    curve = curve.sort_values("n")
    n = curve["n"].to_numpy(dtype=float)
    err = curve["error"].to_numpy(dtype=float)
    below = np.flatnonzero(err <= eps)
    if not below.size:
        return float("inf")
    i = int(below[0])
    if i == 0:
        return float(n[0])
    lo, hi = np.log(err[i - 1]), np.log(max(err[i], 1e-300))
    return float(n[i - 1] + (n[i] - n[i - 1]) * (lo - np.log(eps)) / (lo - hi))


def d_growth_rows(network: pd.DataFrame, construction: str, exp: str, figure: str, eps: float, law: str) -> list[dict]:
    """Per depth: how the width factor a construction needs for a sup error <= ``eps`` grows with the target's
    width d (median curve over trials per d, :func:`n_for_eps`). ``law`` is what the theory says: ``log``
    (Pensia et al., Theorem 1: width C d log(d l / eps), so n grows like log d) or ``power`` (Malach et al.,
    Theorem 2.1: polynomial in d): the value is R^2 of the law's fit minus R^2 of the other's (n on ln d
    against ln n on ln d), > 0 to pass, and NaN (a failure) when the law's fit has n falling with d;
    untestable with fewer than 3 widths reaching eps."""
    rows = []
    part = network[network["construction"] == construction]
    for depth, g in part.groupby("depth", sort=True):
        widths, need = [], []
        for d, curve in g.groupby("width", sort=True):
            widths.append(float(d))
            need.append(n_for_eps(curve.groupby("n").agg(error=("error", "median")).reset_index(), eps))
        widths, need = np.asarray(widths), np.asarray(need)
        ok = np.isfinite(need)
        x = np.log(widths[ok])
        slope, _, r2_log = linear_fit(x, need[ok])
        exponent, _, r2_pow = linear_fit(x, np.log(need[ok]))
        grows = (slope if law == "log" else exponent) > 0
        # the law must fit better and say that n grows: a falling n fits no growth law
        value = _margin(r2_log - r2_pow if law == "log" else r2_pow - r2_log) if grows else float("nan")
        words = ("log d", "a power of d") if law == "log" else ("a power of d", "log d")
        censored = [f"{w:g}" for w in widths[~ok]]
        rows.append(
            claim_row(
                f"{exp}.n_grows_{'log' if law == 'log' else 'power'}_d[depth={int(depth)}]",
                figure,
                f"depth {int(depth)}: the width factor n this construction needs for a sup error <= {eps:g} grows "
                f"like {words[0]} in the target's width d (fits better than {words[1]})",
                value,
                ">",
                0.0,
                f"n needed per d ({fmt(widths)}) = {fmt(need)}"
                + (f" (d = {', '.join(censored)}: beyond the n grid)" if censored else "")
                + f"; n on ln d: R^2 {r2_log:.3f}, {slope:.3g} per e-fold of d; ln n on ln d: R^2 {r2_pow:.3f}, "
                f"n ~ d^{exponent:.3g}; value = R^2 ({words[0]}) - R^2 ({words[1]})"
                + ("" if grows or ok.sum() < 3 else "; the fit has n falling as d grows: no growth, the claim fails"),
                untestable="" if ok.sum() >= 3 else f"only {int(ok.sum())} widths reach eps = {eps:g} (3 needed)",
            )
        )
    return rows


def width_note(w: dict[str, Any]) -> str:
    return (
        f"n needed per eps ({fmt(w['eps'])}) = {fmt(w['n_needed'])}; n on ln(1/eps): R^2 {w['r2_log']:.3f}, "
        f"{w['slope']:.3g} per e-fold; ln(n) on ln(1/eps): R^2 {w['r2_poly']:.3f}, "
        f"n ~ eps^-{w['exponent']:.3g}"
    )


def _describe(curve: pd.DataFrame, f: dict[str, float]) -> str:
    return (
        f"median error per n ({fmt(curve['n'])}) = {fmt(curve['error'])}; ln(error) on n: R^2 "
        f"{f['r2_exp']:.3f}, {f['rate']:.3g} per unit of n; on ln(n): R^2 {f['r2_power']:.3f}, "
        f"exponent {f['exponent']:.3g}"
    )


LAWS = {
    # law: (fit ids, the fitted R^2 key and the alternative's, width R^2 key and alternative's, wording)
    "exponential": (
        ("exponential", "beats_power", "width_log"),
        "r2_exp",
        "r2_power",
        "r2_log",
        "r2_poly",
        "the subset-sum construction's",
        ("falls exponentially in n", "an exponential in n", "a power of n", "log(1/eps)", "a power of 1/eps"),
    ),
    "power": (
        ("power", "beats_exponential", "width_poly"),
        "r2_power",
        "r2_exp",
        "r2_poly",
        "r2_log",
        "the single-product construction's",
        ("falls like a power of the width", "a power of n", "an exponential in n", "a power of 1/eps", "log(1/eps)"),
    ),
}


def law_rows(
    part: str, curve: pd.DataFrame, exp: str, figure: str, law: str, min_r2: float, window: str = ""
) -> list[dict]:
    """Three claims on one median error curve, for the ``law`` the construction should follow
    (``exponential``: PC; ``power``: MW): its fit has R^2 >= ``min_r2``; it fits better than the other law;
    the width read off the curve for eps = 10^(-j/2) grows like the law says (log(1/eps) or a power of 1/eps)
    better than like the other. ``window`` names the part of the curve passed (say "median error <= 0.1"):
    the claims say so; fewer than 3 points there and they are untestable."""
    ids, fit, alt, wfit, walt, who, words = LAWS[law]
    f, w = fits(curve), width_needed(curve)
    note = _describe(curve, f)
    falls, this, other, wthis, wother = words
    where = f" (fitted where {window})" if window else ""
    why = "" if f["points"] >= 3 else f"{f['points']} points{where or ''}: 3 needed for a fit"
    if window:
        note = f"fitted where {window}: " + note
    return [
        claim_row(
            f"{exp}.{ids[0]}[part={part}]",
            figure,
            f"{part}: {who} error {falls}{where}",
            f[fit],
            ">=",
            min_r2,
            note,
            untestable=why,
        ),
        claim_row(
            f"{exp}.{ids[1]}[part={part}]",
            figure,
            f"{part}: {this} fits {who} error better than {other}{where}",
            _margin(f[fit] - f[alt]),
            ">",
            0.0,
            note + f"; value = R^2 ({this}) - R^2 ({other})",
            untestable=why,
        ),
        claim_row(
            f"{exp}.{ids[2]}[part={part}]",
            figure,
            f"{part}: {who} width for eps grows like {wthis} (fits better than {wother}){where}",
            _margin(w[wfit] - w[walt]),
            ">",
            0.0,
            width_note(w) + f"; value = R^2 ({wthis}) - R^2 ({wother})",
            untestable="" if len(w["eps"]) >= 3 else f"{len(w['eps'])} values of eps{where}: 3 needed for a fit",
        ),
    ]


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
    return [
        claim_row(
            cid,
            figure,
            f"the PS target pruned {how} (n = {top['n']:g}) keeps its test accuracy to within {max_drop:g} points",
            drop,
            "<=",
            max_drop,
            f"target {100 * top['target_acc']:.2f}%, pruned {100 * top['pruned_acc']:.2f}% (agreement "
            f"{100 * top['agreement']:.2f}%); {top['params_kept']:.0f} of {top['params_random']:.0f} "
            "random weights kept",
        )
    ]
