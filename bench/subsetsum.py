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

``--device cuda`` then times the tensor program on the GPU (the engine's path
there, in the chunks the workflow runs) on the same instances, both problems:
``cuda_seconds:``, ``cuda_speedup_vs_numpy:``, ``cuda_vs_kernel:`` (the
kernel's seconds over the GPU's), ``sparsest_cuda_seconds:``,
``sparsest_cuda_speedup:``, ``sparsest_cuda_vs_kernel:``, and its comparison
with the reference (``cuda_subsets_differ:``, ``cuda_max_error_difference:``,
``sparsest_cuda_counts_differ:``, ...; ``cuda_equals_reference:``, counted in
the exit status). Where numba is not installed (a GPU node's image with torch
alone) the kernel's and HiGHS's lines are left out and the GPU is set against
numpy alone. ``--device cpu`` runs that part on the CPU, a check of the bench.
``--chunks C ...`` also times the device's exact solve in chunks of C
instances (the default chunk holds 16 MiB, about 170 instances at n = 21,
sized for a CPU's cache): ``cuda_seconds_chunk_<C>:``.

    python bench/subsetsum.py --device cuda
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time

import numpy as np
import torch

from ltpipe.engines.subsetsum import solve, solve_milp, solve_sparsest

TOL = 8 * np.finfo(float).eps  # the rounding of the half sums: how far two exact solvers' errors may differ


def compare_solve(got, ref) -> tuple[int, float]:
    """(instances whose subsets differ, max |error difference|) of solve's (error, mask) against the reference's."""
    return int((got[1] != ref[1]).any(1).sum()), float((got[0] - ref[0]).abs().max())


def compare_sparsest(got, ref) -> tuple[int, int, int, float]:
    """solve_sparsest's (error, mask, within) against the reference's: instances within eps in both whose number
    of coefficients differs, whose within-eps flag differs, whose subsets differ, and the max |error difference|."""
    both = got[2] & ref[2]
    counts = int((got[1].sum(1) != ref[1].sum(1))[both].sum())
    return (
        counts,
        int((got[2] != ref[2]).sum()),
        int((got[1] != ref[1]).any(1).sum()),
        float((got[0] - ref[0]).abs().max()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=397_000)
    parser.add_argument("--n", type=int, default=21)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--sample", type=int, default=20, help="instances solved by HiGHS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], help="then time the tensor program there")
    parser.add_argument(
        "--chunks", type=int, nargs="*", default=[], help="with --device, also time solve in chunks of these sizes"
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    kernel = importlib.util.find_spec("numba") is not None
    if kernel:
        import numba

        threads = f"{numba.get_num_threads()} numba threads, numba {numba.__version__}"
    elif args.device is None:
        parser.error("the compiled kernel needs numba; without it only the --device part runs")
    else:
        threads = "numba not installed: the kernel's lines are left out"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, {threads}"
    )
    rng = np.random.default_rng(args.seed)
    a = rng.uniform(-0.3, 0.3, size=(args.instances, args.n))
    w = rng.uniform(-0.3, 0.3, size=args.instances)
    ref = {}  # the numpy reference's results and seconds, for the device's part
    seconds = {}  # the kernel's
    agree = True
    if kernel:
        agree = kernel_part(args, a, w, ref, seconds)
    else:
        solve(a[:1000], w[:1000], method="reference")  # warm-up
        t0 = time.perf_counter()
        ref["solve"] = solve(a, w, method="reference")
        ref["solve_seconds"] = time.perf_counter() - t0
        solve_sparsest(a[:1000], w[:1000], args.eps, method="reference")
        t0 = time.perf_counter()
        ref["sparsest"] = solve_sparsest(a, w, args.eps, method="reference")
        ref["sparsest_seconds"] = time.perf_counter() - t0
        print(f"numpy_seconds: {ref['solve_seconds']:.2f}")
        print(f"sparsest_numpy_seconds: {ref['sparsest_seconds']:.2f}")
    if args.device is not None:
        agree = device_part(args, a, w, ref, seconds) and agree
    if not agree:
        sys.exit(1)


