"""What PC's and MW's claims and figures share: the median error curves of the constructions, their fits to an
exponential and a power law, the width read off them, and the accuracy of the pruned PS target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ltpipe.analysis import linear_fit
from ltpipe.claims import claim_row, fmt

__all__ = ["LAWS", "error_curves", "fits", "law_rows", "ps_accuracy_rows", "width_needed", "width_note"]


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
        claim_row(f"{exp}.{ids[0]}[part={part}]", figure, f"{part}: {who} error {falls}", f[fit], ">=", min_r2, note),
        claim_row(
            f"{exp}.{ids[1]}[part={part}]",
            figure,
            f"{part}: {this} fits {who} error better than {other}",
            f[fit] - f[alt],
            ">",
            0.0,
            note + f"; value = R^2 ({this}) - R^2 ({other})",
        ),
        claim_row(
            f"{exp}.{ids[2]}[part={part}]",
            figure,
            f"{part}: {who} width for eps grows like {wthis} (fits better than {wother})",
            w[wfit] - w[walt],
            ">",
            0.0,
            width_note(w) + f"; value = R^2 ({wthis}) - R^2 ({wother})",
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
