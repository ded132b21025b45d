"""Zhang et al. 2021's figures (Figs. 2-7), drawn from the experiments' Parquet tables.

Each figure ``FIG`` is ``fig_FIG(tables, plot)``: ``tables`` the experiment's
tables by name, ``plot`` the figure's own settings (see :mod:`ltpipe.plotting`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.analysis import method_label, n_needed, radius
from ltpipe.plotting import heatmap, setup

__all__ = ["fig_z2", "fig_z3_a", "fig_z3_b", "fig_z4", "fig_z5", "fig_z6", "fig_z7"]


def fig_z2(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 2: success rate over (sqrt r, initial distance lambda)."""
    trials = tables["trials"]
    fig, ax = setup(plot)
    rate = trials.pivot_table(index="lam", columns="r", values="success", aggfunc="mean")
    rad = radius(trials)
    rate.columns = [f"{np.sqrt(r):.3g}" for r in rate.columns]
    marks = pd.Series(rad["radius"].to_numpy(), index=[f"{np.sqrt(r):.3g}" for r in rad["r"]])
    heatmap(ax, rate, r"$\sqrt{r}$", r"initial distance $\lambda$", marks)
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
    fig, ax = setup(plot)
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
    fig, ax = setup(plot)
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
    fig, ax = setup(plot)
    rate = trials.pivot_table(index="n_samples", columns="r", values="success", aggfunc="mean")
    need = n_needed(trials)
    heatmap(ax, rate, "r", "number of samples N", pd.Series(need["n_needed"].to_numpy(), index=need["r"]))
    ax.set_title(plot.get("title", "Sample complexity (Fig. 4)"))
    return fig


def fig_z5(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 5: final relative error vs sqrt r, one line per noise level (median, IQR)."""
    trials = tables["trials"].copy()
    trials["sqrt_r"] = np.sqrt(trials["r"])
    trials["noise"] = [f"$\\sigma/E_y$ = {v:.0e}" for v in trials["noise_level"]]
    order = [f"$\\sigma/E_y$ = {v:.0e}" for v in sorted(trials["noise_level"].unique(), reverse=True)]
    fig, ax = setup(plot)
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


def fig_z6(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 6: test error vs % of first-layer weights remaining (x reversed), one line per N, log y."""
    rounds = tables["rounds"].copy()
    rounds["percent"] = 100 * rounds["remaining"]
    fig, ax = setup(plot)
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
