"""Compiled subset-sum kernels (numba): Horowitz and Sahni's meet in the middle, parallel over instances.

The same problems as :func:`ltpipe.engines.subsetsum.solve` and
:func:`~ltpipe.engines.subsetsum.solve_sparsest` (Pensia et al. 2020, Sec. 3 and
Experiment 1), with O(2^(n/2)) work per instance instead of O(2^(n/2) n/2):

- the 2^h sums of a half are generated already sorted (Horowitz and Sahni 1974):
  start from the list (0), and for each coefficient a_k merge the list L with
  L + a_k, item by item; no sort;
- the two sorted halves are scanned once: as the first half's sum s1 rises, the
  point where the second half's sums cross w - s1 only moves down, so finding
  all the crossing points is one more merge, of the second half's sums with the
  values w - s1, instead of a binary search each.

:func:`solve_kernel` runs these merges for 8 instances at once, interleaved
step by step and without branches (a merge's comparisons follow random data:
with branches about half of them are mispredicted, and without, one merge
alone waits on each comparison before the next; 8 independent merges keep the
processor busy). It keeps no subsets during the merges: the chosen sums'
subsets are found afterwards by their values, as the reference does.

The kernels choose the reference solver's subsets (tested on random
instances, and checked by ``bench/subsetsum.py`` on every instance of the
paper's scale): a half's sum of subset S is formed as ((0 + a_i) + a_j) + ...
over S in increasing index order, which is what the reference's product of the
coefficients with the 0/1 subset table computes in exact arithmetic (a matrix
product may add in another order, so on real coefficients the errors can
differ in the last bit; where every sum is exact they are equal); errors are
|w - (s1 + s2)| in the same order; ties go to the same subset: the lowest
first-half subset of least error, then the lowest
second-half subset with the chosen sum. Coefficients and targets must be
finite (the merges end on +inf sentinels; :mod:`ltpipe.engines.subsetsum`
checks).

For the fewest coefficients within eps the second half's sums are also kept per
subset size c = 0..n2, each list still sorted: for a first-half sum, the
candidates of size c are the neighbours of the crossing point in list c (one
monotone pointer per size), the fewest size with one within eps wins, the closer
of its two sides (the one from below on a tie of size and error), exactly as
the reference's range-minimum queries choose.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["solve_kernel", "sparsest_kernel"]


@njit(cache=True, inline="always")
def _sorted_sums(a, start, h, vals, idx, tmpv, tmpi):
    """Sums of every subset of a[start:start + h], ascending, in vals[:2^h]; idx = the subset (bit k = a[start + k]).

    Equal sums stay in increasing subset index (ties take the list without a_k first)."""
    vals[0] = 0.0
    idx[0] = 0
    size = 1
    for k in range(h):
        x = a[start + k]
        bit = 1 << k
        i = 0
        j = 0
        o = 0
        while i < size and j < size:
            v2 = vals[j] + x
            if vals[i] <= v2:
                tmpv[o] = vals[i]
                tmpi[o] = idx[i]
                i += 1
            else:
                tmpv[o] = v2
                tmpi[o] = idx[j] | bit
                j += 1
            o += 1
        while i < size:
            tmpv[o] = vals[i]
            tmpi[o] = idx[i]
            i += 1
            o += 1
        while j < size:
            tmpv[o] = vals[j] + x
            tmpi[o] = idx[j] | bit
            j += 1
            o += 1
        size *= 2
        for t in range(size):
            vals[t] = tmpv[t]
            idx[t] = tmpi[t]


@njit(cache=True, inline="always")
def _closer(w, s1, v2, below, above):
    """(error, position) of the better of two second-half positions for w - s1: the one below on a tie."""
    e_b = abs(w - (s1 + v2[below]))
    e_a = abs(w - (s1 + v2[above]))
    if e_b <= e_a:
        return e_b, below
    return e_a, above


@njit(cache=True, inline="always")
def _split(n):
    """The reference's split: n1 = n // 2 first, n2 = n - n1, and the subset counts 2^n1, 2^n2."""
    n1 = n // 2
    return n1, n - n1, 1 << n1, 1 << (n - n1)


