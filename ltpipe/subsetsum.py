"""Exact subset sum for many small instances at once (Pensia et al. 2020, Sec. 3 and 5).

For each instance (coefficients a in R^n, target w) find the subset S that
minimises |w - sum_{i in S} a_i|. Pensia et al. (Experiment 1) solved each
weight of a network with a MIP solver; for n up to about 30 the problem is
solved exactly by meet in the middle: enumerate the 2^(n/2) sums of each
half, sort one side, and for every sum s1 of the other side binary-search
w - s1 among them. Instances are processed in chunks as one tensor program.

:func:`solve_milp` is the MIP formulation through scipy's HiGHS, kept as an
independent cross-check.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["brute_force", "solve", "solve_milp", "subset_sums"]


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


def solve(
    a,
    w,
    *,
    chunk: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best subset sum of each row: returns (error (B,), mask (B, n) bool), exactly optimal.

    ``a`` is (B, n) and ``w`` (B,), numpy or torch. error = |w - a[mask].sum()|
    with the sums formed as the two half sums added; ties go to the subset
    found first. ``chunk`` instances are held at once (by default as many as
    fit in about 16 MiB, which keeps a chunk in the CPU's cache: measured
    faster than large chunks); results are returned on the CPU.
    """
    a = _as_tensor(a, dtype, device)
    w = _as_tensor(w, dtype, a.device)
    if a.ndim != 2 or w.shape != (a.shape[0],):
        raise ValueError(f"need a of shape (B, n) and w of shape (B,), got {tuple(a.shape)} and {tuple(w.shape)}")
    b, n = a.shape
    if n == 0:
        return w.abs().cpu(), torch.zeros((b, 0), dtype=torch.bool)
    if n > 40:
        raise ValueError(f"n = {n} coefficients: meet in the middle needs 2^(n/2) sums per instance; n <= 40")
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
    j2 = order.gather(1, pos.gather(1, i1.unsqueeze(1))).squeeze(1)
    mask = torch.cat([bits1[i1], bits2[j2]], dim=1).bool()
    return best_err, mask


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
