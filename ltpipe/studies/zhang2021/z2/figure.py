"""Z2's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ltpipe.analysis import capped_majority, per_eta, radius
from ltpipe.plotting import eta_title, heatmap, panels

__all__ = ["fig_z2"]


def fig_z2(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 2: success rate over (sqrt r, initial distance lambda); one panel per eta, capped cells hatched."""
    groups = per_eta(tables["trials"])
    fig, axes = panels(plot, len(groups))
    for ax, (eta, trials) in zip(axes, groups, strict=True):
        rate = trials.pivot_table(index="lam", columns="r", values="success", aggfunc="mean")
        capped = capped_majority(trials, "lam", "r")
        rad = radius(trials)
        label = {r: f"{np.sqrt(r):.3g}" for r in rate.columns}
        marks = pd.Series(rad["radius"].to_numpy(), index=[label[r] for r in rad["r"]])
        heatmap(
            ax,
            rate.rename(columns=label),
            r"$\sqrt{r}$",
            r"initial distance $\lambda$",
            marks,
            capped.rename(columns=label),
        )
        ax.set_title(eta_title(plot.get("title", "Local convex region (Fig. 2)"), eta, len(groups) > 1))
    return fig
