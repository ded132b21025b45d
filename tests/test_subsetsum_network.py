"""PS (Pensia et al. 2020, Experiment 1): coefficients, per-weight solutions and the CLIs on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import write_tiny_mnist

from ltpipe.data.mnist import FILES, MnistError, raw_dir
from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.models import build
from ltpipe.engines.subsetsum import brute_force
from ltpipe.engines.train import evaluate
from ltpipe.studies.pensia2020.ps import job as subsetsum_network
from ltpipe.studies.pensia2020.ps.job import (
    ARCH,
    approximate,
    draw_coefficients,
    n_coefficients,
    solve_main,
    target_main,
)
from ltpipe.tables import read_table


@pytest.mark.parametrize(
    ("eps", "c", "n"),
    [
        (0.01, 3, 21),  # the paper's value: 3 * round(6.64)
        (0.01, 1, 7),
        (0.05, 1, 4),  # log2(20) = 4.32
        (0.1, 2, 6),  # log2(10) = 3.32
        (0.5, 5, 5),  # log2(2) = 1
        (0.25, 3, 6),
        (0.001, 1, 10),  # log2(1000) = 9.97
        (0.03, 2, 10),  # log2(33.3) = 5.06
    ],
)
def test_n_coefficients(eps, c, n):
    got = n_coefficients(eps, c)
    assert got == n and isinstance(got, int)


SHAPES = [(4, 6), (3, 5)]


@pytest.mark.parametrize("mode", ["per_weight", "per_row"])
def test_draw_coefficients_shapes_range_and_seed(mode):
    low, high = -0.3, 0.7
    first = draw_coefficients(SHAPES, 5, low, high, mode, seed=11)
    again = draw_coefficients(SHAPES, 5, low, high, mode, seed=11)
    other = draw_coefficients(SHAPES, 5, low, high, mode, seed=12)
    assert [a.shape for a in first] == [(4, 6, 5), (3, 5, 5)]
    for a, b, o in zip(first, again, other, strict=True):
        assert a.dtype == np.float64
        assert a.min() >= low and a.max() <= high
        assert a.max() - a.min() > 0.5 * (high - low)  # spread over the interval, not a constant
        np.testing.assert_array_equal(a, b)
        assert not np.any(a == o)


def test_draw_coefficients_per_weight_all_distinct_in_a_row():
    for a in draw_coefficients(SHAPES, 5, -1.0, 1.0, "per_weight", seed=3):
        rows, cols, n = a.shape
        for r in range(rows):
            assert len(np.unique(a[r])) == cols * n


def test_draw_coefficients_per_row_shared_across_columns_only():
    for a in draw_coefficients(SHAPES, 5, -1.0, 1.0, "per_row", seed=3):
        rows, cols, n = a.shape
        for r in range(rows):
            np.testing.assert_array_equal(a[r], np.broadcast_to(a[r, :1], (cols, n)))
            assert len(np.unique(a[r, 0])) == n
        flat = a[:, 0, :]
        assert len(np.unique(flat)) == rows * n  # every row its own draw


def test_draw_coefficients_bad_mode():
    with pytest.raises(ValueError, match="per_column"):
        draw_coefficients(SHAPES, 5, -1.0, 1.0, "per_column", seed=0)


def dyadic(rng, shape, low, high, scale=2**12):
    """Values on a 2^-12 grid: every subset sum is exact in float64, so optima compare exactly."""
    return rng.integers(int(low * scale), int(high * scale), size=shape, endpoint=True) / scale


def all_subsets(n):
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)


LOW, HIGH, EPS, N = -0.5, 0.5, 0.02, 10
LAYER_SHAPES = [(7, 5), (3, 7)]


@pytest.fixture(scope="module")
def layers():
    rng = np.random.default_rng(5)
    weights = [dyadic(rng, s, LOW, HIGH) for s in LAYER_SHAPES]
    coefficients = [dyadic(rng, (*s, N), LOW, HIGH) for s in LAYER_SHAPES]
    table, seconds = approximate(weights, coefficients, EPS, sparsest=True)
    return weights, coefficients, table, seconds


def test_approximate_indexing_matches_the_weights(layers):
    weights, _, table, seconds = layers
    assert list(table.columns) == [
        "layer",
        "row",
        "col",
        "target",
        "approx",
        "error",
        "kept",
        "approx_sparsest",
        "error_sparsest",
        "kept_sparsest",
    ]
    assert len(table) == sum(w.size for w in weights)
    np.testing.assert_array_equal(table["target"], np.concatenate([w.reshape(-1) for w in weights]))
    for layer, w in enumerate(weights):
        part = table[table["layer"] == layer]
        rows, cols = w.shape
        assert len(part) == w.size
        np.testing.assert_array_equal(part["row"], np.repeat(np.arange(rows), cols))
        np.testing.assert_array_equal(part["col"], np.tile(np.arange(cols), rows))
        np.testing.assert_array_equal(part["target"], w[part["row"], part["col"]])
    assert set(seconds) == {"optimal", "sparsest"} and min(seconds.values()) >= 0


def per_weight(weights, coefficients):
    """(target, coefficients) per table row, in the table's order."""
    w = np.concatenate([x.reshape(-1) for x in weights])
    a = np.concatenate([x.reshape(x.shape[0] * x.shape[1], -1) for x in coefficients])
    return w, a


