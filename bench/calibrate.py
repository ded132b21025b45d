"""Measure the cost model's per-unit costs (ltpipe/cost.py) on this machine and write ltpipe/cost_units.json.

    .venv/bin/python bench/calibrate.py --dir /tmp/ltpipe-calibration [--mnist ROOT] [--skip-run]

runs the compute jobs of ``bench/calibration.yaml`` (a scale of its own, between the tests' and the default, each
job at least about 10 s of work; ``--cores 2``, as the README's default run) in ``--dir``, with the kernels
compiled beforehand, then reads every job's ``benchmark:`` file and, per kind, divides the seconds beyond the
start-up by the work: ``seconds_per_unit = sum(s - overhead_s) / sum(units)``, or for the kinds that also count
items (AGD's group-iterations, PC's search steps) both costs by non-negative least squares over the kind's jobs;
an AGD job's work is what its table records. The start-up ``overhead_s`` is the median time of the ``teachers``
jobs (a Python that imports torch and writes one table), a kind's memory base the largest max_rss of its jobs
beyond the arrays the model counts (at least the teachers'), its ``compile_s`` numba's compilation of the
kernels it calls, timed in an empty cache. Nothing is read from the default or paper runs, which
``bench/check_costs.py`` checks the predictions against.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ltpipe import cost, workload  # noqa: E402
from ltpipe.tables import _cpu_model  # noqa: E402

CONFIG = ROOT / "bench" / "calibration.yaml"


# the compiled (numba) kernels each kind's jobs call: a checkout's first such job compiles them
KERNELS = {"agd": ("agd",), "z6": ("agd",), "construct": ("solve",), "ps_solve": ("solve", "sparsest")}
COMPILE = """
import json, sys, time
import numpy as np
from ltpipe.data.grid import trial_specs
from ltpipe.data.teacher import build_problems, teacher_table
from ltpipe.engines.agd import run_agd
from ltpipe.engines.subsetsum import solve, solve_sparsest

rng = np.random.default_rng(0)
a, w = rng.uniform(-1, 1, (8, 10)), rng.uniform(-1, 1, 8)
p = build_problems(teacher_table(trial_specs("c", "c", {"trials": 2}, 3, 0), d=6, k=2), 40, 0.0)
out = {}
for name, call in (
    ("solve", lambda: solve(a, w)),
    ("sparsest", lambda: solve_sparsest(a, w, 0.1)),
    ("agd", lambda: run_agd(p.X, p.y, p.mask, p.target * 0.9, p.target, eta=0.5, beta=0.2, max_iter=5, log_every=0)),
):
    began = time.perf_counter()
    call()
    out[name] = time.perf_counter() - began
print(json.dumps(out))
"""


def compile_seconds() -> dict[str, float]:
    """Seconds each kernel's first call takes with an empty numba cache, less its second call's."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        cold, warm = (
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", COMPILE], env=env, capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(2)
        )
    return {k: round(max(0.0, cold[k] - warm[k]), 2) for k in cold}


def load_config(path: Path, mnist: str | None) -> dict:
    config = yaml.safe_load(Path(path).read_text())
    if mnist:
        config["data"]["mnist"].update(root=str(Path(mnist).resolve()), verify_checksums=False, download=False)
    return config


def read_benchmark(path: Path) -> dict[str, float] | None:
    """The ``s`` and ``max_rss`` (MB) of a Snakemake benchmark file, or None when it is missing."""
    if not path.exists():
        return None
    row = pd.read_csv(path, sep="\t").iloc[-1]
    return {"s": float(row["s"]), "max_rss": float(row["max_rss"]) if row["max_rss"] != "-" else float("nan")}


def measured(run_dir: Path, config: dict) -> list[tuple[cost.Job, dict[str, float], tuple[float, float]]]:
    """(job, its benchmark, its (units, items) of work: the actual ones where its table records them) per
    finished job of ``config`` in ``run_dir``."""
    out = []
    for job in workload.jobs(config):
        bench = workload.benchmark_file(job)
        got = read_benchmark(run_dir / bench) if bench else None
        if got is None:
            continue
        work = (job.units, job.items)
        table = workload.work_table(job)
        if table and (run_dir / table).exists():
            work = workload.actual_work(job, pd.read_parquet(run_dir / table))
        out.append((job, got, work))
    return out


