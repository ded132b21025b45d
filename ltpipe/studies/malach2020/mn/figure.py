"""MN's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from ltpipe.plotting import panels

__all__ = ["fig_mn"]


METHOD_LABELS = {
    "neuron_pruning": "neuron pruning (Remark 3.5)",
    "random_features": "random features (k)",
    "random_features_full": "random features (all k m)",
    "pc": "weight pruning, subset sum",
    "mw": "weight pruning, one product",
}


def fig_mn(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """MN: (a) the single neuron's relative test error vs d per method; (b) the finite dataset's relative
    training error and (c) test accuracy vs k (median, interquartile range); (d) on the single neuron, the
    relative test error of k random features, one line per d (the k a fixed error needs grows with d)."""
    raw = tables["trials"]
    sweep = raw[raw["method"] == "random_features_k"]
    trials = raw[raw["method"] != "random_features_k"].assign(
        method=lambda d: d["method"].map(METHOD_LABELS).fillna(d["method"])
    )
    fig, axes = panels(plot, 4 if len(sweep) else 3)
    common = {
        "hue": "method",
        "style": "method",
        "markers": True,
        "dashes": False,
        "estimator": "median",
        "errorbar": ("pi", 50),
        "err_style": "band",
        "palette": plot.get("palette", "deep"),
    }
    neuron = trials[trials["task"] == "neuron"]
    sns.lineplot(data=neuron, x="d", y="test_error", ax=axes[0], **common)
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="input dimension d",
        ylabel="relative test error",
        title="(a) one ReLU neuron",
    )
    data = trials[trials["task"] == "mnist"].assign(test_acc=lambda d: 100 * d["test_acc"])
    sns.lineplot(data=data, x="k", y="train_error", ax=axes[1], **common)
    axes[1].set(
        xscale="log", xlabel="features per block k", ylabel="relative training error", title="(b) two MNIST digits: fit"
    )
    sns.lineplot(data=data, x="k", y="test_acc", ax=axes[2], **common)
    axes[2].set(
        xscale="log", xlabel="features per block k", ylabel="test accuracy (%)", title="(c) two MNIST digits: test"
    )
    if len(sweep):
        med = sweep.groupby(["d", "k"])["test_error"].median().reset_index()
        sns.lineplot(data=med, x="k", y="test_error", hue="d", marker="o", palette="viridis", legend="full", ax=axes[3])
        axes[3].set(
            xscale="log",
            yscale="log",
            xlabel="random features k",
            ylabel="relative test error (median)",
            title="(d) one ReLU neuron: features needed",
        )
    for ax, values in zip(axes, (neuron["d"], data["k"], data["k"], sweep["k"]), strict=False):
        ticks = sorted(set(values))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
        ax.legend(fontsize="x-small", title="d" if len(sweep) and ax is axes[3] else None)
    return fig
