"""MN: neuron pruning by Remark 3.5 against random features (Malach et al. 2020, Theorem 3.2, 3.3)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_idx, write_tiny_mnist
from threadpoolctl import threadpool_limits

from ltpipe.config import ConfigError
from ltpipe.data.mnist import MnistError
from ltpipe.engines.random_features import (
    features,
    fit_readout,
    full_features,
    neuron_prune,
    random_network,
    relative_error,
)
from ltpipe.schema import validate
from ltpipe.studies.malach2020.mn.claims import claims as claims_mn
from ltpipe.studies.malach2020.mn.figure import fig_mn
from ltpipe.studies.malach2020.mn.job import mnist_rows, neuron_rows, weight_pruning_n


def test_readout_recovers_a_noise_free_random_features_target():
    gen = np.random.default_rng(0)
    w, _ = random_network(gen, 5, 12)
    x = gen.standard_normal((300, 5))
    alpha = gen.uniform(-1, 1, 12)
    f = features(x, w)
    assert np.allclose(fit_readout(f, f @ alpha), alpha, atol=1e-10)
    # with a ridge the readout shrinks towards 0 but still fits closely
    shrunk = fit_readout(f, f @ alpha, ridge=1e-6)
    assert np.linalg.norm(shrunk) < np.linalg.norm(alpha) + 1e-12
    assert relative_error(f @ shrunk, f @ alpha) < 1e-3


def test_random_network_rows_on_the_sphere_and_second_layer_uniform():
    w, u = random_network(np.random.default_rng(1), 7, 5000)
    assert np.allclose(np.linalg.norm(w, axis=1), 1.0)
    assert u.min() >= -1 and u.max() <= 1 and abs(u.mean()) < 0.03


def test_keep_rule_and_constant_are_remark_35s():
    gen = np.random.default_rng(2)
    k, m, delta = 6, 4, 0.3
    w, u = random_network(gen, 3, k * m)
    x = gen.standard_normal((100, 3))
    y = np.maximum(x[:, 0], 0)
    pruned = neuron_prune(x, y, w, u, k, m, delta)
    for b in range(m):
        assert np.allclose(pruned.readouts[b], fit_readout(features(x, w[b * k : (b + 1) * k]), y))
    s = np.abs(pruned.readouts).max() / (1 - delta)
    assert pruned.scale == pytest.approx(s)
    assert np.array_equal(pruned.keep, np.abs(u - pruned.readouts.reshape(-1) / s) <= delta)
    assert pruned.c == pytest.approx(s / (delta * m))
    kept = pruned.keep
    assert np.allclose(pruned.predict(x, w, u), pruned.c * features(x, w[kept]) @ u[kept])


def test_pruned_network_is_unbiased_for_the_average_of_the_blocks():
    """Over the draws of the second layer u (the readouts do not depend on it), the pruned network's mean
    output is the average of the blocks' fitted random-features models: E[u 1{|u - a| <= delta}] = delta a."""
    gen = np.random.default_rng(3)
    k, m, delta = 5, 3, 0.4
    w, _ = random_network(gen, 2, k * m)
    x = gen.standard_normal((40, 2))
    y = np.maximum(x @ np.array([0.6, -0.8]), 0)
    draws = 40000
    total = np.zeros(len(x))
    for _ in range(draws):
        u = gen.uniform(-1, 1, k * m)
        total += neuron_prune(x, y, w, u, k, m, delta).predict(x, w, u)
    f = features(x, w)
    ref = neuron_prune(x, y, w, gen.uniform(-1, 1, k * m), k, m, delta)
    average = sum(f[:, b * k : (b + 1) * k] @ ref.readouts[b] for b in range(m)) / m
    assert relative_error(total / draws, average) < 0.02
    assert relative_error(total / draws, 0.5 * average) > 0.3  # a wrong constant would be caught


