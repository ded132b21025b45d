"""Compare a finished run's jobs with the cost model's predictions (ltpipe/cost.py, ltpipe/cost_units.json).

    .venv/bin/python bench/check_costs.py RUN_DIR --configfile config/config.yaml [--mnist ROOT] [--min-seconds 30]

For every job with a ``benchmark:`` file in RUN_DIR it prints the measured seconds and max_rss, the predicted
seconds (for AGD and Z6, whose trials stop when they converge, both the prediction at the iteration cap, which
the time limit is made from, and the prediction at the iterations the job's table records, which checks the
per-unit cost), the predicted peak memory, and their ratios, measured over predicted. The summary gives, over
the jobs that took at least ``--min-seconds``, the worst time ratio (the one furthest from 1, either way) of the
per-unit model and of the cap bound; over every job, the largest max_rss over the predicted peak, and each job
whose max_rss passed the memory it asks for (MEM_MARGIN x the peak).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calibrate import load_config, measured  # noqa: E402

from ltpipe import cost  # noqa: E402


def spread(ratio: float) -> float:
    """How far a ratio is from 1, either way (2 for both 0.5 and 2)."""
    return max(ratio, 1 / ratio) if ratio > 0 else math.inf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--configfile", required=True)
    ap.add_argument("--mnist", help="the MNIST root the run read (a local copy); default: the config's")
    ap.add_argument("--units", default=str(cost.UNITS_FILE))
    ap.add_argument("--min-seconds", type=float, default=30.0)
    args = ap.parse_args(argv)
    config = load_config(Path(args.configfile), args.mnist)
    units = cost.load_units(args.units)
    rows = measured(Path(args.run_dir), config)
    if not rows:
        print(f"no benchmark files under {args.run_dir}/benchmarks", file=sys.stderr)
        return 1
    print(f"{'job':<46} {'s':>8} {'pred':>8} {'ratio':>6} {'bound':>8} {'ratio':>6} {'rss MB':>7} {'pred MB':>7}")
    worst, worst_bound, worst_mem, worst_request, mem_over = (None, 1.0), (None, 1.0), (None, 0.0), (None, 0.0), []
    for job, bench, work in rows:
        if job.kind == "light":
            continue
        pred = units.seconds(job, work)
        bound = units.seconds(job)
        mem = units.mem_mb(job)
        ratio, ratio_bound = bench["s"] / pred, bench["s"] / bound
        line = f"{job.name:<46} {bench['s']:8.1f} {pred:8.1f} {ratio:6.2f}"
        line += f" {bound:8.1f} {ratio_bound:6.2f}" if job.bound else f" {'':8} {'':6}"
        print(line + f" {bench['max_rss']:7.0f} {mem:7.0f}")
        if bench["max_rss"] / mem > worst_mem[1]:
            worst_mem = (job.name, bench["max_rss"] / mem)
        if bench["max_rss"] / units.mem_request_mb(job) > worst_request[1]:
            worst_request = (job.name, bench["max_rss"] / units.mem_request_mb(job))
        if bench["max_rss"] > units.mem_request_mb(job):
            mem_over.append((job.name, bench["max_rss"], units.mem_request_mb(job)))
        if bench["s"] >= args.min_seconds:
            if spread(ratio) > spread(worst[1]):
                worst = (job.name, ratio)
            if spread(ratio_bound) > spread(worst_bound[1]):
                worst_bound = (job.name, ratio_bound)
    print()
    print(f"jobs of at least {args.min_seconds:g} s, measured / predicted:")
    print(f"  worst_ratio: {worst[1]:.2f} ({worst[0]})")
    print(f"  worst_ratio_at_cap: {worst_bound[1]:.2f} ({worst_bound[0]}; AGD and Z6 counted at their iteration caps)")
    print(f"every job, max_rss / predicted peak: worst_mem_ratio: {worst_mem[1]:.2f} ({worst_mem[0]})")
    print(f"every job, max_rss / its request: worst_request_ratio: {worst_request[1]:.2f} ({worst_request[0]})")
    for name, rss, mem in mem_over:
        print(f"  memory over its request: {name}: {rss:.0f} MB against {mem:.0f} MB")
    if not mem_over:
        print(f"  every job within its memory request ({cost.MEM_MARGIN:g} x the predicted peak)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