def test_approximate_is_the_optimal_subset_sum(layers):
    weights, coefficients, table, _ = layers
    w, a = per_weight(weights, coefficients)
    sums = a @ all_subsets(N).T.astype(float)  # exact: dyadic values
    for suffix in ("", "_sparsest"):
        approx = table[f"approx{suffix}"].to_numpy()
        np.testing.assert_array_equal(table[f"error{suffix}"], np.abs(w - approx))
        for i in range(len(w)):
            hits = np.flatnonzero(sums[i] == approx[i])
            assert len(hits), f"row {i}: approx{suffix} {approx[i]} is no subset sum of its coefficients"
            counts = all_subsets(N)[hits].sum(1)
            assert table[f"kept{suffix}"].iloc[i] in counts
    best, _ = brute_force(a, w)
    np.testing.assert_array_equal(table["error"], best)


def test_approximate_sparsest_is_the_fewest_within_eps(layers):
    weights, coefficients, table, _ = layers
    w, a = per_weight(weights, coefficients)
    subsets = all_subsets(N)
    errors = np.abs(w[:, None] - a @ subsets.T.astype(float))
    within = errors <= EPS
    fewest = np.where(within, subsets.sum(1)[None, :], N + 1).min(1)
    feasible = within.any(1)
    assert 0 < feasible.sum() < len(w)  # both kinds of weights occur
    assert (table["kept_sparsest"] <= table["kept"]).all()
    assert (table["kept_sparsest"] < table["kept"]).any()  # sparser somewhere, so the comparison has teeth
    assert (table.loc[table["error"] <= EPS, "error_sparsest"] <= EPS).all()
    np.testing.assert_array_equal(table["kept_sparsest"].to_numpy()[feasible], fewest[feasible])
    # no subset within eps: the sparsest solution falls back to the optimal error
    np.testing.assert_array_equal(table["error_sparsest"].to_numpy()[~feasible], table["error"].to_numpy()[~feasible])


def test_approximate_without_sparsest_and_with_shared_rows():
    rng = np.random.default_rng(9)
    weights = [dyadic(rng, s, LOW, HIGH) for s in LAYER_SHAPES]
    shared = draw_coefficients(LAYER_SHAPES, 6, LOW, HIGH, "per_row", seed=4)
    table, seconds = approximate(weights, shared, EPS, sparsest=False)
    assert "approx_sparsest" not in table and "kept_sparsest" not in table
    assert seconds["sparsest"] == 0.0
    copied, _ = approximate(weights, [np.array(a) for a in shared], EPS, sparsest=False)
    np.testing.assert_array_equal(table["approx"], copied["approx"])
    w, a = per_weight(weights, shared)
    best, _ = brute_force(a, w)
    np.testing.assert_allclose(table["error"], best, rtol=0, atol=1e-12)


def ps_config(**overrides):
    cfg = {
        "n_samples": 200,
        "epochs": 2,
        "batch_size": 64,
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "eps": 0.05,
        "c": 1,
        "coefficients": "per_row",
        "coefficient_range": ["target", "symmetric"],
        "sparsest": True,
    }
    return cfg | overrides


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ps")
    write_tiny_mnist(tmp / "mnist", 300, 100)
    files = [str(raw_dir(tmp / "mnist") / name) for name in FILES.values()]  # as the workflow passes them
    return tmp, files


@pytest.fixture(scope="module")
def ps_run(tiny):
    tmp, files = tiny
    cfg = ps_config()
    target = tmp / "target.pt"
    common = ["--mnist", *files, "--device", "cpu", "--config", json.dumps(cfg)]
    target_main([*common, "--seed", "3", "--out", str(target)])
    solve_main(
        [
            *common,
            "--target",
            str(target),
            "--weights-out",
            str(tmp / "w.parquet"),
            "--summary-out",
            str(tmp / "s.parquet"),
        ]
    )
    saved = torch.load(target, weights_only=True)
    return cfg, saved, read_table(tmp / "w.parquet"), read_table(tmp / "s.parquet"), tmp


