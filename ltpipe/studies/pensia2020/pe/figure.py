"""PE's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ltpipe.plotting import panel_grid

__all__ = ["fig_pe"]


PE_LABELS = {"structure": "structure (Fig. 1c)", "structure-relu": "structure + ReLU", "wide": "wide random"}


PE_TITLES = {"fc2": "Two-layer FC", "fc4": "Four-layer FC", "lenet5": "LeNet5"}


def _budgets(ax: plt.Axes, runs: pd.DataFrame, variants: list[str], colours: dict) -> None:
    """Test accuracy against the epoch budget, one line per (variant, keep), labelled with its keep at the
    right: flat lines mean the budget no longer decides the comparison at that keep."""
    acc = runs.assign(acc=100 * runs["test_acc"]).groupby(["variant", "keep", "epochs"])["acc"].mean()
    labels = []  # (y, keep, colour) at each line's right end
    for variant in variants:
        if variant not in acc.index.get_level_values("variant"):
            continue
        for keep, line in acc.loc[variant].groupby(level="keep"):
            line = line.droplevel("keep")
            ax.plot(line.index, line.values, color=colours[variant], marker=".", ms=4, lw=1)
            labels.append((float(line.values[-1]), keep, colours[variant], line.index[-1]))
    labels.sort(key=lambda item: item[0])
    placed: list[float] = []
    for y, keep, colour, x in labels:  # spread the labels at least 3.5 points apart, so that none hides another
        y = max(y, placed[-1] + 3.5) if placed else y
        placed.append(y)
        ax.annotate(
            f"{keep:g}",
            (x, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize="xx-small",
            color=colour,
        )
    budgets = sorted(set(runs["epochs"]))
    ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
    ax.set_xlim(
        budgets[0] - 0.05 * (budgets[-1] - budgets[0] or 1), budgets[-1] + 0.2 * (budgets[-1] - budgets[0] or 1)
    )
    ax.set_ylim(0, 104)
    ax.set_xlabel("epoch budget (each its own cosine schedule)")
    ax.set_ylabel("test accuracy (%) at each keep")


def fig_pe(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PE (Fig. 2a-c). Top row: test accuracy against the number of weights kept (linear x as in the paper;
    ``plot.xscale: log`` for a log axis), one panel per network, one colour per masked variant: solid, the
    validation-selected epoch budget (mean +- one standard error over trials); dashed, the paper's best test
    accuracy over the budgets. The trained dense baseline: a star at its weights and a dotted line at its
    accuracy. Bottom row: test accuracy against the epoch budget at every keep (labelled), whether the budgets
    have flattened."""
    sel = tables["selected"].copy()
    sel["acc_selected"] = 100 * sel["test_acc_selected"]
    sel["acc_max"] = 100 * sel["test_acc_max_over_budgets"]
    networks = list(dict.fromkeys(sel["network"]))
    fig, grid = panel_grid(plot, 2, len(networks))
    variants = [v for v in PE_LABELS if v in set(sel["variant"])]
    colours = dict(zip(variants, sns.color_palette(plot.get("palette", "deep"), len(variants)), strict=True))
    for ax, below, network in zip(grid[0], grid[1], networks, strict=True):
        part = sel[sel["network"] == network]
        for variant in variants:
            g = part[part["variant"] == variant].groupby("keep")
            if not len(g):
                continue
            m = g.agg(
                x=("params_kept", "mean"),
                y=("acc_selected", "mean"),
                sd=("acc_selected", "std"),
                n=("acc_selected", "size"),
                ymax=("acc_max", "mean"),
            )
            se = (m["sd"] / np.sqrt(m["n"])).fillna(0.0)
            ax.errorbar(
                m["x"],
                m["y"],
                yerr=se,
                color=colours[variant],
                marker="o",
                ms=3.5,
                lw=1.3,
                capsize=2,
                label=PE_LABELS[variant],
            )
            ax.plot(m["x"], m["ymax"], color=colours[variant], ls="--", lw=0.9, alpha=0.8)
        base = part[part["variant"] == "baseline"]
        if len(base):
            acc, n = base["acc_selected"].mean(), base["params_kept"].mean()
            ax.axhline(acc, color="0.3", ls=":", lw=1)
            ax.plot([n], [acc], marker="*", ms=10, color="0.15", ls="none", label="dense baseline (trained)")
            # the label on the side of the star that has room: towards the middle of the panel
            left = n <= part["params_kept"].median()
            ax.annotate(
                f"{acc:.1f}%, {n:,.0f} weights",
                (n, acc),
                xytext=(6 if left else -6, -12),
                textcoords="offset points",
                va="top",
                ha="left" if left else "right",
                fontsize="x-small",
                color="0.15",
            )
        ax.set_xscale(plot.get("xscale", "linear"))
        ax.set_ylim(0, 104)
        ax.set_xlabel("number of weights kept")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(PE_TITLES.get(network, network))
        runs = tables["runs"]
        _budgets(below, runs[(runs["network"] == network) & (runs["variant"] != "baseline")], variants, colours)
    handles, labels = [], []
    for ax in grid[0]:  # one legend for the figure, every entry once
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    handles.append(Line2D([], [], color="0.3", ls="--", lw=0.9, label="best over budgets (the paper's)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="x-small", frameon=False)
    fig.suptitle(plot.get("title", "Edge-popup on random networks (MNIST)"))
    return fig
