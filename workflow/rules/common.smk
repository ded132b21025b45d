import json
import os
import re
import sys
from pathlib import Path

from ltpipe.config import ConfigError, gpu_hint, validate
from ltpipe.grid import teacher_section

try:
    validate(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


ZHANG = config["zhang2021"]
# the teacher-student AGD experiments (Z6, Z7 are IMP, with their own rules)
ZHANG_EXPS = [exp for exp in ("z2", "z3", "z4", "z5") if exp in ZHANG]
PENSIA = config["pensia2020"]
MNIST = config["data"]["mnist"]
FIGURE_IDS = ["z2", "z3_a", "z3_b", "z4", "z5", "z6", "z7", "pl_a", "pl_b", "ps"]
PS_TRAINING = ("n_samples", "epochs", "batch_size", "optimizer", "lr", "momentum")
PS_TRAINING += ("weight_decay", "schedule")
# the study of each experiment id
STUDY = {**{exp: "zhang2021" for exp in ZHANG}, **{exp: "pensia2020" for exp in PENSIA}}
# Keys of an experiment section that only figures, claims or a later summary
# (rate fit, n needed) read: left out of the compute jobs' params so that
# editing them reruns only those.
NOT_COMPUTE = ("plot", "claims", "fit", "needed")
PKG = Path(workflow.basedir) / "ltpipe"
# Jobs run `python -m ltpipe`: the Python of the rule's conda env with --use-conda
# (workflow/envs/ltpipe.yaml), else the one running Snakemake, so the venv need
# not be activated. The package is taken from this checkout either way.
os.environ.update(
    PATH=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    ),
    PYTHONPATH=os.pathsep.join(
        p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p
    ),
)
ENV = "../envs/ltpipe.yaml"


wildcard_constraints:
    exp="z[0-9]+",
    r=r"\d+",
    fig="|".join(FIGURE_IDS),


def ltpipe_code(*modules):
    """Paths of the ltpipe modules a rule runs, with every ltpipe module they import.

    Listed as inputs, so that editing a module reruns exactly the jobs using it.
    """
    pattern = re.compile(
        r"^\s*(?:from\s+(?:ltpipe\.|\.)(\w+)|import\s+ltpipe\.(\w+)|from\s+ltpipe\s+import\s+([\w, ]+))",
        re.M,
    )
    seen, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = (PKG / f"{name}.py").read_text()
        for a, b, names in pattern.findall(text):
            found = [a or b] if a or b else [n.strip() for n in names.split(",")]
            todo += [n for n in found if (PKG / f"{n}.py").is_file()]
    seen.add("__init__")
    return sorted(str(PKG / f"{name}.py") for name in seen)


def section(study, exp):
    """An experiment's compute settings: its config section without NOT_COMPUTE keys."""
    return {k: v for k, v in config[study][exp].items() if k not in NOT_COMPUTE}


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def section_json(study, exp):
    return as_json(section(study, exp))


def teacher_json(study, exp):
    return as_json(teacher_section(config[study][exp]))


def gpu_count():
    """1 when jobs will run on CUDA (so --resources gpu=N bounds them), else 0."""
    if config["device"] == "cuda":
        return 1
    if config["device"] == "auto":
        return int(gpu_hint())
    return 0


def zhang_parts(exp, name):
    return expand(
        "results/zhang2021/{exp}/parts/r{r}.{name}.parquet",
        exp=exp,
        r=ZHANG[exp]["r"],
        name=name,
    )


def imp_parts(exp, name):
    """The per-job tables of Z6 (one per N) or Z7 (one per architecture, mode and N)."""
    if exp == "z6":
        return expand(
            "results/zhang2021/z6/parts/N{n}.{name}.parquet",
            n=ZHANG["z6"]["n_samples"],
            name=name,
        )
    z7 = ZHANG["z7"]
    jobs = [("imp", n) for n in z7["n_samples"]]
    jobs += [
        (m, n) for m in z7["controls"]["modes"] for n in z7["controls"]["n_samples"]
    ]
    return [
        f"results/zhang2021/z7/parts/{arch}/{mode}/N{n}.{name}.parquet"
        for arch in z7["arch"]
        for mode, n in jobs
    ]


def imp_job_json(exp):
    """An IMP job's settings: its section without the grid that names the jobs, so
    adding an N (or an architecture, or a control) runs only the new jobs."""
    grid = ("n_samples", "arch", "controls")
    return as_json(
        {k: v for k, v in section("zhang2021", exp).items() if k not in grid}
    )


def ps_training():
    """The PS settings the target depends on (editing eps keeps the trained target)."""
    return {k: PENSIA["ps"][k] for k in PS_TRAINING}


def ps_solving():
    return {
        k: v for k, v in section("pensia2020", "ps").items() if k not in PS_TRAINING
    }


def zhang_tables():
    """The experiment tables of Z2-Z5, as {exp: {name: path}}."""
    tables = {
        exp: {"trials": f"results/zhang2021/{exp}/trials.parquet"} for exp in ZHANG_EXPS
    }
    tables["z3"]["curves"] = "results/zhang2021/z3/curves.parquet"
    tables["z3"]["rates"] = "results/zhang2021/z3/rates.parquet"
    return tables


def all_tables():
    """Every experiment table that claims are computed from, as {exp: {name: path}}."""
    return {
        **zhang_tables(),
        "z6": {"rounds": "results/zhang2021/z6/rounds.parquet"},
        "z7": {
            "rounds": "results/zhang2021/z7/rounds.parquet",
            "epochs": "results/zhang2021/z7/epochs.parquet",
        },
        "ps": {"summary": "results/pensia2020/ps/summary.parquet"},
        "pl": {
            "trials": "results/pensia2020/pl/trials.parquet",
            "needed": "results/pensia2020/pl/needed.parquet",
        },
    }


def claim_thresholds():
    return {exp: config[STUDY[exp]][exp]["claims"] for exp in all_tables()}


FIGURE_TABLES = {
    "z2": {"trials": "results/zhang2021/z2/trials.parquet"},
    "z3_a": {"curves": "results/zhang2021/z3/curves.parquet"},
    "z3_b": {"rates": "results/zhang2021/z3/rates.parquet"},
    "z4": {"trials": "results/zhang2021/z4/trials.parquet"},
    "z5": {"trials": "results/zhang2021/z5/trials.parquet"},
    "z6": {"rounds": "results/zhang2021/z6/rounds.parquet"},
    "z7": {"rounds": "results/zhang2021/z7/rounds.parquet"},
    "ps": {
        "weights": "results/pensia2020/ps/weights.parquet",
        "summary": "results/pensia2020/ps/summary.parquet",
    },
    "pl_a": {"trials": "results/pensia2020/pl/trials.parquet"},
    "pl_b": {"needed": "results/pensia2020/pl/needed.parquet"},
}


def figure_plot(fig):
    """A figure's own plot settings (z3_a -> zhang2021.z3.plot.a)."""
    exp, _, panel = fig.partition("_")
    plot = config[STUDY[exp]][exp]["plot"]
    return plot[panel] if panel else plot


def all_targets():
    tables = [p for t in all_tables().values() for p in t.values()]
    figures = expand("results/figures/{fig}.{ext}", fig=FIGURE_IDS, ext=["png", "pdf"])
    return tables + figures + ["results/claims.parquet", "results/claims.md"]
