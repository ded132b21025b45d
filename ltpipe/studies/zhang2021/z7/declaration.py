"""Z7's declaration (torch-free: the workflow reads it to build the DAG)."""

from typing import Any

from ltpipe.registry import Experiment, Figure


def sizes(section: dict[str, Any]) -> list[int]:
    """The training sizes of Z7's jobs: IMP's, then those that only the controls run at."""
    controls = section["controls"]["n_samples"] if section["controls"]["modes"] else []
    return list(dict.fromkeys([*section["n_samples"], *controls]))


def modes(section: dict[str, Any], n: int) -> list[str]:
    """The runs of the job of one N: IMP where the grid has N, each control where the controls do."""
    out = ["imp"] if n in section["n_samples"] else []
    if n in section["controls"]["n_samples"]:
        out += section["controls"]["modes"]
    return out


EXPERIMENT = Experiment(
    id="z7",
    study="zhang2021",
    title="IMP on MNIST with the Frankle & Carbin controls",
    rules="imp",
    tables=("rounds", "epochs"),
    gathered=("rounds", "epochs"),
    parts=lambda section: [f"{arch}/N{n}" for arch in section["arch"] for n in sizes(section)],
    figures=(Figure("z7", ("rounds",)),),
    claims=(
        "z7.rises",
        "z7.rises_at_best_val",
        "z7.drops",
        "z7.larger_n_higher",
        "z7.beats_random",
        "z7.beats_reinit",
    ),
    claim_tables=("rounds",),
    commands={"z7": "ltpipe.studies.zhang2021.z7.job:z7_main"},
    needs=("mnist",),
)
