"""Claims of Z6, Z7 and PS on hand-made tables whose verdicts and values are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltpipe.studies.pensia2020.claims import claims_ps
from ltpipe.studies.zhang2021.claims import claims_z6, claims_z7

Z6_CLAIMS = {"min_fall": 2.0, "min_rise": 10.0, "min_order": 0.8, "high_factor": 3.0}
# falls to its least error at round 7 (the last with >= r*/d = 0.2 left), then rises sharply
FIG6 = [1.0, 0.5, 0.4, 0.3, 0.2, 0.15, 0.12, 0.1, 1.5, 3.0]


def z6_rounds(curves, remaining=None, r_star=20, d=100, trials=2):
    """curves {N: median test error per round}; trials spread around it (+-10%) so the median is the curve."""
    rows = []
    for n, curve in curves.items():
        left = remaining if remaining is not None else [0.8**k for k in range(len(curve))]
        for t in range(trials):
            spread = 1.0 + (0.1 if t % 2 else -0.1) if trials > 1 else 1.0
            for k, (rem, err) in enumerate(zip(left, curve, strict=True)):
                rows.append({"n_samples": n, "trial": t, "round": k, "remaining": rem, "test_error": err * spread,
                             "teacher_kept": 0.5, "r_star": r_star, "d": d})  # fmt: skip
    return pd.DataFrame(rows)


def by_id(rows):
    out = {r["id"]: r for r in rows}
    assert len(out) == len(rows)
    for r in rows:
        assert set(r) >= {"id", "value", "op", "threshold", "verdict"}
    return out


def scaled(curve, s):
    return [s * e for e in curve]


def test_z6_all_pass_on_a_fig6_shape():
    rounds = z6_rounds({100: [2.0] * 10, 200: FIG6, 300: scaled(FIG6, 0.5)})
    rows = by_id(claims_z6({"rounds": rounds}, Z6_CLAIMS))
    assert set(rows) == {"z6.falls", "z6.rises", "z6.larger_n_lower", "z6.smallest_n_high"}
    assert all(r["verdict"] == "pass" for r in rows.values())
    assert rows["z6.falls"]["value"] == pytest.approx(1.0 / 0.1)
    assert rows["z6.rises"]["value"] == pytest.approx(3.0 / 0.1)
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
    # rises: last / least overall; N=20: 2 / 0.25 = 8, N=30: 0.05 / 0.05 = 1; worst 1
    assert rows["z6.rises"]["value"] == pytest.approx(1.0)
    # smallest N: 4 / max(0.25, 0.05) = 16
    assert rows["z6.smallest_n_high"]["value"] == pytest.approx(16.0)
    # rounds 0..2: errors strictly decrease with N -> Spearman -1 each
    assert rows["z6.larger_n_lower"]["value"] == pytest.approx(1.0)
    assert [rows[k]["verdict"] for k in ("z6.falls", "z6.rises", "z6.larger_n_lower", "z6.smallest_n_high")] == [
        "pass", "fail", "pass", "pass",
    ]  # fmt: skip


def test_z6_falls_ignores_errors_below_r_star():
    # N=20 keeps falling below r*/d: the least error above r*/d (0.5) is what counts, not 0.1
    remaining = [1.0, 0.5, 0.2, 0.1]
    curves = {10: [4.0] * 4, 20: [1.0, 0.8, 0.5, 0.1], 30: [0.5, 0.4, 0.25, 0.05]}
    rows = by_id(claims_z6({"rounds": z6_rounds(curves, remaining, trials=1)}, Z6_CLAIMS))
    assert rows["z6.falls"]["value"] == pytest.approx(2.0)  # min(1 / 0.5, 0.5 / 0.25)


Z7_CLAIMS = {"moderate": 0.2, "min_rise": 0.0, "min_drop": 0.01, "min_order": 0.8, "min_control_gap": 0.0}
# rises to its best at round 3, drops once sparse (rounds 8, 9 leave < 0.2)
FIG7 = [0.90, 0.92, 0.93, 0.94, 0.93, 0.92, 0.91, 0.90, 0.85, 0.70]
OFFSET = {1000: 0.0, 2000: 0.01, 3000: 0.02}


def z7_rounds(curves, arch="lenet5", mode="imp", trials=1):
    rows = []
    for n, curve in curves.items():
        for t in range(trials):
            for k, acc in enumerate(curve):
                rows.append({"arch": arch, "mode": mode, "n_samples": n, "trial": t, "round": k,
                             "remaining": 0.8**k, "test_acc": acc})  # fmt: skip
    return pd.DataFrame(rows)


def imp_curves(base=FIG7):
    return {n: [a + off for a in base] for n, off in OFFSET.items()}


def test_z7_all_pass_with_a_weaker_random_control():
    imp = imp_curves()
    control = z7_rounds({3000: [a - 0.05 for a in imp[3000]]}, mode="random")
    rows = by_id(claims_z7({"rounds": pd.concat([z7_rounds(imp), control])}, Z7_CLAIMS))
    assert set(rows) == {
        "z7.rises[lenet5]", "z7.drops[lenet5]", "z7.larger_n_higher[lenet5]", "z7.beats_random[lenet5,N=3000]",
    }  # fmt: skip
    assert all(r["verdict"] == "pass" for r in rows.values())
    assert rows["z7.rises[lenet5]"]["value"] == pytest.approx(0.04)
    assert rows["z7.drops[lenet5]"]["value"] == pytest.approx(0.24)
    assert rows["z7.larger_n_higher[lenet5]"]["value"] == pytest.approx(1.0)
    assert rows["z7.beats_random[lenet5,N=3000]"]["value"] == pytest.approx(0.05)


def test_z7_control_above_imp_fails():
    imp = imp_curves()
    control = z7_rounds({3000: [a + 0.03 for a in imp[3000]]}, mode="random")
    rows = by_id(claims_z7({"rounds": pd.concat([z7_rounds(imp), control])}, Z7_CLAIMS))
    assert rows["z7.beats_random[lenet5,N=3000]"]["verdict"] == "fail"
    assert rows["z7.beats_random[lenet5,N=3000]"]["value"] == pytest.approx(-0.03)
    assert rows["z7.rises[lenet5]"]["verdict"] == "pass"


def test_z7_control_gap_only_counts_sparse_rounds():
    imp = imp_curves()
    # above IMP while dense (rounds 0..7), below once < 0.2 is left (rounds 8, 9): only the latter count
    ctrl = [a + 0.1 if k < 8 else a - (0.02 if k == 8 else 0.04) for k, a in enumerate(imp[3000])]
    control = z7_rounds({3000: ctrl}, mode="reinit", trials=3)
    rows = by_id(claims_z7({"rounds": pd.concat([z7_rounds(imp), control])}, Z7_CLAIMS))
    assert rows["z7.beats_reinit[lenet5,N=3000]"]["value"] == pytest.approx(0.03)
    assert rows["z7.beats_reinit[lenet5,N=3000]"]["verdict"] == "pass"


def test_z7_values_by_hand_and_failures():
    # accuracy only falls; the best is dense; no drop for N=2000 whose last round is its best
    curves = {1000: [0.9, 0.8, 0.7], 2000: [0.5, 0.6, 0.95], 3000: [0.95, 0.9, 0.85]}
    rows = by_id(claims_z7({"rounds": z7_rounds(curves)}, Z7_CLAIMS | {"moderate": 0.7}))
    # moderate: rounds >= 1 with >= 0.7 left -> round 1 (0.8) only; rise per N: -0.1, 0.1, -0.05
    assert rows["z7.rises[lenet5]"]["value"] == pytest.approx(0.1)
    # drop per N: best - last = 0.2, 0, 0.1 -> worst 0
    assert rows["z7.drops[lenet5]"]["value"] == pytest.approx(0.0)
    assert rows["z7.drops[lenet5]"]["verdict"] == "fail"
    # rounds: (0.9, 0.5, 0.95) -> 0.5; (0.8, 0.6, 0.9) -> 0.5; (0.7, 0.95, 0.85) -> 0.5
    assert rows["z7.larger_n_higher[lenet5]"]["value"] == pytest.approx(0.5)
    assert rows["z7.larger_n_higher[lenet5]"]["verdict"] == "fail"


def test_z7_per_architecture():
    good = z7_rounds(imp_curves(), arch="lenet5")
    flat = z7_rounds({n: [0.9] * 10 for n in OFFSET}, arch="lenet-300-100")
    rows = by_id(claims_z7({"rounds": pd.concat([good, flat])}, Z7_CLAIMS))
    assert rows["z7.drops[lenet5]"]["verdict"] == "pass"
    assert rows["z7.drops[lenet-300-100]"]["verdict"] == "fail"
    assert rows["z7.drops[lenet-300-100]"]["value"] == pytest.approx(0.0)
    assert np.isnan(rows["z7.larger_n_higher[lenet-300-100]"]["value"])  # ties everywhere: no rank correlation
    assert rows["z7.larger_n_higher[lenet-300-100]"]["verdict"] == "fail"


def ps_summary(**overrides):
    row = {
        "solution": "optimal",
        "target_acc": 0.9812,
        "approx_acc": 0.9812,
        "max_error": 0.0099,
        "within_eps": 397000,
        "n_weights": 397000,
        "n_coefficients": 21,
        "kept_total": 3725871,
        "total_coefficients": 8337000,
        "solve_seconds": 1.0,
        "eps": 0.01,
        "coefficients": "per_weight",
        "n_train": 60000,
    }
    return pd.DataFrame([row | overrides])


PS_CLAIMS = {"max_acc_drop": 0.1}


def ps_rows(**overrides):
    return by_id(claims_ps({"summary": ps_summary(**overrides)}, PS_CLAIMS))


def test_ps_passes_within_eps_and_equal_accuracy():
    rows = ps_rows()
    assert set(rows) == {"ps.within_eps[optimal]", "ps.accuracy[optimal]"}
    assert all(r["verdict"] == "pass" for r in rows.values())
    assert rows["ps.within_eps[optimal]"]["value"] == 0.0099
    assert rows["ps.within_eps[optimal]"]["threshold"] == 0.01
    assert rows["ps.accuracy[optimal]"]["value"] == 0.0
    assert rows["ps.accuracy[optimal]"]["threshold"] == 0.1
    assert ps_rows(max_error=0.01)["ps.within_eps[optimal]"]["verdict"] == "pass"  # <= eps


def test_ps_error_above_eps_fails():
    rows = ps_rows(max_error=0.0101)
    assert rows["ps.within_eps[optimal]"]["verdict"] == "fail"
    assert rows["ps.accuracy[optimal]"]["verdict"] == "pass"


@pytest.mark.parametrize(
    ("approx_acc", "points", "verdict"),
    [
        (0.9792, 0.2, "fail"),  # a drop of 0.2 points (0.002 as a fraction)
        (0.9832, 0.2, "fail"),  # a gain of 0.2 points is no equality either
        (0.9807, 0.05, "pass"),
    ],
)
def test_ps_accuracy_in_points(approx_acc, points, verdict):
    rows = ps_rows(approx_acc=approx_acc)
    assert rows["ps.accuracy[optimal]"]["value"] == pytest.approx(points)
    assert rows["ps.accuracy[optimal]"]["verdict"] == verdict


def test_ps_one_claim_pair_per_solution():
    summary = pd.concat([ps_summary(), ps_summary(solution="sparsest", approx_acc=0.95, kept_total=10)])
    rows = by_id(claims_ps({"summary": summary}, PS_CLAIMS))
    assert rows["ps.accuracy[optimal]"]["verdict"] == "pass"
    assert rows["ps.accuracy[sparsest]"]["verdict"] == "fail"
    assert rows["ps.accuracy[sparsest]"]["value"] == pytest.approx(3.12)