@njit(cache=True, inline="always")
def _halves(row, n1, n2):
    """The sorted sums (and subsets) of row[:n1] and of row[n1:n1 + n2], each half split as the reference does."""
    v1 = np.empty(1 << n1, row.dtype)
    i1 = np.empty(1 << n1, np.int64)
    v2 = np.empty(1 << n2, row.dtype)
    i2 = np.empty(1 << n2, np.int64)
    tv = np.empty(1 << n2, row.dtype)
    ti = np.empty(1 << n2, np.int64)
    _sorted_sums(row, 0, n1, v1, i1, tv, ti)
    _sorted_sums(row, n1, n2, v2, i2, tv, ti)
    return v1, i1, v2, i2


@njit(cache=True, inline="always")
def _write_mask(mask, row, j1, j2, n1, n2):
    for k in range(n1):
        mask[row, k] = (j1 >> k) & 1
    for k in range(n2):
        mask[row, n1 + k] = (j2 >> k) & 1


CHUNKS = 256  # pieces of the rows shared out to the threads, each with its own buffers
LANES = 8  # instances whose merges run interleaved (the fastest of 4, 8 and 16 in bench/subsetsum.py)


@njit(cache=True, inline="always")
def _sorted_sums_lanes(a, start, h, src, dst, x, i, j):
    """Sums of every subset of a[l, start:start + h], ascending, for the LANES rows l of a at once; returns the buffer
    (src or dst, each (LANES, 2^h + 1)) that holds them in [:, :2^h].

    The same merges as :func:`_sorted_sums`, without the subsets and without branches: each step takes the smaller
    head as a select, and a +inf sentinel behind each list ends it. A lone merge waits at every step on the
    comparison before it (or, with branches, mispredicts half of them); the LANES merges are independent, so the
    processor overlaps them. The sums are the same numbers as :func:`_sorted_sums` makes."""
    for lane in range(LANES):
        src[lane, 0] = 0.0
    size = 1
    for k in range(h):
        for lane in range(LANES):
            x[lane] = a[lane, start + k]
            src[lane, size] = np.inf
            i[lane] = 0
            j[lane] = 0
        for o in range(2 * size):
            for lane in range(LANES):
                vi = src[lane, i[lane]]
                vj = src[lane, j[lane]] + x[lane]
                take = vi <= vj
                dst[lane, o] = vi if take else vj
                i[lane] += take
                j[lane] += 1 - take
        src, dst = dst, src
        size *= 2
    return src


@njit(cache=True, inline="always")
def _first_with_sum(row, start, h, value, sums):
    """The lowest subset index (bit k = row[start + k]) of row[start:start + h] whose sum is exactly value.

    Subsets are enumerated in increasing index, each sum formed as the generation forms it (the sum without the
    highest item, plus that item), so value is found bit for bit; -1 if no subset has it (not reached)."""
    sums[0] = 0.0
    if value == sums[0]:
        return 0
    size = 1
    for k in range(h):
        x = row[start + k]
        for m in range(size):
            s = sums[m] + x
            sums[size + m] = s
            if s == value:
                return size + m
        size *= 2
    return -1


