"""Exact subset sum for many small instances at once (Pensia et al. 2020, Sec. 3 and 5).

For each instance (coefficients a in R^n, target w) find the subset S that
minimises |w - sum_{i in S} a_i|. Pensia et al. (Experiment 1) solved each
weight of a network with a MIP solver; for n up to about 30 the problem is
solved exactly by meet in the middle: enumerate the 2^(n/2) sums of each
half, sort one side, and for every sum s1 of the other side binary-search
w - s1 among them. On the CPU the work goes to compiled kernels
(:mod:`ltpipe.engines.subsetsum_kernel`: Horowitz and Sahni's sorted
generation and a one-pointer scan, parallel over instances, equal to the last
bit); on CUDA, and with ``method="reference"`` on the CPU, instances are
processed in chunks as one tensor program (the reference the kernels are
tested against).

:func:`solve_sparsest` answers a second question by the same split: among
the subsets within eps of w, one with the fewest elements (exactly).
:func:`solve_milp` is the MIP formulation through scipy's HiGHS, kept as an
independent cross-check.
"""

from __future__ import annotations

import numpy as np
import torch

from ltpipe.engines.compiled import kernel_threads, use_kernel

__all__ = ["brute_force", "solve", "solve_milp", "solve_sparsest", "subset_sums"]


