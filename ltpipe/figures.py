"""Figures drawn with seaborn from the Parquet tables only (png and pdf).

Each figure id has one function ``fig_<id>(tables, plot) -> Figure``; ``plot``
is that figure's own settings from the config (size, dpi, context, palette),
so editing them reruns only that figure.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.analysis import method_label, n_needed, radius
from ltpipe.tables import read_table

__all__ = ["FIGURES", "draw"]

log = logging.getLogger(__name__)


def _setup(plot: dict[str, Any]) -> tuple[plt.Figure, plt.Axes]:
    sns.set_theme(context=plot.get("context", "paper"), style="ticks")
    fig, ax = plt.subplots(figsize=(plot.get("width", 4.0), plot.get("height", 3.0)), layout="constrained")
    return fig, ax


def _heatmap(ax: plt.Axes, rate: pd.DataFrame, xlabel: str, ylabel: str, marks: pd.Series | None) -> None:
    """Success-rate heat map, black = all fail, white = all succeed (as in the paper)."""
    sns.heatmap(
        rate.sort_index(ascending=False),
        vmin=0,
        vmax=1,
        cmap="gray",
        ax=ax,
        cbar_kws={"label": "success rate"},
        linewidths=0.2,
        linecolor="0.5",
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if marks is not None:
        ys = list(rate.sort_index(ascending=False).index)
        xs = list(rate.columns)
        pts = [(xs.index(c) + 0.5, ys.index(v) + 0.5) for c, v in marks.items() if np.isfinite(v) and v in ys]
        if pts:
            px, py = zip(*pts, strict=True)
            ax.plot(px, py, "o-", color="tab:red", ms=4, lw=1)


def fig_z2(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 2: success rate over (sqrt r, initial distance lambda)."""
    trials = tables["trials"]
    fig, ax = _setup(plot)
    rate = trials.pivot_table(index="lam", columns="r", values="success", aggfunc="mean")
    rad = radius(trials)
    rate.columns = [f"{np.sqrt(r):.3g}" for r in rate.columns]
    marks = pd.Series(rad["radius"].to_numpy(), index=[f"{np.sqrt(r):.3g}" for r in rad["r"]])
    _heatmap(ax, rate, r"$\sqrt{r}$", r"initial distance $\lambda$", marks)
    ax.set_title(plot.get("title", "Local convex region (Fig. 2)"))
    return fig


