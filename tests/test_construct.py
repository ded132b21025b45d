"""PC and MW: networks pruned out of random ones (Pensia et al. Lemma 1-3, Theorem 1; Malach et al. Theorem 2.1)."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import torch

from ltpipe.engines.construct import build, dense_random, random_target, single_weight, sup_ball
from ltpipe.engines.subsetsum import brute_force
from ltpipe.studies.malach2020.mw.claims import claims as claims_mw
from ltpipe.studies.malach2020.mw.figure import fig_mw
from ltpipe.studies.pensia2020.pc.claims import claims as claims_pc
from ltpipe.studies.pensia2020.pc.figure import fig_pc_mw
from ltpipe.studies.pensia2020.pc.job import network_rows, single_rows
from ltpipe.studies.pensia2020.pc.laws import n_for_eps

PLOT = {"width": 3, "height": 2.5, "dpi": 50}


def dense_forward(mats, x):
    for i, m in enumerate(mats):
        x = x @ torch.as_tensor(m).T
        if i < len(mats) - 1:
            x = torch.relu(x)
    return x


@pytest.mark.parametrize(("rule", "n"), [("subset_sum", 10), ("closest", 40)])
def test_every_kept_weight_is_the_random_weight_it_came_from(rule, n):
    target = random_target(3, [3, 4, 2])
    pruned = build(target, 11, n, rule)
    random = dense_random(11, [3, 4, 2], n)
    masked = []
    for i, pair in enumerate(pruned.pairs):
        m1, m2 = pair.dense()
        for kept, full in ((m1, random[2 * i]), (m2, random[2 * i + 1])):
            nz = kept != 0
            assert np.array_equal(kept[nz], full[nz])  # the mask is the only change
        # first layer: block diagonal, one entry per kept row, its sign the unit's side
        rows, cols = np.nonzero(m1)
        assert len(set(rows)) == len(rows)
        assert np.array_equal(cols, rows // (2 * n))
        positive = (rows % (2 * n)) < n
        assert np.all((m1[rows, cols] > 0) == positive)
        # every kept unit is read by some kept second-layer weight, and only kept units are read
        assert set(np.nonzero(m2.any(axis=0))[0]) == set(rows)
        masked += [m1, m2]
    x = torch.randn(300, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(pruned.forward(x), dense_forward(masked, x), atol=1e-13)
    assert pruned.params_kept == sum(int(np.count_nonzero(m)) for m in masked)
    assert pruned.params_random == sum(m.size for m in random)


def test_sparse_second_layer_gives_the_dense_result(monkeypatch):
    import ltpipe.engines.construct as construct

    target = random_target(6, [5, 4, 3])
    x = torch.randn(50, 5, dtype=torch.float64)
    with torch.no_grad():
        dense = build(target, 1, 30, "closest").forward(x)
        monkeypatch.setattr(construct, "DENSE_LIMIT", 0)
        sparse = build(target, 1, 30, "closest").forward(x)
    assert torch.allclose(dense, sparse, atol=1e-13)


def test_pair_equals_p_relu_minus_n_relu_of_minus_x():
    """The identity the constructions rest on: a pruned pair is P relu(x) - N relu(-x)."""
    target = [random_target(5, [4, 3])[0]]
    for rule in ("subset_sum", "closest"):
        pruned = build(target, 2, 12, rule)
        pair = pruned.pairs[0]
        x = torch.randn(200, 4, dtype=torch.float64)
        expect = torch.relu(x) @ torch.as_tensor(pair.p).T - torch.relu(-x) @ torch.as_tensor(pair.q).T
        with torch.no_grad():
            assert torch.allclose(pair.forward(x), expect, atol=1e-13)
        assert np.allclose(pruned.weight_error[0], np.maximum(abs(pair.p - target[0]), abs(pair.q - target[0])))


def test_lemma1_hand_checked():
    """n = 3: the positive half's live products are b_i a_i for a_i > 0, the negative half's d_i c_i for c_i < 0."""
    u = np.array([0.5, 0.9, -0.3, -0.6, 0.4, -0.8])
    v = np.array([0.4, 0.5, 1.0, 0.5, 0.7, -0.25])
    # positive side: 0.2, 0.45 (a_3 < 0 is dead) -> sums {0, 0.2, 0.45, 0.65}
    # negative side: -0.3, 0.2 (c_2 > 0 is dead) -> sums {0, -0.3, 0.2, -0.1}
    err, p, q = single_weight(u, v, np.array([0.6, -0.12, 0.0]), "subset_sum")
    assert np.allclose(p, [0.65, 0.0, 0.0])
    assert np.allclose(q, [0.2, -0.1, 0.0])
    assert np.allclose(err, [0.4, 0.12, 0.0])
    # one product or none: for 0.6 the products 0.45 and 0.2; for -0.12 nothing is closer than 0 (Lemma A.1)
    err, p, q = single_weight(u, v, np.array([0.6, -0.12, -0.25]), "closest")
    assert np.allclose(p, [0.45, 0.0, 0.0]) and np.allclose(q, [0.2, 0.0, -0.3])
    assert np.allclose(err, [0.4, 0.12, 0.25])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lemma1_is_the_exact_subset_sum_of_the_live_products(seed):
    gen = np.random.default_rng(seed)
    n = 9
    u, v = gen.uniform(-1, 1, 2 * n), gen.uniform(-1, 1, 2 * n)
    w = gen.uniform(-1, 1, 25)
    err, p, q = single_weight(u, v, w, "subset_sum")
    for half, slope, sign in ((slice(0, n), p, 1), (slice(n, 2 * n), q, -1)):
        live = (sign * u[half]) > 0
        z = (u[half] * v[half])[live]
        best, _ = brute_force(np.tile(z, (w.size, 1)), w)
        assert np.allclose(np.abs(w - slope), best, atol=1e-12)
    single_err = np.maximum(np.abs(w - p), np.abs(w - q))
    assert np.array_equal(err, single_err)
    # the single product rule: the closest live product (or nothing)
    err_c, p_c, _ = single_weight(u, v, w, "closest")
    z = (u[:n] * v[:n])[u[:n] > 0]
    assert np.allclose(np.abs(w - p_c), np.minimum(np.abs(z[None, :] - w[:, None]).min(axis=1), np.abs(w)))
    assert np.all(err <= err_c + 1e-12)  # the best subset is never worse than the best single product


def test_exact_sup_equals_a_dense_grid_maximum():
    for rule, n in (("subset_sum", 8), ("closest", 20)):
        for w in (-0.9, -0.3, 0.05, 0.7):
            pruned = build([np.array([[w]])], 7, n, rule)
            x = torch.linspace(-1, 1, 20001, dtype=torch.float64)[:, None]
            with torch.no_grad():
                grid = float((w * x - pruned.forward(x)).abs().max())
            assert grid == pytest.approx(float(pruned.weight_error[0][0, 0]), abs=1e-14)
            # the same random weights through Lemma 1's own function give the same slopes
            m1, m2 = dense_random(7, [1, 1], n)
            err, p, q = single_weight(m1[:, 0], m2[0], np.array([w]), rule)
            assert (p[0], q[0]) == pytest.approx((pruned.pairs[0].p[0, 0], pruned.pairs[0].q[0, 0]), abs=1e-15)
            assert err[0] == pytest.approx(grid, abs=1e-14)


def test_sup_ball_finds_the_spectral_norm_of_a_linear_difference():
    gen = np.random.default_rng(4)
    a = gen.standard_normal((3, 6))
    at = torch.as_tensor(a)
    sampled, searched = sup_ball(lambda x: x @ at.T, lambda x: 0 * x[:, :3], 6, 64, 4, 200, seed=1)
    sigma = np.linalg.norm(a, 2)
    assert sampled <= searched <= sigma + 1e-12
    assert searched == pytest.approx(sigma, rel=1e-6)
    assert sampled < 0.999 * sigma  # the search did the work, not the samples


def test_subset_sum_error_falls_exponentially_and_beats_one_product():
    target = random_target(1, [4, 4])
    errs = {n: max(e.max() for e in build(target, 9, n, "subset_sum").weight_error) for n in (8, 24, 40)}
    assert errs[40] < 1e-3 < errs[8]
    one = max(e.max() for e in build(target, 9, 40, "closest").weight_error)
    assert errs[40] < one / 10


def test_random_targets_have_spectral_norm_one():
    for w in random_target(0, [5, 7, 3]):
        assert np.linalg.norm(w, 2) == pytest.approx(1.0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        build([np.eye(2)], 0, 4, "nearest")
    with pytest.raises(ValueError, match="n = 49"):
        build([np.eye(2)], 0, 49, "subset_sum")
    with pytest.raises(ValueError, match="at least 1"):
        build([np.eye(2)], 0, 0, "closest")
    with pytest.raises(ValueError, match="does not follow"):
        build([np.eye(2), np.ones((1, 3))], 0, 4, "closest")
    with pytest.raises(ValueError, match="even length"):
        single_weight(np.ones(3), np.ones(3), np.zeros(1), "closest")


PC = {
    "single": {"targets": 5, "trials": 2, "n": [4, 8, 12]},
    "network": {"depths": [2], "widths": [2, 3], "trials": 2, "n": [4, 8]},
    "eval": {"samples": 64, "starts": 2, "steps": 5, "lr": 0.1},
}
MW = {"single": {"n": [4, 16, 64]}, "network": {"n": [4, 16, 64]}}


def test_tables_share_random_networks_and_targets():
    single = single_rows(PC, MW, 5)
    assert set(single["construction"]) == {"pc", "mw"}
    assert len(single) == 5 * 2 * (3 + 3)
    same = single[single["n"] == 4].pivot_table(index=["trial", "target"], columns="construction", values="seed")
    assert (same["pc"] == same["mw"]).all()  # the same random g at the same n
    assert (
        single.groupby(["construction", "n", "trial"])["random_weights"].first().index.get_level_values("n") * 4
        == single.groupby(["construction", "n", "trial"])["random_weights"].first()
    ).all()
    net = network_rows(PC, MW, 5)
    assert len(net) == 2 * 2 * (2 + 3)  # widths, trials, n of both grids
    assert (net["error"] >= net["error_sampled"]).all()
    assert (net["params_kept"] < net["params_random"]).all()
    assert (net["params_target"] == 2 * net["width"] ** 2).all()
    assert set(net["target"]) == {"depth2_width2", "depth2_width3"}
    # the errors bound what the per-weight errors allow: ||f - g|| on the ball is at most about the error of
    # each layer in spectral norm; here just that larger n helps on average for the subset-sum rule
    pc = net[(net["construction"] == "pc") & (net["width"] == 3)].groupby("n")["weight_error"].mean()
    assert pc.loc[8] < pc.loc[4]
    again = network_rows(PC, MW, 5)
    pd.testing.assert_frame_equal(net, again)


def curve_tables(
    pc_error, mw_error, pc_n=(4, 8, 12, 16, 20, 24), mw_n=(2, 8, 32, 128, 512, 2048), widths=(8,), depth=2
):
    """Hand-built tables: error(n) (or error(n, d) for several widths) per construction, three trials."""
    rows = []
    for cons, grid, fn in (("pc", pc_n, pc_error), ("mw", mw_n, mw_error)):
        for d in widths:
            for n in grid:
                for t in range(3):
                    err = fn(n) if len(widths) == 1 else fn(n, d)
                    rows.append(
                        {
                            "construction": cons,
                            "target": f"depth{depth}_width{d}",
                            "depth": depth,
                            "width": d,
                            "n": n,
                            "trial": t,
                            "error": err * (1 + 0.01 * t),
                            "params_random": 2 * n * d * 16,
                        }
                    )
    net = pd.DataFrame(rows)
    first = net[net["width"] == widths[-1]]
    single = first.assign(random_weights=4 * first["n"]).drop(columns=["params_random", "target", "depth", "width"])
    return {"single": single, "network": net}


def verdicts(rows):
    return {r["id"]: r["verdict"] for r in rows}


C = {"min_r2": 0.9, "max_acc_drop": 0.5, "tail_error": 0.1, "eps_d": 0.02}


def test_claims_pass_on_exponential_pc_and_power_law_mw():
    tables = curve_tables(lambda n: 2.0 ** (-n / 2), lambda n: 1.0 / n)
    v = verdicts(claims_pc(tables, C))
    assert v == {
        f"pc.{c}[part={p}]": "pass"
        for c in ("exponential", "beats_power", "width_log", "fewer_weights")
        for p in ("single", "network:depth2_width8")
    } | {"pc.n_grows_log_d[depth=2]": "untestable"}  # one width: nothing to grow over
    assert set(verdicts(claims_mw(tables, C)).values()) == {"pass", "untestable"}


def test_claims_fail_when_the_laws_are_swapped():
    """A subset-sum error falling like a power of n, a single-product error falling exponentially."""
    tables = curve_tables(
        lambda n: 1.0 / n, lambda n: 2.0 ** (-n / 3), pc_n=(2, 8, 32, 128, 512, 2048), mw_n=(4, 8, 12, 16, 20, 24)
    )
    rows = claims_pc(tables, C)
    v = verdicts(rows)
    assert all(np.isfinite(r["value"]) for r in rows if "width_log" in r["id"])  # failed on the fit, not on NaN
    assert v["pc.beats_power[part=single]"] == "fail"
    assert v["pc.beats_power[part=network:depth2_width8]"] == "fail"
    assert v["pc.width_log[part=single]"] == "fail"  # a width eps^-1 is polynomial
    rows = [r for r in claims_mw(tables, C) if "n_grows" not in r["id"]]  # one width: that claim is untestable
    assert all(np.isfinite(r["value"]) for r in rows)
    w = verdicts(rows)
    assert w["mw.beats_exponential[part=single]"] == "fail"
    assert w["mw.width_poly[part=single]"] == "fail"


def test_pc_fits_the_tail_past_the_plateau():
    """Lemma 1 bounds n only beyond a constant: a plateau at small n, then exponential. Fitted over the whole
    grid the plateau fails the exponential; past it (median error <= 0.1) the law holds, and the claim says so."""
    plateau = lambda n: min(0.8, 4000 * 2.0 ** (-n / 2))  # noqa: E731
    pc_n = tuple(range(4, 49, 4))
    tables = curve_tables(plateau, lambda n: 1.0 / n, pc_n=pc_n)
    rows = {r["id"]: r for r in claims_pc(tables, C)}
    tail = rows["pc.exponential[part=single]"]
    assert tail["verdict"] == "pass" and "fitted where median error <= 0.1" in tail["claim"]
    whole = {r["id"]: r for r in claims_pc(tables, {**C, "tail_error": 1.0})}
    assert whole["pc.exponential[part=single]"]["verdict"] == "fail"
    # a tail of two points is no fit
    short = {r["id"]: r for r in claims_pc(tables, {**C, "tail_error": 40 * 2.0**-14})}
    assert short["pc.exponential[part=single]"]["verdict"] == "untestable"


def test_n_needed_over_the_width_d_tells_log_from_power():
    widths = (2, 4, 8, 16)
    pc_n = tuple(range(4, 49, 4))
    mw_n = tuple(2**j for j in range(1, 13))
    # PC: per-weight error 2^(-n/2) over d weights; MW: d / n (one product per weight)
    tables = curve_tables(lambda n, d: d * 2.0 ** (-n / 2), lambda n, d: d / n, pc_n=pc_n, mw_n=mw_n, widths=widths)
    pc = {r["id"]: r for r in claims_pc(tables, C)}["pc.n_grows_log_d[depth=2]"]
    mw = {r["id"]: r for r in claims_mw(tables, C)}["mw.n_grows_power_d[depth=2]"]
    assert pc["verdict"] == "pass" and mw["verdict"] == "pass", (pc["detail"], mw["detail"])
    assert "d^1" in mw["detail"]  # n ~ d / eps: exponent 1
    # swapped: PC needing a width linear in d, MW one logarithmic in d
    swapped = curve_tables(lambda n, d: d / n, lambda n, d: d * 2.0 ** (-n / 2), pc_n=mw_n, mw_n=pc_n, widths=widths)
    assert {r["id"]: r for r in claims_pc(swapped, C)}["pc.n_grows_log_d[depth=2]"]["verdict"] == "fail"
    assert {r["id"]: r for r in claims_mw(swapped, C)}["mw.n_grows_power_d[depth=2]"]["verdict"] == "fail"
    # n falling as d grows: the better fit of a falling n is no growth
    falling = curve_tables(
        lambda n, d: 2.0 ** (-n / 2) / d, lambda n, d: 1 / (d * n), pc_n=pc_n, mw_n=mw_n, widths=widths
    )
    assert {r["id"]: r for r in claims_pc(falling, C)}["pc.n_grows_log_d[depth=2]"]["verdict"] == "fail"
    row = {r["id"]: r for r in claims_mw(falling, C)}["mw.n_grows_power_d[depth=2]"]
    assert row["verdict"] == "fail" and "no growth" in row["detail"]
    # only two widths reach eps within the grid: untestable, with the censored widths named
    short = curve_tables(lambda n, d: d / n, lambda n, d: d / n, pc_n=mw_n[:7], mw_n=mw_n[:7], widths=widths)
    row = {r["id"]: r for r in claims_mw(short, C)}["mw.n_grows_power_d[depth=2]"]
    assert row["verdict"] == "untestable" and "beyond the n grid" in row["detail"]


def test_two_fits_that_tie_to_the_last_bits_are_a_tie_not_a_pass():
    # the default run's depth-2 curve: the width needed for eps = 10^(-j/2) takes two values (40 and 48), so
    # log(1/eps) and a power of it fit alike and only rounding told them apart; a tie fails "fits better"
    curve = {24: 0.083, 28: 0.0338, 32: 0.0485, 40: 5.2e-4, 48: 9.67e-5}
    tables = curve_tables(curve.get, lambda n: 1.0 / n, pc_n=tuple(curve))
    row = {r["id"]: r for r in claims_pc(tables, C)}["pc.width_log[part=single]"]
    assert row["value"] == 0.0 and row["verdict"] == "fail"


def test_n_for_eps_interpolates_the_log_error():
    curve = pd.DataFrame({"n": [4, 8, 12], "error": [0.1, 0.01, 0.001]})
    assert n_for_eps(curve, 0.1) == 4
    assert n_for_eps(curve, 10**-1.5) == pytest.approx(6.0)
    assert n_for_eps(curve, 1e-4) == np.inf


def test_width_needed_reads_the_curve():
    from ltpipe.studies.pensia2020.pc.laws import width_needed

    curve = pd.DataFrame({"n": [4, 8, 12, 16], "error": [0.5, 0.05, 0.02, 0.001]})
    w = width_needed(curve)
    # eps = 10^-0.5, 10^-1, ..., 10^-3: the smallest n with error <= eps
    assert w["eps"] == pytest.approx([10**-0.5, 0.1, 10**-1.5, 0.01, 10**-2.5, 0.001])
    assert w["n_needed"] == [8, 8, 12, 16, 16, 16]


def test_fewer_weights_fails_when_pc_needs_more():
    tables = curve_tables(lambda n: 2.0 ** (-n / 40), lambda n: 1.0 / n)  # PC never gets below 0.66
    v = verdicts(claims_pc(tables, C))
    assert v["pc.fewer_weights[part=single]"] == "fail"
    flat = curve_tables(lambda n: 0.5 + 0 * n, lambda n: 1.0 / n)
    # never below the tail's error: Lemma 1's regime is not reached on the grid, nothing to fit
    assert verdicts(claims_pc(flat, C))["pc.exponential[part=single]"] == "untestable"
    assert verdicts(claims_pc(flat, {**C, "tail_error": 1.0}))["pc.exponential[part=single]"] == "fail"


@pytest.mark.parametrize(("pruned_acc", "verdict"), [(0.951, "pass"), (0.90, "fail")])
def test_ps_accuracy_claims(pruned_acc, verdict):
    ps = pd.DataFrame(
        [
            {
                "construction": c,
                "target": "ps",
                "n": n,
                "error": 1.0 / n,
                "params_random": 100 * n,
                "params_kept": 10 * n,
                "target_acc": 0.953,
                "pruned_acc": pruned_acc if n == 24 else 0.5,
                "agreement": 0.99,
            }
            for c, n in itertools.product(("pc", "mw"), (8, 16, 24))
        ]
    )
    tables = {**curve_tables(lambda n: 2.0 ** (-n / 2), lambda n: 1.0 / n), "ps": ps}
    assert verdicts(claims_pc(tables, C))["pc.ps_accuracy"] == verdict
    assert verdicts(claims_mw(tables, C))["mw.ps_accuracy"] == verdict


def test_figures_draw():
    tables = {"single": single_rows(PC, MW, 5), "network": network_rows(PC, MW, 5)}
    fig = fig_pc_mw(tables, {**PLOT, "eps_d": 0.5})
    assert len(fig.axes) == 3
    assert fig.axes[2].get_xscale() == "log" and fig.axes[2].lines  # n needed per width d
    # (c) names only the depths (the constructions' colours are in (a) and (b)), above every point it draws
    legend = fig.axes[2].get_legend()
    assert legend is not None and all(t.get_text().startswith("depth ") for t in legend.get_texts())
    top = max(max(line.get_ydata()) for line in fig.axes[2].lines if len(line.get_ydata()))
    assert fig.axes[2].get_ylim()[1] >= 3 * top
    ps = tables["network"].assign(target="ps", target_acc=0.9, pruned_acc=0.8, agreement=0.85)
    assert len(fig_pc_mw({**tables, "ps": ps}, PLOT).axes) == 4
    fig = fig_mw({k: v[v["construction"] == "mw"] for k, v in tables.items()}, PLOT)
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    assert len(fig.axes[0].lines) == 2  # the curve and its power law
