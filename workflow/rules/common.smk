import json
import os
import sys
from pathlib import Path

from ltpipe import registry
from ltpipe.config import ConfigError, validate
from ltpipe.data import mnist as mnist_data
from ltpipe.data.grid import teacher_section

try:
    validate(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# Everything about the experiments (tables, figures, captions, claims) comes
# from ltpipe/registry.py; the rules of each engine take the experiments that
# the registry assigns to it.
EXPERIMENTS = registry.EXPERIMENTS
AGD_EXPS = [e.id for e in registry.by_engine("agd")]
CURVES_EXPS = [e.id for e in registry.by_engine("agd") if "curves" in e.tables]
FIGURES = {f.id: (e, f) for e, f in registry.figures()}
# gathered tables, by path without "results/" and ".parquet" (the gather rule's wildcard)
GATHERED = {
    e.table(name)[len("results/") : -len(".parquet")]: (e, name)
    for e in EXPERIMENTS
    for name in e.gathered
}
MNIST = config["data"]["mnist"]
MNIST_ROOT = MNIST["root"] or "resources/mnist"
MANIFEST = "resources/mnist/manifest.json"
# the MNIST data node's outputs (rule mnist_fetch), the files every training job reads
MNIST_NODE = "resources/mnist/verified"
MNIST_FILES = [
    f"{MNIST_NODE}/MNIST/raw/{name}" for name in sorted(mnist_data.FILES.values())
]
PS_TRAINING = ("n_samples", "epochs", "batch_size", "optimizer", "lr", "momentum")
PS_TRAINING += ("weight_decay", "schedule")
# Keys of an experiment section that only figures, claims or a later summary
# (rate fit, n needed) read: left out of the compute jobs' params so that
# editing them reruns only those.
NOT_COMPUTE = ("plot", "claims", "fit", "needed")
# the repository: workflow/Snakefile lives one level below it
ROOT = Path(workflow.basedir).parent
PKG = ROOT / "ltpipe"
# Jobs run `python -m ltpipe`: the Python of the rule's conda env with --use-conda
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


wildcard_constraints:
    r=r"\d+",
    fig="|".join(FIGURES),


def ltpipe_code(*modules):
    """Paths of the ltpipe modules a rule runs (dotted, e.g. "studies.zhang2021.z6"), with every ltpipe
    module they import. Listed as inputs, so that editing a module reruns exactly the jobs using it.
    """
    return registry.module_files(PKG, *modules)


def cfg(exp):
    """An experiment's whole config section."""
    return config[registry.experiment(exp).study][exp]


def section(exp):
    """An experiment's compute settings: its config section without NOT_COMPUTE keys."""
    return {k: v for k, v in cfg(exp).items() if k not in NOT_COMPUTE}


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def section_json(exp):
    return as_json(section(exp))


def teacher_json(exp):
    return as_json(teacher_section(cfg(exp)))


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
    e = registry.experiment(exp)
    c = cfg(exp)
    base = f"results/{e.study}/{exp}/parts"
    if e.engine == "agd":
        return [f"{base}/r{r}.{name}.parquet" for r in c["r"]]
    if e.engine == "imp-teacher":
        return [f"{base}/N{n}.{name}.parquet" for n in c["n_samples"]]
    if e.engine == "imp-mnist":
        return [
            f"{base}/{arch}/N{n}.{name}.parquet"
            for arch in c["arch"]
            for n in z7_sizes()
        ]
    if e.engine == "edgepopup":
        return [
            f"{base}/{network}/{variant}.{name}.parquet"
            for network in c["networks"]
            for variant in c["variants"]
        ]
    raise ValueError(f"{exp}: engine {e.engine!r} writes no parts")


def z7_sizes():
    """The training sizes of Z7's jobs: IMP's, then those that only the controls run at."""
    c = cfg("z7")
    controls = c["controls"]["n_samples"] if c["controls"]["modes"] else []
    return list(dict.fromkeys([*c["n_samples"], *controls]))


def z7_modes(wildcards):
    """The runs of the Z7 job of one N: IMP where the grid has N, each control where the controls do."""
    c = cfg("z7")
    n = int(wildcards.n)
    modes = ["imp"] if n in c["n_samples"] else []
    if n in c["controls"]["n_samples"]:
        modes += c["controls"]["modes"]
    return " ".join(modes)


def imp_job_json(exp):
    """An IMP job's settings: its section without the grid that names the jobs, so
    adding an N (or an architecture, or a control) runs only the new jobs."""
    grid = ("n_samples", "arch", "controls")
    return as_json({k: v for k, v in section(exp).items() if k not in grid})


def pe_job_json(wildcards):
    """A PE job's settings: its section without the grid that names the jobs, with its own network's
    learning rate and epoch budgets (so editing LeNet5's reruns only LeNet5's jobs)."""
    job = {k: v for k, v in section("pe").items() if k not in ("networks", "variants")}
    job["lr"] = job["lr"][wildcards.network]
    job["epochs"] = job["epochs"][wildcards.network]
    return as_json(job)


def construct_json(parts):
    """A construction job's settings: PC's and MW's ``parts`` of their sections (so editing the PS target's
    widths reruns only that job, and plot or claims settings none)."""
    return as_json(
        {e: {k: v for k, v in section(e).items() if k in parts} for e in ("pc", "mw")}
    )


def ps_training():
    """The PS settings the target depends on (editing eps keeps the trained target)."""
    return {k: cfg("ps")[k] for k in PS_TRAINING}


def ps_solving():
    return {k: v for k, v in section("ps").items() if k not in PS_TRAINING}


def mnist_manifest():
    """The MNIST data node's manifest (after the mnist checkpoint has run)."""
    with open(checkpoints.mnist.get().output[0]) as fh:
        return json.load(fh)


if os.path.exists(MANIFEST):
    with open(MANIFEST) as fh:
        if not json.load(fh)["available"]:
            needing = ", ".join(e.id for e in EXPERIMENTS if "mnist" in e.needs)
            print(
                f"MNIST is unavailable ({MANIFEST} says why): {needing} are left out and their"
                " claims marked not run; put the files in place (or --forcerun mnist once online).",
                file=sys.stderr,
            )


def mnist_files(wildcards):
    """The four MNIST files a training job reads (its inputs), or a clear error when MNIST is unavailable."""
    manifest = mnist_manifest()
    if not manifest["available"]:
        raise WorkflowError(
            f"MNIST is unavailable (see {MANIFEST}):\n{manifest['error']}"
        )
    return MNIST_FILES


def runnable(e):
    """Whether experiment ``e`` can run: every data node it needs is available."""
    return "mnist" not in e.needs or mnist_manifest()["available"]


def experiment_targets(e):
    tables = [e.table(name) for name in e.tables]
    return tables + [
        f"results/figures/{f.id}.{ext}" for f in e.figures for ext in ("png", "pdf")
    ]


def data_targets(wildcards):
    """The tables and figures of the experiments that need a data node, when it is available."""
    return [
        t for e in EXPERIMENTS if e.needs and runnable(e) for t in experiment_targets(e)
    ]


def claims_inputs(wildcards):
    """The tables an experiment's claims read; only the manifest when a data node it needs is unavailable."""
    e = registry.experiment(wildcards.exp)
    if runnable(e):
        return {name: e.table(name) for name in e.claims_reads}
    return {"manifest": MANIFEST}


def not_run(wildcards):
    """Why an experiment's tables are missing (its claims are then marked not run); empty when they are not."""
    if runnable(registry.experiment(wildcards.exp)):
        return ""
    return f"MNIST unavailable: {mnist_manifest()['error']}"


def figure_plot(fig):
    """A figure's own plot settings (z3_a -> zhang2021.z3.plot.a)."""
    e, f = FIGURES[fig]
    plot = cfg(e.id)["plot"]
    return plot[f.panel] if f.panel else plot


def all_targets():
    """Every experiment's tables and figures (those needing a data node through data_targets), and the claims."""
    targets = [t for e in EXPERIMENTS if not e.needs for t in experiment_targets(e)]
    return targets + ["results/claims.parquet", "results/claims.md"]
