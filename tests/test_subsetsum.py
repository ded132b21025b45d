"""The exact subset-sum solver against brute force, HiGHS and hand-made edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltpipe.engines.subsetsum import _first_true, brute_force, solve, solve_milp, solve_sparsest, subset_sums


def dyadic(rng, shape, scale=2**20, low=-1.0, high=1.0):
    """Values on a 2^-20 grid: every subset sum is exact in float64, so optima compare exactly."""
    return rng.integers(int(low * scale), int(high * scale), size=shape, endpoint=True) / scale


@pytest.mark.parametrize("method", ["kernel", "reference"])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 13, 16])
def test_equals_brute_force_exactly(n, method):
    rng = np.random.default_rng(n)
    a = dyadic(rng, (3000, n))
    w = dyadic(rng, 3000, low=-2.0, high=2.0)
    err, mask = solve(a, w, chunk=257, method=method)
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


def brute_sparsest(a, w, eps):
    """Every subset of each row: (fewest elements within eps, or n + 1 if none; smallest error at that count)."""
    n = a.shape[1]
    bits = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    size = bits.sum(1)
    fewest = np.empty(len(w), dtype=int)
    error = np.empty(len(w))
    rows = max(1, 2**21 // 2**n)
    for lo in range(0, len(w), rows):
        err = np.abs(w[lo : lo + rows, None] - a[lo : lo + rows] @ bits.T)
        count = np.where(err <= eps, size, n + 1)
        fewest[lo : lo + rows] = count.min(1)
        error[lo : lo + rows] = np.where(count == count.min(1, keepdims=True), err, np.inf).min(1)
    return fewest, error


# grid 2^-6: many equal sums and sums exactly eps away; grid 2^-20: ties are rare, eps = 2^-30 is nearly never met
SPARSEST_CASES = [
    (2**6, [0.0, 2**-6, 0.1, 0.5, 2.0]),
    (2**20, [2**-30, 2**-12, 0.01, 0.1, 2.0]),
]


@pytest.mark.parametrize("method", ["kernel", "reference"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 11, 13, 16])
@pytest.mark.parametrize(("scale", "eps_list"), SPARSEST_CASES)
def test_sparsest_equals_brute_force_exactly(n, scale, eps_list, method):
    rng = np.random.default_rng([n, scale])
    rows = 3000 if n <= 13 else 1000
    a = dyadic(rng, (rows, n), scale=scale)
    w = dyadic(rng, rows, scale=scale, low=-2.0, high=2.0)
    optimum, _ = brute_force(a, w)
    for eps in eps_list:
        err, mask, within = solve_sparsest(a, w, eps, chunk=97, method=method)
        err, mask, within = err.numpy(), mask.numpy(), within.numpy()
        fewest, best_err = brute_sparsest(a, w, eps)
        feasible = fewest <= n
        np.testing.assert_array_equal(within, feasible)
        # the mask reproduces its error exactly and lies within eps wherever a subset does
        np.testing.assert_array_equal(np.abs(w - (a * mask).sum(1)), err)
        assert (err[feasible] <= eps).all()
        # the fewest elements, and the smallest error among subsets of that size
        np.testing.assert_array_equal(mask.sum(1)[feasible], fewest[feasible])
        np.testing.assert_array_equal(err[feasible], best_err[feasible])
        # nothing within eps: the optimum, as solve finds it
        np.testing.assert_array_equal(err[~feasible], optimum[~feasible])
        if eps >= 2.0:  # |w| <= 2 <= eps: the empty set
            assert within.all() and not mask.any()
        if eps == 2**-30 and scale == 2**20 and n <= 13:
            assert (~within).sum() > 0.9 * rows
        if eps == 0.1 and n >= 8:
            assert within.mean() > 0.5


def test_sparsest_never_keeps_more_than_the_optimum():
    rng = np.random.default_rng(5)
    a = dyadic(rng, (2000, 14), low=-0.3, high=0.3)
    w = dyadic(rng, 2000, low=-0.3, high=0.3)
    err_opt, mask_opt = solve(a, w)
    for eps in [0.0, 0.001, 0.01, 0.05]:
        err, mask, within = solve_sparsest(a, w, eps)
        np.testing.assert_array_equal(within.numpy(), (err_opt <= eps).numpy())
        ok = within.numpy()
        assert (mask.sum(1).numpy()[ok] <= mask_opt.sum(1).numpy()[ok]).all()
        np.testing.assert_array_equal(err[~within].numpy(), err_opt[~within].numpy())
    # results do not depend on the chunking
    e1, m1, w1 = solve_sparsest(a, w, 0.01, chunk=1)
    e2, m2, w2 = solve_sparsest(torch.as_tensor(a), torch.as_tensor(w), 0.01, chunk=5000)
    assert torch.equal(e1, e2) and torch.equal(m1, m2) and torch.equal(w1, w2)


def test_sparsest_edge_cases():
    # one coefficient: the empty set if |w| <= eps, else the coefficient if within eps, else the nearer of the two
    a = np.array([[0.5], [0.5], [0.5], [0.5]])
    w = np.array([0.1, 0.45, 0.3, -0.3])
    err, mask, within = solve_sparsest(a, w, 0.1)
    assert mask[:, 0].tolist() == [False, True, True, False]
    assert within.tolist() == [True, True, False, False]
    assert err.tolist() == [0.1, pytest.approx(0.05), pytest.approx(0.2), 0.3]
    # no coefficients: only the empty set
    err, mask, within = solve_sparsest(np.zeros((3, 0)), np.array([0.25, -0.5, 0.0]), 0.25)
    assert err.tolist() == [0.25, 0.5, 0.0] and within.tolist() == [True, False, True] and mask.shape == (3, 0)
    # one element beats two even at a larger error; among singles, the smaller error
    a = np.array([[0.25, 0.5, 0.125, 0.625], [0.5, 0.5234375, 0.25, 0.25]])
    err, mask, within = solve_sparsest(a, np.array([0.75, 0.515625]), 0.125)
    assert mask.tolist() == [[False, False, False, True], [False, True, False, False]]
    assert err.tolist() == [0.125, 0.0078125] and within.all()
    # eps = 0 asks for an exact sum; exactness is judged on the computed sums (0.1 + 0.2 != 0.3 in float64)
    err, mask, within = solve_sparsest(np.array([[0.1, 0.2, 0.25], [0.5, 0.25, 0.75]]), np.array([0.3, 0.75]), 0.0)
    assert not within[0] and err[0].item() == abs(0.3 - (0.1 + 0.2)) and mask[0].tolist() == [True, True, False]
    assert within[1] and err[1].item() == 0.0 and mask[1].tolist() == [False, False, True]
    err, _, within = solve_sparsest(np.array([[0.1, 0.2]]), np.array([0.3]), abs(0.3 - (0.1 + 0.2)))
    assert within.item() and err.item() == abs(0.3 - (0.1 + 0.2))
    with pytest.raises(ValueError, match="eps"):
        solve_sparsest(np.ones((2, 3)), np.ones(2), -0.1)
    with pytest.raises(ValueError, match="shape"):
        solve_sparsest(np.ones((2, 3)), np.ones(3), 0.1)


@pytest.mark.parametrize("strict", [False, True])
def test_window_ends_are_exact_from_any_guess(strict):
    """The range ends do not rely on searchsorted: wrong guesses are corrected to the exact first index."""
    gen = torch.Generator().manual_seed(int(strict))
    b, m, k = 50, 64, 40
    # non-dyadic values with repeats, so that rounding and equal sums both occur
    s2s = torch.sort((torch.randint(0, 30, (b, m), generator=gen) * 0.1 - 1.3).double(), dim=1).values
    s1 = torch.randint(0, 20, (b, k), generator=gen) * 0.1 - 1.0
    w = torch.randint(-5, 6, (b,), generator=gen) * 0.1
    eps = 0.3
    q = (lambda d: d < -eps) if strict else (lambda d: d <= eps)
    d = w[:, None, None] - (s1[:, :, None] + s2s[:, None, :])  # (b, k, m)
    flags = torch.cat([q(d), torch.ones(b, k, 1, dtype=torch.bool)], dim=2)
    expected = flags.int().argmax(dim=2)  # first true, m if none
    for guess in [torch.randint(0, m + 1, (b, k), generator=gen), torch.zeros(b, k, dtype=torch.long), expected]:
        np.testing.assert_array_equal(_first_true(s2s, w, s1, guess, q).numpy(), expected.numpy())


# --- the compiled kernels against the reference tensor program ----------------------------------------------


@pytest.mark.parametrize("n", [1, 4, 9, 14, 20])
def test_kernel_equals_the_reference_bit_for_bit_where_sums_are_exact(n):
    """Integer coefficients: every sum is exact in both, so ties abound and both must break them alike."""
    rng = np.random.default_rng([7, n])
    a = rng.integers(-5, 6, (3000, n)).astype(float)
    w = rng.integers(-12, 13, 3000) + 0.5 * rng.integers(0, 2, 3000)
    e_k, m_k = solve(a, w, method="kernel")
    e_r, m_r = solve(a, w, method="reference")
    assert torch.equal(e_k, e_r) and torch.equal(m_k, m_r)
    for eps in (0.0, 1.0, 2.5):
        e_k, m_k, ok_k = solve_sparsest(a, w, eps, method="kernel")
        e_r, m_r, ok_r = solve_sparsest(a, w, eps, method="reference")
        assert torch.equal(e_k, e_r) and torch.equal(ok_k, ok_r)
        # the fewest coefficients wherever a subset is within eps (elsewhere a nearest subset: ties are free)
        assert torch.equal(m_k.sum(1)[ok_k], m_r.sum(1)[ok_r])
        assert (ok_k.sum() > 0) and (eps > 0 or (~ok_k).sum() > 0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_kernel_finds_the_reference_s_subsets_on_random_reals(dtype):
    """Real coefficients: the same subsets; the errors differ at most by the rounding of the half sums (the
    reference's matrix product may add in another order than the kernel's fixed left-to-right sum)."""
    rng = np.random.default_rng(3)
    a = rng.uniform(-0.3, 0.3, (4000, 21))
    w = rng.uniform(-0.3, 0.3, 4000)
    e_k, m_k = solve(a, w, dtype=dtype, method="kernel")
    e_r, m_r = solve(a, w, dtype=dtype, method="reference")
    ulp = torch.finfo(dtype).eps
    assert torch.equal(m_k, m_r) or (dtype == torch.float32 and (m_k != m_r).any(1).float().mean() < 0.01)
    assert float((e_k - e_r).abs().max()) <= 8 * ulp
    e_k, m_k, ok_k = solve_sparsest(a, w, 0.01, dtype=dtype, method="kernel")
    e_r, m_r, ok_r = solve_sparsest(a, w, 0.01, dtype=dtype, method="reference")
    same = (m_k == m_r).all(1)
    assert same.float().mean() > 0.99 and torch.equal(m_k.sum(1)[ok_k & ok_r], m_r.sum(1)[ok_k & ok_r])
    assert float((e_k - e_r).abs().max()) <= 8 * ulp


@pytest.mark.parametrize("rows", [1, 7, 9, 1001])
def test_kernel_handles_any_number_of_rows(rows):
    """The kernel takes rows 8 at a time; a last, partial group must neither be lost nor touch other rows."""
    rng = np.random.default_rng(rows)
    a = rng.integers(-5, 6, (rows, 13)).astype(float)
    w = rng.integers(-12, 13, rows) + 0.5 * rng.integers(0, 2, rows)
    e_k, m_k = solve(a, w, method="kernel")
    e_r, m_r = solve(a, w, method="reference")
    assert torch.equal(e_k, e_r) and torch.equal(m_k, m_r)


@pytest.mark.parametrize("method", ["kernel", "reference"])
def test_a_tie_goes_to_the_lowest_first_half_subset(method):
    """First half (2, 1): its sums in ascending order are 0, 1, 2, 3 from subsets 0, 2, 1, 3. For w = 1.75, with
    the second half (0.5, 10), s1 = 1 (+0.5) and s1 = 2 (+0) both miss by 0.25; the lower subset, {2}, is taken,
    though its sum comes later in the sorted order. Rows of 9 put the case in the kernel's last, partial group."""
    a = np.tile([[2.0, 1.0, 0.5, 10.0]], (9, 1))
    w = np.full(9, 1.75)
    err, mask = solve(a, w, method=method)
    assert err.tolist() == [0.25] * 9
    assert mask.tolist() == [[True, False, False, False]] * 9


@pytest.mark.parametrize("method", ["kernel", "reference"])
@pytest.mark.parametrize(
    ("a", "w"),
    [([[0.1, np.nan]], [0.0]), ([[0.1, 0.2]], [np.inf]), ([[1e308, 1e308, 0.1]], [0.0])],
    ids=["nan", "inf", "overflow"],
)
def test_non_finite_input_is_refused(a, w, method):
    rows = np.zeros((3, len(a[0])))
    rows[2] = a[0]
    targets = np.zeros(3)
    targets[2] = w[0]
    with pytest.raises(ValueError, match="instance 2: coefficients and targets must be finite"):
        solve(rows, targets, method=method)
    with pytest.raises(ValueError, match="instance 2: coefficients and targets must be finite"):
        solve_sparsest(rows, targets, 0.01, method=method)


def test_method_is_checked():
    with pytest.raises(ValueError, match="method must be"):
        solve(np.zeros((1, 2)), np.zeros(1), method="fast")
