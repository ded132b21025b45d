"""Pensia et al. 2020: PL's exact supremum error against brute force and hand-computed cases, the n needed,
PS's coefficient ranges, and the PL and PS claims on hand-made tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ltpipe.analysis import mcnemar_exact
from ltpipe.engines.subsetsum import brute_force
from ltpipe.studies.pensia2020.pl.claims import claims as claims_pl
from ltpipe.studies.pensia2020.pl.figure import fig_pl_a
from ltpipe.studies.pensia2020.pl.job import all_sums, coefficients, n_needed, pl_trials, sup_error
from ltpipe.studies.pensia2020.ps.claims import claims as claims_ps
from ltpipe.studies.pensia2020.ps.figure import fig_ps
from ltpipe.studies.pensia2020.ps.job import coefficient_bounds, coefficient_ranges, draw_coefficients


def exact_by_enumeration(a, r):
    """Independent reference: every subset sum sorted; the distance to the nearest sum, by brute force, at both
    ends and at every midpoint of consecutive sums inside [-r, r] (where the supremum must lie)."""
    s = np.sort(((np.arange(2 ** len(a))[:, None] >> np.arange(len(a))) & 1) @ np.asarray(a, dtype=float))
    mids = (s[1:] + s[:-1]) / 2
    z = np.concatenate([[-r, r], mids[(mids >= -r) & (mids <= r)]])
    f = np.abs(z[:, None] - s[None, :]).min(axis=1)
    return f.max(), z, f


def dyadic(rng, n, scale, bits=10):
    """Coefficients on a 2^-bits grid: every sum, half-gap and midpoint is exact in float64."""
    return rng.integers(-(2**bits), 2**bits, size=n, endpoint=True) * (scale / 2**bits)


@pytest.mark.parametrize(
    ("a", "r", "sup", "where"),
    [
        # sums -0.625, 0, 0.125, 0.75: half-gaps 0.3125 (midpoints -0.3125 and 0.4375, both inside), 0.0625;
        # -0.5 is 0.125 from the sum -0.625 outside the interval (0.5 from 0), 0.5 is 0.25 from 0.75
        ([0.75, -0.625], 0.5, 0.3125, -0.3125),
        # sums 0, 0.25, 0.5, 0.75: the worst target is the end -0.5, 0.5 away from the sum 0
        ([0.25, 0.5], 0.5, 0.5, -0.5),
        # sums -0.375, -0.125, 0, 0.25: half-gaps 0.125; the end 0.5 is 0.25 from 0.25
        ([-0.375, 0.25], 0.5, 0.25, 0.5),
        # sums 0, 2: the pair's midpoint 1 lies outside [-0.5, 0.5]; both ends are 0.5 from 0
        ([2.0], 0.5, 0.5, -0.5),
        # sums 0, 1, -1, 0 (two empty-or-cancelling subsets): within [-1, 1] the half-gaps are 0.5, at -0.5 first
        ([1.0, -1.0], 1.0, 0.5, -0.5),
    ],
)
def test_sup_error_hand_computed(a, r, sup, where):
    assert sup_error(np.array(a), r) == (sup, where)
    assert sup_error(np.array(a), r, window=1) == (sup, where)


@pytest.mark.parametrize("window", [1, 7, 2**22])
def test_sup_error_equals_brute_force_on_small_n(window):
    rng = np.random.default_rng(3)
    for _ in range(150):
        n = int(rng.integers(1, 11))
        a = dyadic(rng, n, float(rng.choice([0.25, 1.0, 4.0])))
        r = float(rng.choice([0.125, 0.5, 2.0]))
        sup, where = sup_error(a, r, window=window)
        ref, z, f = exact_by_enumeration(a, r)
        assert sup == ref
        assert where == z[f == ref].min()  # the smallest z attaining it
        s = all_sums(a)
        assert np.abs(where - s).min() == sup


def test_sup_error_bounds_a_dense_grid():
    """Every point of a dense grid is at most the supremum from its nearest sum, and the grid's worst is
    within half a grid step of it."""
    for dist, n in [("uniform", 6), ("product", 9), ("normal", 12)]:
        a = coefficients(dist, n, 11)
        grid = np.linspace(-0.5, 0.5, 100_001)
        err, _ = brute_force(np.repeat(a[None], grid.size, 0), grid)
        sup, _ = sup_error(a, 0.5)
        assert err.max() <= sup + 1e-15
        assert sup - err.max() <= (grid[1] - grid[0]) / 2 + 1e-15


def test_sup_error_windows_and_meet_in_the_middle_agree_with_full_enumeration():
    a = coefficients("uniform", 18, 5)
    s = np.sort(all_sums(a))  # first-half sums + second-half sums, as sup_error forms them up to rounding
    inside = s[(s >= -0.5) & (s <= 0.5)]
    full = max(np.diff(inside).max() / 2, inside[0] + 0.5 if s[0] >= -0.5 else 0.0)
    one = sup_error(a, 0.5)
    many = sup_error(a, 0.5, window=5_000)  # about 15 windows
    assert one == many
    assert one[0] == pytest.approx(full, rel=1e-9, abs=1e-15)


def test_pl_trials_is_the_exact_supremum_per_trial():
    cfg = {"distributions": ["uniform", "product"], "n": [3, 8], "trials": 3, "target_range": 0.5}
    df = pl_trials(cfg, 7)
    assert list(df.columns) == [
        "distribution",
        "n",
        "trial",
        "seed",
        "target_range",
        "worst_error",
        "worst_target",
    ]
    assert len(df) == 2 * 2 * 3 and df["seed"].is_unique
    grid = np.linspace(-0.5, 0.5, 201)
    for row in df.itertuples():
        a = coefficients(row.distribution, row.n, row.seed)
        assert (row.worst_error, row.worst_target) == sup_error(a, 0.5)
        err, _ = brute_force(np.repeat(a[None], grid.size, 0), grid)
        assert row.worst_error >= err.max() - 1e-15  # the old grid's worst is a lower bound
    pd.testing.assert_frame_equal(pl_trials(cfg, 7, workers=2), df)


def test_coefficient_distributions():
    u = np.concatenate([coefficients("uniform", 1000, s) for s in range(20)])
    p = np.concatenate([coefficients("product", 1000, s) for s in range(20)])
    g = np.concatenate([coefficients("normal", 1000, s) for s in range(20)])
    assert u.min() >= -1 and u.max() <= 1 and abs(u.var() - 1 / 3) < 0.01
    assert abs(p.var() - 1 / 9) < 0.005  # E[X^2] E[Y^2] = 1/9
    assert abs(g.std() - 1) < 0.02 and g.max() > 1
    with pytest.raises(ValueError, match="unknown distribution"):
        coefficients("cauchy", 3, 0)


def test_n_needed_and_claims_on_a_hand_made_table():
    rows = []
    for n in range(2, 20):
        for t in range(10):
            # worst error 10^(-(n - 2) / 4), except one trial in ten that is 10x worse
            worst = 10 ** (-(n - 2) / 4) * (10 if t == 0 else 1)
            rows.append({"distribution": "uniform", "n": n, "trial": t, "worst_error": worst})
    trials = pd.DataFrame(rows)
    need = n_needed(trials, [1e-1, 1e-2, 1e-3], probability=0.9)
    assert need["n_needed"].tolist() == [6, 10, 14]
    strict = n_needed(trials, [1e-1, 1e-2, 1e-3, 1e-5], probability=1.0)
    assert strict["n_needed"].tolist()[:3] == [10, 14, 18] and np.isnan(strict["n_needed"].iloc[3])
    out = {c["id"]: c for c in claims_pl({"needed": need}, {"min_r2": 0.9})}
    assert all(c["verdict"] == "pass" for c in out.values())
    out = {c["id"]: c for c in claims_pl({"needed": strict}, {"min_r2": 0.9})}
    assert out["pl.reached[uniform]"]["verdict"] == "fail"


# PS: coefficient ranges

WEIGHTS = [np.array([[-0.39, 0.1], [0.2, 0.0]]), np.array([[0.63, -0.05]])]


def test_coefficient_bounds_and_ranges():
    assert coefficient_bounds(WEIGHTS, "target") == (-0.39, 0.63)
    assert coefficient_bounds(WEIGHTS, "symmetric") == (-0.63, 0.63)
    assert coefficient_bounds([-w for w in WEIGHTS], "symmetric") == (-0.63, 0.63)  # m = max |w| either side
    with pytest.raises(ValueError, match="target, symmetric"):
        coefficient_bounds(WEIGHTS, "lopsided")
    assert coefficient_ranges({"coefficient_range": "symmetric"}) == ["symmetric"]
    assert coefficient_ranges({"coefficient_range": ["target", "symmetric"]}) == ["target", "symmetric"]


@pytest.mark.parametrize("mode", ["per_weight", "per_row"])
def test_symmetric_range_draws_uniform_minus_m_to_m(mode):
    shapes = [(400, 50), (10, 400)]
    low, high = coefficient_bounds(WEIGHTS, "symmetric")
    m = 0.63
    drawn = draw_coefficients(shapes, 21, low, high, mode, seed=4)
    x = np.concatenate([d[:, 0, :].ravel() if mode == "per_row" else d.ravel() for d in drawn])
    assert x.size >= 8000
    assert x.min() >= -m and x.max() <= m
    assert x.min() < -0.99 * m and x.max() > 0.99 * m
    se = m / np.sqrt(3 * x.size)
    assert abs(x.mean()) < 5 * se  # centred
    assert x.var() == pytest.approx(m**2 / 3, rel=0.05)
    assert abs((x < 0).mean() - 0.5) < 5 * 0.5 / np.sqrt(x.size)  # half the coefficients negative
    # the target range from the same seed: the same uniform variates, mapped onto [-0.39, 0.63]
    target = draw_coefficients(shapes, 21, -0.39, 0.63, mode, seed=4)
    for t, s in zip(target, drawn, strict=True):
        np.testing.assert_allclose((t + 0.39) / 1.02, (s + m) / (2 * m), rtol=0, atol=1e-12)
        assert (t < 0).mean() < 0.45  # lopsided: about 0.39 / 1.02 = 38% negative


# PS: claims on hand-made summaries

PS_CLAIMS = {"min_within_fraction": 0.999, "max_error_factor": 2, "alpha": 0.05}


def ps_summary(target=None, symmetric=None):
    """Two ranges, two solutions each; ``target``/``symmetric`` override that range's optimal row."""
    base = {
        "low": -0.39,
        "high": 0.63,
        "target_acc": 0.9555,
        "approx_acc": 0.9550,
        "n_test": 2000,
        "target_only": 3,
        "approx_only": 2,
        "max_error": 0.0099,
        "within_eps": 397000,
        "n_weights": 397000,
        "n_coefficients": 21,
        "kept_total": 3468847,
        "total_coefficients": 8337000,
        "solve_seconds": 1.0,
        "eps": 0.01,
        "coefficients": "per_weight",
        "n_train": 8000,
    }
    rows = []
    for name, over in [("target", target or {}), ("symmetric", symmetric or {})]:
        for solution in ("optimal", "sparsest"):
            row = base | {"coefficient_range": name, "solution": solution}
            if name == "symmetric":
                row |= {"low": -0.63, "high": 0.63}
            if solution == "sparsest":
                row |= {"kept_total": 467149}
            mine = {"approx_acc", "target_only", "approx_only"}
            rows.append(row | (over if solution == "optimal" else {k: v for k, v in over.items() if k not in mine}))
    return pd.DataFrame(rows)