def fig_z3_a(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 3a: relative error vs iteration, one line per r.

    Thin lines are single trials; the thick line is their median, drawn only
    while every trial of that r is still running (so no trial's stop makes it jump).
    """
    curves = tables["curves"]
    if plot.get("beta") is not None:
        curves = curves[np.isclose(curves["beta"], float(plot["beta"]))]
    curves = curves.assign(method=method_label(curves["beta"]))
    keys = ["r", "method"]
    common_end = curves.groupby([*keys, "trial", "seed"])["iteration"].max().groupby(keys).min().rename("end")
    med = curves.join(common_end, on=keys)
    med = med[med["iteration"] <= med["end"]].groupby([*keys, "iteration"], as_index=False)["rel_error"].median()
    palette = plot.get("palette", "viridis")
    style = "method" if curves["method"].nunique() > 1 else None
    fig, ax = _setup(plot)
    sns.lineplot(
        data=curves,
        x="iteration",
        y="rel_error",
        hue="r",
        style=style,
        units="seed",
        estimator=None,
        palette=palette,
        alpha=0.25,
        lw=0.6,
        ax=ax,
        legend=False,
    )
    sns.lineplot(data=med, x="iteration", y="rel_error", hue="r", style=style, palette=palette, lw=1.8, ax=ax)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"relative error $\|W - \tilde W^*\|_F / \|\tilde W^*\|_F$")
    ax.set_title(plot.get("title", "Linear convergence (Fig. 3a)"))
    sns.move_legend(ax, "upper right", fontsize="x-small", ncol=2)
    return fig


def fig_z3_b(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 3b: convergence rate nu vs sqrt r for GD and AGD (mean and sd over trials)."""
    rates = tables["rates"].dropna(subset=["rate"]).copy()
    rates["sqrt_r"] = np.sqrt(rates["r"])
    rates["method"] = method_label(rates["beta"])
    fig, ax = _setup(plot)
    sns.lineplot(
        data=rates,
        x="sqrt_r",
        y="rate",
        hue="method",
        style="method",
        markers=True,
        dashes=False,
        errorbar="sd",
        err_style="bars",
        palette=plot.get("palette", "deep"),
        ax=ax,
    )
    ax.set_xlabel(r"$\sqrt{r}$")
    ax.set_ylabel(r"convergence rate $\nu$ (per-iteration contraction)")
    ax.set_title(plot.get("title", "Convergence rate (Fig. 3b)"))
    return fig


def fig_z4(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 4: success rate over (r, N), with N_needed(r) marked."""
    trials = tables["trials"]
    fig, ax = _setup(plot)
    rate = trials.pivot_table(index="n_samples", columns="r", values="success", aggfunc="mean")
    need = n_needed(trials)
    _heatmap(ax, rate, "r", "number of samples N", pd.Series(need["n_needed"].to_numpy(), index=need["r"]))
    ax.set_title(plot.get("title", "Sample complexity (Fig. 4)"))
    return fig


def fig_z5(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 5: final relative error vs sqrt r, one line per noise level (median, IQR)."""
    trials = tables["trials"].copy()
    trials["sqrt_r"] = np.sqrt(trials["r"])
    trials["noise"] = [f"$\\sigma/E_y$ = {v:.0e}" for v in trials["noise_level"]]
    order = [f"$\\sigma/E_y$ = {v:.0e}" for v in sorted(trials["noise_level"].unique(), reverse=True)]
    fig, ax = _setup(plot)
    sns.lineplot(
        data=trials,
        x="sqrt_r",
        y="rel_error",
        hue="noise",
        hue_order=order,
        style="noise",
        style_order=order,
        markers=True,
        dashes=False,
        estimator="median",
        errorbar=("pi", 50),
        err_style="bars",
        palette=plot.get("palette", "rocket"),
        ax=ax,
    )
    ax.set_yscale("log")
    ax.set_xlabel(r"$\sqrt{r}$")
    ax.set_ylabel("relative error")
    ax.set_title(plot.get("title", "Noisy measurements (Fig. 5)"))
    ax.legend(fontsize="x-small")
    return fig


def fig_pl_a(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PL (a): worst optimal subset-sum error over the target grid vs n (median, IQR), log y."""
    trials = tables["trials"]
    fig, ax = _setup(plot)
    sns.lineplot(
        data=trials,
        x="n",
        y="worst_error",
        hue="distribution",
        style="distribution",
        markers=True,
        dashes=False,
        estimator="median",
        errorbar=("pi", 50),
        err_style="bars",
        palette=plot.get("palette", "deep"),
        ax=ax,
    )
    ax.set_yscale("log")
    ax.set_xlabel("number of coefficients n")
    ax.set_ylabel("worst optimal error over the targets")
    ax.set_title(plot.get("title", "Random subset sum (Lueker)"))
    return fig


def fig_pl_b(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PL (b): n needed for each eps vs log10(1/eps); a straight line is n = O(log 1/eps)."""
    needed = tables["needed"].copy()
    needed["log10_inv_eps"] = np.log10(1.0 / needed["eps"])
    fig, ax = _setup(plot)
    sns.lineplot(
        data=needed,
        x="log10_inv_eps",
        y="n_needed",
        hue="distribution",
        style="distribution",
        markers=True,
        dashes=False,
        palette=plot.get("palette", "deep"),
        ax=ax,
    )
    ax.set_xlabel(r"$\log_{10}(1/\epsilon)$")
    ax.set_ylabel(f"n needed (P[worst error <= eps] >= {needed['probability'].iloc[0]:g})")
    ax.set_title(plot.get("title", "Coefficients needed"))
    return fig


def fig_z6(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 6: test error vs % of first-layer weights remaining (x reversed), one line per N, log y."""
    rounds = tables["rounds"].copy()
    rounds["percent"] = 100 * rounds["remaining"]
    fig, ax = _setup(plot)
    sns.lineplot(
        data=rounds, x="percent", y="test_error", hue="n_samples", style="n_samples", markers=True, dashes=False,
        estimator="median", errorbar=("pi", 50), palette=plot.get("palette", "viridis"), ax=ax,
    )  # fmt: skip
    ratio = 100 * float((rounds["r_star"] / rounds["d"]).iloc[0])
    ax.axvline(ratio, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_yscale("log")
    ticks = [t for t in (100, 50, 20, 10, 5, 3) if rounds["percent"].min() * 0.99 <= t]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("remaining weights (%)")
    ax.set_ylabel("test error (MSE)")
    ax.legend(title="N", fontsize="small")
    ax.set_title(plot.get("title", "IMP on the sparse teacher (Fig. 6)"))
    return fig


def fig_z7(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 7: test accuracy (end of each round) vs % remaining (x reversed), one line per N.

    IMP solid; the controls (random pruning, re-initialisation), where run, dashed.
    One panel per architecture.
    """
    rounds = tables["rounds"].copy()
    rounds["percent"] = 100 * rounds["remaining"]
    rounds["run"] = np.where(
        rounds["mode"] == "imp", "N=" + rounds["n_samples"].astype(str),
        "N=" + rounds["n_samples"].astype(str) + " " + rounds["mode"],
    )  # fmt: skip
    archs = list(dict.fromkeys(rounds["arch"]))
    sns.set_theme(context=plot.get("context", "paper"), style="ticks")
    fig, axes = plt.subplots(
        1, len(archs), figsize=(plot.get("width", 4.0) * len(archs), plot.get("height", 3.0)),
        layout="constrained", squeeze=False,
    )  # fmt: skip
    for ax, arch in zip(axes[0], archs, strict=True):
        data = rounds[rounds["arch"] == arch]
        order = sorted(data["run"].unique(), key=lambda r: (" " in r, int(r.split()[0][2:]), r))
        dashes = {r: (4, 2) if " " in r else "" for r in order}
        sns.lineplot(
            data=data, x="percent", y="test_acc", hue="run", hue_order=order, style="run", style_order=order,
            dashes=dashes, markers=True, estimator="median", errorbar=None,
            palette=plot.get("palette", "viridis"), ax=ax,
        )  # fmt: skip
        ax.set_xscale("log")
        ax.invert_xaxis()
        ticks = [t for t in (100, 50, 20, 10, 5, 3, 2, 1) if data["percent"].min() * 0.99 <= t]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("remaining weights (%)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize="x-small")
        ax.set_title(plot.get("title", f"IMP on MNIST, {arch} (Fig. 7)"))
    return fig


def fig_ps(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PS: distribution of |w - approx| over all weights (log x), optimal and sparsest subsets; eps marked
    (from the summary table)."""
    w = tables["weights"]
    parts = [pd.DataFrame({"error": w["error"], "solution": "optimal (least error)"})]
    if "error_sparsest" in w:
        parts.append(pd.DataFrame({"error": w["error_sparsest"], "solution": "sparsest within eps"}))
    data = pd.concat(parts, ignore_index=True)
    floor = 1e-12
    data["error"] = data["error"].clip(lower=floor)
    fig, ax = _setup(plot)
    sns.histplot(
        data=data, x="error", hue="solution", log_scale=True, element="step", fill=False, bins=80,
        palette=plot.get("palette", "deep"), ax=ax,
    )  # fmt: skip
    if "summary" in tables:
        eps = float(tables["summary"]["eps"].iloc[0])
        ax.axvline(eps, color="0.3", ls=":", lw=1)
        ax.annotate(f"eps = {eps:g}", (eps, 0.97), xycoords=("data", "axes fraction"), ha="right", va="top",
                    fontsize="small", color="0.3")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel(f"|w - subset sum| (clipped at {floor:g})")
    ax.set_ylabel("weights")
    ax.set_title(plot.get("title", f"SubsetSum approximation of {len(w):,} weights"))
    return fig


FIGURES: dict[str, Callable[[dict[str, pd.DataFrame], dict[str, Any]], plt.Figure]] = {
    "z2": fig_z2,
    "z3_a": fig_z3_a,
    "z3_b": fig_z3_b,
    "z4": fig_z4,
    "z5": fig_z5,
    "z6": fig_z6,
    "z7": fig_z7,
    "ps": fig_ps,
    "pl_a": fig_pl_a,
    "pl_b": fig_pl_b,
}


def draw(figure_id: str, tables: dict[str, pd.DataFrame], plot: dict[str, Any], outputs: Sequence[str]) -> None:
    """Draw one figure and save it to every path in ``outputs`` (format from the suffix)."""
    if figure_id not in FIGURES:
        raise SystemExit(f"unknown figure {figure_id!r}; known: {', '.join(FIGURES)}")
    fig = FIGURES[figure_id](tables, plot)
    for out in outputs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=plot.get("dpi", 200))
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    """ltpipe figure: draw one figure from its tables (NAME=PATH.parquet)."""
    parser = argparse.ArgumentParser(prog="ltpipe figure", description=main.__doc__)
    parser.add_argument("--id", required=True, choices=sorted(FIGURES))
    parser.add_argument("--plot", default="{}", help="the figure's plot settings as JSON")
    parser.add_argument("--out", action="append", required=True, help="an output path (repeat for png and pdf)")
    parser.add_argument("tables", nargs="+", help="NAME=PATH pairs, e.g. trials=results/zhang2021/z2/trials.parquet")
    args = parser.parse_args(argv)
    tables = {}
    for item in args.tables:
        name, _, path = item.partition("=")
        tables[name] = read_table(path)
    draw(args.id, tables, json.loads(args.plot), args.out)
    log.info("wrote %s", ", ".join(args.out))
