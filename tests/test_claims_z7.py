"""Z7's claims on hand-made tables whose verdicts and values are known (PS's: tests/test_pensia2020.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import by_id

from ltpipe.studies.zhang2021.z7.claims import claims as claims_z7

Z7_CLAIMS = {
    "moderate": [0.2, 0.6],
    "se_margin": 2.0,
    "min_rise": 0.0,
    "min_drop": 0.01,
    "min_gain": 0.0,
    "min_control_gap": 0.0,
}
# round k leaves 0.8^k: rounds 3..7 (51% to 21%) are moderate, rounds 8 and 9 (17%, 13%) sparse
MODERATE, SPARSE = range(3, 8), (8, 9)
# rises from 0.90 (dense) to a moderate mean of 0.92, drops to 0.70 in the last round
FIG7 = [0.90, 0.92, 0.93, 0.94, 0.93, 0.92, 0.91, 0.90, 0.85, 0.70]
FLAT = [0.90] * 8 + [0.85, 0.70]  # the same, with pruning that changes nothing until over-pruned
OFFSET = {1000: 0.0, 2000: 0.01, 3000: 0.02}
SPREAD = (-0.01, 0.0, 0.01)  # per-trial shifts: SE = 0.01 / sqrt(3)
SE = 0.01 / np.sqrt(3)


def z7_rounds(curves, arch="lenet5", mode="imp", shifts=SPREAD, where=MODERATE, best_val=None):
    """curves {N: accuracy per round}; trial t adds shifts[t] to the rounds in ``where``; test_acc_at_best_val
    follows ``best_val`` {N: curve} (shifted alike) where given, else equals test_acc."""
    rows = []
    for n, curve in curves.items():
        for t, shift in enumerate(shifts):
            for k, acc in enumerate(curve):
                s = shift if k in where else 0.0
                at_best = (best_val[n][k] if best_val else acc) + s
                rows.append(
                    {
                        "arch": arch,
                        "mode": mode,
                        "n_samples": n,
                        "trial": t,
                        "round": k,
                        "remaining": 0.8**k,
                        "test_acc": acc + s,
                        "test_acc_at_best_val": at_best,
                    }
                )
    return pd.DataFrame(rows)


def imp_curves(base=FIG7, offset=OFFSET):
    return {n: [a + off for a in base] for n, off in offset.items()}


def z7(*frames, **claims):
    return by_id(claims_z7({"rounds": pd.concat(frames)}, Z7_CLAIMS | claims))


def pooled_bound(d, margin=2.0):
    """mean - margin * sd / sqrt(n) of the paired differences of every (N, trial)."""
    d = np.asarray(d, dtype=float)
    return d.mean() - margin * d.std(ddof=1) / np.sqrt(len(d))


def test_z7_all_pass_with_a_weaker_random_control():
    imp = imp_curves()
    control = z7_rounds({3000: [a - 0.05 for a in imp[3000]]}, mode="random", shifts=(0.01, 0.0, -0.01), where=SPARSE)
    rows = z7(z7_rounds(imp), control)
    assert set(rows) == {
        "z7.rises[lenet5]",
        "z7.rises_at_best_val[lenet5]",
        "z7.drops[lenet5]",
        "z7.larger_n_higher[lenet5]",
        "z7.beats_random[lenet5,N=3000]",
    }
    assert all(r["verdict"] == "pass" and r["op"] == ">" for r in rows.values())
    # per (N, trial): moderate mean 0.92 + shift - dense 0.90, pooled over the three N: 9 pairs
    pairs = [0.02 + shift for _ in OFFSET for shift in SPREAD]
    assert rows["z7.rises[lenet5]"]["value"] == pytest.approx(pooled_bound(pairs))
    assert rows["z7.rises_at_best_val[lenet5]"]["value"] == pytest.approx(pooled_bound(pairs))
    assert "pooled over the 9 pairs" in rows["z7.rises[lenet5]"]["detail"]
    assert rows["z7.drops[lenet5]"]["value"] == pytest.approx(0.22 - 2 * SE)
    assert rows["z7.drops[lenet5]"]["threshold"] == 0.01
    # accuracy averaged over 10 rounds moves by shift / 2: SE of each N's level SE / 2, of a difference SE / sqrt 2
    assert rows["z7.larger_n_higher[lenet5]"]["value"] == pytest.approx(0.01 - 2 * SE / np.sqrt(2))
    assert rows["z7.beats_random[lenet5,N=3000]"]["value"] == pytest.approx(0.05 - 2 * SE)


def test_z7_pruning_that_does_nothing_does_not_rise():
    # flat until over-pruned, the moderate rounds only jitter by trial (mean +0.001): no rise at any N
    rows = z7(z7_rounds(imp_curves(FLAT), shifts=(0.004, -0.002, 0.001)))
    # d = (0.004, -0.002, 0.001) at each N: mean 0.001
    assert rows["z7.rises[lenet5]"]["value"] == pytest.approx(pooled_bound([0.004, -0.002, 0.001] * 3))
    assert rows["z7.rises[lenet5]"]["verdict"] == "fail"
    assert rows["z7.rises_at_best_val[lenet5]"]["verdict"] == "fail"
    assert rows["z7.drops[lenet5]"]["verdict"] == "pass"


def test_z7_rise_smaller_than_two_standard_errors_fails():
    rows = z7(z7_rounds(imp_curves(), shifts=(-0.05, 0.0, 0.05)))
    assert rows["z7.rises[lenet5]"]["value"] == pytest.approx(pooled_bound([0.02 + s for s in (-0.05, 0, 0.05)] * 3))
    assert rows["z7.rises[lenet5]"]["value"] < 0 and rows["z7.rises[lenet5]"]["verdict"] == "fail"
    rows = z7(z7_rounds(imp_curves(), shifts=(-0.05, 0.0, 0.05)), se_margin=0.5)
    assert rows["z7.rises[lenet5]"]["verdict"] == "pass"


def test_z7_a_rise_at_one_n_of_three_is_not_a_rise_pooled_over_n_and_best_val_is_separate():
    curves = {1000: FIG7, 2000: FLAT, 3000: FLAT}
    flat_best = {n: FLAT for n in curves}
    rows = z7(z7_rounds(curves, best_val=flat_best))
    # only N = 1000 rises (by 0.02); the flat N by 0: pooled, the 9 pairs do not clear two standard errors
    pairs = [0.02 + s for s in SPREAD] + [s for s in SPREAD] * 2
    assert rows["z7.rises[lenet5]"]["value"] == pytest.approx(pooled_bound(pairs))
    assert rows["z7.rises[lenet5]"]["verdict"] == "fail"
    assert "N=1000: +0.0200" in rows["z7.rises[lenet5]"]["detail"]  # each N's mean stays in the detail
    assert rows["z7.rises_at_best_val[lenet5]"]["value"] == pytest.approx(pooled_bound(list(SPREAD) * 3))
    assert rows["z7.rises_at_best_val[lenet5]"]["verdict"] == "fail"
    # rising at every N, pooled it passes
    rows = z7(z7_rounds({n: FIG7 for n in curves}))
    assert rows["z7.rises[lenet5]"]["verdict"] == "pass"


def test_z7_drops_at_every_n_from_a_sparse_last_round():
    curves = imp_curves()
    curves[3000] = [*curves[3000][:9], 0.94]  # N = 3000 ends at its moderate mean: no drop
    rows = z7(z7_rounds(curves))
    assert rows["z7.drops[lenet5]"]["value"] == pytest.approx(-2 * SE)
    assert rows["z7.drops[lenet5]"]["verdict"] == "fail"
    # a last round that is not sparse (>= 0.2 left) cannot show over-pruning
    short = z7_rounds({n: c[:8] for n, c in imp_curves().items()})
    rows = z7(short)
    assert np.isnan(rows["z7.drops[lenet5]"]["value"]) and rows["z7.drops[lenet5]"]["verdict"] == "fail"


def test_z7_larger_n_higher_needs_each_step_beyond_two_standard_errors():
    rows = z7(z7_rounds(imp_curves(offset={1000: 0.02, 2000: 0.01, 3000: 0.0})))
    assert rows["z7.larger_n_higher[lenet5]"]["value"] == pytest.approx(-0.01 - 2 * SE / np.sqrt(2))
    assert rows["z7.larger_n_higher[lenet5]"]["verdict"] == "fail"
    # ordered, but the steps (0.002) are within the trials' spread
    rows = z7(z7_rounds(imp_curves(offset={1000: 0.0, 2000: 0.002, 3000: 0.004})))
    assert rows["z7.larger_n_higher[lenet5]"]["value"] == pytest.approx(0.002 - 2 * SE / np.sqrt(2))
    assert rows["z7.larger_n_higher[lenet5]"]["verdict"] == "fail"


def test_z7_one_trial_tests_nothing_per_n():
    imp = imp_curves()
    control = z7_rounds({3000: [a - 0.05 for a in imp[3000]]}, mode="reinit", shifts=(0.0,))
    rows = z7(z7_rounds(imp, shifts=(0.0,)), control)
    assert len(rows) == 5
    pooled = ("z7.rises[lenet5]", "z7.rises_at_best_val[lenet5]")  # pooled over N: three pairs, no spread
    for r in rows.values():
        if r["id"] in pooled:
            assert r["value"] == pytest.approx(0.02), r["id"]
        else:
            assert np.isnan(r["value"]) and r["verdict"] == "fail", r["id"]


def test_z7_control_above_imp_or_within_two_standard_errors_fails():
    imp = imp_curves()
    above = z7_rounds({3000: [a + 0.03 for a in imp[3000]]}, mode="random", where=SPARSE)
    rows = z7(z7_rounds(imp), above)
    assert rows["z7.beats_random[lenet5,N=3000]"]["value"] == pytest.approx(-0.03 - 2 * SE)
    assert rows["z7.beats_random[lenet5,N=3000]"]["verdict"] == "fail"
    assert rows["z7.rises[lenet5]"]["verdict"] == "pass"
    close = z7_rounds({3000: [a - 0.005 for a in imp[3000]]}, mode="random", where=SPARSE)
    rows = z7(z7_rounds(imp), close)
    assert rows["z7.beats_random[lenet5,N=3000]"]["value"] == pytest.approx(0.005 - 2 * SE)
    assert rows["z7.beats_random[lenet5,N=3000]"]["verdict"] == "fail"


def test_z7_control_gap_only_counts_sparse_rounds():
    imp = imp_curves()
    # above IMP while dense (rounds 0..7), below once < 0.2 is left (rounds 8, 9): only the latter count
    ctrl = [a + 0.1 if k < 8 else a - (0.02 if k == 8 else 0.04) for k, a in enumerate(imp[3000])]
    rows = z7(z7_rounds(imp), z7_rounds({3000: ctrl}, mode="reinit", where=SPARSE))
    assert rows["z7.beats_reinit[lenet5,N=3000]"]["value"] == pytest.approx(0.03 - 2 * SE)
    assert rows["z7.beats_reinit[lenet5,N=3000]"]["verdict"] == "pass"
    # a control at an N that IMP did not run cannot be compared
    rows = z7(z7_rounds(imp), z7_rounds({4000: ctrl}, mode="reinit"))
    assert np.isnan(rows["z7.beats_reinit[lenet5,N=4000]"]["value"])


def test_z7_per_architecture():
    good = z7_rounds(imp_curves(), arch="lenet5")
    flat = z7_rounds({n: [0.9] * 10 for n in OFFSET}, arch="lenet-300-100")
    rows = z7(good, flat)
    assert rows["z7.drops[lenet5]"]["verdict"] == "pass"
    assert rows["z7.drops[lenet-300-100]"]["verdict"] == "fail"
    assert rows["z7.drops[lenet-300-100]"]["value"] == pytest.approx(-2 * SE)
    assert rows["z7.larger_n_higher[lenet-300-100]"]["value"] == pytest.approx(-2 * SE / np.sqrt(2))
    assert rows["z7.larger_n_higher[lenet-300-100]"]["verdict"] == "fail"
