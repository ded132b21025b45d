"""Figures mark what the budget decided: hatched heat-map cells, open markers, one panel per step size."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ltpipe.analysis import radius
from ltpipe.plotting import CAPPED_HATCH
from ltpipe.studies.zhang2021.z2.figure import fig_z2
from ltpipe.studies.zhang2021.z4.figure import fig_z4
from ltpipe.studies.zhang2021.z5.figure import fig_z5

PLOT = {"width": 3, "height": 2.5, "dpi": 50}


def grid_table(axis, values, capped_cells, eta):
    """Four trials per (r, axis value); in ``capped_cells`` three of them stop at max_iter."""
    rows = []
    for r in (16, 25, 36):
        for v in values:
            for t in range(4):
                capped = (r, v) in capped_cells and t < 3
                rows.append(
                    {
                        "r": r,
                        axis: v,
                        "eta": eta,
                        "trial": t,
                        "success": not capped and v <= 2 * r,
                        "stop": "capped" if capped else "converged",
                        "settled": not capped,  # still moving at the cap
                    }
                )
    return pd.DataFrame(rows)


def hatched(ax):
    return [p for p in ax.patches if p.get_hatch() == CAPPED_HATCH]


@pytest.mark.parametrize(("fig", "axis"), [(fig_z2, "lam"), (fig_z4, "n_samples")])
def test_heat_maps_hatch_exactly_the_capped_majority_cells_per_eta(fig, axis):
    values = [8, 32, 64]
    slow = grid_table(axis, values, {(36, 64), (25, 64)}, eta=0.5)
    fast = grid_table(axis, values, set(), eta=2.5)
    one_capped = grid_table(axis, values, set(), eta=1.0)
    one_capped.loc[0, "stop"] = "capped"  # one of four: not a majority
    trials = pd.concat([slow, fast, one_capped])
    tables = {"trials": trials, "radius": radius(trials)} if fig is fig_z2 else {"trials": trials}
    figure = fig(tables, PLOT)
    axes = [a for a in figure.axes if a.get_title()]
    assert [a.get_title().rsplit("= ", 1)[1] for a in axes] == ["0.5", "1", "2.5"]
    assert [len(hatched(a)) for a in axes] == [2, 0, 0]
    # the hatched cells are where the capped cells are drawn: column of r, row of the value (top = largest)
    cells = sorted((p.get_x(), p.get_y()) for p in hatched(axes[0]))
    assert cells == [(1.0, 0.0), (2.0, 0.0)]
    # the hatch's legend entry only where cells are hatched
    entries = [[t.get_text() for t in a.get_legend().get_texts()] if a.get_legend() else [] for a in axes]
    assert ["moving at the cap" in " ".join(e) for e in entries] == [True, False, False]
    # the grid's values as the config writes them, largest on top, read across
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["64", "32", "8"]
    assert {t.get_rotation() for t in axes[0].get_yticklabels()} == {0.0}
    plt.close(figure)


def test_z5_marks_capped_points_and_draws_the_stop_floor():
    rows = []
    for level in (1e-2, 1e-4):
        for r in (9, 16, 25):
            for t in range(3):
                capped = r == 25 and level == 1e-4
                rows.append(
                    {
                        "r": r,
                        "noise_level": level,
                        "eta": 2.5,
                        "trial": t,
                        "rel_error": level * np.sqrt(r),
                        "stop": "capped" if capped else "converged",
                        "settled": not capped,
                        "stop_floor": 1e-9,
                    }
                )
    figure = fig_z5({"trials": pd.DataFrame(rows)}, PLOT)
    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "stop-rule floor (median)" in labels and "most trials still moving at the cap" in labels
    open_marks = [
        ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_markerfacecolor() == "none" and len(ln.get_xdata())
    ]
    assert len(open_marks) == 1 and list(open_marks[0].get_xdata()) == [5.0]
    floor = next(ln for ln in ax.lines if ln.get_label() == "stop-rule floor (median)")
    np.testing.assert_allclose(floor.get_ydata(), 1e-9)
    plt.close(figure)
