"""PC's figure, PC against MW, drawn from PC's Parquet tables, which hold MW's rows too (see :mod:`ltpipe.plotting`
for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ltpipe.plotting import panels
from ltpipe.studies.pensia2020.pc.laws import n_for_eps

__all__ = ["CONSTRUCTION_LABELS", "SUP_BALL", "SUP_ONE", "fig_pc_mw"]


CONSTRUCTION_LABELS = {"pc": "subset sum (Pensia et al.)", "mw": "one product (Malach et al.)"}
# the sups the two error panels show (mathtext), shared with MW's figure
SUP_ONE = r"$\sup_{|x| \leq 1,\ w}\ |w x - g(x)|$"
SUP_BALL = r"$\sup_{\|x\| \leq 1}\ \|f(x) - g(x)\|$"


def _trial_sup(single: pd.DataFrame) -> pd.DataFrame:
    """Per construction, n and trial: the sup over the grid of targets of the exact error (Lemma 1's
    "for every w")."""
    g = single.groupby(["construction", "n", "trial"], sort=False)
    return g.agg(error=("error", "max"), random_weights=("random_weights", "first")).reset_index()


def fig_pc_mw(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """PC against MW: (a) one weight, the exact sup error vs the random weights of g; (b) the widest random
    targets of each depth, the sup over the unit ball vs the random network's parameters; (c) per target width
    d, the width factor n each construction needs for the sup error the claims read (``eps_d``: the curve's
    median, interpolated; log-log); (d) the PS target's test accuracy."""
    have_ps = "ps" in tables and len(tables["ps"])
    fig, axes = panels(plot, 4 if have_ps else 3)
    single = _trial_sup(tables["single"]).assign(construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS))
    common = {
        "hue": "construction",
        "hue_order": list(CONSTRUCTION_LABELS.values()),
        "markers": True,
        "dashes": False,
        "palette": plot.get("palette", "deep"),
    }
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
        ylabel=SUP_ONE,
        title="(a) one weight (Lemma 1)",
    )
    net = tables["network"].assign(construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS))
    widest = net[net["width"] == net.groupby("depth")["width"].transform("max")]
    sns.lineplot(
        data=widest,
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
        ylabel=SUP_BALL,
        title="(b) random targets, widest d",
    )
    eps = plot.get("eps_d", 0.02)
    need = [
        {"construction": c, "depth": f"depth {depth}", "width": d, "n": n_for_eps(curve, eps)}
        for (c, depth, d), g in net.groupby(["construction", "depth", "width"], sort=True)
        for curve in [g.groupby("n").agg(error=("error", "median")).reset_index()]
    ]
    need = pd.DataFrame(need)
    reached = need[np.isfinite(need["n"])]
    if len(reached):
        sns.lineplot(data=reached, x="width", y="n", style="depth", ax=axes[2], **common)
    else:
        axes[2].text(0.5, 0.5, f"no width reaches {eps:g}", transform=axes[2].transAxes, ha="center")
    axes[2].set(
        xscale="log",
        yscale="log",
        xlabel="target width d",
        ylabel=f"n needed for sup error {eps:g}",
        title="(c) width factor against d",
    )
    widths = sorted(set(need["width"]))
    axes[2].set_xticks(widths, [f"{w:g}" for w in widths])
    axes[2].xaxis.set_minor_formatter(NullFormatter())
    axes[2].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[2].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[2].yaxis.set_minor_formatter(NullFormatter())
    if len(reached):
        # the constructions' colours are named in (a) and (b); here only the depths, in a row above the data
        handles, labels = axes[2].get_legend_handles_labels()
        depths = [(h, lab) for h, lab in zip(handles, labels, strict=True) if lab.startswith("depth ")]
        axes[2].set_ylim(top=3 * float(reached["n"].max()))
        if depths:
            axes[2].legend(*zip(*depths, strict=True), fontsize="x-small", loc="upper center", ncols=len(depths))
        elif axes[2].get_legend() is not None:
            axes[2].get_legend().remove()
    if have_ps:
        ps = tables["ps"].assign(
            construction=lambda d: d["construction"].map(CONSTRUCTION_LABELS),
            pruned_acc=lambda d: 100 * d["pruned_acc"],
        )
        sns.lineplot(data=ps, x="params_random", y="pruned_acc", style="construction", ax=axes[3], **common)
        axes[3].axhline(100 * float(ps["target_acc"].iloc[0]), color="0.3", lw=1, ls=":", label="target")
        axes[3].set(
            xscale="log",
            xlabel="parameters of the random network",
            ylabel="test accuracy (%)",
            title="(d) the PS target (784-500-10)",
        )
        # a range under two decades: label a few round values, not only the one power of ten inside it
        axes[3].xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes[3].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}".replace("e+0", "e")))
        axes[3].xaxis.set_minor_formatter(NullFormatter())
        axes[3].legend(fontsize="x-small")
    for ax in axes[:2]:
        handles, _ = ax.get_legend_handles_labels()
        band = Patch(facecolor="0.6", alpha=0.3, label="interquartile range over trials")
        # lower left: the errors start near 1 on the smallest networks and fall to the right, so it stays empty
        ax.legend(handles=[*handles, band], fontsize="x-small", loc="lower left")
    return fig