def kernel_part(args, a, w, ref, seconds) -> bool:
    """The compiled kernel against the numpy reference and HiGHS (the figures above); True if they agree."""
    solve(a[:1000], w[:1000], method="kernel")  # warm-up (and compilation, when not cached)
    solve(a[:1000], w[:1000], method="reference")
    t0 = time.perf_counter()
    err, mask = solve(a, w, method="kernel")
    seconds_kernel = time.perf_counter() - t0
    t0 = time.perf_counter()
    err_np, mask_np = solve(a, w, method="reference")
    seconds_np = time.perf_counter() - t0
    per_ltpipe = seconds_kernel / args.instances
    within = float((err <= args.eps).float().mean())
    print(f"instances: {args.instances} x n={args.n}; max error {err.max():.3g}, within eps: {within:.4f}")
    print(f"paper_scale_seconds: {seconds_kernel:.2f}")
    print(f"numpy_seconds: {seconds_np:.2f}")
    print(f"speedup_vs_numpy: {seconds_np / seconds_kernel:.1f}")
    differ, diff = compare_solve((err, mask), (err_np, mask_np))
    print(f"subsets_differ: {differ} of {args.instances}")
    print(f"max_error_difference: {diff:.3g}")
    agree = differ == 0 and diff <= TOL

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
    counts_differ, within_differ, sp_differ, sp_diff = compare_sparsest(
        (err_sparse, mask_sparse, within_sparse), (err_sp_np, mask_sp_np, within_sp_np)
    )
    print(f"sparsest_counts_differ: {counts_differ}; within_differ: {within_differ}; subsets_differ: {sp_differ}")
    print(f"sparsest_max_error_difference: {sp_diff:.3g}")
    agree = agree and counts_differ == 0 and within_differ == 0 and sp_diff <= TOL
    print(f"kept_mean_optimal: {float(kept_optimal.mean()):.3f} (total {int(kept_optimal.sum())})")
    print(f"kept_mean_sparsest: {float(kept_sparse.mean()):.3f} (total {int(kept_sparse.sum())})")
    print(f"kernel_equals_reference: {agree}")
    ref.update(solve=(err_np, mask_np), solve_seconds=seconds_np, sparsest=(err_sp_np, mask_sp_np, within_sp_np))
    ref["sparsest_seconds"] = seconds_sparse_np
    seconds.update(solve=seconds_kernel, sparsest=seconds_sparse)
    return agree


def device_part(args, a, w, ref, kernel_seconds) -> bool:
    """The tensor program on ``args.device``, both problems, timed and compared with the numpy reference."""
    device = torch.device(args.device)
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})")
    kw = {"device": device, "method": "reference"}  # "reference": the tensor program on the CPU too
    solve(a[:1000], w[:1000], **kw)  # warm-up: the device's context and first-call costs
    t0 = time.perf_counter()
    err, mask = solve(a, w, **kw)  # the results come back to the CPU, so the timing waits for the device
    seconds = time.perf_counter() - t0
    err_np = ref["solve"][0]
    differ, diff = compare_solve((err, mask), ref["solve"])
    print(f"cuda_seconds: {seconds:.2f}   (the tensor program on {device})")
    print(f"cuda_speedup_vs_numpy: {ref['solve_seconds'] / seconds:.1f}")
    if "solve" in kernel_seconds:
        print(f"cuda_vs_kernel: {kernel_seconds['solve'] / seconds:.2f}")
    print(f"cuda_subsets_differ: {differ} of {args.instances}")
    print(f"cuda_max_error_difference: {diff:.3g}")
    for chunk in args.chunks:  # the default chunk is sized for a CPU's cache; what a device does with larger ones
        t0 = time.perf_counter()
        err_c, _ = solve(a, w, chunk=chunk, **kw)
        elapsed, gap = time.perf_counter() - t0, float((err_c - err_np).abs().max())
        print(f"cuda_seconds_chunk_{chunk}: {elapsed:.2f}   (max error difference {gap:.3g})")
    solve_sparsest(a[:1000], w[:1000], args.eps, **kw)
    t0 = time.perf_counter()
    sparsest = solve_sparsest(a, w, args.eps, **kw)
    seconds_sparse = time.perf_counter() - t0
    counts_differ, within_differ, _, sp_diff = compare_sparsest(sparsest, ref["sparsest"])
    print(f"sparsest_cuda_seconds: {seconds_sparse:.2f}")
    print(f"sparsest_cuda_speedup: {ref['sparsest_seconds'] / seconds_sparse:.1f}")
    if "sparsest" in kernel_seconds:
        print(f"sparsest_cuda_vs_kernel: {kernel_seconds['sparsest'] / seconds_sparse:.2f}")
    print(f"sparsest_cuda_counts_differ: {counts_differ}; within_differ: {within_differ}")
    print(f"sparsest_cuda_max_error_difference: {sp_diff:.3g}")
    agree = diff <= TOL and counts_differ == 0 and within_differ == 0 and sp_diff <= TOL
    print(f"cuda_equals_reference: {agree}")
    return agree


if __name__ == "__main__":
    main()
