"""Pensia et al. 2020: random subset sum needs only logarithmically many samples (PL).

Lueker's theorem (Pensia et al., Theorem 3 and Corollary 2): with n i.i.d.
coefficients from a distribution that contains a uniform one (such as
U[-1, 1] or the product X Y of two U[-1, 1] variables, Lemma 4), with
probability at least 1 - delta *every* target z in [-0.5, 0.5] is within eps
of some subset sum once n = O(log(1/min(eps, delta))). The quantity the
theorem bounds is therefore the supremum over the whole interval of the
optimal error, min over subsets S of |z - sum_S a|. PL computes that
supremum exactly per trial (:func:`sup_error`), and from it the n needed for
each eps.

The supremum over z in [-R, R] of the distance from z to the set of the 2^n
subset sums is attained at an end of the interval or at the midpoint of two
consecutive sums: it is the largest of half the gaps between consecutive
sorted sums whose midpoint lies in [-R, R] and the distances from -R and R
to their nearest sums (sums outside the interval count). The sums are
formed by meet in the middle, each as a first-half sum plus a second-half
sum (as :func:`ltpipe.engines.subsetsum.solve` forms them), and only those
inside [-R, R] are materialised, a window of about ``window`` of them at a
time, sorted: the memory stays bounded (about 250 MB) at any n, the time
grows with the number of sums inside the interval.

Tables:

- ``trials``: distribution, n, trial, seed, target_range, worst_error (the
  supremum over z in [-target_range, target_range] of the optimal
  |z - subset sum|, exact), worst_target (the smallest z where it is
  attained).
- ``needed``: distribution, eps, n_needed (smallest n of the grid whose
  trials have worst_error <= eps with frequency >= ``probability``; NaN when
  no n of the grid does), probability.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ltpipe.config import job_parser, start_job
from ltpipe.progress import Progress
from ltpipe.seeds import derive_seed, numpy_generator
from ltpipe.tables import read_table, write_table

__all__ = ["DISTRIBUTIONS", "all_sums", "coefficients", "n_needed", "pl_trials", "sup_error"]

log = logging.getLogger(__name__)
WINDOW = 2**22  # subset sums held at once by sup_error (about 250 MB of work arrays)


def _uniform(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size)


def _product(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size) * rng.uniform(-1.0, 1.0, size)


def _normal(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(size)


DISTRIBUTIONS = {"uniform": _uniform, "product": _product, "normal": _normal}


def coefficients(distribution: str, n: int, seed: int) -> np.ndarray:
    """The n coefficients of one trial: U[-1, 1], X Y with X, Y ~ U[-1, 1] (Lemma 4), or N(0, 1)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[distribution](numpy_generator(seed, "coefficients"), (n,))


def all_sums(a: np.ndarray) -> np.ndarray:
    """The 2^n subset sums of ``a`` (index j = subset of binary digits j), each added left to right."""
    sums = np.zeros(1)
    for x in np.asarray(a, dtype=np.float64):
        sums = np.concatenate([sums, sums + x])
    return sums


def _first(left: np.ndarray, right: np.ndarray, t: float, strict: bool) -> np.ndarray:
    """Per left sum l: the first index j of the sorted ``right`` with l + right[j] >= t (> t if ``strict``),
    decided on the computed sums l + right[j] (monotone in j), so that every sum falls in exactly one window."""
    m = right.size
    j = np.searchsorted(right, t - left, side="right" if strict else "left")

    def beyond(s: np.ndarray) -> np.ndarray:
        return s > t if strict else s >= t

    while True:  # searchsorted on t - l may be off by a rounding step: walk to the exact index
        down = (j > 0) & beyond(left + right[np.maximum(j - 1, 0)])
        if not down.any():
            break
        j[down] -= 1
    while True:
        up = (j < m) & ~beyond(left + right[np.minimum(j, m - 1)])
        if not up.any():
            break
        j[up] += 1
    return j


