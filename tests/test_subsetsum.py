"""The exact subset-sum solver against brute force, HiGHS and hand-made edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltpipe.subsetsum import brute_force, solve, solve_milp, subset_sums


def dyadic(rng, shape, scale=2**20, low=-1.0, high=1.0):
    """Values on a 2^-20 grid: every subset sum is exact in float64, so optima compare exactly."""
    return rng.integers(int(low * scale), int(high * scale), size=shape, endpoint=True) / scale


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 13, 16])
def test_equals_brute_force_exactly(n):
    rng = np.random.default_rng(n)
    a = dyadic(rng, (3000, n))
    w = dyadic(rng, 3000, low=-2.0, high=2.0)
    err, mask = solve(a, w, chunk=257)
    best, _ = brute_force(a, w)
    np.testing.assert_array_equal(err.numpy(), best)
    # the mask reproduces its sum: the error is that of the subset returned
    np.testing.assert_array_equal(np.abs(w - (a * mask.numpy()).sum(1)), err.numpy())


def test_matches_highs_on_the_papers_size():
    rng = np.random.default_rng(21)
    a = dyadic(rng, (4, 21))
    w = dyadic(rng, 4, low=-0.5, high=0.5)
    err, _ = solve(a, w)
    for i in range(4):
        highs_err, x, ok = solve_milp(a[i], w[i])
        assert ok
        assert err[i].item() <= highs_err  # nothing HiGHS finds is better than the optimum
        assert highs_err - err[i].item() <= 2e-6  # and HiGHS gets there within its tolerances
        assert abs(w[i] - a[i][x].sum()) == pytest.approx(highs_err)


def test_edge_cases():
    a = np.array([[0.5, 0.25, 0.125], [0.5, 0.25, 0.125], [-0.5, -0.25, -0.125], [0.3, 0.3, 0.3], [0.3, 0.3, 0.3]])
    w = np.array([5.0, -1.0, -0.6, 0.6, 0.0])
    err, mask = solve(a, w)
    # above the reachable range: take every positive coefficient; below: take none
    assert mask[0].tolist() == [True, True, True] and err[0].item() == pytest.approx(4.125)
    assert mask[1].tolist() == [False, False, False] and err[1].item() == 1.0
    # all negative: -0.625 is the closest sum to -0.6
    assert err[2].item() == pytest.approx(0.025) and mask[2].tolist() == [True, False, True]
    # duplicates: any two of three equal coefficients
    assert err[3].item() == 0.0 and mask[3].sum() == 2
    assert err[4].item() == 0.0 and mask[4].sum() == 0
    one_err, one_mask = solve(np.array([[0.7]]), np.array([0.4]))
    assert one_err.item() == pytest.approx(0.3) and one_mask.item()
    zero_err, zero_mask = solve(np.zeros((2, 0)), np.array([0.2, -0.3]))
    assert zero_err.tolist() == [0.2, 0.3] and zero_mask.shape == (2, 0)


def test_torch_input_and_shape_errors():
    a = torch.tensor([[0.5, 0.25], [1.0, -1.0]], dtype=torch.float64)
    err, _ = solve(a, torch.tensor([0.75, 0.1], dtype=torch.float64))
    assert err.tolist() == [0.0, pytest.approx(0.1)]
    with pytest.raises(ValueError, match="shape"):
        solve(np.ones((3, 4)), np.ones(2))


def test_subset_sums_enumerates_in_binary_order():
    sums = subset_sums(torch.tensor([[1.0, 10.0, 100.0]], dtype=torch.float64))
    assert sums.tolist() == [[0, 1, 10, 11, 100, 101, 110, 111]]
