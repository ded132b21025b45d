"""``ltpipe estimate``: what a config costs before it runs, from the cost model (:mod:`ltpipe.cost`)."""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import yaml

from ltpipe import cost, workload
from ltpipe.schema import validate

__all__ = ["estimate", "estimate_main"]

COLUMNS = ("jobs", "cpu_hours", "gpu_rule_hours", "longest_job_h", "peak_mem_gb", "disk_mb")


def estimate(config: dict, units: cost.Units, sizes: dict[str, int] | None = None) -> dict[str, dict[str, float]]:
    """Per experiment (the first one a job serves) and in total: job count, predicted CPU hours (AGD and Z6
    counted at their iteration caps: at most), the hours of the jobs whose rules can use a GPU (still CPU hours:
    no GPU cost has been calibrated), the longest job, the most memory one job asks for (its predicted peak
    with the margin) and the disk of the tables."""
    rows: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0.0))
    for job in workload.jobs(config, sizes):
        for key in (job.exps[0], "total"):
            row = rows[key]
            hours = units.seconds(job) / 3600
            row["jobs"] += 1
            row["cpu_hours"] += hours
            row["gpu_rule_hours"] += hours if job.gpu else 0.0
            row["longest_job_h"] = max(row["longest_job_h"], hours)
            row["peak_mem_gb"] = max(row["peak_mem_gb"], units.mem_request_mb(job) / 1024)
            row["disk_mb"] += job.rows * cost.BYTES_PER_ROW_COLUMN / cost.MB
    total = rows.pop("total")
    return {**dict(rows), "total": total}


def render(table: dict[str, dict[str, float]], cores: int) -> str:
    lines = [f"{'experiment':<12}" + "".join(f"{c:>16}" for c in COLUMNS)]
    for name, row in table.items():
        cells = [f"{int(row['jobs']):>16d}"] + [f"{row[c]:>16.3g}" for c in COLUMNS[1:]]
        lines.append(f"{name:<12}" + "".join(cells))
    total = table["total"]
    wall = max(total["cpu_hours"] / cores, total["longest_job_h"])
    lines += [
        "",
        f"total_cpu_hours: {total['cpu_hours']:.3g}",
        f"wall_hours_on_{cores}_cores: at least {wall:.3g} (the CPU hours spread over the cores, or the longest job)",
        f"peak_job_mem_gb: {total['peak_mem_gb']:.3g} (the largest request: {cost.MEM_MARGIN:g} x a predicted peak)",
        f"disk_mb: at most {total['disk_mb']:.3g} (the tables before compression)",
    ]
    return "\n".join(lines)


def estimate_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe estimate: every experiment's job count, predicted CPU hours, peak memory and disk for a config.

    Predictions are the cost model's (ltpipe/cost.py) from the per-unit costs measured on the machine named in
    ltpipe/cost_units.json; AGD and Z6 trials are counted at their iteration caps, so their hours are upper bounds.
    """
    parser = argparse.ArgumentParser(prog="ltpipe estimate", description=estimate_main.__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default="config/config.yaml", help="a workflow config (default: %(default)s)")
    parser.add_argument("--mnist", help="the MNIST root the run will read, when not the config's (its sizes count)")
    parser.add_argument("--units", default=str(cost.UNITS_FILE), help="the per-unit costs (default: %(default)s)")
    parser.add_argument("--cores", type=int, default=2, help="cores for the wall-time line (default: %(default)s)")
    args = parser.parse_args(argv)
    config = yaml.safe_load(Path(args.configfile).read_text())
    if args.mnist:
        config["data"]["mnist"]["root"] = args.mnist
    validate(config)
    units = cost.load_units(args.units)
    meta = units.meta
    print(f"ltpipe estimate: {args.configfile}, per-unit costs measured on {meta.get('cpu')} ({meta.get('date')})")
    print(render(estimate(config, units), args.cores))
