"""ZT's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.plotting import panels

__all__ = ["fig_zt"]


def fig_zt(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """ZT: (a) the relative error of the tensor initialisation W(0) against N, per r (median and
    interquartile range; dashed: its estimation part ||W(0) - W_pop(0)||_F / ||W~*||_F, with an N^(-1/2)
    guide); (b) AGD's success rate against N from the tensor start (solid) and from a ball at the same
    relative distance (dashed)."""
    trials = tables["trials"]
    fig, (ax_e, ax_s) = panels(plot, 2)
    rs = sorted(trials["r"].unique())
    colours = dict(zip(rs, sns.color_palette(plot.get("palette", "viridis"), len(rs)), strict=True))
    markers = dict(zip(rs, "osD^vP*X" * len(rs), strict=False))
    tensor = trials[trials["init"] == "tensor"]
    for r in rs:
        g = tensor[tensor["r"] == r].groupby("n_samples")
        mid, lo, hi = g["init_error"].median(), g["init_error"].quantile(0.25), g["init_error"].quantile(0.75)
        ax_e.plot(mid.index, mid, marker=markers[r], ms=4, color=colours[r], label=f"r = {r}: W(0)")
        ax_e.fill_between(mid.index, lo, hi, color=colours[r], alpha=0.15, lw=0)
        est = g["init_estimation"].median()
        ax_e.plot(est.index, est, ls="--", lw=0.9, color=colours[r], label=f"r = {r}: estimation part")
    if len(tensor):
        est = tensor[tensor["r"] == rs[0]].groupby("n_samples")["init_estimation"].median()
        n = np.asarray(est.index, dtype=float)
        ax_e.plot(n, est.iloc[-1] * np.sqrt(n[-1] / n), ls=":", color="0.4", lw=1, label=r"$\propto N^{-1/2}$")
    ax_e.set_xscale("log")
    ax_e.set_yscale("log")
    ax_e.set_xlabel("number of samples N")
    ax_e.set_ylabel(r"$\|W^{(0)} - \tilde W^*\|_F / \|\tilde W^*\|_F$")
    ax_e.set_title(plot.get("title", "Tensor initialisation: error of W(0)"))
    ax_e.legend(fontsize="xx-small")
    for r in rs:
        for init, ls, fill in (("tensor", "-", None), ("matched", "--", "none")):
            g = trials[(trials["r"] == r) & (trials["init"] == init)]
            if len(g):
                rate = g.groupby("n_samples")["success"].mean()
                name = "tensor start" if init == "tensor" else "ball at the same distance"
                ax_s.plot(
                    rate.index,
                    rate,
                    ls=ls,
                    marker=markers[r],
                    ms=5,
                    mfc=fill,
                    color=colours[r],
                    label=f"r = {r}: {name}",
                )
    ax_s.set_xscale("log")
    ax_s.set_ylim(-0.05, 1.05)
    ax_s.set_xlabel("number of samples N")
    ax_s.set_ylabel("AGD success rate")
    ax_s.set_title("AGD from W(0)")
    ax_s.legend(fontsize="xx-small")
    return fig
