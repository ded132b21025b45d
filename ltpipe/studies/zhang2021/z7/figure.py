"""Z7's figure, drawn from its Parquet tables (see :mod:`ltpipe.plotting` for the driver)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.plotting import panels

__all__ = ["fig_z7"]


def fig_z7(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 7: test accuracy (end of each round) vs % remaining (x reversed), one line per N.

    Mean over trials with a band of +- one standard error. IMP solid; the controls of Frankle &
    Carbin (random pruning, re-initialisation), where run, dashed. One panel per architecture.
    """
    rounds = tables["rounds"].copy()
    rounds["percent"] = 100 * rounds["remaining"]
    rounds["run"] = np.where(
        rounds["mode"] == "imp",
        "N=" + rounds["n_samples"].astype(str),
        "N=" + rounds["n_samples"].astype(str) + " " + rounds["mode"],
    )
    archs = list(dict.fromkeys(rounds["arch"]))
    fig, axes = panels(plot, len(archs))
    for ax, arch in zip(axes, archs, strict=True):
        data = rounds[rounds["arch"] == arch]
        order = sorted(data["run"].unique(), key=lambda r: (" " in r, int(r.split()[0][2:]), r))
        dashes = {r: (4, 2) if " " in r else "" for r in order}
        sns.lineplot(
            data=data,
            x="percent",
            y="test_acc",
            hue="run",
            hue_order=order,
            style="run",
            style_order=order,
            dashes=dashes,
            markers=True,
            estimator="mean",
            errorbar=("se", 1),
            err_kws={"alpha": 0.15},
            palette=plot.get("palette", "viridis"),
            ax=ax,
        )
        ax.set_xscale("log")
        ax.invert_xaxis()
        ticks = [t for t in (100, 50, 20, 10, 5, 3, 2, 1) if data["percent"].min() * 0.99 <= t]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("remaining weights (%)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize="x-small")
        ax.set_title(plot.get("title", f"IMP on MNIST, {arch} (Fig. 7)"))
    return fig