def test_bad_input_is_refused():
    gen = np.random.default_rng(0)
    w, u = random_network(gen, 2, 6)
    x, y = gen.standard_normal((10, 2)), gen.standard_normal(10)
    with pytest.raises(ValueError, match="delta"):
        neuron_prune(x, y, w, u, 3, 2, 1.0)
    with pytest.raises(ValueError, match="k = 4"):
        neuron_prune(x, y, w, u, 4, 2, 0.5)
    with pytest.raises(ValueError, match="ridge"):
        fit_readout(features(x, w), y, ridge=-1)
    with pytest.raises(ValueError, match="d >= 1"):
        random_network(gen, 0, 3)


def test_weight_pruning_beyond_the_subset_sum_limit_is_refused_before_any_job():
    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "config.yaml").read_text())
    validate(cfg)
    cfg["malach2020"]["mn"]["neuron"]["weight_pruning"]["pc_c"] = 5  # n = 52 at d = 64
    with pytest.raises(ConfigError, match=r"at d = \[64\] PC's n"):
        validate(cfg)


def test_weight_pruning_widths_follow_the_theorems():
    cfg = {"eps": 0.05, "pc_c": 5, "mw_c": 1}
    small, large = weight_pruning_n(2, cfg), weight_pruning_n(64, cfg)
    assert small == {"pc": 27, "mw": 40}  # ceil(5 log2(40)), ceil(2 / 0.05)
    assert large["pc"] - small["pc"] == 25  # logarithmic: 5 log2(32) more
    assert large["mw"] == 32 * small["mw"]  # polynomial: linear in d


NEURON = {
    "d": [2, 6],
    "k": 8,
    "m": 20,
    "delta": 0.5,
    "ridge": 1e-2,
    "n_train": 300,
    "n_test": 200,
    "trials": 2,
    "weight_pruning": {"eps": 0.2, "pc_c": 2, "mw_c": 0.5},
    "k_sweep": [2, 8, 32],
}


def test_neuron_rows_cover_every_method_and_are_reproducible():
    df = neuron_rows(NEURON, 4)
    assert set(df["method"]) == {
        "neuron_pruning",
        "random_features",
        "random_features_full",
        "random_features_k",
        "pc",
        "mw",
    }
    assert len(df) == 2 * 2 * (5 + 3)  # d, trials, methods and the sweep's 3 k
    np_rows = df[df["method"] == "neuron_pruning"]
    assert (np_rows["width"] == 160).all() and (np_rows["kept"] < 160).all()
    assert (df[df["method"] == "random_features"]["width"] == 8).all()
    full = df[df["method"] == "random_features_full"].set_index(["d", "trial"])
    pruned = np_rows.set_index(["d", "trial"])
    # a neuron-subnetwork is one model of the k m features: on the training set it cannot beat their fit
    assert (full["width"] == 160).all() and (full["train_error"] < pruned["train_error"]).all()
    sweep = df[df["method"] == "random_features_k"]
    assert sorted(set(sweep["k"])) == [2, 8, 32] and (sweep["width"] == sweep["k"]).all()
    # the sweep's k = 8 is the first block: the same model as random_features
    same = sweep[sweep["k"] == 8].set_index(["d", "trial"])["train_error"]
    rf = df[df["method"] == "random_features"].set_index(["d", "trial"])["train_error"]
    pd.testing.assert_series_equal(same, rf)
    pd.testing.assert_frame_equal(df, neuron_rows(NEURON, 4))
    assert (df["test_error"] > 0).all() and np.isfinite(df["test_error"]).all()