def fit(rows: list[tuple[cost.Job, dict[str, float], tuple[float, float]]]) -> dict:
    """Per kind: seconds per unit (and per item, for the kinds that count trial-iterations, by non-negative
    least squares over the kind's jobs, relative errors weighted alike), from the seconds beyond start-up."""
    teachers = [b for j, b, _ in rows if j.rule == "teachers"]
    if not teachers:
        raise SystemExit("no teachers benchmarks: the start-up cost cannot be measured")
    overhead = statistics.median(b["s"] for b in teachers)
    base = max(b["max_rss"] for b in teachers)
    by_kind = defaultdict(list)
    for job, b, work in rows:
        if job.kind != "light":
            by_kind[job.kind].append((job, b, work))
    kinds = {}
    for kind, items in sorted(by_kind.items()):
        spent = np.array([max(0.0, b["s"] - overhead) for _, b, _ in items])
        work = np.array([w for _, _, w in items], dtype=float)  # (jobs, 2): units, items
        entry = {}
        if work[:, 1].any() and len(items) >= 2:
            scale = 1.0 / np.maximum(spent, 1e-3)  # each job's relative error counts alike
            (spu, spi), _ = nnls(work * scale[:, None], spent * scale)
            entry = {"seconds_per_unit": float(spu), "seconds_per_item": float(spi)}
        else:
            entry = {"seconds_per_unit": float(spent.sum() / work[:, 0].sum()) if work[:, 0].sum() > 0 else 0.0}
        entry.update(
            overhead_s=round(overhead, 3),
            base_mb=round(max([base] + [b["max_rss"] - j.array_bytes / cost.MB for j, b, _ in items]), 1),
            jobs=len(items),
            seconds=round(float(sum(b["s"] for _, b, _ in items)), 2),
            units=float(work[:, 0].sum()),
            items=float(work[:, 1].sum()),
        )
        kinds[kind] = entry
    return {"overhead_s": round(overhead, 3), "base_mb": round(base, 1), "kinds": kinds}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="working directory of the calibration run")
    ap.add_argument("--mnist", help="an MNIST root (e.g. a local copy); default: the config's")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--skip-run", action="store_true", help="only fit, from a finished run in --dir")
    ap.add_argument("--out", default=str(cost.UNITS_FILE))
    args = ap.parse_args(argv)
    run_dir = Path(args.dir).resolve()
    config = load_config(CONFIG, args.mnist)
    run_dir.mkdir(parents=True, exist_ok=True)
    used = run_dir / "calibration.yaml"
    used.write_text(yaml.safe_dump(config, sort_keys=False))
    # every compute job's benchmark file: a target Snakemake plans through the MNIST checkpoint
    targets = sorted({workload.benchmark_file(j) for j in workload.jobs(config) if workload.benchmark_file(j)})
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(run_dir),
        "--configfile",
        str(used),
        "--cores",
        str(args.cores),
        *targets,
    ]
    if not args.skip_run:
        # the checkout's kernels compiled first, so that the jobs' times are their work (compile_s is measured apart)
        subprocess.run(
            [sys.executable, "-c", COMPILE],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
        )
        # the run's own resources: a provisional file with fixed limits (what it measures does not exist yet)
        provisional = run_dir / "provisional_units.json"
        provisional.write_text(
            json.dumps(
                {"kinds": {}, "overhead_s": 0, "base_mb": 0, "meta": {}, "fallback": {"runtime": 60, "mem_mb": 8000}}
            )
        )
        subprocess.run(command, check=True, env={**os.environ, "LTPIPE_COST_UNITS": str(provisional)})
    rows = measured(run_dir, config)
    units = fit(rows)
    compiled = compile_seconds()
    for kind, kernels in KERNELS.items():
        if kind in units["kinds"]:
            units["kinds"][kind]["compile_s"] = round(sum(compiled[k] for k in kernels), 2)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    units["meta"] = {
        "cpu": _cpu_model(),
        "cores": args.cores,
        "date": dt.date.today().isoformat(),
        "commit": commit.stdout.strip(),
        "config": "bench/calibration.yaml",
        "command": "python bench/calibrate.py "
        + " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a != "--skip-run"),
    }
    Path(args.out).write_text(json.dumps(units, indent=1) + "\n")
    width = max(map(len, units["kinds"]))
    print(f"start-up {units['overhead_s']:.2f} s, base {units['base_mb']:.0f} MB; per kind:")
    for kind, k in units["kinds"].items():
        per_item = f", {k['seconds_per_item']:.4g} s/item" if "seconds_per_item" in k else ""
        print(
            f"  {kind:<{width}}  {k['seconds_per_unit']:.4g} s/unit{per_item}  ({k['jobs']} jobs, {k['seconds']:.1f} s)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
