"""Z4's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from ltpipe.analysis import capped_majority, n_needed, per_eta
from ltpipe.plotting import eta_title, heatmap, panels

__all__ = ["fig_z4"]


def fig_z4(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 4: success rate over (r, N), with N_needed(r) marked; one panel per eta, capped cells hatched."""
    groups = per_eta(tables["trials"])
    fig, axes = panels(plot, len(groups))
    for ax, (eta, trials) in zip(axes, groups, strict=True):
        rate = trials.pivot_table(index="n_samples", columns="r", values="success", aggfunc="mean")
        need = n_needed(trials)
        marks = pd.Series(need["n_needed"].to_numpy(), index=need["r"])
        heatmap(
            ax,
            rate,
            r"$r$",
            r"number of samples $N$",
            marks,
            capped_majority(trials, "n_samples", "r"),
            marks_label=r"$N$ needed: the smallest $N$ with success rate $\geq 0.5$",
        )
        ax.set_title(eta_title(plot.get("title", "Sample complexity (Fig. 4)"), eta, len(groups) > 1))
    return fig