def test_mnist_rows_two_digits(tmp_path):
    write_tiny_mnist(tmp_path)
    cfg = {
        "digits": [0, 1],
        "n_train": 20,
        "n_test": None,
        "k": [4, 8],
        "m": 5,
        "delta": 0.5,
        "ridge": 1e-2,
        "trials": 1,
    }
    df = mnist_rows(cfg, str(tmp_path), 1)
    assert set(df["method"]) == {"neuron_pruning", "random_features", "random_features_full"}
    assert (df["d"] == 784).all() and len(df) == 6
    with pytest.raises(MnistError, match="requested 290 train images of digits"):
        mnist_rows({**cfg, "n_train": 290}, str(tmp_path), 1)
    labels = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    y = np.frombuffer(labels.read_bytes()[8:], dtype=np.uint8).copy()
    y[np.flatnonzero(y == 1)[:20]] = 7  # 30 zeros, 10 ones left
    write_idx(labels, y)
    with pytest.raises(ValueError, match="two equal halves"):
        mnist_rows({**cfg, "n_train": 30}, str(tmp_path), 1)


def mn_table(np_err, rf_err, pc_err, mw_err, ds=(2, 4, 8, 16), ks=(25, 50, 100), full_err=None, k_err=None):
    """Hand-built MN trials: each method's error per grid point index; ``full_err`` for all k m features (by
    default half random features'); ``k_err(k, d)`` for the sweep of k on the single neuron (by default
    d / k: the k a fixed error needs grows linearly in d)."""
    full_err = full_err or (lambda i: rf_err(i) / 2)
    k_err = k_err or (lambda k, d: d / k)
    rows = []
    methods = (
        ("neuron_pruning", np_err),
        ("random_features", rf_err),
        ("random_features_full", full_err),
        ("pc", pc_err),
        ("mw", mw_err),
    )
    for i, d in enumerate(ds):
        for method, err in methods:
            rows += [
                {
                    "task": "neuron",
                    "d": d,
                    "k": 32,
                    "method": method,
                    "trial": t,
                    "test_error": err(i),
                    "train_error": err(i),
                }
                for t in range(2)
            ]
        for k in (4, 16, 64, 256, 1024):
            rows += [
                {
                    "task": "neuron",
                    "d": d,
                    "k": k,
                    "method": "random_features_k",
                    "trial": t,
                    "test_error": k_err(k, d),
                    "train_error": k_err(k, d),
                }
                for t in range(2)
            ]
    for i, k in enumerate(ks):
        for method, err in methods[:3]:
            rows += [
                {
                    "task": "mnist",
                    "d": 784,
                    "k": k,
                    "method": method,
                    "trial": t,
                    "test_error": err(i),
                    "train_error": err(i),
                }
                for t in range(2)
            ]
    return {"trials": pd.DataFrame(rows)}


C = {"max_ratio": 2.0, "min_rise": 2.0, "max_rise": 2.0, "k_error": 0.2, "min_order": 0.8}


def verdicts(rows):
    return {r["id"]: r["verdict"] for r in rows}


def test_mn_claims_pass_when_pruning_tracks_and_only_feature_models_degrade():
    exponential = lambda k, d: 0.2 * np.exp(d / 4) / k  # noqa: E731  k needed = e^(d / 4)
    tables = mn_table(lambda i: 0.1 * 2**i, lambda i: 0.08 * 2**i, lambda i: 0.01, lambda i: 0.02, k_err=exponential)
    rows = {r["id"]: r for r in claims_mn(tables, C)}
    assert {k: r["verdict"] for k, r in rows.items()} == {
        "mn.tracks[task=neuron]": "pass",
        "mn.tracks[task=mnist]": "pass",
        "mn.full_bounds[task=neuron]": "pass",
        "mn.full_bounds[task=mnist]": "pass",
        "mn.k_grows": "pass",
        "mn.k_exponential": "pass",
        "mn.degrades[method=neuron_pruning]": "pass",
        "mn.degrades[method=random_features]": "pass",
        "mn.weight_pruning_holds[method=pc]": "pass",
        "mn.weight_pruning_holds[method=mw]": "pass",
    }
    assert rows["mn.full_bounds[task=neuron]"]["value"] == pytest.approx(2.5)  # 0.1 / 0.04 at d = 2
    # e^(d/4) read off the sweep's grid of k: 4, 4, 16, 64 at d = 2, 4, 8, 16
    assert "= 4, 4, 16, 64" in rows["mn.k_grows"]["detail"]


