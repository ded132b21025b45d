"""Malach et al. 2020's figures (MW, MN), drawn from the experiments' Parquet tables.

Each figure ``FIG`` is ``fig_FIG(tables, plot)``: ``tables`` the experiment's
tables by name, ``plot`` the figure's own settings (see :mod:`ltpipe.plotting`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from ltpipe.plotting import panels
from ltpipe.studies.pensia2020.claims import error_curves, fits

__all__ = ["fig_mn", "fig_mw"]

METHOD_LABELS = {
    "neuron_pruning": "neuron pruning (Remark 3.5)",
    "random_features": "random features (k)",
    "pc": "weight pruning, subset sum",
    "mw": "weight pruning, one product",
}


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
                ax.plot(ok["n"], c0 * ok["n"] ** f["exponent"], "--", color=color, lw=1,
                        label=f"n^{f['exponent']:.2f}")  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="width factor n (units per weight and side)")
        ax.legend(fontsize="x-small")
    axes[0].set(ylabel="sup over |x| <= 1 and w of |wx - g(x)|", title="(a) one weight")
    axes[1].set(ylabel="sup over ||x|| <= 1 of ||f(x) - g(x)||", title="(b) random targets")
    return fig


def fig_mn(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """MN: (a) the single neuron's relative test error vs d per method; (b) the finite dataset's relative
    training error and (c) test accuracy vs k (median, interquartile range)."""
    trials = tables["trials"].assign(method=lambda d: d["method"].map(METHOD_LABELS).fillna(d["method"]))
    fig, axes = panels(plot, 3)
    common = {"hue": "method", "style": "method", "markers": True, "dashes": False, "estimator": "median",
              "errorbar": ("pi", 50), "err_style": "band", "palette": plot.get("palette", "deep")}  # fmt: skip
    neuron = trials[trials["task"] == "neuron"]
    sns.lineplot(data=neuron, x="d", y="test_error", ax=axes[0], **common)
    axes[0].set(xscale="log", yscale="log", xlabel="input dimension d",
                ylabel="relative test error", title="(a) one ReLU neuron")  # fmt: skip
    data = trials[trials["task"] == "mnist"].assign(test_acc=lambda d: 100 * d["test_acc"])
    sns.lineplot(data=data, x="k", y="train_error", ax=axes[1], **common)
    axes[1].set(xscale="log", xlabel="features per block k", ylabel="relative training error",
                title="(b) two MNIST digits: fit")  # fmt: skip
    sns.lineplot(data=data, x="k", y="test_acc", ax=axes[2], **common)
    axes[2].set(xscale="log", xlabel="features per block k", ylabel="test accuracy (%)",
                title="(c) two MNIST digits: test")  # fmt: skip
    for ax, values in zip(axes, (neuron["d"], data["k"], data["k"]), strict=True):
        ticks = sorted(set(values))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
        ax.legend(fontsize="x-small")
    return fig
