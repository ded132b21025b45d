"""The tensor initialisation (ltpipe.engines.tensor_init) and the ZT experiment built on it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from ltpipe.config import ConfigError
from ltpipe.data.teacher import build_problems, make_teachers, teacher_table
from ltpipe.engines import tensor_init as ti
from ltpipe.schema import validate
from ltpipe.studies.zhang2021.trials import run_trials
from ltpipe.studies.zhang2021.zt.claims import claims as claims_zt
from ltpipe.studies.zhang2021.zt.claims import n_within


def _rel(W, T):
    return (torch.linalg.vector_norm(W - T, dim=(1, 2)) / torch.linalg.vector_norm(T, dim=(1, 2))).numpy()


def _hand_built(weights: list[list[float]], supports: list[list[int]], d: int):
    """Target and mask (1, d, K) for one teacher given neuron by neuron."""
    k = len(weights)
    target = torch.zeros(1, d, k, dtype=torch.float64)
    mask = torch.zeros(1, d, k, dtype=torch.float64)
    for j, (w, s) in enumerate(zip(weights, supports, strict=True)):
        target[0, s, j] = torch.tensor(w, dtype=torch.float64)
        mask[0, s, j] = 1.0
    return target, mask


def _population_init(target, mask, seeds=(7,)):
    mom = ti.population_moments(target, mask)
    x = torch.zeros(target.shape[0], 1, target.shape[1], dtype=torch.float64)
    return ti.tensor_init(x, torch.zeros(target.shape[0], 1, dtype=torch.float64), mask, list(seeds), moments=mom)


def test_disjoint_supports_recover_the_teacher_signs_and_magnitudes_exactly():
    # three neurons on disjoint inputs, mixed signs and norms 0.5 .. 3: nothing is lost by pooling
    weights = [[1.0, -2.0, 0.5, 0.0], [-0.3, -0.2, 0.1, -0.4], [2.0, 1.0, -1.0, 1.5]]
    supports = [[0, 3, 5, 9], [1, 2, 7, 11], [4, 6, 8, 10]]
    target, mask = _hand_built(weights, supports, d=12)
    res = _population_init(target, mask)
    assert _rel(res.W, target)[0] < 1e-9
    # a neuron mostly negative is recovered with its own sign, not flipped to the positive side
    flipped = target.clone()
    flipped[:, :, 1] *= -1
    res = _population_init(flipped, mask)
    assert _rel(res.W, flipped)[0] < 1e-9


def test_dense_case_is_zhongs_and_exact():
    # r = d: every neuron sees x, the pooled input is sqrt(K) x and the method is Zhong et al.'s
    g = torch.Generator().manual_seed(3)
    d, k = 6, 3
    target = torch.rand(1, d, k, generator=g, dtype=torch.float64) - 0.5
    mask = torch.ones(1, d, k, dtype=torch.float64)
    res = _population_init(target, mask)
    # the neurons are interchangeable when they all see x: compare up to a permutation of columns
    W, T = res.W[0], target[0]
    cost = torch.cdist(W.T, T.T).numpy()
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    assert cost[rows, cols].max() < 1e-9


def test_overlapping_supports_recover_what_the_pooled_moments_see():
    """With overlaps u_j = B_j w_j: the method returns the part of w_j that x^ sees, pinv(B_j) B_j w_j, scaled by
    its norm over ||w_j|| (M2's weight on the direction carries the whole norm); exact where B_j is invertible."""
    tt = teacher_table([{"seed": 100 + t, "r": 15, "r_star": 15, "trial": t} for t in range(6)], d=30, k=4)
    p = build_problems(tt, 4)
    res = _population_init(p.target, p.mask, seeds=range(6))
    mom = ti.population_moments(p.target, p.mask)
    index = mom.index
    b, k, r = index.shape
    seen = torch.zeros_like(p.target)
    singular = 0
    for t in range(b):
        for j in range(k):
            Bj = mom.A[t][:, index[t, j]]
            w = p.target[t, index[t, j], j]
            part = torch.linalg.pinv(Bj, rtol=1e-6) @ (Bj @ w)
            seen[t, index[t, j], j] = part * part.norm() / w.norm()
            singular += int(torch.linalg.matrix_rank(Bj, rtol=1e-6) < r)
    assert singular > 0  # the case is exercised: some neuron's inputs pool alike
    np.testing.assert_allclose(res.W.numpy(), seen.numpy(), atol=1e-9)
    exact = [t for t in range(b) if torch.allclose(seen[t], p.target[t], atol=1e-12)]
    assert exact and (_rel(res.W, p.target)[exact] < 1e-9).all()


def test_population_moments_agree_with_the_sample_moments():
    tt = teacher_table([{"seed": 5, "r": 4, "r_star": 4, "trial": 0}], d=10, k=2)
    p = build_problems(tt, 400_000)
    em, pm = ti.empirical_moments(p.X, p.y, p.mask), ti.population_moments(p.target, p.mask)
    assert torch.allclose(em.S, pm.S) and torch.equal(em.index, pm.index)
    rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
    assert rel(em.m1, pm.m1) < 0.02
    assert rel(em.M2, pm.M2) < 0.06
    P = torch.linalg.qr(torch.randn(1, 4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).Q
    P = P.transpose(1, 2)
    assert rel(em.fourth(P), pm.fourth(P)) < 0.25
    v = torch.randn(1, 2, 2, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    v = v / v.norm(dim=-1, keepdim=True)
    assert rel(em.local(v), pm.local(v)) < 0.06
    # the third Hermite moment of ReLU vanishes (why M4 is used): E[y He_3(u . x^)] ~ 0 while E[y He_4] is not
    u = pm.M2[0] @ torch.ones(4, dtype=torch.float64)
    u = u / u.norm()
    z = (p.X[0][:, pm.index[0]].sum(1) / math.sqrt(2)) @ u
    var = float(u @ pm.S[0] @ u)
    yc = p.y[0] - p.y[0].mean()
    he3 = float((yc * (z**3 - 3 * var * z)).mean())
    he4 = float((yc * (z**4 - 6 * var * z**2 + 3 * var**2)).mean())
    assert abs(he3) < 0.2 * abs(he4)


def test_tensor_power_method_recovers_an_orthogonal_decomposition():
    g = torch.Generator().manual_seed(11)
    k = 4
    Q = torch.linalg.qr(torch.randn(2, k, k, generator=g, dtype=torch.float64)).Q
    lam = torch.tensor([[3.0, 1.0, 0.5, 2.0], [1.0, 1.1, 1.2, 1.3]], dtype=torch.float64)
    T = torch.einsum("bj,baj,bcj,bdj,bej->bacde", lam, Q, Q, Q, Q)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    got_lam, got = ti.decompose4(T, gens)
    for t in range(2):
        cos = (got[t].T @ Q[t]).abs()
        match = cos.argmax(1)
        assert torch.allclose(cos.max(1).values, torch.ones(k, dtype=torch.float64), atol=1e-10)
        assert torch.allclose(got_lam[t], lam[t, match], atol=1e-10)


def test_subspace_iteration_finds_the_top_eigenspace():
    g = torch.Generator().manual_seed(4)
    A = torch.randn(3, 9, 9, generator=g, dtype=torch.float64)
    M = A @ A.transpose(1, 2)
    V, _ = ti.subspace(M, 3, [torch.Generator().manual_seed(s) for s in range(3)], iters=2000, tol=1e-13)
    top = torch.linalg.eigh(M).eigenvectors[:, :, -3:]
    proj = V @ V.transpose(1, 2) - top @ top.transpose(1, 2)
    assert float(proj.abs().max()) < 1e-8


def test_batched_path_equals_one_trial_at_a_time():
    tt = teacher_table([{"seed": 40 + t, "r": 6, "r_star": 6, "trial": t} for t in range(3)], d=15, k=3)
    p = build_problems(tt, 3000)
    seeds = [40, 41, 42]
    whole = ti.tensor_init(p.X, p.y, p.mask, seeds)
    for t in range(3):
        one = ti.tensor_init(p.X[t : t + 1], p.y[t : t + 1], p.mask[t : t + 1], seeds[t : t + 1])
        assert torch.equal(one.W[0], whole.W[t])  # to the last bit


def test_error_falls_with_n():
    tt = teacher_table([{"seed": 60 + t, "r": 10, "r_star": 10, "trial": t} for t in range(4)], d=40, k=2)
    errs = []
    for n in (2_000, 200_000):
        p = build_problems(tt, n)
        errs.append(np.median(_rel(ti.tensor_init(p.X, p.y, p.mask, range(4)).W, p.target)))
    assert errs[1] < 0.5 * errs[0] and errs[1] < 0.2


def test_needs_equal_supports_and_r_at_least_k():
    tt = teacher_table([{"seed": 1, "r": 2, "r_star": 2, "trial": 0}], d=10, k=3)
    p = build_problems(tt, 10)
    with pytest.raises(ValueError, match="r >= K"):
        ti.tensor_init(p.X, p.y, p.mask, [1])
    mask = p.mask.clone()
    mask[0, :, 0] = 0
    mask[0, :5, 0] = 1
    with pytest.raises(ValueError, match="same number r"):
        ti.tensor_init(p.X, p.y, mask, [1])


ZT = {
    "k": 2,
    "d": 12,
    "n_samples": [300, 3000],
    "r": [4],
    "init": ["tensor", "matched"],
    "tensor": {"restarts": 5},
    "trials": 3,
    "eta": 2.5,
    "beta": 0.2,
    "max_iter": 2000,
    "tol": 1e-8,
    "success_tol": 1e-4,
    "data_mode": "full",
    "partitions": 1,
}


def test_zt_trials_pair_tensor_and_matched_ball_starts():
    teachers = make_teachers("zhang2021", "zt", ZT, 4, 3)
    trials, _ = run_trials(ZT, teachers)
    assert len(trials) == 2 * 2 * 3 and set(trials["init"]) == {"tensor", "matched"}
    tensor = trials[trials["init"] == "tensor"].set_index("seed")
    matched = trials[trials["init"] == "matched"].set_index("seed").loc[tensor.index]
    # the ball starts at the distance the tensor start reached, on the same trial
    np.testing.assert_allclose(matched["init_error"], tensor["init_error"], rtol=1e-12)
    assert tensor["init_floor"].notna().all() and matched["init_floor"].isna().all()
    assert trials["lam"].isna().all()
    # the estimation part is the distance to the population-moment start, so the error lies within it + floor
    assert (tensor["init_error"] <= tensor["init_estimation"] + tensor["init_floor"] + 1e-12).all()
    # batching does not change a trial
    split, _ = run_trials(ZT, teachers, max_batch_mb=0.05)
    pd.testing.assert_frame_equal(trials, split, check_exact=False, rtol=1e-9)


def test_ball_without_lam_is_refused():
    cfg = {**ZT, "init": ["ball"]}
    teachers = make_teachers("zhang2021", "zt", cfg, 4, 3)
    with pytest.raises(ValueError, match="lam"):
        run_trials(cfg, teachers)


def _shipped():
    return yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "config.yaml").read_text())


def test_config_refuses_a_tensor_start_with_r_below_k():
    cfg = _shipped()
    cfg["zhang2021"]["zt"]["r"] = [2, 10]
    cfg["zhang2021"]["zt"]["k"] = 3
    with pytest.raises(ConfigError, match=r"zt\.r: \[2\] below k = 3"):
        validate(cfg)
    cfg = _shipped()
    cfg["zhang2021"]["z4"]["init"] = "tensor"
    cfg["zhang2021"]["z4"]["r"] = [3, 10]
    with pytest.raises(ConfigError, match=r"z4\.r: \[3\] below k = 5"):
        validate(cfg)


# ----------------------------------------------------------------------------- claims


CLAIMS = {
    "target_error": 0.5,
    "slope": -0.5,
    "slope_tolerance": 0.2,
    "fit_points": 3,
    "min_success": 0.9,
    "max_gap": 0.2,
    "max_capped": 0.05,
}
NS = [1_000, 10_000, 100_000, 1_000_000]


def _table(estimation, tensor_success, matched_success, capped=0.0, growth=1.0, rs=(5, 10, 20)):
    """A hand-built ZT trials table, 10 trials per (r, N); W(0)'s error is the estimation error times
    (r / 5)^growth (so the N that brings it within 0.5 grows with r for growth > 0)."""
    rows = []
    for r in rs:
        for n, e, ts, ms in zip(NS, estimation, tensor_success, matched_success, strict=True):
            for t in range(10):
                for init, s in (("tensor", ts), ("matched", ms)):
                    moving = t < round(10 * capped)
                    rows.append(
                        {
                            "r": r,
                            "n_samples": n,
                            "eta": 2.5,
                            "init": init,
                            "trial": t,
                            "init_estimation": e if init == "tensor" else np.nan,
                            "init_error": e * (r / 5) ** growth + 0.01,
                            "init_floor": 0.01 if init == "tensor" else np.nan,
                            "success": t < round(10 * s),
                            "stop": "capped" if moving else "converged",
                            "settled": not moving,
                        }
                    )
    return {"trials": pd.DataFrame(rows)}


def _verdicts(tables):
    return {r["id"].split("[")[0]: r["verdict"] for r in claims_zt(tables, CLAIMS)}


GOOD = ([3.0, 1.0, 0.3, 0.1], [0.3, 0.8, 1.0, 1.0], [0.3, 0.9, 1.0, 1.0])


def test_zt_claims_pass_on_a_table_that_has_the_properties():
    rows = {r["id"]: r for r in claims_zt(_table(*GOOD), CLAIMS)}
    assert {r["verdict"] for r in rows.values()} == {"pass"}
    # r = 5 crosses 0.5 between N = 1e4 (1.01) and 1e5 (0.31), log-log: 1e4 * 10^(log(0.5/1.01) / log(0.31/1.01))
    expected = 1e4 * 10 ** (np.log(0.5 / 1.01) / np.log(0.31 / 1.01))
    assert f"r = 5: {expected:.3g}" in rows["zt.samples_grow[error=0.5]"]["detail"]
    assert rows["zt.samples_grow[error=0.5]"]["value"] > 0


@pytest.mark.parametrize(
    ("table", "failing"),
    [
        (_table([1.0, 1.0, 1.0, 1.0], [1, 1, 1, 1], [0.8, 1, 1, 1], growth=0.0), "zt.error_rate"),  # does not fall
        (_table([3.0, 0.03, 3e-4, 3e-6], *GOOD[1:]), "zt.error_rate"),  # falls like 1/N^2
        (_table(GOOD[0], [0.3, 0.8, 0.7, 0.6], [0.3, 0.8, 0.7, 0.6]), "zt.succeeds"),
        (_table(GOOD[0], [0.0, 0.3, 0.9, 1.0], [0.5, 1.0, 1.0, 1.0]), "zt.no_worse_than_ball"),
        (_table(*GOOD, capped=0.2), "zt.budget"),
        (_table(*GOOD, growth=-1.0), "zt.samples_grow"),  # fewer samples for larger r
    ],
)
def test_zt_claims_fail_where_the_property_is_absent(table, failing):
    verdicts = _verdicts(table)
    assert verdicts[failing] == "fail"
    # (an error that never falls within 0.5 leaves no N to fit: samples_grow is then untestable)
    assert all(v == "pass" or (k, v) == ("zt.samples_grow", "untestable") for k, v in verdicts.items() if k != failing)


def test_zt_claims_that_cannot_fail_are_untestable():
    """Where the balls at the same distance succeed at every N, AGD's success from the tensor start says nothing
    of it; with two r values, or none reaching the error inside the grid, there is no fit."""
    vacuous = _table(GOOD[0], [1, 1, 1, 1], [1, 1, 1, 1])
    verdicts = _verdicts(vacuous)
    assert verdicts["zt.succeeds"] == verdicts["zt.no_worse_than_ball"] == "untestable"
    rows = {r["id"]: r for r in claims_zt(vacuous, CLAIMS)}
    assert "succeed at every N" in rows["zt.succeeds[r=5]"]["detail"]
    assert _verdicts(_table(*GOOD, rs=(5, 10)))["zt.samples_grow"] == "untestable"
    never = _verdicts(_table([3.0, 2.0, 1.5, 1.0], *GOOD[1:]))
    assert never["zt.samples_grow"] == "untestable"


def test_zt_samples_grow_per_target_error():
    """The paper fixes no eps: a list of errors is an axis, one claim per error."""
    rows = {r["id"]: r for r in claims_zt(_table(*GOOD), {**CLAIMS, "target_error": [0.5, 0.2]})}
    assert {"zt.samples_grow[error=0.5]", "zt.samples_grow[error=0.2]"} <= set(rows)
    assert "reaches 0.2" in rows["zt.samples_grow[error=0.2]"]["detail"]


def test_n_within_interpolates_on_log_log_axes_and_marks_the_grid_edges():
    errors = pd.Series([4.0, 1.0, 0.25], index=[100.0, 1_000.0, 10_000.0])
    assert n_within(errors, 0.5) == (pytest.approx(10**3.5), "exact")  # halfway between 1.0 and 0.25 in logs
    assert n_within(errors, 8.0) == (100.0, "upper")
    assert n_within(errors, 0.1) == (10_000.0, "lower")


def test_zt_figure_draws_every_r_and_both_starts():
    from ltpipe.studies.zhang2021.zt.figure import fig_zt

    tables = _table([3.0, 1.0, 0.3, 0.1], [0.3, 0.8, 1.0, 1.0], [0.3, 0.9, 1.0, 1.0], rs=(5,))
    two = tables["trials"].assign(r=9)
    tables = {"trials": pd.concat([tables["trials"], two], ignore_index=True)}
    fig = fig_zt(tables, {"width": 4, "height": 3})
    ax_e, ax_s = fig.axes
    labels = [line.get_label() for line in ax_s.lines]
    assert labels == [f"r = {r}: {s}" for r in (5, 9) for s in ("tensor start", "ball at the same distance")]
    # the error panel has W(0) and its estimation part per r, and the N^-1/2 guide
    assert len(ax_e.lines) == 2 * 2 + 1
    np.testing.assert_allclose(ax_s.lines[0].get_ydata(), [0.3, 0.8, 1.0, 1.0])


def test_z2_to_z5_sections_can_start_from_the_tensor_initialisation():
    cfg = {**ZT, "n_samples": 2000, "init": "tensor", "lam": 0.1, "distance": "relative"}
    del cfg["tensor"]  # the engine's defaults
    teachers = make_teachers("zhang2021", "z4", cfg, 4, 3)
    trials, _ = run_trials(cfg, teachers)
    assert (trials["init"] == "tensor").all() and len(trials) == 3
    # W(0) is the tensor method's, not a ball at lam = 0.1
    assert (trials["init_error"] > 0.11).any() and trials["init_floor"].notna().all()
    ball, _ = run_trials({**cfg, "init": "ball"}, teachers)
    np.testing.assert_allclose(ball["init_error"], 0.1, rtol=1e-12)