def _bits(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(2^n, n) table of every subset of n items, row j = binary digits of j."""
    j = torch.arange(2**n, device=device).unsqueeze(1)
    return ((j >> torch.arange(n, device=device)) & 1).to(dtype)


def subset_sums(a: torch.Tensor) -> torch.Tensor:
    """(B, 2^n) sums of every subset of each row of a (B, n); column j is subset j (binary digits)."""
    return a @ _bits(a.shape[1], a.device, a.dtype).T


def _as_tensor(x, dtype: torch.dtype, device: torch.device | str | None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    return torch.as_tensor(x, dtype=dtype, device=device)


def _instances(a, w, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, n) coefficients and (B,) targets as tensors on one device, shapes checked."""
    a = _as_tensor(a, dtype, device)
    w = _as_tensor(w, dtype, a.device)
    if a.ndim != 2 or w.shape != (a.shape[0],):
        raise ValueError(f"need a of shape (B, n) and w of shape (B,), got {tuple(a.shape)} and {tuple(w.shape)}")
    if a.shape[1] > 40:
        raise ValueError(f"n = {a.shape[1]} coefficients: meet in the middle needs 2^(n/2) sums per instance; n <= 40")
    bound = a.abs().sum(1) + w.abs()  # bounds |w - sum_S a| and every partial sum
    if not bool(torch.isfinite(2 * bound).all()):
        bad = int((~torch.isfinite(2 * bound)).nonzero()[0, 0])
        raise ValueError(
            f"instance {bad}: coefficients and targets must be finite, with sum |a| + |w| well inside {a.dtype}'s range"
        )
    return a, w


def solve(
    a,
    w,
    *,
    chunk: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
    method: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best subset sum of each row: returns (error (B,), mask (B, n) bool), exactly optimal.

    ``a`` is (B, n) and ``w`` (B,), numpy or torch. error = |w - a[mask].sum()|
    with the sums formed as the two half sums added; ties go to the subset
    found first. ``chunk`` instances are held at once (by default as many as
    fit in about 16 MiB, which keeps a chunk in the CPU's cache: measured
    faster than large chunks); results are returned on the CPU. ``method``:
    ``auto`` (the compiled kernel on the CPU, the tensor program on CUDA),
    ``kernel`` or ``reference`` (the tensor program, also on the CPU).
    """
    a, w = _instances(a, w, dtype, device)
    b, n = a.shape
    if n == 0:
        return w.abs().cpu(), torch.zeros((b, 0), dtype=torch.bool)
    if use_kernel(a, method):
        from ltpipe.engines.subsetsum_kernel import solve_kernel

        an, wn = a.contiguous().numpy(), w.contiguous().numpy()
        err = np.empty(b, dtype=an.dtype)
        mask = np.empty((b, n), dtype=np.uint8)
        with kernel_threads():
            solve_kernel(an, wn, err, mask)
        return torch.from_numpy(err), torch.from_numpy(mask).bool()
    n1 = n // 2
    n2 = n - n1
    bits1 = _bits(n1, a.device, a.dtype)
    bits2 = _bits(n2, a.device, a.dtype)
    if chunk is None:
        per_row = (2**n2) * 8 * 3 + (2**n1) * 8 * 6
        chunk = max(1, (16 * 2**20) // per_row)
    errors = torch.empty(b, dtype=dtype)
    masks = torch.empty((b, n), dtype=torch.bool)
    for lo in range(0, b, chunk):
        hi = min(lo + chunk, b)
        err, mask = _solve_chunk(a[lo:hi], w[lo:hi], bits1, bits2)
        errors[lo:hi] = err.cpu()
        masks[lo:hi] = mask.cpu()
    return errors, masks


def _solve_chunk(
    a: torch.Tensor, w: torch.Tensor, bits1: torch.Tensor, bits2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    n1 = bits1.shape[1]
    s1 = a[:, :n1] @ bits1.T  # (B, 2^n1)
    s2 = a[:, n1:] @ bits2.T  # (B, 2^n2)
    order = None
    if s2.device.type == "cpu":
        # numpy's vectorised sort is several times faster than torch.sort on a CPU;
        # the chosen second-half subset is found afterwards by its (exact) value
        s2_sorted = torch.from_numpy(np.sort(s2.numpy(), axis=1))
    else:
        s2_sorted, order = torch.sort(s2, dim=1)
    rest = w.unsqueeze(1) - s1  # what the second half should add
    hi = torch.searchsorted(s2_sorted, rest).clamp_(max=s2.shape[1] - 1)
    lo = (hi - 1).clamp_(min=0)
    cand_hi = s2_sorted.gather(1, hi)
    cand_lo = s2_sorted.gather(1, lo)
    err_hi = (w.unsqueeze(1) - (s1 + cand_hi)).abs()
    err_lo = (w.unsqueeze(1) - (s1 + cand_lo)).abs()
    take_lo = err_lo <= err_hi
    err = torch.where(take_lo, err_lo, err_hi)
    pos = torch.where(take_lo, lo, hi)
    best_err, i1 = err.min(dim=1)
    best_pos = pos.gather(1, i1.unsqueeze(1))
    if order is None:
        value = s2_sorted.gather(1, best_pos)
        j2 = (s2 == value).to(torch.uint8).argmax(dim=1)  # the first subset with that sum
    else:
        j2 = order.gather(1, best_pos).squeeze(1)
    mask = torch.cat([bits1[i1], bits2[j2]], dim=1).bool()
    return best_err, mask


def solve_sparsest(
    a,
    w,
    eps: float,
    *,
    chunk: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
    method: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fewest coefficients within eps of each row: returns (error (B,), mask (B, n) bool, within (B,) bool).

    Pensia et al. 2020 (Experiment 1) approximate every weight w of a network
    by a subset sum of n = 21 random coefficients with |w - sum_S a| <= eps =
    0.01, asking the MIP solver for the smallest error; the number of
    coefficients kept (3,725,871 of 8,337,000 in the paper) is whatever that
    subset happens to have. This function instead returns, per row, a subset
    with the fewest elements among all subsets within eps, and among those
    the smallest error (remaining ties: a fixed deterministic choice), exactly.
    Rows with no subset within eps get a minimum-error subset, as from
    :func:`solve`, and ``within`` False.

    Meet in the middle: for each sum s1 of the first half, the second-half
    sums s2 with |w - (s1 + s2)| <= eps form a contiguous range of the sorted
    second half; the fewest elements in that range (and the one closest to
    w - s1 among them) come from range-minimum queries on sparse tables over
    popcount * 2^n2 + position. A subset counts as within eps iff its error,
    formed as for :func:`solve` (w minus the two half sums added, in
    ``dtype``), is <= eps; the range ends are located on exactly that
    predicate, so the result is exact for the computed sums. ``a``, ``w``,
    ``chunk``, ``device``, ``dtype`` and ``method`` are as for :func:`solve`; eps >= 0.
    The tables take 2 * (n2 + 1) * 2^n2 * 4 bytes per instance (n2 = n - n // 2):
    196 KiB at n = 21, 176 MiB at the limit n = 40 (as for :func:`solve`).
    """
    a, w = _instances(a, w, dtype, device)
    eps = float(eps)
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    b, n = a.shape
    if n == 0:
        err = w.abs().cpu()
        return err, torch.zeros((b, 0), dtype=torch.bool), err <= eps
    if use_kernel(a, method):
        from ltpipe.engines.subsetsum_kernel import sparsest_kernel

        an, wn = a.contiguous().numpy(), w.contiguous().numpy()
        err = np.empty(b, dtype=an.dtype)
        mask = np.empty((b, n), dtype=np.uint8)
        ok = np.empty(b, dtype=np.uint8)
        with kernel_threads():
            sparsest_kernel(an, wn, an.dtype.type(eps), err, mask, ok)
        return torch.from_numpy(err), torch.from_numpy(mask).bool(), torch.from_numpy(ok).bool()
    n1 = n // 2
    n2 = n - n1
    bits1 = _bits(n1, a.device, a.dtype)
    bits2 = _bits(n2, a.device, a.dtype)
    if chunk is None:
        per_row = (2**n2) * (8 * 4 + 4 * 4 * (n2 + 1)) + (2**n1) * 8 * 24
        chunk = max(1, (16 * 2**20) // per_row)
    errors = torch.empty(b, dtype=dtype)
    masks = torch.empty((b, n), dtype=torch.bool)
    within = torch.empty(b, dtype=torch.bool)
    for lo in range(0, b, chunk):
        hi = min(lo + chunk, b)
        err, mask, ok = _sparsest_chunk(a[lo:hi], w[lo:hi], eps, bits1, bits2)
        errors[lo:hi] = err.cpu()
        masks[lo:hi] = mask.cpu()
        within[lo:hi] = ok.cpu()
    return errors, masks, within


def _first_true(s2s: torch.Tensor, w: torch.Tensor, s1: torch.Tensor, guess: torch.Tensor, q) -> torch.Tensor:
    """Per (row, first-half sum): the first k in [0, 2^n2] with q(w - (s1 + s2s[k])) true, exactly.

    q must be monotone along the sorted s2s (false, then true); ``guess``
    (B, N1) is an estimate from searchsorted, checked at k - 1 and k and
    replaced by a binary search on q wherever it is wrong.
    """
    m = s2s.shape[1]
    wc = w.unsqueeze(1)
    before = (guess - 1).clamp_(min=0)
    at = guess.clamp(max=m - 1)
    ok = ((guess == 0) | ~q(wc - (s1 + s2s.gather(1, before)))) & ((guess == m) | q(wc - (s1 + s2s.gather(1, at))))
    if bool(ok.all()):
        return guess
    r, c = (~ok).nonzero(as_tuple=True)
    w_r, s1_rc = w[r], s1[r, c]
    lo = torch.zeros_like(r)
    hi = torch.full_like(r, m)
    for _ in range(m.bit_length()):
        mid = (lo + hi) // 2
        t = q(w_r - (s1_rc + s2s[r, mid.clamp(max=m - 1)]))
        active = lo < hi
        hi = torch.where(active & t, mid, hi)
        lo = torch.where(active & ~t, mid + 1, lo)
    guess = guess.clone()
    guess[r, c] = lo
    return guess


def _sparse_table(key: torch.Tensor, levels: int, fill: int) -> torch.Tensor:
    """(B, levels * m) flattened table: level j, position k holds min(key[k : k + 2^j]) (``fill`` past the end)."""
    b, m = key.shape
    table = torch.empty((b, levels, m), dtype=key.dtype, device=key.device)
    table[:, 0] = key
    for j in range(1, levels):
        half = 1 << (j - 1)
        size = m - (1 << j) + 1
        torch.minimum(table[:, j - 1, :size], table[:, j - 1, half : half + size], out=table[:, j, :size])
        table[:, j, size:] = fill
    return table.view(b, levels * m)


def _range_min(table: torch.Tensor, log2: torch.Tensor, m: int, lo: torch.Tensor, hi: torch.Tensor, fill: int):
    """min over positions [lo, hi) per entry of a :func:`_sparse_table`; ``fill`` where the range is empty."""
    length = hi - lo
    j = log2[length]
    left = j * m + lo.clamp(max=m - 1)
    right = j * m + (hi - (1 << j)).clamp(min=0)
    best = torch.minimum(table.gather(1, left), table.gather(1, right))
    return best.masked_fill_(length <= 0, fill)


def _sparsest_chunk(
    a: torch.Tensor, w: torch.Tensor, eps: float, bits1: torch.Tensor, bits2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n1, n2 = bits1.shape[1], bits2.shape[1]
    n = n1 + n2
    m = bits2.shape[0]
    device = a.device
    s1 = a[:, :n1] @ bits1.T  # (B, 2^n1)
    s2 = a[:, n1:] @ bits2.T  # (B, 2^n2)
    s2s, order = torch.sort(s2, dim=1)
    rest = w.unsqueeze(1) - s1
    # feasible second-half positions [lo, hi); p splits them into w - (s1 + s2) >= 0 (left) and < 0 (right)
    lo = _first_true(s2s, w, s1, torch.searchsorted(s2s, rest - eps), lambda d: d <= eps)
    p = _first_true(s2s, w, s1, torch.searchsorted(s2s, rest, right=True), lambda d: d < 0)
    hi = _first_true(s2s, w, s1, torch.searchsorted(s2s, rest + eps, right=True), lambda d: d < -eps)

    # keys popcount * m + position (leftmost among the fewest) and popcount * m + (m - 1 - position) (rightmost)
    pc2 = bits2.sum(1).to(torch.int32)[order]
    pos = torch.arange(m, device=device, dtype=torch.int32)
    fill = (n + 1) * m  # decodes to popcount n + 1: no subset
    levels = n2 + 1
    log2 = torch.zeros(m + 1, dtype=torch.int64, device=device)
    for j in range(1, levels):
        log2[1 << j :] += 1
    table = _sparse_table(pc2 * m + pos, levels, fill)
    right_key = _range_min(table, log2, m, p, hi, fill).long()  # closest above w - s1 among the fewest
    table = _sparse_table(pc2 * m + (m - 1 - pos), levels, fill)
    left_key = _range_min(table, log2, m, lo, p, fill).long()  # closest below w - s1 among the fewest
    del table
    pc_r, pos_r = right_key // m, right_key % m
    pc_l, pos_l = left_key // m, m - 1 - left_key % m
    wc = w.unsqueeze(1)
    err_r = (wc - (s1 + s2s.gather(1, pos_r))).abs()
    err_l = (wc - (s1 + s2s.gather(1, pos_l))).abs()
    take_l = (pc_l < pc_r) | ((pc_l == pc_r) & (err_l <= err_r))
    count = torch.where(take_l, pc_l, pc_r) + bits1.sum(1).long()
    err = torch.where(take_l, err_l, err_r)
    where2 = torch.where(take_l, pos_l, pos_r)
    fewest = count.min(dim=1).values
    within = fewest <= n
    err = torch.where(count == fewest.unsqueeze(1), err, torch.inf)

    if not bool(within.all()):
        # no subset within eps: the nearest second-half sums to w - s1 are at p - 1 and p
        below = (p - 1).clamp_(min=0)
        above = p.clamp(max=m - 1)
        err_b = (wc - (s1 + s2s.gather(1, below))).abs()
        err_a = (wc - (s1 + s2s.gather(1, above))).abs()
        take_b = err_b <= err_a
        near_err = torch.where(take_b, err_b, err_a)
        near_pos = torch.where(take_b, below, above)
        out = ~within.unsqueeze(1)
        err = torch.where(out, near_err, err)
        where2 = torch.where(out, near_pos, where2)

    i1 = err.argmin(dim=1)
    best_err = err.gather(1, i1.unsqueeze(1)).squeeze(1)
    j2 = order.gather(1, where2.gather(1, i1.unsqueeze(1))).squeeze(1)
    mask = torch.cat([bits1[i1], bits2[j2]], dim=1).bool()
    return best_err, mask, within


def brute_force(a: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: every one of the 2^n subsets of each row (n <= 20), as (error, mask)."""
    a = np.asarray(a, dtype=float)
    w = np.asarray(w, dtype=float)
    n = a.shape[1]
    bits = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    errors = np.empty(len(w))
    masks = np.empty((len(w), n), dtype=bool)
    rows = max(1, 2**22 // 2**n)  # bounded memory: at most 4M sums at once
    for lo in range(0, len(w), rows):
        err = np.abs(w[lo : lo + rows, None] - a[lo : lo + rows] @ bits.T)
        best = err.argmin(axis=1)
        errors[lo : lo + rows] = err[np.arange(len(best)), best]
        masks[lo : lo + rows] = bits[best].astype(bool)
    return errors, masks


def solve_milp(
    a: np.ndarray,
    w: float,
    *,
    eps: float | None = None,
    mip_rel_gap: float = 0.0,
    time_limit: float | None = None,
    feasibility_only: bool = False,
) -> tuple[float, np.ndarray, bool]:
    """One instance by HiGHS (scipy.optimize.milp): min z s.t. |w - a.x| <= z (<= eps), x binary.

    This is the formulation of Pensia et al.'s code (which ran Gurobi with a
    relative gap of 0.01). With ``feasibility_only`` the objective is 0 and
    only |w - a.x| <= eps is asked. Returns (|w - a.x| of the returned x,
    x as bool, whether the solver reported success).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    a = np.asarray(a, dtype=float)
    n = a.size
    cost = np.zeros(n + 1)
    if not feasibility_only:
        cost[-1] = 1.0
    # rows: a.x + z >= w  and  a.x - z <= w
    rows = np.vstack([np.append(a, 1.0), np.append(a, -1.0)])
    constraints = LinearConstraint(rows, [w, -np.inf], [np.inf, w])
    z_upper = np.inf if eps is None else eps
    bounds = Bounds(np.zeros(n + 1), np.append(np.ones(n), z_upper))
    integrality = np.append(np.ones(n), 0)
    options = {"mip_rel_gap": mip_rel_gap, "disp": False}
    if time_limit is not None:
        options["time_limit"] = time_limit
    res = milp(cost, constraints=constraints, bounds=bounds, integrality=integrality, options=options)
    if res.x is None:
        return float("nan"), np.zeros(n, dtype=bool), False
    x = np.round(res.x[:n]).astype(bool)
    return float(abs(w - a[x].sum())), x, bool(res.success)
