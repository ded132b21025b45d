"""Z3's figures, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.analysis import method_label
from ltpipe.plotting import setup

__all__ = ["fig_z3_a", "fig_z3_b"]


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
