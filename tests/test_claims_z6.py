"""Z6's claims on hand-made rounds tables whose verdicts and values are known."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import by_id, scaled

from ltpipe.studies.zhang2021.z6.claims import claims as claims_z6

Z6_CLAIMS = {"min_fall": 2.0, "min_rise": 10.0, "min_order": 0.8, "high_factor": 3.0, "max_capped": 0.05}
# falls to its least error at round 7 (the last with >= r*/d = 0.2 left), then rises sharply
FIG6 = [1.0, 0.5, 0.4, 0.3, 0.2, 0.15, 0.12, 0.1, 1.5, 3.0]


def z6_rounds(curves, remaining=None, r_star=20, d=100, trials=2, stop="converged", kept=0.5):
    """curves {N: median test error per round}; trials spread around it (+-10%) so the median is the curve."""
    rows = []
    for n, curve in curves.items():
        left = remaining if remaining is not None else [0.8**k for k in range(len(curve))]
        for t in range(trials):
            spread = 1.0 + (0.1 if t % 2 else -0.1) if trials > 1 else 1.0
            for k, (rem, err) in enumerate(zip(left, curve, strict=True)):
                rows.append(
                    {
                        "n_samples": n,
                        "trial": t,
                        "round": k,
                        "remaining": rem,
                        "test_error": err * spread,
                        "teacher_kept": kept,
                        "r_star": r_star,
                        "d": d,
                        "stop": stop,
                        "settled": stop != "capped",
                    }
                )
    return pd.DataFrame(rows)


def test_z6_all_pass_on_a_fig6_shape():
    rounds = z6_rounds({100: [2.0] * 10, 200: FIG6, 300: scaled(FIG6, 0.5)})
    rows = by_id(claims_z6({"rounds": rounds}, Z6_CLAIMS))
    assert set(rows) == {"z6.falls", "z6.rises", "z6.larger_n_lower", "z6.smallest_n_high", "z6.budget"}
    assert all(r["verdict"] == "pass" for r in rows.values())
    assert rows["z6.falls"]["value"] == pytest.approx(1.0 / 0.1)
    # the first round below r*/d (0.8^8 = 0.17 left) against the least error
    assert rows["z6.rises"]["value"] == pytest.approx(1.5 / 0.1)
    assert rows["z6.larger_n_lower"]["value"] == pytest.approx(1.0)
    assert rows["z6.smallest_n_high"]["value"] == pytest.approx(2.0 / 0.1)
    assert rows["z6.falls"]["threshold"] == 2.0 and rows["z6.falls"]["op"] == ">="
    assert rows["z6.rises"]["threshold"] == 10.0


def test_z6_larger_n_worse_fails_the_order():
    rounds = z6_rounds({100: [2.0] * 10, 200: scaled(FIG6, 0.5), 300: FIG6})
    rows = by_id(claims_z6({"rounds": rounds}, Z6_CLAIMS))
    assert rows["z6.larger_n_lower"]["verdict"] == "fail"
    # error ranks (3, 1, 2) against N ranks (1, 2, 3) at every round: Spearman -0.5
    assert rows["z6.larger_n_lower"]["value"] == pytest.approx(0.5)
    assert rows["z6.falls"]["verdict"] == "pass" and rows["z6.rises"]["verdict"] == "pass"


def test_z6_flat_curve_neither_falls_nor_rises():
    rounds = z6_rounds({100: [2.0] * 10, 200: [1.0] * 10, 300: [0.5] * 10})
    rows = by_id(claims_z6({"rounds": rounds}, Z6_CLAIMS))
    assert rows["z6.falls"]["verdict"] == "fail" and rows["z6.falls"]["value"] == pytest.approx(1.0)
    assert rows["z6.rises"]["verdict"] == "fail" and rows["z6.rises"]["value"] == pytest.approx(1.0)
    assert rows["z6.larger_n_lower"]["verdict"] == "pass"
    assert rows["z6.smallest_n_high"]["value"] == pytest.approx(2.0)
    assert rows["z6.smallest_n_high"]["verdict"] == "fail"


def test_z6_values_by_hand():
    # r*/d = 0.2 exactly at round 2: it counts as "down to r*/d"; round 3 (0.1 left) does not
    remaining = [1.0, 0.5, 0.2, 0.1]
    curves = {10: [4.0, 4.0, 4.0, 4.0], 20: [1.0, 0.4, 0.25, 2.0], 30: [0.8, 0.2, 0.1, 0.05]}
    rows = by_id(claims_z6({"rounds": z6_rounds(curves, remaining, trials=1)}, Z6_CLAIMS))
    # falls: dense / least error with >= 0.2 left; N=20: 1 / 0.25 = 4, N=30: 0.8 / 0.1 = 8; worst 4
    assert rows["z6.falls"]["value"] == pytest.approx(4.0)
    # rises: first round below r*/d (round 3) / least overall; N=20: 2 / 0.25 = 8, N=30: 0.05 / 0.05 = 1
    assert rows["z6.rises"]["value"] == pytest.approx(1.0)
    # smallest N: 4 / max(0.25, 0.05) = 16
    assert rows["z6.smallest_n_high"]["value"] == pytest.approx(16.0)
    # rounds 0..2: errors strictly decrease with N -> Spearman -1 each
    assert rows["z6.larger_n_lower"]["value"] == pytest.approx(1.0)
    assert [rows[k]["verdict"] for k in ("z6.falls", "z6.rises", "z6.larger_n_lower", "z6.smallest_n_high")] == [
        "pass",
        "fail",
        "pass",
        "pass",
    ]


def test_z6_falls_ignores_errors_below_r_star():
    # N=20 keeps falling below r*/d: the least error above r*/d (0.5) is what counts, not 0.1
    remaining = [1.0, 0.5, 0.2, 0.1]
    curves = {10: [4.0] * 4, 20: [1.0, 0.8, 0.5, 0.1], 30: [0.5, 0.4, 0.25, 0.05]}
    rows = by_id(claims_z6({"rounds": z6_rounds(curves, remaining, trials=1)}, Z6_CLAIMS))
    assert rows["z6.falls"]["value"] == pytest.approx(2.0)  # min(1 / 0.5, 0.5 / 0.25)


def test_z6_rises_needs_the_step_across_r_star_not_a_slow_drift():
    # least error at r*/d, then a slow drift up over many rounds: the last round is 30x the best,
    # but the first round below r*/d only 1.1x; only a sharp rise at r*/d may pass
    drift = [1.0, 0.5, 0.4, 0.3, 0.2, 0.15, 0.12, 0.1, 0.11, 0.2, 0.5, 1.0, 3.0]
    rounds = z6_rounds({100: [2.0] * 13, 200: drift, 300: scaled(drift, 0.5)})
    rows = by_id(claims_z6({"rounds": rounds}, Z6_CLAIMS))
    assert rows["z6.rises"]["value"] == pytest.approx(1.1)
    assert rows["z6.rises"]["verdict"] == "fail"
    assert rows["z6.falls"]["verdict"] == "pass"


def test_z6_per_eta_and_budget():
    """Each step size gets its own claims; a step size whose rounds hit max_iter fails its budget claim."""
    fast = z6_rounds({100: [2.0] * 10, 200: FIG6, 300: scaled(FIG6, 0.5)}).assign(eta=2.5)
    slow = z6_rounds({100: [2.0] * 10, 200: [1.0] * 10, 300: [0.5] * 10}, stop="capped").assign(eta=0.5)
    slow.loc[slow.index[:3], ["stop", "settled"]] = ["converged", True]
    rows = by_id(claims_z6({"rounds": pd.concat([fast, slow])}, Z6_CLAIMS))
    assert rows["z6.budget[eta=2.5]"]["verdict"] == "pass" and rows["z6.budget[eta=2.5]"]["value"] == 0
    assert rows["z6.budget[eta=0.5]"]["verdict"] == "fail"
    assert rows["z6.budget[eta=0.5]"]["value"] == pytest.approx(1 - 3 / len(slow))
    assert rows["z6.rises[eta=2.5]"]["verdict"] == "pass" and rows["z6.rises[eta=0.5]"]["verdict"] == "fail"
    # capped but settled rounds are final: they do not count against the budget
    rows = by_id(claims_z6({"rounds": pd.concat([fast, slow.assign(settled=True)])}, Z6_CLAIMS))
    assert rows["z6.budget[eta=0.5]"]["verdict"] == "pass"


def test_z6_per_initial_radius_and_the_teacher_kept_in_the_detail():
    """lam is a method axis: each radius has its own claims; a wide ball whose pruning cuts teacher weights
    from the first round (no rise at r*/d) fails rises while the narrow one passes, and the detail says how
    many teacher weights each kept."""
    narrow = z6_rounds({100: [2.0] * 10, 200: FIG6, 300: scaled(FIG6, 0.5)}, kept=1.0).assign(eta=2.5, lam=0.1)
    wide = z6_rounds({100: [2.0] * 10, 200: [1.0] * 10, 300: [0.5] * 10}, kept=0.6).assign(eta=2.5, lam=0.5)
    rows = by_id(claims_z6({"rounds": pd.concat([narrow, wide])}, Z6_CLAIMS))
    assert rows["z6.rises[eta=2.5,lam=0.1]"]["verdict"] == "pass"
    assert rows["z6.rises[eta=2.5,lam=0.5]"]["verdict"] == "fail"
    assert rows["z6.rises[eta=2.5,lam=0.5]"]["claim"].startswith("eta = 2.5, lam = 0.5: ")
    assert "in the first below 0.6, 0.6, 0.6" in rows["z6.rises[eta=2.5,lam=0.5]"]["detail"]
    assert {k for k in rows if k.startswith("z6.budget")} == {
        "z6.budget[eta=2.5,lam=0.1]",
        "z6.budget[eta=2.5,lam=0.5]",
    }


def test_z6_figure_has_a_panel_per_radius_and_one_legend_below_them():
    import matplotlib

    matplotlib.use("Agg")
    from ltpipe.studies.zhang2021.z6.figure import fig_z6

    rounds = pd.concat(
        [z6_rounds({100: FIG6, 200: scaled(FIG6, 0.5)}).assign(eta=2.5, lam=lam) for lam in (0.1, 0.5)],
        ignore_index=True,
    )
    fig = fig_z6({"rounds": rounds}, {"width": 3, "height": 2.5, "dpi": 50})
    assert [ax.get_title().rsplit("= ", 1)[1] for ax in fig.axes] == ["0.1", "0.5"]
    assert all(ax.get_legend() is None for ax in fig.axes)  # none inside a panel, over the curves
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["100", "200"]
