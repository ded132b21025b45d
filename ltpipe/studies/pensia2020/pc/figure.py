"""PC's figure, PC against MW, drawn from PC's Parquet tables, which hold MW's rows too (see :mod:`ltpipe.plotting`
for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from ltpipe.plotting import panels

__all__ = ["CONSTRUCTION_LABELS", "fig_pc_mw"]


CONSTRUCTION_LABELS = {"pc": "subset sum (Pensia et al.)", "mw": "one product (Malach et al.)"}


def _trial_sup(single: pd.DataFrame) -> pd.DataFrame:
    """Per construction, n and trial: the sup over the grid of targets of the exact error (Lemma 1's
    "for every w")."""
    g = single.groupby(["construction", "n", "trial"], sort=False)
    return g.agg(error=("error", "max"), random_weights=("random_weights", "first")).reset_index()


def fig_pc_mw(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PC against MW: (a) one weight, the exact sup error vs the random weights of g; (b) random targets, the
    sup over the unit ball vs the random network's parameters; (c) the PS target's test accuracy."""
    have_ps = "ps" in tables and len(tables["ps"])
    fig, axes = panels(plot, 3 if have_ps else 2)
    single = _trial_sup(tables["single"]).assign(construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS))
    common = {"hue": "construction", "markers": True, "dashes": False, "palette": plot.get("palette", "deep")}
    sns.lineplot(
        data=single,
        x="random_weights",
        y="error",
        style="construction",
        estimator="median",
        errorbar=("pi", 50),
        err_style="band",
        ax=axes[0],
        **common,
    )
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="random weights of g (4n)",
        ylabel="sup over |x| <= 1 and w of |wx - g(x)|",
        title="(a) one weight (Lemma 1)",
    )
    net = tables["network"].assign(construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS))
    sns.lineplot(
        data=net,
        x="params_random",
        y="error",
        style="target",
        estimator="median",
        errorbar=("pi", 50),
        err_style="band",
        ax=axes[1],
        **common,
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="parameters of the random network",
        ylabel="sup over ||x|| <= 1 of ||f(x) - g(x)||",
        title="(b) random targets",
    )
    if have_ps:
        ps = tables["ps"].assign(
            construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS),
            pruned_acc=lambda d: 100 * d["pruned_acc"],
        )
        sns.lineplot(data=ps, x="params_random", y="pruned_acc", style="construction", ax=axes[2], **common)
        axes[2].axhline(100 * float(ps["target_acc"].iloc[0]), color="0.3", lw=1, ls=":", label="target")
        axes[2].set(
            xscale="log",
            xlabel="parameters of the random network",
            ylabel="test accuracy (%)",
            title="(c) the PS target (784-500-10)",
        )
        axes[2].xaxis.set_minor_formatter(NullFormatter())  # a range under two decades: no crowded labels
        axes[2].legend(fontsize="x-small")
    for ax in axes[:2]:
        ax.legend(fontsize="x-small")
    return fig
