"""PL's figures, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from ltpipe.plotting import setup

__all__ = ["fig_pl_a", "fig_pl_b"]


def fig_pl_a(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PL (a): the supremum over the target interval of the optimal subset-sum error (exact) vs n (median,
    IQR), log y: the quantity Theorem 3 bounds by eps."""
    trials = tables["trials"]
    fig, ax = setup(plot)
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
    r = float(trials["target_range"].iloc[0]) if "target_range" in trials else 0.5
    ax.set_ylabel(rf"optimal error, $\sup_{{z \in [-{r:g}, {r:g}]}}$")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(plot.get("title", "Random subset sum (Lueker)"))
    return fig


def fig_pl_b(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PL (b): n needed for each eps vs log10(1/eps); a straight line is n = O(log 1/eps)."""
    needed = tables["needed"].copy()
    needed["log10_inv_eps"] = np.log10(1.0 / needed["eps"])
    fig, ax = setup(plot)
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
    ax.set_xlabel(r"$\log_{10}(1/\varepsilon)$")
    ax.set_ylabel(rf"$n$ needed: $P[\sup_z \mathrm{{error}} \leq \varepsilon] \geq {needed['probability'].iloc[0]:g}$")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # log10(1/eps) and n are integers
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(plot.get("title", "Coefficients needed"))
    return fig
