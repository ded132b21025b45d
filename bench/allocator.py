"""A Z7 job with and without freed memory kept in the process (``ltpipe.config.keep_freed_memory``).

Every job calls ``keep_freed_memory`` from ``start_job``: glibc's malloc then
serves blocks below 32 MiB from its heap and trims the heap only above 1 GiB,
so a training step's activations and gradients, freed at its end, are reused
by the next step rather than handed back to the kernel and faulted in again.
This bench runs the workflow's own Z7 job (``python -m ltpipe z7``,
the settings of ``config/config.yaml``; by default N = 2,000, the job that
trains nine LeNet-5s together: three trials and both controls) as a whole
process, alternately as it is and with ``keep_freed_memory`` replaced by a
function that does nothing, and prints per run the wall time, the system time
and the minor page faults, then ``seconds_<mode>:`` (median) and ``ratio:``
(without over with). Both modes must write equal tables (checked): where
memory lies never changes a result.

    python bench/allocator.py --mnist <MNIST root: MNIST/raw holds the four IDX files>
    python bench/allocator.py --mnist <root> --rounds 4 --repeats 1    # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
GRID = ("arch", "n_samples", "controls", "plot", "claims")  # what names the jobs or serves the figure
RUN = "import runpy, sys; sys.argv = ['ltpipe'] + sys.argv[1:]; runpy.run_module('ltpipe', run_name='__main__')"
OFF = "import ltpipe.config as c; c.keep_freed_memory = lambda: False; "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", required=True, help="MNIST root (MNIST/raw under it)")
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, help="pruning rounds (default: the config's)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each mode, alternating")
    args = parser.parse_args()
    section = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["zhang2021"]["z7"]
    cfg = {k: v for k, v in section.items() if k not in GRID}
    if args.rounds is not None:
        cfg["rounds"] = args.rounds
    modes = ["imp"] + (section["controls"]["modes"] if args.n_samples in section["controls"]["n_samples"] else [])
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, libc {platform.libc_ver()}")
    print(f"job: lenet5, N = {args.n_samples}, modes {' '.join(modes)}, {cfg['trials']} trials, {cfg['rounds']} rounds")
    seconds: dict[str, list[float]] = {"kept": [], "returned": []}
    tables: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="bench-allocator-") as tmp:
        for i in range(args.repeats):
            for mode in ("returned", "kept"):
                out = Path(tmp) / f"{mode}{i}"
                cmd = [
                    sys.executable,
                    "-c",
                    (OFF if mode == "returned" else "") + RUN,
                    "z7",
                    "--config",
                    json.dumps(cfg),
                    "--seed",
                    "2021",
                    "--mnist",
                    args.mnist,
                    "--arch",
                    "lenet5",
                    "--modes",
                    *modes,
                    "--n-samples",
                    str(args.n_samples),
                    "--device",
                    "cpu",
                    "--threads",
                    "1",
                    "--epochs-out",
                    f"{out}.epochs.parquet",
                    "--rounds-out",
                    f"{out}.rounds.parquet",
                    "--masks-out",
                    f"{out}.masks.pt",
                ]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
                wall = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode != 0:
                    sys.exit(f"the job failed ({mode}):\n{done.stderr[-3000:]}")
                seconds[mode].append(wall)
                print(
                    f"run {i} {mode}: {wall:.1f} s, system {after.ru_stime - before.ru_stime:.1f} s, "
                    f"{after.ru_minflt - before.ru_minflt} minor page faults",
                    flush=True,
                )
                for kind in ("epochs", "rounds"):
                    table = pd.read_parquet(f"{out}.{kind}.parquet")
                    if kind in tables:
                        pd.testing.assert_frame_equal(table, tables[kind], check_exact=True)
                    tables[kind] = table
    print("tables: equal in every run")
    for mode, times in seconds.items():
        print(f"seconds_{mode}: {statistics.median(times):.1f}")
    print(f"ratio: {statistics.median(seconds['returned']) / statistics.median(seconds['kept']):.2f}")


if __name__ == "__main__":
    main()
