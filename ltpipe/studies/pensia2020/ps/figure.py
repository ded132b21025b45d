"""PS's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ltpipe.plotting import setup

__all__ = ["fig_ps"]


def _survival(errors: np.ndarray, points: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """(error, fraction of weights with at least that error), thinned to about ``points`` log-spaced ranks
    plus every one of the 200 largest errors."""
    desc = np.sort(errors)[::-1]
    n = desc.size
    ranks = np.unique(np.concatenate([np.geomspace(1, n, points).round().astype(int), np.arange(1, min(n, 200) + 1)]))
    return desc[ranks - 1], ranks / n


def fig_ps(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PS: fraction of weights with |w - approx| >= x against x (log-log), one colour per coefficient range
    (legend: the range and how many weights miss eps), solid for the optimal subsets and dashed for the
    sparsest within eps; eps marked (from the summary table)."""
    w = tables["weights"]
    summary = tables.get("summary")
    eps = float(summary["eps"].iloc[0]) if summary is not None else None
    floor = 1e-12
    fig, ax = setup(plot)
    names = list(dict.fromkeys(w["coefficient_range"]))
    colours = sns.color_palette(plot.get("palette", "deep"), len(names))
    styles = {"error": ("-", "optimal subset"), "error_sparsest": ("--", "sparsest within eps")}
    handles = []
    for name, colour in zip(names, colours, strict=True):
        part = w[w["coefficient_range"] == name]
        label = name
        if summary is not None:
            s = summary[(summary["coefficient_range"] == name) & (summary["solution"] == "optimal")].iloc[0]
            label = f"{name} U[{s.low:.2f}, {s.high:.2f}]: {int(s.n_weights - s.within_eps)} beyond eps"
        handles.append(Line2D([], [], color=colour, lw=1.2, label=label))
        for column, (style, _) in styles.items():
            if column in part:
                x, y = _survival(np.maximum(part[column].to_numpy(), floor))
                ax.step(x, y, where="post", color=colour, ls=style, lw=1.2)
    handles += [
        Line2D([], [], color="0.2", ls=style, lw=1.2, label=text) for c, (style, text) in styles.items() if c in w
    ]
    if eps is not None:
        ax.axvline(eps, color="0.3", ls=":", lw=1)
        ax.annotate(
            f"eps = {eps:g}",
            (eps, 0.6),
            xycoords=("data", "axes fraction"),
            ha="left",
            va="center",
            rotation=90,
            fontsize="small",
            color="0.3",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"x = |w - subset sum| (clipped at {floor:g})")
    ax.set_ylabel("fraction of weights with error >= x")
    ax.legend(handles=handles, fontsize="x-small", loc="center left", frameon=False)
    n_weights = int(summary["n_weights"].iloc[0]) if summary is not None else len(w) // max(1, len(names))
    ax.set_title(plot.get("title", f"SubsetSum approximation of {n_weights:,} weights"))
    return fig
