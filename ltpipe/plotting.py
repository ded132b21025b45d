"""The figure driver and the plotting helpers the studies share (png and pdf, from Parquet tables only).

Figure ``FIG`` of experiment ``EXP`` of study ``STUDY`` is drawn by
``fig_FIG(tables, plot) -> Figure`` in ``ltpipe.studies.STUDY.EXP.figure`` (the
registry's convention); ``plot`` is that figure's own settings from the config
(size, dpi, context, palette), so editing them reruns only that figure, and an
experiment's figure code is an input of that experiment's figures only.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch, Rectangle

from ltpipe.studies import study_function
from ltpipe.tables import read_table

__all__ = ["CAPPED_HATCH", "draw", "eta_title", "heatmap", "panel_grid", "panels", "setup"]

log = logging.getLogger(__name__)

CAPPED_HATCH = "////"


def setup(plot: dict[str, Any]) -> tuple[plt.Figure, plt.Axes]:
    """A themed figure with one axes, sized by the plot settings."""
    sns.set_theme(context=plot.get("context", "paper"), style="ticks")
    fig, ax = plt.subplots(figsize=(plot.get("width", 4.0), plot.get("height", 3.0)), layout="constrained")
    return fig, ax


def panels(plot: dict[str, Any], n: int) -> tuple[plt.Figure, list[plt.Axes]]:
    """A themed figure with ``n`` axes side by side, each of the plot settings' size."""
    fig, grid = panel_grid(plot, 1, n)
    return fig, list(grid[0])


def panel_grid(plot: dict[str, Any], rows: int, cols: int) -> tuple[plt.Figure, np.ndarray]:
    """A themed figure with a ``rows`` x ``cols`` grid of axes, each of the plot settings' size."""
    sns.set_theme(context=plot.get("context", "paper"), style="ticks")
    size = (plot.get("width", 4.0) * cols, plot.get("height", 3.0) * rows)
    fig, grid = plt.subplots(rows, cols, figsize=size, layout="constrained", squeeze=False)
    return fig, grid


def eta_title(base: str, eta: float, many: bool) -> str:
    """A panel's title: ``base``, with its step size when the figure has a panel per step size."""
    return f"{base}, η = {eta:g}" if many and np.isfinite(eta) else base


def heatmap(
    ax: plt.Axes,
    rate: pd.DataFrame,
    xlabel: str,
    ylabel: str,
    marks: pd.Series | None,
    hatched: pd.DataFrame | None = None,
    marks_label: str = "",
) -> None:
    """Success-rate heat map, black = all fail, white = all succeed (as in the paper).

    ``marks`` (per column, a row value) are joined by a red line, with ``marks_label`` in the legend;
    cells true in ``hatched`` (same labels as ``rate``) are hatched, with a legend entry saying so.
    """
    shown = rate.sort_index(ascending=False)
    sns.heatmap(
        shown,
        vmin=0,
        vmax=1,
        cmap="gray",
        ax=ax,
        cbar_kws={"label": "success rate"},
        linewidths=0.2,
        linecolor="0.5",
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    # the grid's values as written in the config (128, not 128.0: a long label runs into the next row's)
    ax.set_yticklabels(
        [f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v) for v in shown.index], rotation=0
    )
    ys = list(shown.index)
    xs = list(shown.columns)
    keys = []
    if marks is not None:
        pts = [(xs.index(c) + 0.5, ys.index(v) + 0.5) for c, v in marks.items() if np.isfinite(v) and v in ys]
        if pts:
            px, py = zip(*pts, strict=True)
            (line,) = ax.plot(px, py, "o-", color="tab:red", ms=4, lw=1, label=marks_label)
            keys.append(line)
    if hatched is not None:
        cells = hatched.reindex(index=ys, columns=xs).fillna(False).astype(bool).to_numpy()
        for i, j in zip(*np.nonzero(cells), strict=True):
            ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch=CAPPED_HATCH, edgecolor="tab:orange", lw=0))
        if cells.any():
            keys.append(
                Patch(
                    facecolor="0.5",
                    hatch=CAPPED_HATCH,
                    edgecolor="tab:orange",
                    label="most trials still moving at the cap",
                )
            )
    shown_keys = [k for k in keys if k.get_label()]
    if shown_keys:
        ax.legend(handles=shown_keys, loc="upper left", bbox_to_anchor=(0, -0.18), fontsize="x-small", frameon=False)


def draw(
    study: str,
    exp: str,
    figure_id: str,
    tables: dict[str, pd.DataFrame],
    plot: dict[str, Any],
    outputs: Sequence[str],
) -> None:
    """Draw one figure and save it to every path in ``outputs`` (format from the suffix)."""
    fig = study_function(study, exp, "figure", f"fig_{figure_id}")(tables, plot)
    for out in outputs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=plot.get("dpi", 200))
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    """ltpipe figure: draw one figure from its tables (NAME=PATH.parquet)."""
    parser = argparse.ArgumentParser(prog="ltpipe figure", description=main.__doc__)
    parser.add_argument("--study", required=True, help="the study of its experiment, e.g. zhang2021")
    parser.add_argument("--exp", required=True, help="the experiment whose figure module draws it, e.g. z3")
    parser.add_argument("--id", required=True, help="the figure id, e.g. z3_a")
    parser.add_argument("--plot", default="{}", help="the figure's plot settings as JSON")
    parser.add_argument("--out", action="append", required=True, help="an output path (repeat for png and pdf)")
    parser.add_argument("tables", nargs="+", help="NAME=PATH pairs, e.g. trials=results/zhang2021/z2/trials.parquet")
    args = parser.parse_args(argv)
    tables = {}
    for item in args.tables:
        name, _, path = item.partition("=")
        tables[name] = read_table(path)
    draw(args.study, args.exp, args.id, tables, json.loads(args.plot), args.out)
    log.info("wrote %s", ", ".join(args.out))
