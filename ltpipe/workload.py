"""Each rule's jobs and their work, from a config (the first half of the cost model, :mod:`ltpipe.cost`).

:func:`jobs` enumerates every job the workflow's DAG has for a config, each a :class:`ltpipe.cost.Job` with its
kind and its work in that kind's unit (the list is in :mod:`ltpipe.cost`'s docstring); :func:`actual_work` reads
what a finished AGD or Z6 job did from its table; :data:`BENCHMARKS` and :data:`WORK_TABLES` name the files a
finished job leaves. Torch- and numpy-free, like :mod:`ltpipe.cost`: Snakemake calls it while it builds the DAG.
"""

from __future__ import annotations

import math
from typing import Any

from ltpipe.cost import MB, Job, mnist_sizes
from ltpipe.data.grid import problem_axes, values

__all__ = ["BENCHMARKS", "actual_work", "benchmark_file", "find", "groups", "jobs", "work_table"]

SPARSEST_FACTOR = 6.0  # the fewest coefficients within eps against a plain solve (bench/subsetsum.py: 13.79 s / 2.29 s)
EVAL_WEIGHT = 1.0 / 3.0  # an evaluated sample against a trained one (forward only)
PS_WEIGHTS = 784 * 500 + 500 * 10  # the 784-500-10 target of Experiment 1

# --- helpers --------------------------------------------------------------------------------------------------


def _cap(section: dict[str, Any], eta: float) -> int:
    """A trial's iteration budget, as ltpipe.studies.zhang2021.trials.budget (which imports torch) gives it."""
    cap = section["max_iter"]
    if not isinstance(cap, dict):
        return int(cap)
    return int(next(v for k, v in cap.items() if float(k) == float(eta)))


def _itemsize(config: dict[str, Any]) -> int:
    return 4 if config.get("dtype") == "float32" else 8


def _split(n_samples: int | None, val_fraction: float, sizes: dict[str, int]) -> tuple[int, int, int]:
    """(train, validation, test) images of a job that takes ``n_samples`` of the training set."""
    n = min(sizes["train"], int(n_samples)) if n_samples else sizes["train"]
    val = round(val_fraction * n)
    return n - val, val, sizes["test"]


# --- Zhang et al. 2021 ----------------------------------------------------------------------------------------

KERNEL_GATHER_BELOW = 2.0  # ltpipe.engines.agd_layout's (a test checks it; that module imports torch)
AGD_COPIES = 2  # a trial's inputs and at most the gathered layout's copy of them
AGD_WORK = 2  # gradients, products and temporaries beside the inputs, per input byte held
TRIAL_COLUMNS = 40
CACHE_MB = 12.0  # ltpipe.engines.agd.run_agd's cache_mb: on the CPU trials run in groups whose inputs fit in it