def ps_claims(**kw):
    rows = claims_ps({"summary": ps_summary(**kw)}, PS_CLAIMS)
    out = {r["id"]: r for r in rows}
    assert len(out) == len(rows)
    return out


def test_ps_claims_ids_and_pass():
    rows = ps_claims()
    assert set(rows) == {f"ps.{c}[range={r}]" for c in ("within_eps", "max_error") for r in ("target", "symmetric")} | {
        f"ps.accuracy[range={r},solution={s}]" for r in ("target", "symmetric") for s in ("optimal", "sparsest")
    }
    assert all(r["verdict"] == "pass" for r in rows.values())
    assert rows["ps.within_eps[range=target]"]["value"] == 1.0
    assert rows["ps.within_eps[range=target]"]["threshold"] == 0.999
    assert rows["ps.max_error[range=symmetric]"]["threshold"] == pytest.approx(0.02)
    # 3 images only the target gets right, 2 only the approximation: p = 2 P(Bin(5, 1/2) <= 2) = 1
    assert rows["ps.accuracy[range=target,solution=optimal]"]["value"] == pytest.approx(1.0)


def test_ps_within_eps_is_a_fraction_that_fails_below_the_threshold():
    # the default-scale run: 52 of 397,000 weights beyond eps, 0.99987 >= 0.999 passes
    rows = ps_claims(target={"within_eps": 397000 - 52, "max_error": 0.108})
    assert rows["ps.within_eps[range=target]"]["value"] == pytest.approx(1 - 52 / 397000)
    assert rows["ps.within_eps[range=target]"]["verdict"] == "pass"
    assert "52 outside" in rows["ps.within_eps[range=target]"]["detail"]
    assert rows["ps.within_eps[range=symmetric]"]["verdict"] == "pass"
    # 0.2% of the weights beyond eps fails
    rows = ps_claims(target={"within_eps": 397000 - 794})
    assert rows["ps.within_eps[range=target]"]["verdict"] == "fail"
    assert rows["ps.within_eps[range=symmetric]"]["verdict"] == "pass"
    assert ps_claims(target={"within_eps": 396603})["ps.within_eps[range=target]"]["verdict"] == "pass"  # 0.999


