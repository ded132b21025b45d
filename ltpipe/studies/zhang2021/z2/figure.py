"""Z2's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ltpipe.analysis import capped_majority, per_eta
from ltpipe.plotting import eta_title, heatmap, panels

__all__ = ["fig_z2"]


def fig_z2(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 2: success rate over (sqrt r, initial distance lambda); one panel per eta, cells where most trials
    were still moving at the cap hatched. The radius per r in red: filled where the grid pins it, an upward
    triangle where it lies beyond the grid (at least the largest lambda), a downward one below the smallest."""
    groups = per_eta(tables["trials"])
    table = tables["radius"]
    fig, axes = panels(plot, len(groups))
    for ax, (eta, trials) in zip(axes, groups, strict=True):
        rate = trials.pivot_table(index="lam", columns="r", values="success", aggfunc="mean")
        capped = capped_majority(trials, "lam", "r")
        rad = table[table["eta"] == eta] if "eta" in table else table
        label = {r: f"{np.sqrt(r):.3g}" for r in rate.columns}
        exact = rad[rad["bound"] == "exact"]
        marks = pd.Series(exact["radius"].to_numpy(), index=[label[r] for r in exact["r"]])
        heatmap(
            ax,
            rate.rename(columns=label),
            r"$\sqrt{r}$",
            r"initial distance $\lambda$",
            marks,
            capped.rename(columns=label),
            marks_label=r"radius: the largest $\lambda$ with success rate $\geq 0.5$",
        )
        ys = sorted(rate.index, reverse=True)
        xs = list(rate.columns)
        for bound, marker, text in (("lower", "^", "radius beyond the grid"), ("upper", "v", "radius below the grid")):
            part = rad[rad["bound"] == bound]
            if len(part):
                px = [xs.index(r) + 0.5 for r in part["r"]]
                py = [ys.index(v) + (0.2 if bound == "lower" else 0.8) for v in part["radius"]]
                ax.plot(px, py, ls="none", marker=marker, ms=6, mfc="none", color="tab:red", label=text)
        handles, _ = ax.get_legend_handles_labels()
        if ax.get_legend() is not None:
            handles = [*ax.get_legend().legend_handles, *[h for h in handles if h.get_label().startswith("radius ")]]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.18), fontsize="x-small", frameon=False)
        ax.set_title(eta_title(plot.get("title", "Local convex region (Fig. 2)"), eta, len(groups) > 1))
    return fig