def _gather(left: np.ndarray, right: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The sums left[i] + right[j] for lo[i] <= j < hi[i], unsorted."""
    lens = hi - lo
    offsets = np.cumsum(lens) - lens
    j = np.arange(int(lens.sum())) - np.repeat(offsets - lo, lens)
    return np.repeat(left, lens) + right[j]


def _cuts(left: np.ndarray, right: np.ndarray, r: float, total: int, window: int) -> list[float]:
    """Window bounds -r = c_0 < ... < c_K = r with (by searchsorted's count) about ``window`` sums or fewer
    in each [c_k, c_k+1), from counts on a uniform grid of cells (a denser cell stands alone)."""
    if total <= window:
        return [-r, r]
    cells = np.linspace(-r, r, 4 * math.ceil(total / window) + 1)
    below = np.array([np.searchsorted(right, c - left).sum() for c in cells[1:-1]], dtype=np.int64)
    counts = np.diff(np.concatenate([[0], below, [total]]))
    cuts, held = [-r], 0
    for k, c in enumerate(counts):
        if held and held + c > window:
            cuts.append(float(cells[k]))
            held = 0
        held += int(c)
    return [*cuts, r]


def sup_error(a: np.ndarray, target_range: float, window: int = WINDOW) -> tuple[float, float]:
    """sup over z in [-R, R] of min over subsets S of |z - sum_S a| (R = ``target_range``), exactly, and the
    smallest z attaining it: the quantity Theorem 3 (Lueker) bounds by eps for every z at once."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    r = float(target_range)
    half = a.size // 2
    left, right = all_sums(a[:half]), np.sort(all_sums(a[half:]))
    start = _first(left, right, -r, strict=False)  # per left sum: first right index with a sum >= -r
    stop = _first(left, right, r, strict=True)  # ... with a sum > r
    below = start > 0
    above = stop < right.size
    prev = float((left[below] + right[start[below] - 1]).max()) if below.any() else None  # largest sum < -r
    beyond = float((left[above] + right[stop[above]]).min()) if above.any() else None  # smallest sum > r
    best, where = -math.inf, math.nan

    def pair(x: float | None, y: float | None) -> None:
        """Consecutive sums x < y (None: no sum below -r, or above r): the worst z between them in [-r, r]."""
        nonlocal best, where
        if x is None:
            value, z = y + r, -r
        elif y is None:
            value, z = r - x, r
        elif -r <= (x + y) / 2 <= r:
            value, z = (y - x) / 2, (x + y) / 2
        else:
            z = min(max((x + y) / 2, -r), r)
            value = min(z - x, y - z)
        if value > best:
            best, where = value, z

    cuts = _cuts(left, right, r, int((stop - start).sum()), window)
    lo = start
    for k in range(len(cuts) - 1):
        hi = stop if k == len(cuts) - 2 else _first(left, right, cuts[k + 1], strict=False)
        s = _gather(left, right, lo, hi)
        lo = hi
        if s.size == 0:
            continue
        s.sort()
        pair(prev, float(s[0]))
        if s.size > 1:
            gaps = np.diff(s)
            i = int(gaps.argmax())
            if gaps[i] / 2 > best:  # the midpoint of two sums in [-r, r] lies in [-r, r]
                best, where = float(gaps[i] / 2), float((s[i] + s[i + 1]) / 2)
        prev = float(s[-1])
    pair(prev, beyond)
    return best, where


def _trial(dist: str, n: int, seed: int, target_range: float) -> tuple[float, float]:
    return sup_error(coefficients(dist, n, seed), target_range)


def pl_trials(cfg: dict[str, Any], base_seed: int, workers: int = 1) -> pd.DataFrame:
    """The exact supremum of the optimal error over [-target_range, target_range] for every (distribution, n,
    trial); ``workers`` trials at once (the table does not depend on it)."""
    keys = [
        (dist, int(n), t, derive_seed(base_seed, "pensia2020", "pl", dist, int(n), t))
        for dist in cfg["distributions"]
        for n in cfg["n"]
        for t in range(int(cfg["trials"]))
    ]
    r = float(cfg["target_range"])
    groups = list(dict.fromkeys((dist, n) for dist, n, _, _ in keys))
    # a trial's time grows with the subset sums inside the interval, about 2^n of them
    progress = Progress(weights=[2.0**n for _, n in groups], logger=log)
    results = []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for dist, n in groups:
            mine = [k for k in keys if (k[0], k[1]) == (dist, n)]
            found = list(pool.map(lambda k: _trial(k[0], k[1], k[3], r), mine))
            results += found
            median = float(np.median([e for e, _ in found]))
            progress.step("%s n=%d: median sup error %.3g over %d trials", dist, n, median, len(found))
    return pd.DataFrame(
        [
            {"distribution": d, "n": n, "trial": t, "seed": s, "target_range": r, "worst_error": e, "worst_target": z}
            for (d, n, t, s), (e, z) in zip(keys, results, strict=True)
        ]
    )


def n_needed(trials: pd.DataFrame, eps: Sequence[float], probability: float) -> pd.DataFrame:
    """Per distribution and eps, the smallest n with P(worst_error <= eps) >= probability."""
    rows = []
    for dist, g in trials.groupby("distribution", sort=False):
        for e in eps:
            freq = (g["worst_error"] <= e).groupby(g["n"]).mean().sort_index()
            ok = freq[freq >= probability]
            rows.append(
                {
                    "distribution": dist,
                    "eps": float(e),
                    "n_needed": float(ok.index.min()) if len(ok) else float("nan"),
                    "probability": probability,
                }
            )
    return pd.DataFrame(rows)


def fmt_list(values) -> str:
    return ", ".join("none" if pd.isna(v) else f"{v:g}" for v in values)


def pl_trials_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pl-trials: the exact supremum of the optimal subset-sum error over the target interval,
    per n and trial."""
    parser = job_parser("ltpipe pl-trials", pl_trials_main.__doc__, "pl")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, _ = start_job(args)
    write_table(pl_trials(cfg, args.seed, args.threads), args.out, config={"seed": args.seed, "pl": cfg})


def pl_needed_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe pl-needed: the n needed for each eps, from the PL trials."""
    parser = job_parser("ltpipe pl-needed", pl_needed_main.__doc__, 'needed ({"eps": [...], "probability": p})')
    parser.add_argument("--trials", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, _ = start_job(args)
    df = n_needed(read_table(args.trials), cfg["eps"], float(cfg.get("probability", 0.9)))
    for dist, g in df.groupby("distribution", sort=False):
        log.info("%s: n needed per eps (%s) = %s", dist, fmt_list(g["eps"]), fmt_list(g["n_needed"]))
    write_table(df, args.out, config=cfg)
    log.info("wrote %d rows to %s", len(df), args.out)
