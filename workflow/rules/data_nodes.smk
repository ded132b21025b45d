# What the workflow knows of its data nodes: whether MNIST (Z7, PS, PE, PC, MW, MN) can be had, as the
# mnist checkpoint found, and what follows for the targets and the claims (an experiment whose data are
# unavailable is left out and its claims are written as not run).
from ltpipe.data import mnist as mnist_data

MNIST = config["data"]["mnist"]
MNIST_ROOT = MNIST["root"] or "resources/mnist"
MANIFEST = "resources/mnist/manifest.json"
# the MNIST data node's outputs (rule mnist_fetch), the files every training job reads
MNIST_NODE = "resources/mnist/verified"
MNIST_FILES = [
    f"{MNIST_NODE}/MNIST/raw/{name}" for name in sorted(mnist_data.FILES.values())
]


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
