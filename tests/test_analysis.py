"""Rate fits, radius / N_needed and the claims, on hand-made tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltpipe.analysis import linear_fit, n_needed, radius
from ltpipe.claims import evaluate
from ltpipe.studies.zhang2021.z2.claims import censored_tau
from ltpipe.studies.zhang2021.z2.claims import claims as claims_z2
from ltpipe.studies.zhang2021.z2.radius import radius_table
from ltpipe.studies.zhang2021.z3.claims import claims as claims_z3
from ltpipe.studies.zhang2021.z3.rates import fit_rates
from ltpipe.studies.zhang2021.z4.claims import claims as claims_z4
from ltpipe.studies.zhang2021.z5.claims import claims as claims_z5


def geometric_curve(nu, start=0.1, iters=400, floor=1e-9, r=9, beta=0.2, trial=0):
    it = np.arange(iters + 1)
    err = np.maximum(start * nu**it, floor)
    err[:3] = [start, start * 0.5, start * 0.3]  # a transient before the linear part
    return pd.DataFrame(
        {"r": r, "beta": beta, "eta": 0.5, "trial": trial, "seed": 1, "iteration": it, "rel_error": err}
    )


def test_fit_rates_recovers_the_contraction_exactly():
    curves = pd.concat([geometric_curve(0.95, trial=0), geometric_curve(0.9, trial=1)])
    rates = fit_rates(curves, upper=1e-2, lower=1e-6).set_index("trial")
    np.testing.assert_allclose(rates["rate"], [0.95, 0.9], rtol=1e-12)
    np.testing.assert_allclose(rates["r2"], 1.0, atol=1e-12)
    # window: first error <= 1e-2 to last error >= 1e-6
    assert rates.loc[0, "fit_start"] == int(np.ceil(np.log(1e-2 / 0.1) / np.log(0.95)))
    assert rates.loc[0, "fit_end"] == int(np.floor(np.log(1e-6 / 0.1) / np.log(0.95)))


def test_a_two_mode_curve_bends_and_the_z3_claim_says_why():
    """err(t) = 0.09 * 0.9^t + 0.01 * 0.99^t: the fast mode leads at first, the slow one (0.99) is left by the
    window's last decade; a single line fits the window less well, and the claim's detail shows both rates."""
    it = np.arange(3001)
    err = 0.09 * 0.9**it + 0.01 * 0.99**it
    curve = pd.DataFrame({"r": 9, "beta": 0.2, "trial": 0, "seed": 1, "iteration": it, "rel_error": err})
    rates = fit_rates(curve, upper=1e-2, lower=1e-5)
    assert rates["rate_late"].iloc[0] == pytest.approx(0.99, abs=1e-6)  # the slow mode alone by then
    assert rates["rate_early"].iloc[0] < rates["rate_late"].iloc[0]
    straight = fit_rates(geometric_curve(0.95), upper=1e-2, lower=1e-6)
    assert straight["rate_early"].iloc[0] == pytest.approx(0.95) and straight["rate_late"].iloc[0] == pytest.approx(
        0.95
    )
    trials = pd.DataFrame(
        {"r": [9], "beta": [0.2], "trial": [0], "eta": [0.5], "h_min": [0.02], "stop": ["converged"], "settled": [True]}
    )
    bent = rates.assign(r2=0.95)
    rows = {
        c["id"]: c
        for c in claims_z3(
            {"rates": bent, "trials": trials}, {"min_fit_r2": 0.99, "min_rate_r2": 0.9, "max_capped": 0.05}
        )
    }
    detail = rows["z3.log_linear"]["detail"]
    assert rows["z3.log_linear"]["verdict"] == "fail" and "r = 9: 1 of 1" in detail
    assert "over its last 0.99000" in detail and "1 - eta h_min 0.99000" in detail


def test_fit_rates_without_window_is_nan():
    curve = geometric_curve(0.999, iters=50)  # never reaches 1e-2
    rates = fit_rates(curve, upper=1e-2, lower=1e-6)
    assert np.isnan(rates["rate"].iloc[0]) and rates["n_points"].iloc[0] == 0


def test_linear_fit_known_line():
    a, b, r2 = linear_fit([1, 2, 3, 4], [3, 5, 7, 9])
    assert (a, b) == pytest.approx((2.0, 1.0)) and r2 == pytest.approx(1.0)
    assert np.isnan(linear_fit([1, 1, 1], [2, 3, 4])[0])
    assert np.isnan(linear_fit([1, 2], [2, 3])[2])  # two points prove nothing
    assert linear_fit([1, 2], [2, 3], min_points=2)[0] == pytest.approx(1.0)


Z2 = {"min_r2": 0.8, "min_order": 0.5, "max_capped": 0.05}


def success_table(axis, boundary, grid, trials=4, low_succeeds=True, eta=0.5):
    """Success when the axis value is below (or above) a per-r boundary; every trial converged (so settled)."""
    rows = []
    for r, edge in boundary.items():
        for v in grid:
            for t in range(trials):
                ok = v <= edge if low_succeeds else v >= edge
                rows.append(
                    {"r": r, axis: v, "eta": eta, "trial": t, "success": ok, "stop": "converged", "settled": True}
                )
    return pd.DataFrame(rows)


def z2(trials):
    return {c["id"]: c for c in claims_z2({"trials": trials, "radius": radius_table(trials)}, Z2)}


def test_radius_and_claims_z2_pass_on_a_linear_boundary():
    r = [16, 25, 36, 49, 64]
    grid = list(range(1, 13))
    boundary = {ri: 13 - np.sqrt(ri) for ri in r}  # 9, 8, 7, 6, 5
    trials = success_table("lam", boundary, grid)
    rad = radius(trials)
    assert rad["radius"].tolist() == [9, 8, 7, 6, 5] and not rad["censored"].any()
    rows = z2(trials)
    assert rows["z2.radius_decreases[eta=0.5]"]["value"] == pytest.approx(-1.0)
    assert rows["z2.radius_linear[eta=0.5]"]["verdict"] == "pass"
    assert rows["z2.budget[eta=0.5]"]["verdict"] == "pass"
    assert set(rows) == {f"z2.{k}[eta=0.5]" for k in ("radius_decreases", "radius_linear", "budget")}


def test_a_radius_beyond_the_grid_is_a_lower_bound_not_dropped():
    """r = 16 and 25 succeed at every lambda of the grid: their radius is at least 8. The decrease to r = 36
    is still certain (8+ > 4), the pair 16-25 undecided; a line needs three radii inside the grid."""
    trials = success_table("lam", {16: 99, 25: 99, 36: 5}, [1, 2, 4, 8])
    table = radius_table(trials)
    assert table["bound"].tolist() == ["lower", "lower", "exact"] and table["radius"].tolist() == [8, 8, 4]
    rows = z2(trials)
    assert rows["z2.radius_decreases[eta=0.5]"]["value"] == pytest.approx(-2 / 3)
    assert rows["z2.radius_decreases[eta=0.5]"]["verdict"] == "pass"
    assert rows["z2.radius_linear[eta=0.5]"]["verdict"] == "untestable"
    assert "only 1 radii lie inside the lambda grid" in rows["z2.radius_linear[eta=0.5]"]["detail"]


def test_claims_z2_fail_when_the_radius_grows_with_r():
    rising = success_table("lam", {16: 2, 25: 4, 36: 8, 49: 9}, list(range(1, 11)))
    rows = z2(rising)
    assert rows["z2.radius_decreases[eta=0.5]"]["value"] == pytest.approx(1.0)
    assert rows["z2.radius_decreases[eta=0.5]"]["verdict"] == "fail"
    assert rows["z2.radius_linear[eta=0.5]"]["verdict"] == "fail"  # a rising line is not linear in -sqrt r
    # censored both ways: below the grid at r = 16 (nothing succeeds), beyond it at r = 25: surely rising
    censored = success_table("lam", {16: 0, 25: 99}, [1, 2, 4])
    assert radius_table(censored)["bound"].tolist() == ["upper", "lower"]
    rows = z2(censored)
    assert rows["z2.radius_decreases[eta=0.5]"]["value"] == pytest.approx(1.0)
    assert rows["z2.radius_decreases[eta=0.5]"]["verdict"] == "fail"


def test_censored_tau_decides_a_pair_only_where_the_intervals_do():
    assert censored_tau([1, 2], [(5, 5), (4, 4)])[1:] == (1, 0, 1)
    assert censored_tau([1, 2], [(5, np.inf), (5, np.inf)])[1:] == (0, 0, 1)  # both beyond the grid
    assert censored_tau([1, 2], [(5, 5), (0, np.nextafter(5, 0))])[1:] == (1, 0, 1)  # 5 against below 5
    assert censored_tau([1, 2], [(0, np.nextafter(5, 0)), (5, 5)])[1:] == (0, 1, 1)


def test_claims_z2_per_eta_and_the_budget_claim():
    """Each step size has its own radius; one whose trials are mostly still moving at max_iter fails its budget
    claim, and trials capped but settled do not count against it."""
    fast = success_table("lam", {16: 9, 25: 8, 36: 7, 49: 6}, list(range(1, 13)), eta=2.5)
    slow = success_table("lam", {16: 4, 25: 3, 36: 2, 49: 1}, list(range(1, 13)), eta=0.5)
    fast.loc[~fast["success"], "stop"] = "capped"  # capped, but settled: their outcome is final
    slow.loc[~slow["success"], ["stop", "settled"]] = ["capped", False]
    rows = z2(pd.concat([fast, slow]))
    assert "z2.radius_decreases" not in rows
    assert rows["z2.budget[eta=2.5]"]["value"] == 0 and rows["z2.budget[eta=2.5]"]["verdict"] == "pass"
    moving = (slow["stop"] == "capped").mean()
    assert rows["z2.budget[eta=0.5]"]["value"] == pytest.approx(moving) and moving > 0.5
    assert rows["z2.budget[eta=0.5]"]["verdict"] == "fail"
    # the moving trials say nothing of the landscape: the radius at eta 0.5 rests on the others
    assert rad_per_eta(pd.concat([fast, slow])) == {0.5: [4, 3, 2, 1], 2.5: [9, 8, 7, 6]}


def rad_per_eta(trials):
    rad = radius(trials)
    return {eta: g["radius"].tolist() for eta, g in rad.groupby("eta")}


def test_n_needed_and_claims_z4():
    r = [10, 30, 50, 70]
    grid = list(range(50, 1001, 50))
    trials = success_table("n_samples", {ri: 100 + 7 * ri for ri in r}, grid, low_succeeds=False)
    need = n_needed(trials)
    assert need["n_needed"].tolist() == [200, 350, 450, 600]
    rows = {c["id"]: c for c in claims_z4({"trials": trials}, {"min_r2": 0.9, "max_capped": 0.05})}
    assert all(c["verdict"] == "pass" for c in rows.values())
    assert set(rows) == {
        f"z4.{k}[eta=0.5]" for k in ("transition_visible", "n_needed_increases", "n_needed_linear", "budget")
    }


def test_n_needed_leaves_out_trials_capped_short_of_success():
    """Below the transition, trials that ran out of iterations say nothing about N: with them counted
    as failures the transition moves up; left out, it stays where the converged trials put it."""
    grid = [100, 200, 300, 400]
    trials = success_table("n_samples", {10: 200, 30: 300}, grid, trials=4, low_succeeds=False)
    # at N = 300 for r = 30, three of four trials were capped short of success (the budget, not N)
    cell = trials[(trials["r"] == 30) & (trials["n_samples"] == 300)].index[:3]
    trials.loc[cell, ["success", "stop", "settled"]] = [False, "capped", False]
    assert n_needed(trials)["n_needed"].tolist() == [200, 300]
    counted = trials.assign(stop="converged", settled=True)  # the same failures, but converged: they count
    assert n_needed(counted)["n_needed"].tolist() == [200, 400]
    # a capped trial that succeeded still counts as a success
    ok = trials.copy()
    ok.loc[cell, "success"] = True
    assert n_needed(ok)["n_needed"].tolist() == [200, 300]


def rates_table(gd, agd):
    rows = []
    for beta, values in ((0.0, gd), (0.2, agd)):
        for r, v in values.items():
            for t in range(3):
                rows.append({"r": r, "beta": beta, "trial": t, "rate": v, "r2": 0.9999})
    return pd.DataFrame(rows)


def test_claims_z3_pass_and_fail():
    r = [9, 16, 25, 36]
    good = rates_table({ri: 0.9 + 0.01 * np.sqrt(ri) for ri in r}, {ri: 0.85 + 0.01 * np.sqrt(ri) for ri in r})
    z3 = {"min_fit_r2": 0.99, "min_rate_r2": 0.9, "max_capped": 0.05}
    trials = pd.DataFrame({"stop": ["converged"] * 20 + ["capped"], "settled": [True] * 20 + [False]})
    rows = {c["id"]: c for c in claims_z3({"rates": good, "trials": trials}, z3)}
    assert rows["z3.budget"]["value"] == pytest.approx(1 / 21)
    assert all(c["verdict"] == "pass" for c in rows.values()), rows
    bad = rates_table({ri: 0.9 for ri in r}, {9: 0.95, 16: 0.8, 25: 0.8, 36: 0.8})
    bad.loc[0, "r2"] = 0.5
    rows = {c["id"]: c for c in claims_z3({"rates": bad, "trials": trials.assign(stop="capped", settled=False)}, z3)}
    assert rows["z3.budget"]["verdict"] == "fail"
    assert rows["z3.log_linear"]["verdict"] == "fail"
    assert rows["z3.agd_faster[beta=0.2]"]["value"] == pytest.approx(0.75)
    assert rows["z3.agd_faster[beta=0.2]"]["verdict"] == "fail"
    assert rows["z3.rate_increases[beta=0]"]["verdict"] == "fail"  # flat: slope 0


Z5 = {"min_r2": 0.9, "decade_tolerance": 0.1, "max_floor_ratio": 0.1, "max_capped": 0.05}


def z5_table(eta=0.5):
    rows = []
    for level in (1e-2, 1e-3, 1e-4):
        for r in (9, 16, 25, 36):
            for t in range(3):
                err = level * 0.3 * np.sqrt(r)
                rows.append(
                    {
                        "r": r,
                        "noise_level": level,
                        "eta": eta,
                        "trial": t,
                        "rel_error": err,
                        "stop": "converged",
                        "settled": True,
                        "stop_floor": err * 1e-3,
                    }
                )
    return pd.DataFrame(rows)


def test_claims_z5_proportional_to_noise():
    table = z5_table()
    out = {c["id"]: c for c in claims_z5({"trials": table}, Z5)}
    assert all(c["verdict"] == "pass" for c in out.values())
    assert out["z5.error_proportional_to_noise[eta=0.5]"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert out["z5.floor_below_error[eta=0.5]"]["value"] == pytest.approx(1e-3)
    table.loc[table["noise_level"] == 1e-4, "rel_error"] *= 5  # a floor: the low-noise curve stops falling
    out = {c["id"]: c for c in claims_z5({"trials": table}, Z5)}
    assert out["z5.error_proportional_to_noise[eta=0.5]"]["verdict"] == "fail"


def test_claims_z5_use_converged_trials_and_check_the_stop_floor():
    table = z5_table()
    # capped trials left far from their limit: counted, they would break the proportionality
    extra = z5_table().assign(stop="capped", settled=False, rel_error=0.5, trial=9)
    out = {c["id"]: c for c in claims_z5({"trials": pd.concat([table, extra])}, Z5)}
    assert out["z5.error_proportional_to_noise[eta=0.5]"]["verdict"] == "pass"
    assert out["z5.budget[eta=0.5]"]["value"] == pytest.approx(0.5)
    assert out["z5.budget[eta=0.5]"]["verdict"] == "fail"
    # a tolerance that leaves the iterate half the error away from its limit sets the error: fails
    table.loc[table["noise_level"] == 1e-4, "stop_floor"] = table["rel_error"] * 0.5
    out = {c["id"]: c for c in claims_z5({"trials": table}, Z5)}
    assert out["z5.floor_below_error[eta=0.5]"]["value"] == pytest.approx(0.5)
    assert out["z5.floor_below_error[eta=0.5]"]["verdict"] == "fail"


def test_claims_z5_fit_every_r_with_three_settled_noise_levels():
    table = z5_table()
    # r = 36 still moving at two noise levels: its slope cannot be fitted, the other r still decide
    moving = (table["r"] == 36) & (table["noise_level"] < 1e-2)
    table.loc[moving, ["stop", "settled"]] = ["capped", False]
    row = {c["id"]: c for c in claims_z5({"trials": table}, Z5)}["z5.error_proportional_to_noise[eta=0.5]"]
    assert row["verdict"] == "pass" and "r = 36 left out" in row["detail"]
    table.loc[table["r"] == 25, "rel_error"] *= np.where(table.loc[table["r"] == 25, "noise_level"] == 1e-4, 5, 1)
    row = {c["id"]: c for c in claims_z5({"trials": table}, Z5)}["z5.error_proportional_to_noise[eta=0.5]"]
    assert row["verdict"] == "fail"  # the fitted r still fail on their own
    table["settled"] = False
    table["stop"] = "capped"
    row = {c["id"]: c for c in claims_z5({"trials": table}, Z5)}["z5.error_proportional_to_noise[eta=0.5]"]
    assert row["verdict"] == "untestable"


def test_evaluate_one_experiment():
    trials = success_table("lam", {16: 5, 25: 4, 36: 3}, [1, 2, 3, 4, 5, 6])
    declared = ["z2.radius_decreases", "z2.radius_linear", "z2.budget"]
    tables = {"trials": trials, "radius": radius_table(trials)}
    df = evaluate("zhang2021", "z2", tables, Z2, declared)
    assert list(df.columns) == ["id", "figure", "claim", "value", "op", "threshold", "verdict", "detail"]
    assert len(df) == 3
    with pytest.raises(ValueError, match=r"claims z2\.budget are not declared"):
        evaluate("zhang2021", "z2", tables, Z2, declared[:2])


def test_n_needed_keeps_every_r_when_no_trial_settled():
    """An r whose trials were all capped short of success has a row: no N_needed, censored."""
    trials = success_table("n_samples", {10: 200, 30: 300}, [100, 200, 300], low_succeeds=False)
    trials.loc[trials["r"] == 30, ["success", "stop", "settled"]] = [False, "capped", False]
    need = n_needed(trials).set_index("r")
    assert need.loc[10, "n_needed"] == 200 and not need.loc[10, "censored"]
    assert np.isnan(need.loc[30, "n_needed"]) and need.loc[30, "censored"]
    rows = {c["id"]: c for c in claims_z4({"trials": trials}, {"min_r2": 0.9, "max_capped": 0.05})}
    assert rows["z4.transition_visible[eta=0.5]"]["value"] == pytest.approx(0.5)
    no_eta = trials.drop(columns="eta")
    assert n_needed(no_eta)["n_needed"].tolist()[0] == 200


def test_settled_capped_trials_count_and_not_against_the_budget():
    """A trial at the cap whose loss and error no longer moved has its final outcome: it counts for N_needed
    and Z5's claims, and not against the budget."""
    grid = [100, 200, 300]
    trials = success_table("n_samples", {10: 200, 30: 300}, grid, low_succeeds=False)
    cell = trials[(trials["r"] == 30) & (trials["n_samples"] == 300)].index[:3]
    trials.loc[cell, ["success", "stop"]] = [False, "capped"]  # settled failures
    assert n_needed(trials)["n_needed"].tolist()[1] != 300  # three of four settled failures count
    table = z5_table()
    table.loc[table["noise_level"] == 1e-2, "stop"] = "capped"
    out = {c["id"]: c for c in claims_z5({"trials": table}, Z5)}
    assert out["z5.budget[eta=0.5]"]["value"] == 0
    assert "36 of 36 trials settled" in out["z5.error_linear[eta=0.5]"]["detail"]
