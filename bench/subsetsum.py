"""Exact subset sum at the scale of Pensia et al.'s Experiment 1, against HiGHS per instance.

The paper replaced each of the 397,000 weights of a 784-500-10 network by the
best subset sum of n = 21 random coefficients, solved by Gurobi (21.5 hours
on 36 cores). Here: 397,000 instances with coefficients U[-l, l] and targets
U[-l, l] (l = 0.3, about the range of a trained layer's weights), solved
exactly by ltpipe.subsetsum.solve, by its compiled kernel (Horowitz and Sahni's
sorted generation and one-pointer scan, parallel over instances) and by the
reference tensor program (sort and binary search, numpy's sort on the CPU), on
the same instances in the same run; then HiGHS (scipy.optimize.milp) on a
sample of the same instances, with the paper's formulation (minimise z
subject to |w - a.x| <= z <= eps, x binary, relative gap 0.01) and with the
feasibility-only variant (find x with |w - a.x| <= eps).

    python bench/subsetsum.py
    python bench/subsetsum.py --instances 20000 --sample 5   # a quick look

Prints ``paper_scale_seconds: <s>`` (the kernel), ``numpy_seconds: <s>`` (the
reference), ``speedup_vs_numpy: <x>``, and the comparison of the two on every
instance (``subsets_differ: <count>``: instances whose subsets differ;
``max_error_difference: <e>``, from the rounding of the half sums only), then
``ratio: <HiGHS seconds per instance / kernel seconds per instance>``. Then the
same instances by ltpipe.subsetsum.solve_sparsest (the fewest coefficients
within eps, exactly): ``sparsest_seconds: <s>``, ``sparsest_numpy_seconds: <s>``,
``sparsest_speedup: <x>``, ``sparsest_counts_differ: <count>`` (instances within
eps whose number of coefficients differs: must be 0) and the mean number of
coefficients kept per weight by solve (minimum error, as in the paper) and by
solve_sparsest: ``kept_mean_optimal: <x>``, ``kept_mean_sparsest: <x>``.
Exits 1 when the kernel and the reference disagree beyond rounding.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

from ltpipe.engines.subsetsum import solve, solve_milp, solve_sparsest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=397_000)
    parser.add_argument("--n", type=int, default=21)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--sample", type=int, default=20, help="instances solved by HiGHS")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import numba

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, "
        f"{numba.get_num_threads()} numba threads, torch {torch.__version__}, numba {numba.__version__}"
    )
    rng = np.random.default_rng(args.seed)
    a = rng.uniform(-0.3, 0.3, size=(args.instances, args.n))
    w = rng.uniform(-0.3, 0.3, size=args.instances)
    solve(a[:1000], w[:1000], method="kernel")  # warm-up (and compilation, when not cached)
    solve(a[:1000], w[:1000], method="reference")
    t0 = time.perf_counter()
    err, mask = solve(a, w, method="kernel")
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    err_np, mask_np = solve(a, w, method="reference")
    seconds_np = time.perf_counter() - t0
    per_ltpipe = seconds / args.instances
    within = float((err <= args.eps).float().mean())
    print(f"instances: {args.instances} x n={args.n}; max error {err.max():.3g}, within eps: {within:.4f}")
    print(f"paper_scale_seconds: {seconds:.2f}")
    print(f"numpy_seconds: {seconds_np:.2f}")
    print(f"speedup_vs_numpy: {seconds_np / seconds:.1f}")
    differ = int((mask != mask_np).any(1).sum())
    diff = float((err - err_np).abs().max())
    print(f"subsets_differ: {differ} of {args.instances}")
    print(f"max_error_difference: {diff:.3g}")
    agree = differ == 0 and diff <= 8 * np.finfo(float).eps

    times = {"paper": [], "feasibility": []}
    worse = 0
    for i in range(args.sample):
        t0 = time.perf_counter()
        e_highs, _, _ = solve_milp(a[i], w[i], eps=args.eps, mip_rel_gap=0.01)
        times["paper"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        solve_milp(a[i], w[i], eps=args.eps, feasibility_only=True)
        times["feasibility"].append(time.perf_counter() - t0)
        worse += e_highs > err[i].item()
    per_paper = float(np.mean(times["paper"]))
    per_feas = float(np.mean(times["feasibility"]))
    print(f"highs_paper_formulation_seconds_per_instance: {per_paper:.4f} (median {np.median(times['paper']):.4f})")
    print(f"highs_feasibility_seconds_per_instance: {per_feas:.4f} (median {np.median(times['feasibility']):.4f})")
    print(f"ltpipe_seconds_per_instance: {per_ltpipe:.3g}")
    print(f"highs error above the optimum on {worse} of {args.sample} sampled instances")
    print(f"highs_paper_formulation_hours_for_all: {per_paper * args.instances / 3600:.1f}")
    print(f"ratio_feasibility: {per_feas / per_ltpipe:.0f}")
    print(f"ratio: {per_paper / per_ltpipe:.0f}")

    solve_sparsest(a[:1000], w[:1000], args.eps, method="kernel")  # warm-up
    solve_sparsest(a[:1000], w[:1000], args.eps, method="reference")
    t0 = time.perf_counter()
    err_sparse, mask_sparse, within_sparse = solve_sparsest(a, w, args.eps, method="kernel")
    seconds_sparse = time.perf_counter() - t0
    t0 = time.perf_counter()
    err_sp_np, mask_sp_np, within_sp_np = solve_sparsest(a, w, args.eps, method="reference")
    seconds_sparse_np = time.perf_counter() - t0
    kept_optimal = mask.sum(1).double()
    kept_sparse = mask_sparse.sum(1).double()
    print(f"sparsest: within eps {float(within_sparse.double().mean()):.4f}, max error {err_sparse.max():.3g}")
    print(f"sparsest_seconds: {seconds_sparse:.2f}")
    print(f"sparsest_numpy_seconds: {seconds_sparse_np:.2f}")
    print(f"sparsest_speedup: {seconds_sparse_np / seconds_sparse:.1f}")
    both = within_sparse & within_sp_np
    counts_differ = int((mask_sparse.sum(1) != mask_sp_np.sum(1))[both].sum())
    within_differ = int((within_sparse != within_sp_np).sum())
    sp_differ = int((mask_sparse != mask_sp_np).any(1).sum())
    sp_diff = float((err_sparse - err_sp_np).abs().max())
    print(f"sparsest_counts_differ: {counts_differ}; within_differ: {within_differ}; subsets_differ: {sp_differ}")
    print(f"sparsest_max_error_difference: {sp_diff:.3g}")
    agree = agree and counts_differ == 0 and within_differ == 0 and sp_diff <= 8 * np.finfo(float).eps
    print(f"kept_mean_optimal: {float(kept_optimal.mean()):.3f} (total {int(kept_optimal.sum())})")
    print(f"kept_mean_sparsest: {float(kept_sparse.mean()):.3f} (total {int(kept_sparse.sum())})")
    print(f"kernel_equals_reference: {agree}")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
