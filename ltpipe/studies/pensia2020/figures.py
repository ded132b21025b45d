"""Pensia et al. 2020's figures (PL, PS), drawn from the experiments' Parquet tables.

Each figure ``FIG`` is ``fig_FIG(tables, plot)``: ``tables`` the experiment's
tables by name, ``plot`` the figure's own settings (see :mod:`ltpipe.plotting`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.plotting import setup

__all__ = ["fig_pl_a", "fig_pl_b", "fig_ps"]


def fig_pl_a(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PL (a): worst optimal subset-sum error over the target grid vs n (median, IQR), log y."""
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
    ax.set_ylabel("worst optimal error over the targets")
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
    ax.set_xlabel(r"$\log_{10}(1/\epsilon)$")
    ax.set_ylabel(f"n needed (P[worst error <= eps] >= {needed['probability'].iloc[0]:g})")
    ax.set_title(plot.get("title", "Coefficients needed"))
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
    fig, ax = setup(plot)
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
