"""MW's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.plotting import panels
from ltpipe.studies.pensia2020.pc.figure import SUP_BALL, SUP_ONE
from ltpipe.studies.pensia2020.pc.laws import error_curves, fits

__all__ = ["fig_mw"]


def fig_mw(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """MW: the median error vs the width factor n (log-log), one weight and the random targets, with the
    least-squares power law of each curve."""
    fig, axes = panels(plot, 2)
    colors = sns.color_palette(plot.get("palette", "deep"))
    for ax, prefix in zip(axes, ("single", "network:"), strict=True):
        curves = [(p, cur) for p, cons, cur in error_curves(tables) if cons == "mw" and p.startswith(prefix)]
        for i, (part, cur) in enumerate(curves):
            f = fits(cur)
            color = colors[i % len(colors)]
            ax.plot(cur["n"], cur["error"], "o-", color=color, ms=3, label=part.split(":")[-1])
            if np.isfinite(f["exponent"]):
                ok = cur[cur["error"] > 0]
                c0 = np.exp(np.mean(np.log(ok["error"]) - f["exponent"] * np.log(ok["n"])))
                law = rf"$\propto n^{{{f['exponent']:.2f}}}$"
                ax.plot(ok["n"], c0 * ok["n"] ** f["exponent"], "--", color=color, lw=1, label=law)
        ax.set(xscale="log", yscale="log", xlabel="width factor n (units per weight and side)")
        ax.legend(fontsize="x-small")
    axes[0].set(ylabel=SUP_ONE, title="(a) one weight")
    axes[1].set(ylabel=SUP_BALL, title="(b) random targets")
    return fig