def test_ps_max_error_fails_beyond_the_factor_of_eps():
    rows = ps_claims(target={"within_eps": 397000 - 52, "max_error": 0.108})
    assert rows["ps.max_error[range=target]"]["verdict"] == "fail"
    assert rows["ps.max_error[range=target]"]["value"] == 0.108
    assert rows["ps.max_error[range=symmetric]"]["verdict"] == "pass"
    assert ps_claims(symmetric={"max_error": 0.02})["ps.max_error[range=symmetric]"]["verdict"] == "pass"
    assert ps_claims(symmetric={"max_error": 0.0201})["ps.max_error[range=symmetric]"]["verdict"] == "fail"


@pytest.mark.parametrize(
    ("target_only", "approx_only", "p", "verdict"),
    [
        # one image either way flips a 0.1-point tolerance on 2,000 images, not the paired test
        (3, 1, 0.625, "pass"),
        (6, 0, 2 / 2**6, "fail"),  # six images, all lost: p = 2 / 64
        (5, 0, 2 / 2**5, "pass"),  # five: p = 0.0625
        (30, 12, None, "fail"),
        (0, 0, 1.0, "pass"),
    ],
)
def test_ps_accuracy_is_an_exact_mcnemar_test_on_the_discordant_images(target_only, approx_only, p, verdict):
    rows = ps_claims(symmetric={"target_only": target_only, "approx_only": approx_only})
    row = rows["ps.accuracy[range=symmetric,solution=optimal]"]
    assert row["verdict"] == verdict
    if p is not None:
        assert row["value"] == pytest.approx(p)
    assert f"{target_only} only the target" in row["detail"]
    assert rows["ps.accuracy[range=symmetric,solution=sparsest]"]["verdict"] == "pass"
    assert rows["ps.accuracy[range=target,solution=optimal]"]["verdict"] == "pass"


