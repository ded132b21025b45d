"""Throughput of the batched AGD engine against a per-trial numpy loop on a Z3-shaped workload.

Both run the same trials (Zhang et al. 2021, Fig. 3 shape: d = 300, N = 3000,
K = 5, eta = 0.5, beta = 0.2) for the same fixed number of iterations (no
early stop). The loop is the straightforward reading of eq. (2) and
Algorithm 1: trial by trial, iteration by iteration, neuron by neuron on
x_{Omega_j}. A second reference, the same loop on dense (d, K) weights, is
printed too. Then ``ratio: <batched / loop>`` in trial-iterations per second.

Then the engine against this machine's memory roofline: the bandwidth measured
here (STREAM's copy and triad on arrays far larger than any cache, best of 5;
``bandwidth_gbs:`` is the triad's), the bytes each trial-iteration moves and
the flops (4 N K r in the gathered layout, 4 N K d in the dense one: two
products' worth of multiply-adds, 2 flops each), for float64 and float32, for
the engine's one-pass kernel (the CPU's default, which reads a trial's inputs
once an iteration: N K r numbers gathered, N d dense) and for the tensor
program (``method="reference"``, two matrix products, so twice):
``roofline_fraction_float64:`` and ``roofline_fraction_float32:`` (the kernel's
bytes moved per second over the bandwidth), ``..._reference`` the same for the
tensor program, and ``kernel_vs_reference_<dtype>:`` (trial-iterations per
second, kernel over tensor program). Not counted: the weights and gradients
(K r or K d numbers) and the per-iteration vectors of the tensor program
(about 9 N K numbers), which stay in the first cache levels.
The engine runs its trials in groups whose inputs fit in 12 MiB (``cache_mb``),
so from the second iteration on a group's inputs come from the processor's
32 MiB L3 cache rather than from memory, and the fraction may exceed 1: the
DRAM roofline then does not bound it. So the same triad is also timed on
arrays of 12 MiB in all (``cache_bandwidth_gbs:``), and
``cache_roofline_fraction_<dtype>:`` is the engine's rate over that. With its
inputs in cache the engine can also be bound by arithmetic: 2 multiply-adds
per number read (one for z = X W, one for the gradient), 0.5 flop per byte in
float64 and 1 in float32, against the flops per second of a 1024 x 1024 matrix
product (``peak_gflops_<dtype>:``, the compute ceiling). The lower of the two
ceilings is ``attainable_gflops_<dtype>:`` and the engine's flops per second
over it ``attainable_fraction_<dtype>:``, the roofline model's fraction for
data in cache.

    python bench/agd.py                 # the recorded configuration
    python bench/agd.py --trials 4 --iterations 20 --r 9 36   # a quick look
    python bench/agd.py --threads 1     # one thread, as each workflow job runs
    python bench/agd.py --device cuda   # then the engine on the GPU

``--device cuda`` then runs the engine on the GPU (its tensor program, the
path every CUDA job takes) on the same workload, float64 and float32, checks
its weights against the CPU engine's, and sets it against the GPU's own
memory bandwidth (the same triad on 1 GiB there): ``cuda_bandwidth_gbs:``,
``cuda_<dtype>: ... trial-iterations/s``, ``cuda_roofline_fraction_<dtype>:``
and ``cuda_vs_cpu_<dtype>:`` (over the CPU engine's rate above). The CPU's
workload keeps a GPU far from full; ``--trials`` raises it for both.
``--device cpu`` runs that part on the CPU's tensor program, a check of the
bench. Where numba is not installed the CPU engine is its tensor program
throughout (``machine:`` says so) and the kernel's lines are left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time

import numpy as np
import torch

from ltpipe.config import deterministic_cuda
from ltpipe.data.grid import trial_specs
from ltpipe.data.teacher import ball_init, build_problems, teacher_table
from ltpipe.engines.agd import run_agd
from ltpipe.engines.agd_layout import Layout

CACHE_MB = 12.0  # run_agd's default cache_mb: the inputs of one group of trials
# the CPU engine: its compiled kernel, or where numba is not installed (a GPU node's image) its tensor program
CPU_METHOD = "auto" if importlib.util.find_spec("numba") is not None else "reference"


def loop_per_neuron(X, y, supports, W0, eta, beta, iters):
    """Straightforward numpy AGD for one trial: W is (K, r), neuron j sees X[:, supports[j]]."""
    n = X.shape[0]
    k = len(supports)
    W, prev = W0.copy(), W0.copy()
    for _ in range(iters):
        pre = np.empty((n, k))
        for j in range(k):
            pre[:, j] = X[:, supports[j]] @ W[j]
        res = np.maximum(pre, 0).mean(1) - y
        grad = np.empty_like(W)
        for j in range(k):
            grad[j] = X[:, supports[j]].T @ (res * (pre[:, j] > 0)) / (n * k)
        W, prev = W - eta * grad + beta * (W - prev), W
    return W


def loop_dense(X, y, mask, W0, eta, beta, iters):
    """The same loop with dense (d, K) weights and a 0/1 mask: two matrix products per iteration."""
    n, k = X.shape[0], W0.shape[1]
    W, prev = W0.copy(), W0.copy()
    for _ in range(iters):
        z = X @ W
        res = np.maximum(z, 0).mean(1) - y
        grad = (X.T @ ((z > 0) * (res / (n * k))[:, None])) * mask
        W, prev = W - eta * grad + beta * (W - prev), W
    return W


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--r", type=int, nargs="+", default=[9, 16, 36, 64, 100])
    parser.add_argument("--trials", type=int, default=8, help="trials per r")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--d", type=int, default=300)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default); the workflow's jobs run 1 each"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], help="then run the engine there")
    args = parser.parse_args()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device is available here")
        deterministic_cuda()  # as the workflow's CUDA jobs run (before the first cuBLAS call)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads,"
        f" torch {torch.__version__}, numpy {np.__version__}"
        + ("" if CPU_METHOD == "auto" else "; numba not installed: the CPU engine is its tensor program")
    )
    print(f"workload: d={args.d} N={args.n} K={args.k} r={args.r} trials/r={args.trials} iterations={args.iterations}")

    # warm-up: library initialisation and first-call costs are not part of the figures
    warm = build_problems(teacher_table(trial_specs("bench", "warm", {"trials": 2}, 9, 0), d=args.d, k=args.k), 200)
    run_agd(
        warm.X,
        warm.y,
        warm.mask,
        warm.target,
        warm.target,
        eta=0.5,
        beta=0.2,
        max_iter=5,
        tol=0.0,
        log_every=0,
        method=CPU_METHOD,
    )
    loop_dense(warm.X[0].numpy(), warm.y[0].numpy(), warm.mask[0].numpy(), warm.target[0].numpy(), 0.5, 0.2, 5)

    totals = {"batched": 0.0, "loop": 0.0, "dense_loop": 0.0}
    work = 0
    for r in args.r:
        specs = trial_specs("bench", "z3", {"trials": args.trials}, r, 0)
        table = teacher_table(specs, d=args.d, k=args.k)
        p = build_problems(table, args.n)
        W0 = ball_init([s["seed"] for s in specs], p.target, p.mask, 0.1)
        t0 = time.perf_counter()
        res = run_agd(
            p.X,
            p.y,
            p.mask,
            W0,
            p.target,
            eta=0.5,
            beta=0.2,
            max_iter=args.iterations,
            tol=0.0,
            log_every=0,
            method=CPU_METHOD,
        )
        t_batched = time.perf_counter() - t0

        t_loop = t_dense = 0.0
        worst = 0.0
        for b in range(p.batch):
            X, y = p.X[b].numpy(), p.y[b].numpy()
            mask = p.mask[b].numpy()
            supports = [np.nonzero(mask[:, j])[0] for j in range(args.k)]
            w0 = np.stack([W0[b].numpy()[supports[j], j] for j in range(args.k)])
            t0 = time.perf_counter()
            W = loop_per_neuron(X, y, supports, w0, 0.5, 0.2, args.iterations)
            t_loop += time.perf_counter() - t0
            t0 = time.perf_counter()
            Wd = loop_dense(X, y, mask, W0[b].numpy(), 0.5, 0.2, args.iterations)
            t_dense += time.perf_counter() - t0
            engine = res.W[b].numpy()
            worst = max(worst, max(abs(engine[supports[j], j] - W[j]).max() for j in range(args.k)))
            worst = max(worst, abs(engine - Wd).max())
        n_work = p.batch * args.iterations
        work += n_work
        totals["batched"] += t_batched
        totals["loop"] += t_loop
        totals["dense_loop"] += t_dense
        print(
            f"r={r:4d}: batched {n_work / t_batched:9.1f}  loop {n_work / t_loop:9.1f}  dense loop "
            f"{n_work / t_dense:9.1f} trial-iterations/s; max |W_batched - W_loop| = {worst:.1e}"
        )
        if worst > 1e-9:
            raise SystemExit("the engine and the loops disagree: the comparison is void")
    rates = {k: work / v for k, v in totals.items()}
    print(f"batched: {rates['batched']:.1f} trial-iterations/s")
    print(f"loop: {rates['loop']:.1f} trial-iterations/s")
    print(f"dense_loop: {rates['dense_loop']:.1f} trial-iterations/s")
    print(f"ratio_vs_dense_loop: {rates['batched'] / rates['dense_loop']:.2f}")
    print(f"ratio: {rates['batched'] / rates['loop']:.2f}")
    cpu_rates = roofline(args)
    if args.device is not None:
        device_part(args, cpu_rates)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bandwidth(mb: float = 1024, repeats: int = 5, device: str | torch.device = "cpu") -> tuple[float, float]:
    """(copy, triad) bytes per second over three float64 arrays of ``mb`` MiB together, STREAM's way, with
    torch's threads (or on the GPU); best of ``repeats`` timings, each of enough passes to last about 20 ms."""
    device = torch.device(device)
    n = int(mb * 2**20 // 8 // 3)
    a = torch.empty(n, dtype=torch.float64, device=device)
    b = torch.rand(n, dtype=torch.float64, device=device)
    c = torch.rand(n, dtype=torch.float64, device=device)
    per_second = 40e9 if device.type == "cpu" else 2e12  # a guess of the bandwidth, for the number of passes
    passes = max(1, int(20e-3 * per_second / (3 * n * 8)))
    copy = triad = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(passes):
            a.copy_(b)
        sync(device)
        copy = min(copy, (time.perf_counter() - t0) / passes)
        t0 = time.perf_counter()
        for _ in range(passes):
            torch.add(b, c, alpha=3.0, out=a)
        sync(device)
        triad = min(triad, (time.perf_counter() - t0) / passes)
    return 2 * n * 8 / copy, 3 * n * 8 / triad


def peak_flops(dtype: torch.dtype, n: int = 1024, repeats: int = 5) -> float:
    """Flops per second of the BLAS's square (n x n)(n x n) product, best of ``repeats``: the compute ceiling
    (about 90% of a core's multiply-add peak for a tuned BLAS)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    c = torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def roofline(args) -> dict[str, float]:
    """The engine's bytes and flops per second on the same workload, float64 and float32, its one-pass kernel
    (the CPU's default) and the tensor program (``method="reference"``), against the memory bandwidth (arrays of
    3 GiB) and the cache bandwidth (arrays the size of one group of trials). Returns the kernel's
    trial-iterations per second (its tensor program's where numba is not installed), by dtype name."""
    copy, triad = bandwidth()
    cache_copy, cache_triad = bandwidth(CACHE_MB)
    print(f"bandwidth_copy_gbs: {copy / 1e9:.2f}")
    print(f"bandwidth_gbs: {triad / 1e9:.2f}")
    print(f"cache_bandwidth_copy_gbs: {cache_copy / 1e9:.2f}   ({CACHE_MB:g} MiB in all, the engine's group size)")
    print(f"cache_bandwidth_gbs: {cache_triad / 1e9:.2f}")
    engine = {}
    for dtype in (torch.float64, torch.float32):
        name = str(dtype).split(".")[1]
        peak = peak_flops(dtype)
        print(f"peak_gflops_{name}: {peak / 1e9:.1f}   (a 1024 x 1024 matrix product)")
        rates = {}
        for method in ("kernel", "reference") if CPU_METHOD == "auto" else ("reference",):
            moved = flops = seconds = 0.0
            reads = 1 if method == "kernel" else 2  # the tensor program reads the inputs twice an iteration
            for r in args.r:
                specs = trial_specs("bench", "z3", {"trials": args.trials}, r, 0)
                p = build_problems(teacher_table(specs, d=args.d, k=args.k), args.n, dtype=dtype)
                W0 = ball_init([s["seed"] for s in specs], p.target.double(), p.mask.double(), 0.1).to(dtype)
                kw = {"eta": 0.5, "beta": 0.2, "tol": 0.0, "log_every": 0, "cache_mb": CACHE_MB, "method": method}
                run_agd(p.X, p.y, p.mask, W0, p.target, max_iter=2, **kw)  # first-call costs of this dtype and shape
                best = float("inf")
                for _ in range(3):
                    t0 = time.perf_counter()
                    run_agd(p.X, p.y, p.mask, W0, p.target, max_iter=args.iterations, **kw)
                    best = min(best, time.perf_counter() - t0)
                per_trial = Layout.bytes_per_trial(p.X, p.mask, "auto", method=method)  # one read of the inputs
                m = int(p.mask.sum(dim=1).max())  # the widest support: what the gathered layout holds per neuron
                gathered = Layout.resolve(p.X, p.mask, "auto", method) == "gathered"
                width = args.k * m if gathered else args.k * args.d  # multiply-adds per sample and product
                work = p.batch * args.iterations
                seconds += best
                moved += reads * per_trial * work
                flops += 4 * args.n * width * work
                rate = reads * per_trial * work / best
                print(
                    f"{name} {method} r={r:4d} ({'gathered' if gathered else 'dense'}): "
                    f"{reads * per_trial / 1e6:.3f} MB and {4 * args.n * width / 1e6:.3f} MFLOP per trial-iteration,"
                    f" {work / best:9.1f} trial-iterations/s, {rate / 1e9:6.2f} GB/s:"
                    f" {rate / triad:.2f} of memory, {rate / cache_triad:.2f} of cache bandwidth"
                )
            work = len(args.r) * args.trials * args.iterations
            rates[method] = work / seconds
            suffix = name if method == "kernel" else f"{name}_reference"
            print(f"bytes_per_trial_iteration_{suffix}: {moved / work:.0f}   (mean over the workload)")
            print(f"flops_per_trial_iteration_{suffix}: {flops / work:.0f}")
            print(
                f"{suffix}: {moved / seconds / 1e9:.2f} GB/s moved, {flops / seconds / 1e9:.2f} GFLOP/s, "
                f"{flops / moved:.3f} flop/byte, {work / seconds:.1f} trial-iterations/s"
            )
            print(f"roofline_fraction_{suffix}: {moved / seconds / triad:.2f}")
            print(f"cache_roofline_fraction_{suffix}: {moved / seconds / cache_triad:.2f}")
            # the roofline for inputs held in cache: the lower of the compute ceiling and the cache's bytes per
            # second times the flops each byte brings
            attainable = min(peak, cache_triad * flops / moved)
            print(f"attainable_gflops_{suffix}: {attainable / 1e9:.1f}")
            print(f"attainable_fraction_{suffix}: {flops / seconds / attainable:.2f}")
        if "kernel" in rates:
            print(f"kernel_vs_reference_{name}: {rates['kernel'] / rates['reference']:.2f}")
        engine[name] = rates["kernel" if "kernel" in rates else "reference"]
    return engine


def device_part(args, cpu_rates: dict[str, float]) -> None:
    """The engine on ``args.device`` on the same workload: its rate, its weights against the CPU engine's, and
    the bytes it moves per second over the device's own triad bandwidth."""
    device = torch.device(args.device)
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), deterministic algorithms")
    _, triad = bandwidth(1024, device=device)
    print(f"cuda_bandwidth_gbs: {triad / 1e9:.2f}   (a triad on 1 GiB on {device})")
    worst = 0.0
    for dtype in (torch.float64, torch.float32):
        name = str(dtype).split(".")[1]
        moved = seconds = 0.0
        for r in args.r:
            specs = trial_specs("bench", "z3", {"trials": args.trials}, r, 0)
            p = build_problems(teacher_table(specs, d=args.d, k=args.k), args.n, dtype=dtype)
            W0 = ball_init([s["seed"] for s in specs], p.target.double(), p.mask.double(), 0.1).to(dtype)
            on = [t.to(device) for t in (p.X, p.y, p.mask, W0, p.target)]
            kw = {"eta": 0.5, "beta": 0.2, "tol": 0.0, "log_every": 0, "method": "reference"}
            run_agd(*on, max_iter=2, **kw)  # first-call costs of this dtype and shape
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                res = run_agd(*on, max_iter=args.iterations, **kw)  # results come back to the CPU: the timing waits
                best = min(best, time.perf_counter() - t0)
            if dtype == torch.float64:  # the same trials by the CPU engine
                cpu = run_agd(p.X, p.y, p.mask, W0, p.target, max_iter=args.iterations, **{**kw, "method": CPU_METHOD})
                worst = max(worst, float((res.W - cpu.W).abs().max()))
            per_trial = Layout.bytes_per_trial(on[0], on[2], "auto", method="reference")
            work = p.batch * args.iterations
            seconds += best
            moved += 2 * per_trial * work  # the tensor program reads the inputs twice an iteration
            rate = 2 * per_trial * work / best
            print(f"cuda {name} r={r:4d}: {work / best:9.1f} trial-iterations/s, {rate / 1e9:7.2f} GB/s")
        work = len(args.r) * args.trials * args.iterations
        print(f"cuda_{name}: {moved / seconds / 1e9:.2f} GB/s moved, {work / seconds:.1f} trial-iterations/s")
        print(f"cuda_roofline_fraction_{name}: {moved / seconds / triad:.2f}")
        print(f"cuda_vs_cpu_{name}: {work / seconds / cpu_rates[name]:.2f}")
    print(f"cuda_max_weight_difference_float64: {worst:.1e}   (against the CPU engine)")
    if worst > 1e-9:
        raise SystemExit("the engine on the device and on the CPU disagree: the comparison is void")


if __name__ == "__main__":
    main()
