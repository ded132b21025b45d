"""Pensia et al. 2020's figures (PL, PS, PE), drawn from the experiments' Parquet tables.

Each figure ``FIG`` is ``fig_FIG(tables, plot)``: ``tables`` the experiment's
tables by name, ``plot`` the figure's own settings (see :mod:`ltpipe.plotting`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from ltpipe.plotting import panels, setup

__all__ = ["fig_pc_mw", "fig_pe", "fig_pl_a", "fig_pl_b", "fig_ps"]


def fig_pl_a(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PL (a): the supremum over the target interval of the optimal subset-sum error (exact) vs n (median,
    IQR), log y: the quantity Theorem 3 bounds by eps."""
    trials = tables["trials"]
    fig, ax = setup(plot)
    sns.lineplot(
        data=trials,
        x="n",
        y="worst_error",
        hue="distribution",
        style="distribution",
        markers=True,
        dashes=False,
        estimator="median",
        errorbar=("pi", 50),
        err_style="bars",
        palette=plot.get("palette", "deep"),
        ax=ax,
    )
    ax.set_yscale("log")
    ax.set_xlabel("number of coefficients n")
    r = float(trials["target_range"].iloc[0]) if "target_range" in trials else 0.5
    ax.set_ylabel(f"optimal error, sup over z in [-{r:g}, {r:g}]")
    ax.set_title(plot.get("title", "Random subset sum (Lueker)"))
    return fig