def test_mcnemar_exact_by_hand_and_against_the_binomial_sum():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(4, 0) == pytest.approx(2 / 16)
    assert mcnemar_exact(2, 7) == mcnemar_exact(7, 2)
    # 2 * sum_{i <= 2} C(9, i) / 2^9
    assert mcnemar_exact(2, 7) == pytest.approx(2 * (1 + 9 + 36) / 512)


def test_figures_draw_both_ranges():
    rng = np.random.default_rng(0)
    parts = []
    for name, scale in [("target", 1e-2), ("symmetric", 1e-3)]:
        err = rng.exponential(scale, 1000)
        parts.append(pd.DataFrame({"coefficient_range": name, "error": err, "error_sparsest": err * 1.5}))
    fig = fig_ps({"weights": pd.concat(parts), "summary": ps_summary()}, {"width": 4, "height": 3, "dpi": 50})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [
        "target U[-0.39, 0.63]: 0 beyond eps",
        "symmetric U[-0.63, 0.63]: 0 beyond eps",
        "optimal subset",
        "sparsest within eps",
    ]
    assert len(fig.axes[0].get_lines()) == 2 * 2 + 1  # a line per range and solution, and eps
    plt.close(fig)
    trials = pl_trials({"distributions": ["uniform"], "n": [2, 4, 6], "trials": 2, "target_range": 0.5}, 1)
    fig = fig_pl_a({"trials": trials}, {"width": 4, "height": 3, "dpi": 50})
    assert "0.5" in fig.axes[0].get_ylabel()
    plt.close(fig)