def test_mn_claims_fail_on_tables_built_to_fail():
    tables = mn_table(
        lambda i: 0.5,
        lambda i: 0.05,
        lambda i: 0.01 * 3**i,
        lambda i: 0.02,
        full_err=lambda i: 0.6,  # all k m features worse on the training set than some of them: impossible
        k_err=lambda k, d: 1 / k,  # the same k at every d
    )
    v = verdicts(claims_mn(tables, C))
    assert v["mn.tracks[task=neuron]"] == "fail"  # pruning 10 times worse than random features
    assert v["mn.tracks[task=mnist]"] == "fail"
    assert v["mn.full_bounds[task=neuron]"] == "fail"
    assert v["mn.k_grows"] == "fail"
    assert v["mn.degrades[method=neuron_pruning]"] == "fail"  # flat in d
    assert v["mn.degrades[method=random_features]"] == "fail"
    assert v["mn.weight_pruning_holds[method=pc]"] == "fail"  # rising 27-fold
    assert v["mn.weight_pruning_holds[method=mw]"] == "pass"
    # k needed = d / 0.2 at the sweep's resolution: a power of d, not an exponential
    power = verdicts(claims_mn(mn_table(lambda i: 0.1, lambda i: 0.1, lambda i: 0.01, lambda i: 0.02), C))
    assert power["mn.k_grows"] == "pass" and power["mn.k_exponential"] == "fail"
    # the sweep reaches the error at two d only: the growth law is untestable
    steep = verdicts(claims_mn(mn_table(*[lambda i: 0.1] * 4, k_err=lambda k, d: d**3 / k), C))
    assert steep["mn.k_exponential"] == "untestable" and steep["mn.k_grows"] == "pass"
    detail = {r["id"]: r for r in claims_mn(mn_table(*[lambda i: 0.1] * 4, k_err=lambda k, d: d**3 / k), C)}
    assert "= 64, 1024, > 1024, > 1024" in detail["mn.k_grows"]["detail"]


def test_mn_figure_draws_four_panels():
    tables = mn_table(lambda i: 0.1 * 2**i, lambda i: 0.08 * 2**i, lambda i: 0.01, lambda i: 0.02)
    tables["trials"]["test_acc"] = 0.9
    fig = fig_mn(tables, {"width": 3, "height": 2.5, "dpi": 50})
    assert len(fig.axes) == 4
    assert len(fig.axes[3].lines) >= 4  # one line per d of the sweep


def test_full_model_in_the_dual_equals_the_primal_ridge_fit():
    gen = np.random.default_rng(3)
    x, x_test = gen.standard_normal((40, 5)), gen.standard_normal((15, 5))
    y = np.maximum(x[:, 0], 0)
    w, _ = random_network(gen, 5, 90)  # more features than samples, in chunks that do not divide them
    alpha = fit_readout(features(x, w), y, 0.05)
    train, test = full_features(x, y, x_test, w, 0.05, chunk=16)
    np.testing.assert_allclose(train, features(x, w) @ alpha, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(test, features(x_test, w) @ alpha, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="ridge > 0"):
        full_features(x, y, x_test, w, 0.0)


def test_full_model_does_not_depend_on_the_blas_thread_count():
    """At N = 600 a multi-threaded LAPACK solve (and OpenBLAS's F F^T) sums in a thread-dependent order; the
    full model and the block readouts must come out the same to the last bit whatever BLAS threads the job has
    (Snakemake hands a job of t threads OPENBLAS_NUM_THREADS = t)."""
    gen = np.random.default_rng(5)
    x, x_test = gen.standard_normal((600, 8)), gen.standard_normal((50, 8))
    y = np.maximum(x[:, 0], 0)
    w, _ = random_network(gen, 8, 1500)
    out = []
    for threads in (1, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            out.append((*full_features(x, y, x_test, w, 0.01), fit_readout(features(x, w[:600]), y, 0.01)))
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)
