"""Z5's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.analysis import moving, per_eta
from ltpipe.plotting import eta_title, panels

__all__ = ["fig_z5"]


def fig_z5(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 5: final relative error vs sqrt r, one line per noise level (median, IQR; settled trials).

    One panel per eta. Open markers: points where most trials stopped at max_iter (drawn from
    all trials there). Grey dotted: the median distance to the limit that the stop rule leaves.
    """
    groups = per_eta(tables["trials"])
    fig, axes = panels(plot, len(groups))
    levels = sorted(tables["trials"]["noise_level"].unique(), reverse=True)
    order = [f"$\\sigma/E_y$ = {v:.0e}" for v in levels]
    colours = dict(zip(order, sns.color_palette(plot.get("palette", "rocket"), len(order)), strict=True))
    for ax, (eta, trials) in zip(axes, groups, strict=True):
        trials = trials.assign(
            sqrt_r=np.sqrt(trials["r"]), noise=[f"$\\sigma/E_y$ = {v:.0e}" for v in trials["noise_level"]]
        )
        capped = trials.assign(moving=moving(trials)).groupby(["noise", "sqrt_r"])["moving"].mean() > 0.5
        settled = trials[trials["settled"]]
        for noise in order:
            ok = settled[settled["noise"] == noise].groupby("sqrt_r")["rel_error"]
            if ok.ngroups:
                mid, lo, hi = ok.median(), ok.quantile(0.25), ok.quantile(0.75)
                ax.errorbar(
                    mid.index,
                    mid,
                    yerr=[mid - lo, hi - mid],
                    color=colours[noise],
                    marker="o",
                    ms=4,
                    lw=1.2,
                    capsize=2,
                    label=noise,
                )
            bad = capped[noise][capped[noise]].index if noise in capped.index.get_level_values(0) else []
            if len(bad):
                g = trials[(trials["noise"] == noise) & trials["sqrt_r"].isin(bad)].groupby("sqrt_r")["rel_error"]
                ax.plot(g.median().index, g.median(), ls="none", marker="o", ms=6, mfc="none", color=colours[noise])
        floor = settled.groupby("sqrt_r")["stop_floor"].median()
        if len(floor):
            ax.plot(floor.index, floor, ls=":", color="0.5", lw=1.2, label="stop-rule floor (median)")
        if bool(capped.any()):
            ax.plot([], [], ls="none", marker="o", mfc="none", color="0.3", label="most trials still moving at the cap")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\sqrt{r}$")
        ax.set_ylabel("relative error")
        ax.set_title(eta_title(plot.get("title", "Noisy measurements (Fig. 5)"), eta, len(groups) > 1))
        ax.legend(fontsize="xx-small")
    return fig
