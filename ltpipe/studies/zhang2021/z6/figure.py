"""Z6's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.analysis import moving, per_eta
from ltpipe.plotting import eta_title, panels

__all__ = ["fig_z6"]


def fig_z6(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 6: test error vs % of first-layer weights remaining (x reversed), one line per N, log y.

    One panel per step size and initial radius lam; open markers where most trials' rounds were still
    moving at max_iter.
    """
    table = tables["rounds"]
    table = table if "lam" in table else table.assign(lam=float("nan"))
    groups = [
        (eta, lam, g) for eta, by_eta in per_eta(table) for lam, g in by_eta.groupby("lam", sort=True, dropna=False)
    ]
    fig, axes = panels(plot, len(groups))
    for ax, (eta, lam, rounds) in zip(axes, groups, strict=True):
        rounds = rounds.assign(percent=100 * rounds["remaining"], moving=moving(rounds))
        sns.lineplot(
            data=rounds,
            x="percent",
            y="test_error",
            hue="n_samples",
            style="n_samples",
            markers=True,
            dashes=False,
            estimator="median",
            errorbar=("pi", 50),
            palette=plot.get("palette", "viridis"),
            ax=ax,
        )
        cells = rounds.groupby(["n_samples", "round"]).agg(
            percent=("percent", "median"),
            error=("test_error", "median"),
            capped=("moving", "mean"),
        )
        capped = cells[cells["capped"] > 0.5]
        if len(capped):
            ax.plot(
                capped["percent"],
                capped["error"],
                ls="none",
                marker="o",
                ms=8,
                mfc="none",
                color="tab:red",
                label="most rounds still moving at the cap",
            )
        ratio = 100 * float((rounds["r_star"] / rounds["d"]).iloc[0])
        ax.axvline(ratio, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_yscale("log")
        ticks = [t for t in (100, 50, 20, 10, 5, 3) if rounds["percent"].min() * 0.99 <= t]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("remaining weights (%)")
        ax.set_ylabel("test error (MSE)")
        title = eta_title(plot.get("title", "IMP on the sparse teacher (Fig. 6)"), eta, len(groups) > 1)
        ax.set_title(title + (f", $\\lambda$ = {lam:g}" if np.isfinite(lam) and len(groups) > 1 else ""))
    # one legend below the panels, every entry once: inside a panel it would hide the curves' minimum
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles, labels, title="N", loc="outside lower center", ncol=len(labels), fontsize="small")
    return fig
