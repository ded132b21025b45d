import json
import os
import sys
import time
from pathlib import Path

# The checkout this file belongs to (workflow/rules/ lies two levels below it). The workflow reads
# ltpipe's declarations and schema from here, never from an installed copy, and its jobs run this
# checkout's code.
ROOT = Path(workflow.current_basedir).parent.parent.resolve()
sys.path.insert(0, str(ROOT))

from ltpipe import cost, registry, workload
from ltpipe.config import ConfigError
from ltpipe.schema import validate

try:
    validate(config, ROOT / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# Everything about the experiments (tables, figures, claims, parts, entry points) comes from their
# declarations, ltpipe/studies/<study>/<exp>/declaration.py, collected by ltpipe/registry.py.
EXPERIMENTS = registry.EXPERIMENTS
FIGURES = {f.id: (e, f) for e, f in registry.figures()}
# gathered tables, by path without "results/" and ".parquet" (the gather rule's wildcard)
GATHERED = {
    e.table(name)[len("results/") : -len(".parquet")]: (e, name)
    for e in EXPERIMENTS
    for name in e.gathered
}
# Keys of an experiment section that only figures, claims or a later summary
# (rate fit, radius, n needed) read: left out of the compute jobs' params so that
# editing them reruns only those.
NOT_COMPUTE = ("plot", "claims", "fit", "radius", "needed")
# Code inputs are paths relative to the working directory, so that a finished run moved elsewhere
# (with its checkout) is still finished.
PKG = Path(os.path.relpath(ROOT / "ltpipe"))
# Jobs run `python -m ltpipe`: the Python of the rule's conda env with --sdm conda
# (workflow/envs/ltpipe.yaml), else the one running Snakemake, so the venv need
# not be activated. The package is taken from this checkout either way.
os.environ.update(
    PATH=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    ),
    PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
    ),
)
ENV = "../envs/ltpipe.yaml"
RUN_STARTED = time.time()


wildcard_constraints:
    r=r"\d+",
    fig="|".join(FIGURES),


# Each compute job's time limit and memory come from the cost model (ltpipe/cost.py): its work from its own
# config section, times the per-unit costs measured on the machine named in ltpipe/cost_units.json, with a
# margin; both double on the retry that the Slurm profile's retries: 1 allows (attempt 2).
try:
    COST_UNITS = cost.load_units()
except ConfigError as err:
    raise WorkflowError(str(err)) from None
COST_JOBS = workload.jobs(config)


def predicted_runtime(rule):
    """A compute rule's runtime resource (minutes): the job's predicted time limit, times the attempt."""
    return lambda wildcards, attempt: attempt * COST_UNITS.runtime_minutes(
        workload.find(COST_JOBS, rule, dict(wildcards))
    )


def predicted_mem_mb(rule):
    """A compute rule's mem_mb resource: the job's predicted memory request, times the attempt."""
    return lambda wildcards, attempt: attempt * COST_UNITS.mem_request_mb(
        workload.find(COST_JOBS, rule, dict(wildcards))
    )


def retry(value):
    """A fixed resource of a summary rule (seconds of work at any scale), doubled on attempt 2."""
    return lambda wildcards, attempt: value * attempt


def ltpipe_code(*modules):
    """Paths of the ltpipe modules a rule runs (dotted, e.g. "studies.zhang2021.z6.job"), with every
    ltpipe module they import. Listed as inputs, so that editing a module reruns exactly the jobs using it.
    """
    return registry.module_files(PKG, *modules)


def cfg(exp):
    """An experiment's whole config section."""
    return config[registry.experiment(exp).study][exp]


def section(exp, omit=()):
    """An experiment's compute settings: its config section without NOT_COMPUTE keys (and ``omit``)."""
    return {k: v for k, v in cfg(exp).items() if k not in NOT_COMPUTE and k not in omit}


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def section_json(exp, omit=(), **entry):
    """A job's params: ``section(exp, omit)`` as JSON, each key of ``entry`` narrowed to the job's own entry
    (``lr=network``: its network's learning rate), so that a job reruns only when its own settings change.
    """
    job = section(exp, omit)
    for key, name in entry.items():
        job[key] = job[key][name]
    return as_json(job)


def sections_json(exps, keys):
    """The ``keys`` of several experiments' sections, as JSON (one job serving several experiments)."""
    return as_json(
        {e: {k: v for k, v in section(e).items() if k in keys} for e in exps}
    )


def gpu_declared():
    """The gpu resource (1 or 0) of the rules that can compute on a GPU, from the config's gpu_jobs
    (auto: 1 unless device is cpu), never from the host that builds the DAG (a cluster's login node
    has no GPU). A job declared with one that lands where there is none stops under device: cuda and
    runs on the CPU with a warning in its log under auto.
    """
    if config["gpu_jobs"] == "auto":
        return 0 if config["device"] == "cpu" else 1
    return 1 if config["gpu_jobs"] == "always" else 0


def parts(exp, name):
    """The per-job tables that table ``name`` of ``exp`` is gathered from, in gathering order."""
    return registry.experiment(exp).part_tables(name, cfg(exp))


def experiment_targets(e):
    tables = [e.table(name) for name in e.tables]
    return tables + [
        f"results/figures/{f.id}.{ext}" for f in e.figures for ext in ("png", "pdf")
    ]


def all_targets():
    """Every experiment's tables and figures (those needing a data node through data_targets), and the claims."""
    targets = [t for e in EXPERIMENTS if not e.needs for t in experiment_targets(e)]
    return targets + ["results/claims.parquet", "results/claims.md"]


def print_summary(failed):
    """At the end of a run: the claims in brief (the head of results/claims.md: per experiment how many pass,
    fail, are untestable or did not run, and why not), where the results are, and the report command.
    """
    claims = Path("results/claims.md")
    lines = ["", "=" * 100]
    if failed:
        lines.append(
            "Some jobs failed: their logs are above and under logs/; the other jobs ran (keep-going)."
        )
    if claims.exists():
        lines.append(claims.read_text().split("\n| verdict |")[0].rstrip())
        if claims.stat().st_mtime < RUN_STARTED:
            lines.append(
                "(These claims are from an earlier run: this one did not recompute them.)"
            )
    else:
        lines.append(
            "No claims yet: they are computed at the end of a whole run (snakemake without a target)."
            " Figures: results/figures/; tables: results/."
        )
    lines.append("=" * 100)
    print("\n".join(lines), file=sys.stderr)