def groups(trials: int, n: int, width: int, itemsize: int, batch: int | None = None) -> int:
    """How many groups ``trials`` trials of N = ``n`` run in: batches of at most ``batch`` trials (the job's
    max_batch_mb), each split into groups whose inputs (N x width numbers a trial) fit in CACHE_MB. A group
    runs one kernel call per iteration while any of its trials runs: the fixed cost of an iteration is a group's."""
    size = max(1, int(CACHE_MB * MB // (n * width * itemsize)))
    batch = trials if batch is None else max(1, batch)
    full, rest = divmod(trials, batch)
    return full * math.ceil(batch / size) + (math.ceil(rest / size) if rest else 0)


def read_width(k: int, r: int, d: int) -> int:
    """Numbers of a sample one AGD iteration reads (ltpipe.engines.agd_layout.Layout.bytes_per_trial, with the
    CPU kernel): the K r gathered inputs of its supports while K r <= 2 d, else its d inputs."""
    return k * r if k * r <= 2 * d else d


def work_width(k: int, r: int, d: int) -> int:
    """Multiply-adds per sample of one AGD iteration's forward pass with the CPU kernel: K r on the gathered
    inputs while K r <= 2 d, else K d on the dense ones (each at least the numbers it reads)."""
    return k * r if k * r <= 2 * d else k * d


def agd_job(config: dict[str, Any], exp: str, r: int) -> Job:
    """An (experiment, r) trials job: every problem grid point and trial, under every method setting."""
    s = config["zhang2021"][exp]
    d_in = int(s["d"])
    d = work_width(int(s["k"]), r, d_in)
    width = read_width(int(s["k"]), r, d_in)
    problems = math.prod(len(values(s, a)) for a in problem_axes(s) if a != "n_samples")
    ns = [int(n) for n in values(s, "n_samples")]
    trials = int(s["trials"]) * problems
    methods = [(float(eta), b, i) for eta in values(s, "eta") for b in values(s, "beta") for i in values(s, "init")]
    size = _itemsize(config)
    units = sum(trials * _cap(s, eta) * n * d for n in ns for eta, _, _ in methods)
    # trials of one N are batched at most max_batch_mb of inputs at a time (ltpipe.studies.zhang2021.trials)
    batch = {n: int(config["max_batch_mb"] * MB // ((1 + KERNEL_GATHER_BELOW) * n * d_in * size)) for n in ns}
    n_groups = {n: groups(trials, n, width, size, batch[n]) for n in ns}
    items = sum(n_groups[n] * _cap(s, eta) for n in ns for eta, _, _ in methods)
    held = min(trials, max(1, batch[max(ns)])) * AGD_COPIES * max(ns) * d_in * size  # the largest batch's inputs
    rows = trials * len(ns) * len(methods) * TRIAL_COLUMNS
    curves = 0.0
    if "record_every" in s and int(s["record_every"]) > 0:
        curves = sum(trials * len(methods) * (_cap(s, eta) // int(s["record_every"]) + 1) for eta, _, _ in methods)
        rows += curves * 10
    return Job(
        "agd_trials_curves" if curves else "agd_trials",
        {"exp": exp, "r": r},
        (exp,),
        kind="agd",
        units=units,
        items=items,
        bound=True,
        array_bytes=AGD_WORK * held + curves * 8 * 3,
        rows=rows,
        gpu=True,
        extra={"d": d, "groups": n_groups},  # d: the multiply-adds per sample; groups per N
    )


def z6_job(config: dict[str, Any], n: int) -> Job:
    """Z6's job of one N: every lam and trial, IMP's rounds of AGD (dense student: support d)."""
    s = config["zhang2021"]["z6"]
    d = int(s["d"])
    runs = int(s["trials"]) * len(values(s, "lam")) * len(values(s, "eta"))
    n_groups = groups(runs, n, d, _itemsize(config))  # every run of a round in one call (K d > 2 d: dense)
    units = runs * int(s["rounds"]) * int(s["max_iter"]) * n * d * int(s["k"])
    items = n_groups * int(s["rounds"]) * int(s["max_iter"])
    arrays = (n + int(s["n_test"])) * d * 8 * runs * (AGD_COPIES + AGD_WORK)
    rows = runs * int(s["rounds"]) * 30
    extra = {"d": d * int(s["k"]), "groups": {n: n_groups}}
    return Job("z6", {"n": n}, ("z6",), "z6", units, items, True, arrays, rows, gpu=True, extra=extra)


Z7_PARAMS = {"lenet5": 61706, "lenet5-conv64": 61706, "lenet-300-100": 266610}


def z7_job(config: dict[str, Any], arch: str, n: int, sizes: dict[str, int]) -> Job:
    """Z7's job of one (architecture, N): every IMP run and control of that N, all rounds and epochs; the
    whole test set is evaluated after every epoch, the validation split too."""
    from ltpipe.studies.zhang2021.z7.declaration import modes

    s = config["zhang2021"]["z7"]
    m = modes(s, n)
    runs = len(m) + (1 if "reinit" in m and "imp" not in m else 0)  # reinit needs IMP's masks
    train, val, test = _split(n, float(s["val_fraction"]), sizes)
    epochs = int(s["trials"]) * runs * int(s["rounds"]) * int(s["epochs"])
    units = epochs * (train + EVAL_WEIGHT * (val + test))
    params = Z7_PARAMS.get(arch, 266610)
    # the training subset and test set as float tensors, and every network's masks of every round
    arrays = (train + val + test) * 784 * 4 + int(s["trials"]) * runs * int(s["rounds"]) * params * 2
    rows = epochs * 11 + int(s["trials"]) * runs * int(s["rounds"]) * 13
    return Job("z7", {"arch": arch, "n": n}, ("z7",), f"train:{arch}", units, array_bytes=arrays, rows=rows, gpu=True)


# --- Pensia et al. 2020 ---------------------------------------------------------------------------------------

PL_VARIANCE = {"uniform": 1.0 / 3.0, "product": 1.0 / 9.0, "normal": 1.0}


def pl_sums(distribution: str, n: int, target_range: float) -> float:
    """The subset sums ``sup_error`` forms for one trial: those inside [-R, R] (a sum of n coefficients, about
    normal with variance n v, falls there with probability ~ 2R / sqrt(2 pi n v)), and the two halves."""
    inside = min(1.0, 2 * target_range / math.sqrt(2 * math.pi * n * PL_VARIANCE.get(distribution, 1.0)))
    return 2.0**n * inside + 2.0 ** math.ceil(n / 2) + 2.0 ** (n // 2)


def pl_job(config: dict[str, Any]) -> Job:
    s = config["pensia2020"]["pl"]
    trials = int(s["trials"])
    units = trials * sum(pl_sums(dist, int(n), float(s["target_range"])) for dist in s["distributions"] for n in s["n"])
    window = 2**22 * 8 * 8  # ltpipe.studies.pensia2020.pl.job.WINDOW sums with their work arrays
    rows = trials * len(s["n"]) * len(s["distributions"]) * 7
    return Job("pl_trials", {}, ("pl",), "pl", units, array_bytes=window, rows=rows)


def ps_jobs(config: dict[str, Any], sizes: dict[str, int]) -> list[Job]:
    s = config["pensia2020"]["ps"]
    train, _, test = _split(s["n_samples"], 0.0, sizes)
    epochs = int(s["epochs"])
    target = Job(
        "ps_target",
        {},
        ("ps",),
        "train:mlp",
        epochs * (train + EVAL_WEIGHT * test),
        array_bytes=(train + test) * 784 * 4 * 2,
        rows=10,
        gpu=True,
    )
    n = int(s["c"]) * round(math.log2(1 / float(s["eps"])))
    ranges = len(values(s, "coefficient_range"))
    units = PS_WEIGHTS * ranges * 2.0 ** (n / 2) * (1 + (SPARSEST_FACTOR if s.get("sparsest") else 0))
    chunk = 16 * MB * (6 if s.get("sparsest") else 1)  # the engine's solve chunks (ltpipe.engines.subsetsum)
    arrays = PS_WEIGHTS * ranges * (n + 8) * 8 + chunk + test * 784 * 8
    solve = Job("ps_solve", {}, ("ps",), "ps_solve", units, array_bytes=arrays, rows=PS_WEIGHTS * ranges * 12, gpu=True)
    return [target, solve]


def pe_job(config: dict[str, Any], network: str, variant: str, sizes: dict[str, int]) -> Job:
    s = config["pensia2020"]["pe"]
    train, val, test = _split(s["n_samples"], float(s["val_fraction"]), sizes)
    if variant == "baseline":
        runs = [int(s["baseline_epochs"][network])]
    else:
        runs = [int(e) for _ in s["keep"][network] for e in s["epochs"][network]]
    units = int(s["trials"]) * sum(e * train + EVAL_WEIGHT * (val + test) for e in runs)
    arrays = (train + val + test) * 784 * 4 * 2
    rows = int(s["trials"]) * len(runs) * 20
    return Job(
        "pe",
        {"network": network, "variant": variant},
        ("pe",),
        f"pe:{network}:{variant}",
        units,
        array_bytes=arrays,
        rows=rows,
        gpu=True,
    )


def _build_cost(construction: str, n: int) -> float:
    """Per weight and side: PC's exact subset sum over the side's live products, about n / 2 of its n units,
    so two halves of 2^(n/4) sums (ltpipe.engines.construct._masks_subset_sum); MW's rule scans n products."""
    return 2.0 ** (n / 4) + n if construction == "pc" else float(n)


def _pair(construction: str, n: int, d_in: int, d_out: int) -> tuple[float, float, float]:
    """One random layer pair approximating a d_out x d_in layer (ltpipe.engines.construct): (units of its
    build: a solve per weight and side plus its 2n d_in (d_out + 1) random entries; multiply-adds of a forward
    pass per sample, over the kept units only; the kept units, for the memory). Of the 2n units of an input
    about n are live (their first-layer sign is their side's); PC's subsets use about all of them, MW's single
    products at most one per output and side."""
    build = 2 * d_in * d_out * _build_cost(construction, n) + 2 * n * d_in * (d_out + 1)
    kept = d_in * (n if construction == "pc" else min(n, 2 * d_out))
    return build, kept * (d_out + 1), kept


def _sup_points(ev: dict[str, Any]) -> float:
    """Sample points of the sup search, then a forward and a backward pass and a trial step per start and step."""
    return int(ev["samples"]) + 3 * int(ev["starts"]) * int(ev["steps"])


def pc_job(config: dict[str, Any]) -> Job:
    pc, mw = config["pensia2020"]["pc"], config["malach2020"]["mw"]
    single, net, ev = pc["single"], pc["network"], pc["eval"]
    units, items = 0.0, 0.0
    for construction, grid in (("pc", single["n"]), ("mw", mw["single"]["n"])):
        units += sum(
            2 * int(single["trials"]) * int(single["targets"]) * _build_cost(construction, int(n)) for n in grid
        )
        items += int(single["trials"]) * len(grid)  # one call per trial and n
    biggest = 0.0
    for construction, grid in (("pc", net["n"]), ("mw", mw["network"]["n"])):
        for depth in map(int, net["depths"]):
            for width in map(int, net["widths"]):
                for n in map(int, grid):
                    build, macs, kept = _pair(construction, n, width, width)
                    units += int(net["trials"]) * depth * (build + macs * _sup_points(ev))
                    items += int(net["trials"]) * (int(ev["steps"]) + 1) * depth
                    biggest = max(biggest, int(ev["samples"]) * kept * 8 * 3 + width * kept * 8)
    rows = (len(single["n"]) + len(mw["single"]["n"])) * int(single["trials"]) * int(single["targets"]) * 9
    return Job("pc", {}, ("pc", "mw"), "construct", units, items, array_bytes=biggest, rows=rows, gpu=True)


def pc_ps_job(config: dict[str, Any], sizes: dict[str, int]) -> Job:
    pc, mw = config["pensia2020"]["pc"], config["malach2020"]["mw"]
    ev = pc["ps"]["eval"]
    test = sizes["test"] if pc["ps"].get("test_images") is None else int(pc["ps"]["test_images"])
    units, items, biggest = 0.0, 0.0, 0.0
    for construction, grid in (("pc", pc["ps"]["n"]), ("mw", mw["ps"]["n"])):
        for n in map(int, grid):
            first, second = _pair(construction, n, 784, 500), _pair(construction, n, 500, 10)
            units += first[0] + second[0] + (first[1] + second[1]) * (_sup_points(ev) + test)
            items += (int(ev["steps"]) + 1) * 2
            # the sampled points' and a chunk of 1000 test images' hidden units, and the dense second layers
            points = max(int(ev["samples"]), 1000)
            biggest = max(biggest, points * (first[2] + second[2]) * 8 * 3 + (500 * first[2] + 10 * second[2]) * 8)
    arrays = biggest + test * 784 * 8
    return Job("pc_ps", {}, ("pc", "mw"), "construct", units, items, array_bytes=arrays, rows=20 * 16, gpu=True)


# --- Malach et al. 2020 ---------------------------------------------------------------------------------------


def _features(n: int, n_test: int, d: int, k: int, m: int, full: bool, sweep: list[int]) -> tuple[float, float]:
    """(multiply-adds, largest array bytes) of one MN trial: the k m random features of the train and test
    points, the readouts on k of them (and on each k of the sweep), and with ``full`` the ridge solve on all
    k m in the N x N kernel (2048 features at a time). The pruned network's predictions form the features of
    its kept neurons, at most all k m, for the train and then the test points, with their ReLU's copy."""
    width = k * m
    macs = (n + n_test) * d * width + n * k * k + k**3 + sum(n * j * j + j**3 for j in sweep)
    arrays = max(n, n_test) * width * 8 * 2
    if full:
        macs += (n + n_test) * n * width + n**3 / 3
        arrays = max(arrays, (n + n_test) * (n + 2048) * 8 * 2)
    return macs, arrays


def mn_job(config: dict[str, Any], sizes: dict[str, int]) -> Job:
    s = config["malach2020"]["mn"]
    nu, mn = s["neuron"], s["mnist"]
    units, biggest = 0.0, 0.0
    for d in map(int, nu["d"]):
        macs, arrays = _features(
            int(nu["n_train"]),
            int(nu["n_test"]),
            d,
            int(nu["k"]),
            int(nu["m"]),
            bool(nu["full"]),
            [int(j) for j in nu.get("k_sweep", [])],
        )
        units += int(nu["trials"]) * macs
        biggest = max(biggest, arrays)
    # the two digits are about a fifth of each split
    test = int(mn["n_test"]) if mn["n_test"] is not None else sizes["test"] // 5
    for k in map(int, mn["k"]):
        macs, arrays = _features(int(mn["n_train"]), test, 784, k, int(mn["m"]), bool(mn["full"]), [])
        units += int(mn["trials"]) * macs
        biggest = max(biggest, arrays)
    rows = len(nu["d"]) * int(nu["trials"]) * (6 + len(nu.get("k_sweep", []))) + len(mn["k"]) * int(mn["trials"]) * 4
    return Job("mn", {}, ("mn",), "mn", units, array_bytes=biggest + sizes["train"] * 784 * 8, rows=rows * 15)


# --- every job of a config ------------------------------------------------------------------------------------


def jobs(config: dict[str, Any], sizes: dict[str, int] | None = None) -> list[Job]:
    """Every compute job the workflow runs for ``config`` (one per rule and wildcards, as the DAG has them),
    then one ``light`` job per teachers table, summary, gathered table, figure and claims file."""
    from ltpipe import registry

    sizes = mnist_sizes(config) if sizes is None else sizes
    z, p = config["zhang2021"], config["pensia2020"]
    out: list[Job] = []
    for e in registry.by_rules("agd"):
        for r in map(int, z[e.id]["r"]):
            out.append(Job("teachers", {"exp": e.id, "r": r}, (e.id,)))
            out.append(agd_job(config, e.id, r))
    out += [z6_job(config, int(n)) for n in z["z6"]["n_samples"]]
    from ltpipe.studies.zhang2021.z7.declaration import sizes as z7_sizes

    out += [z7_job(config, a, int(n), sizes) for a in z["z7"]["arch"] for n in z7_sizes(z["z7"])]
    out += [pl_job(config), Job("pl_needed", {}, ("pl",))]
    out += ps_jobs(config, sizes)
    out += [pe_job(config, net, var, sizes) for net in p["pe"]["networks"] for var in p["pe"]["variants"]]
    out += [Job("pe_select", {}, ("pe",)), pc_job(config), pc_ps_job(config, sizes), mn_job(config, sizes)]
    out += [Job("z3_rates", {}, ("z3",)), Job("z2_radius", {}, ("z2",))]
    out += [Job("mnist", {}, ("data",)), Job("mnist_fetch", {}, ("data",))]
    for e in registry.EXPERIMENTS:
        out += [Job("gather", {"table": name}, (e.id,)) for name in e.gathered]
        out += [Job("figure", {"fig": f.id}, (e.id,)) for f in e.figures]
        out.append(Job("claims_experiment", {"exp": e.id}, (e.id,)))
    out.append(Job("claims", {}, ("claims",)))
    return out


# rules that share their resources: agd_trials_curves is `use rule agd_trials with:`
SAME_RULE = {"agd_trials_curves": "agd_trials"}


def find(all_jobs: list[Job], rule: str, wildcards: dict[str, Any]) -> Job:
    """The job of ``rule`` (or of a rule derived from it) with these wildcards (values compared as strings)."""
    want = {k: str(v) for k, v in wildcards.items()}
    for job in all_jobs:
        if SAME_RULE.get(job.rule, job.rule) != SAME_RULE.get(rule, rule):
            continue
        if all(str(job.wildcards[k]) == want.get(k) for k in job.wildcards):
            return job
    raise KeyError(f"the cost model has no {rule} job with wildcards {wildcards}")


def actual_work(job: Job, table: Any) -> tuple[float, float] | None:
    """(units, items) a finished AGD or Z6 job did, from its trials (or rounds) table, a DataFrame: the sum of
    iterations x N x read width, and its group-iterations, each group counted at the most iterations of its
    run (per N and method setting, or per IMP round: its trials' groups end together at worst). None for the
    other kinds, whose work the model counts."""
    if job.kind not in ("agd", "z6"):
        return None
    units = float((table["iterations"] * table["n_samples"] * job.extra["d"]).sum())
    methods = ["round"] if job.kind == "z6" else [c for c in ("eta", "beta", "init") if c in table]
    longest = table.groupby(["n_samples", *methods], dropna=False)["iterations"].max()
    n = longest.index.get_level_values("n_samples")
    items = sum(job.extra["groups"][int(k)] * float(it) for k, it in zip(n, longest, strict=True))
    return units, float(items)


# --- finished runs: benchmark files and tables ----------------------------------------------------------------

BENCHMARKS = {
    "teachers": "benchmarks/zhang2021/{exp}/teachers_r{r}.tsv",
    "agd_trials": "benchmarks/zhang2021/{exp}/trials_r{r}.tsv",
    "agd_trials_curves": "benchmarks/zhang2021/{exp}/trials_r{r}.tsv",
    "z6": "benchmarks/zhang2021/z6/N{n}.tsv",
    "z7": "benchmarks/zhang2021/z7/{arch}_N{n}.tsv",
    "pl_trials": "benchmarks/pensia2020/pl_trials.tsv",
    "ps_target": "benchmarks/pensia2020/ps_target.tsv",
    "ps_solve": "benchmarks/pensia2020/ps_solve.tsv",
    "pe": "benchmarks/pensia2020/pe/{network}_{variant}.tsv",
    "pc": "benchmarks/pensia2020/pc_construct.tsv",
    "pc_ps": "benchmarks/pensia2020/pc_ps.tsv",
    "mn": "benchmarks/malach2020/mn.tsv",
}
# the table a finished AGD or Z6 job wrote, whose iterations give its actual work
WORK_TABLES = {
    "agd_trials": "results/zhang2021/{exp}/parts/r{r}.trials.parquet",
    "agd_trials_curves": "results/zhang2021/{exp}/parts/r{r}.trials.parquet",
    "z6": "results/zhang2021/z6/parts/N{n}.rounds.parquet",
}


def benchmark_file(job: Job) -> str | None:
    """The ``benchmark:`` file of the job's rule (workflow/rules/*.smk), or None for a rule without one."""
    pattern = BENCHMARKS.get(job.rule)
    return pattern.format(**job.wildcards) if pattern else None


def work_table(job: Job) -> str | None:
    pattern = WORK_TABLES.get(job.rule)
    return pattern.format(**job.wildcards) if pattern else None