@njit(cache=True, parallel=True)
def solve_kernel(a, w, err, mask):
    """Minimum |w - sum_S a| per row of a (B, n): fills err (B,) and mask (B, n) uint8 (the reference's choice).

    Rows go LANES at a time: the sorted half sums of every lane (:func:`_sorted_sums_lanes`); the crossing point
    of every first-half sum in the second half by one more interleaved merge, of the second half's sums with the
    w - s1 (ascending, ties to w - s1 first: the count of s2 < w - s1, the reference's searchsorted); then per lane
    the two neighbours' errors, their minimum, and the subsets recovered from the chosen sums'
    values (:func:`_first_with_sum`), as the reference does. Inputs must be finite (the sentinels are +inf)."""
    b, n = a.shape
    n1, n2, m1, m2 = _split(n)
    blocks = (b + LANES - 1) // LANES
    chunks = min(blocks, CHUNKS)
    for c in prange(chunks):
        rows = np.zeros((LANES, n), a.dtype)
        wl = np.zeros(LANES, a.dtype)
        b1 = np.empty((LANES, m1 + 1), a.dtype)
        b1b = np.empty((LANES, m1 + 1), a.dtype)
        b2 = np.empty((LANES, m2 + 1), a.dtype)
        b2b = np.empty((LANES, m2 + 1), a.dtype)
        rest = np.empty((LANES, m1 + 1), a.dtype)
        cross = np.empty((LANES, m1 + 1), np.int64)
        x = np.empty(LANES, a.dtype)
        i = np.empty(LANES, np.int64)
        j = np.empty(LANES, np.int64)
        e_of = np.empty(m1, a.dtype)
        p_of = np.empty(m1, np.int64)
        sums = np.empty(m2, a.dtype)
        for blk in range(c * blocks // chunks, (c + 1) * blocks // chunks):
            r0 = blk * LANES
            count = min(LANES, b - r0)
            for lane in range(count):
                rows[lane] = a[r0 + lane]
                wl[lane] = w[r0 + lane]
            for lane in range(count, LANES):
                rows[lane] = 0.0
                wl[lane] = 0.0
            v1 = _sorted_sums_lanes(rows, 0, n1, b1, b1b, x, i, j)
            v2 = _sorted_sums_lanes(rows, n1, n2, b2, b2b, x, i, j)
            # the crossing points: rest[lane, u] = w - s1 of the u-th largest s1 (ascending in u)
            for lane in range(LANES):
                for u in range(m1):
                    rest[lane, u] = wl[lane] - v1[lane, m1 - 1 - u]
                rest[lane, m1] = np.inf
                v2[lane, m2] = np.inf
                i[lane] = 0
                j[lane] = 0
            for _ in range(m1 + m2):
                for lane in range(LANES):
                    u = i[lane]
                    q = j[lane]
                    take = rest[lane, u] <= v2[lane, q]
                    cross[lane, u] = q  # final when rest[u] is taken: the count of s2 < rest[u]
                    i[lane] = u + take
                    j[lane] = q + 1 - take
            for lane in range(count):
                wr = wl[lane]
                best = np.inf
                bt = 0
                for t in range(m1):
                    s1 = v1[lane, t]
                    hi = min(cross[lane, m1 - 1 - t], m2 - 1)
                    lo = max(hi - 1, 0)
                    e_lo = abs(wr - (s1 + v2[lane, lo]))
                    e_hi = abs(wr - (s1 + v2[lane, hi]))
                    e = e_lo if e_lo <= e_hi else e_hi
                    e_of[t] = e
                    p_of[t] = lo if e_lo <= e_hi else hi
                    if e < best:
                        best = e
                        bt = t
                # the reference takes the lowest first-half subset of least error; sums equal to v1[bt] share
                # its error, so only other sums of the same error (ties, in exact arithmetic) need a look
                j1 = _first_with_sum(rows[lane], 0, n1, v1[lane, bt], sums)
                p = p_of[bt]
                for t in range(m1):
                    if e_of[t] == best and v1[lane, t] != v1[lane, bt]:
                        other = _first_with_sum(rows[lane], 0, n1, v1[lane, t], sums)
                        if other < j1:
                            j1 = other
                            p = p_of[t]
                j2 = _first_with_sum(rows[lane], n1, n2, v2[lane, p], sums)
                err[r0 + lane] = best
                _write_mask(mask, r0 + lane, j1, j2, n1, n2)


@njit(cache=True, parallel=True)
def sparsest_kernel(a, w, eps, err, mask, within):
    """Fewest coefficients within eps per row (then the smallest error), else a nearest subset: fills err (B,),
    mask (B, n) uint8 and within (B,) uint8, as :func:`ltpipe.engines.subsetsum.solve_sparsest` chooses."""
    b, n = a.shape
    n1, n2, m1, m2 = _split(n)
    for r in prange(b):
        v1, i1, v2, i2 = _halves(a[r], n1, n2)
        # the second half by size: positions (into v2) of each size, ascending
        start = np.zeros(n2 + 2, np.int64)
        for t in range(m2):
            start[_popcount(i2[t]) + 1] += 1
        for c in range(n2 + 1):
            start[c + 1] += start[c]
        fill = start[: n2 + 1].copy()
        by_size = np.empty(m2, np.int64)
        for t in range(m2):
            c = _popcount(i2[t])
            by_size[fill[c]] = t
            fill[c] += 1
        ptr = start[1 : n2 + 2].copy()  # per size: first item with d = w - (s1 + s2) < 0; moves down as s1 rises
        wr = w[r]
        best_count = n + 1
        best_err = np.inf
        best_j1 = m1
        best_pos = 0
        near_err = np.inf
        near_j1 = m1
        near_pos = 0
        p = m2  # the split over all of v2: first position with d < 0
        for t in range(m1):
            s1 = v1[t]
            j1 = i1[t]
            while p > 0 and wr - (s1 + v2[p - 1]) < 0:
                p -= 1
            # nearest (when no subset is within eps): positions p - 1 and p, the one below on a tie
            below = max(p - 1, 0)
            above = min(p, m2 - 1)
            e_near, q_near = _closer(wr, s1, v2, below, above)
            if e_near < near_err or (e_near == near_err and j1 < near_j1):
                near_err = e_near
                near_j1 = j1
                near_pos = q_near
            # fewest within eps: above the split (d < 0, d >= -eps) and below it (d >= 0, d <= eps), per size
            pc_r = n2 + 1
            pos_r = 0
            pc_l = n2 + 1
            pos_l = 0
            for c in range(n2 + 1):
                lo_c = start[c]
                q = ptr[c]
                while q > lo_c and wr - (s1 + v2[by_size[q - 1]]) < 0:
                    q -= 1
                ptr[c] = q
                if pc_r > n2 and q < start[c + 1]:
                    pos = by_size[q]
                    if wr - (s1 + v2[pos]) >= -eps:
                        pc_r = c
                        pos_r = pos
                if pc_l > n2 and q > lo_c:
                    pos = by_size[q - 1]
                    if wr - (s1 + v2[pos]) <= eps:
                        pc_l = c
                        pos_l = pos
                if pc_r <= n2 and pc_l <= n2:
                    break
            if pc_l > n2 and pc_r > n2:
                continue
            e_r = abs(wr - (s1 + v2[pos_r])) if pc_r <= n2 else np.inf
            e_l = abs(wr - (s1 + v2[pos_l])) if pc_l <= n2 else np.inf
            if pc_l < pc_r or (pc_l == pc_r and e_l <= e_r):
                count = pc_l + _popcount(j1)
                e = e_l
                pos = pos_l
            else:
                count = pc_r + _popcount(j1)
                e = e_r
                pos = pos_r
            if count < best_count or (count == best_count and (e < best_err or (e == best_err and j1 < best_j1))):
                best_count = count
                best_err = e
                best_j1 = j1
                best_pos = pos
        if best_count <= n:
            err[r] = best_err
            within[r] = 1
            _write_mask(mask, r, best_j1, i2[best_pos], n1, n2)
        else:
            err[r] = near_err
            within[r] = 0
            _write_mask(mask, r, near_j1, i2[near_pos], n1, n2)


@njit(cache=True, inline="always")
def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c