def fig_pl_b(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PL (b): n needed for each eps vs log10(1/eps); a straight line is n = O(log 1/eps)."""
    needed = tables["needed"].copy()
    needed["log10_inv_eps"] = np.log10(1.0 / needed["eps"])
    fig, ax = setup(plot)
    sns.lineplot(
        data=needed,
        x="log10_inv_eps",
        y="n_needed",
        hue="distribution",
        style="distribution",
        markers=True,
        dashes=False,
        palette=plot.get("palette", "deep"),
        ax=ax,
    )
    ax.set_xlabel(r"$\log_{10}(1/\epsilon)$")
    ax.set_ylabel(f"n needed (P[sup error <= eps] >= {needed['probability'].iloc[0]:g})")
    ax.set_title(plot.get("title", "Coefficients needed"))
    return fig


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
    handles += [Line2D([], [], color="0.2", ls=style, lw=1.2, label=text) for c, (style, text) in styles.items()
                if c in w]  # fmt: skip
    if eps is not None:
        ax.axvline(eps, color="0.3", ls=":", lw=1)
        ax.annotate(f"eps = {eps:g}", (eps, 0.6), xycoords=("data", "axes fraction"), ha="left", va="center",
                    rotation=90, fontsize="small", color="0.3")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"x = |w - subset sum| (clipped at {floor:g})")
    ax.set_ylabel("fraction of weights with error >= x")
    ax.legend(handles=handles, fontsize="x-small", loc="center left", frameon=False)
    n_weights = int(summary["n_weights"].iloc[0]) if summary is not None else len(w) // max(1, len(names))
    ax.set_title(plot.get("title", f"SubsetSum approximation of {n_weights:,} weights"))
    return fig


PE_LABELS = {"structure": "structure (Fig. 1c)", "structure-relu": "structure + ReLU", "wide": "wide random"}
PE_TITLES = {"fc2": "Two-layer FC", "fc4": "Four-layer FC", "lenet5": "LeNet5"}


def fig_pe(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PE (Fig. 2a-c): test accuracy against the weights kept (log x), one panel per network, one colour per
    masked variant: solid, the validation-selected epoch budget (mean +- one standard error over trials);
    dashed, the paper's best test accuracy over the budgets. The trained dense baseline: a star at its
    weights and a dotted line at its accuracy."""
    sel = tables["selected"].copy()
    sel["acc_selected"] = 100 * sel["test_acc_selected"]
    sel["acc_max"] = 100 * sel["test_acc_max_over_budgets"]
    networks = list(dict.fromkeys(sel["network"]))
    fig, axes = panels(plot, len(networks))
    variants = [v for v in PE_LABELS if v in set(sel["variant"])]
    colours = dict(zip(variants, sns.color_palette(plot.get("palette", "deep"), len(variants)), strict=True))
    for ax, network in zip(axes, networks, strict=True):
        part = sel[sel["network"] == network]
        for variant in variants:
            g = part[part["variant"] == variant].groupby("keep")
            if not len(g):
                continue
            m = g.agg(x=("params_kept", "mean"), y=("acc_selected", "mean"), sd=("acc_selected", "std"),
                      n=("acc_selected", "size"), ymax=("acc_max", "mean"))  # fmt: skip
            se = (m["sd"] / np.sqrt(m["n"])).fillna(0.0)
            ax.errorbar(m["x"], m["y"], yerr=se, color=colours[variant], marker="o", ms=3.5, lw=1.3, capsize=2,
                        label=PE_LABELS[variant])  # fmt: skip
            ax.plot(m["x"], m["ymax"], color=colours[variant], ls="--", lw=0.9, alpha=0.8)
        base = part[part["variant"] == "baseline"]
        if len(base):
            acc, n = base["acc_selected"].mean(), base["params_kept"].mean()
            ax.axhline(acc, color="0.3", ls=":", lw=1)
            ax.plot([n], [acc], marker="*", ms=10, color="0.15", ls="none", label="dense baseline (trained)")
            ax.annotate(f"{acc:.1f}%, {n:,.0f} weights", (n, acc), xytext=(0, 5), textcoords="offset points",
                        va="bottom", ha="center", fontsize="x-small", color="0.15")  # fmt: skip
        ax.set_xscale("log")
        ax.set_ylim(0, 104)
        ax.set_xlabel("weights kept")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(PE_TITLES.get(network, network))
    handles, labels = [], []
    for ax in axes:  # one legend for the figure, every entry once
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    handles.append(Line2D([], [], color="0.3", ls="--", lw=0.9, label="best over budgets (the paper's)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="x-small", frameon=False)
    fig.suptitle(plot.get("title", "Edge-popup on random networks (MNIST)"))
    return fig


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
    sns.lineplot(data=single, x="random_weights", y="error", style="construction", estimator="median",
                 errorbar=("pi", 50), err_style="band", ax=axes[0], **common)  # fmt: skip
    axes[0].set(xscale="log", yscale="log", xlabel="random weights of g (4n)",
                ylabel="sup over |x| <= 1 and w of |wx - g(x)|", title="(a) one weight (Lemma 1)")  # fmt: skip
    net = tables["network"].assign(construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS))
    sns.lineplot(data=net, x="params_random", y="error", style="target", estimator="median", errorbar=("pi", 50),
                 err_style="band", ax=axes[1], **common)  # fmt: skip
    axes[1].set(xscale="log", yscale="log", xlabel="parameters of the random network",
                ylabel="sup over ||x|| <= 1 of ||f(x) - g(x)||", title="(b) random targets")  # fmt: skip
    if have_ps:
        ps = tables["ps"].assign(construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS),
                                 pruned_acc=lambda d: 100 * d["pruned_acc"])  # fmt: skip
        sns.lineplot(data=ps, x="params_random", y="pruned_acc", style="construction", ax=axes[2], **common)
        axes[2].axhline(100 * float(ps["target_acc"].iloc[0]), color="0.3", lw=1, ls=":", label="target")
        axes[2].set(xscale="log", xlabel="parameters of the random network", ylabel="test accuracy (%)",
                    title="(c) the PS target (784-500-10)")  # fmt: skip
        axes[2].xaxis.set_minor_formatter(NullFormatter())  # a range under two decades: no crowded labels
        axes[2].legend(fontsize="x-small")
    for ax in axes[:2]:
        ax.legend(fontsize="x-small")
    return fig