def test_cli_target(ps_run):
    cfg, saved, _, _, _ = ps_run
    assert saved["n_train"] == 200
    assert saved["config"] == cfg
    assert saved["test_acc"] > 0.5  # learnable data, well above chance (0.1)
    assert {k: tuple(v.shape) for k, v in saved["state"].items()} == {"1.weight": (500, 784), "3.weight": (10, 500)}


def test_cli_summary_agrees_with_the_weights_table(ps_run):
    cfg, saved, weights, summary, _ = ps_run
    n = n_coefficients(cfg["eps"], cfg["c"])
    assert n == 4
    n_weights = 784 * 500 + 500 * 10
    assert len(weights) == 2 * n_weights
    assert weights["coefficient_range"].tolist() == ["target"] * n_weights + ["symmetric"] * n_weights
    assert summary["coefficient_range"].tolist() == ["target", "target", "symmetric", "symmetric"]
    assert summary["solution"].tolist() == ["optimal", "sparsest"] * 2
    low, high = float(weights["target"].min()), float(weights["target"].max())
    for row in summary.itertuples():
        suffix = "" if row.solution == "optimal" else "_sparsest"
        part = weights[weights["coefficient_range"] == row.coefficient_range]
        assert (row.low, row.high) == (
            (low, high) if row.coefficient_range == "target" else (-max(-low, high), max(-low, high))
        )
        assert row.n_weights == n_weights
        assert row.n_coefficients == n
        assert row.total_coefficients == n_weights * n
        assert row.kept_total == int(part[f"kept{suffix}"].sum())
        assert row.max_error == float(part[f"error{suffix}"].max())
        assert row.within_eps == int((part[f"error{suffix}"] <= cfg["eps"]).sum())
        assert row.eps == cfg["eps"] and row.coefficients == "per_row" and row.n_train == 200
        assert row.target_acc == saved["test_acc"]
        assert 0.0 <= row.approx_acc <= 1.0
    for name, g in summary.groupby("coefficient_range"):
        assert g["kept_total"].iloc[1] <= g["kept_total"].iloc[0], name
        assert g["within_eps"].iloc[1] == g["within_eps"].iloc[0], name


def test_cli_weights_table_is_the_target(ps_run):
    _, saved, weights, summary, _ = ps_run
    state = saved["state"]
    expected = np.concatenate([state[k].double().numpy().reshape(-1) for k in ("1.weight", "3.weight")])
    for name, part in weights.groupby("coefficient_range"):
        np.testing.assert_array_equal(part["target"], expected)
        np.testing.assert_array_equal(part["error"], np.abs(part["target"] - part["approx"]))
        # per_row: every weight of an output row is a subset sum of the same n = 4 coefficients
        distinct = part.groupby(["layer", "row"])["approx"].nunique()
        assert distinct.max() <= 2**4
        s = summary[summary["coefficient_range"] == name].iloc[0]
        assert part["approx"].min() >= 4 * min(s.low, 0) - 1e-12 and part["approx"].max() <= 4 * max(s.high, 0) + 1e-12


def test_cli_approx_accuracy_is_the_approximated_network(ps_run):
    _, saved, weights, summary, tmp = ps_run
    data = prepare_data(str(tmp / "mnist"), None, 0.0, 0, "cpu")
    model = build(ARCH)
    for row in summary.itertuples():
        part = weights[weights["coefficient_range"] == row.coefficient_range]
        column = "approx" if row.solution == "optimal" else "approx_sparsest"
        start = 0
        state = {}
        for k, v in saved["state"].items():
            values = part[column].to_numpy()[start : start + v.numel()].reshape(tuple(v.shape))
            state[k] = torch.tensor(values, dtype=v.dtype)
            start += v.numel()
        model.load_state_dict(state)
        _, acc = evaluate(model, data["x_test"], data["y_test"])
        assert row.approx_acc == acc


def test_cli_refuses_a_training_size_larger_than_the_data(tiny, monkeypatch):
    tmp, files = tiny

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(subsetsum_network, "train_epochs", no_training)
    out = tmp / "too_big.pt"
    with pytest.raises(MnistError, match="10000"):
        target_main(
            [
                "--config",
                json.dumps(ps_config(n_samples=10_000)),
                "--seed",
                "3",
                "--mnist",
                *files,
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
    assert not out.exists()
