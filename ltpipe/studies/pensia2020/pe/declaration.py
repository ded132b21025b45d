"""PE's declaration (torch-free: the workflow reads it to build the DAG)."""

from typing import Any

from ltpipe.registry import Experiment, Figure


def check(section: dict[str, Any]) -> list[str]:
    """Every network the section lists has its keeps, learning rate, epoch budgets and baseline's budget."""
    return [
        f"{key}: no value for network {network} (pensia2020.pe.networks lists it)"
        for key in ("keep", "lr", "epochs", "baseline_epochs")
        for network in section["networks"]
        if network not in section[key]
    ]


EXPERIMENT = Experiment(
    id="pe",
    study="pensia2020",
    title="edge-popup on random networks: Fig. 1c's structure against a wide network (Experiment 2)",
    rules="edgepopup",
    tables=("runs", "selected"),
    gathered=("runs",),
    parts=lambda section: [f"{n}/{v}" for n in section["networks"] for v in section["variants"]],
    figures=(Figure("pe", ("selected", "runs")),),
    claims=(
        "pe.relu_hurts_small",
        "pe.wide_ahead_small",
        "pe.structure_ahead_high",
        "pe.collapses_near_one",
        "pe.approaches_baseline",
        "pe.near_baseline",
    ),
    claim_tables=("selected", "runs"),
    commands={
        "pe": "ltpipe.studies.pensia2020.pe.job:pe_main",
        "pe-select": "ltpipe.studies.pensia2020.pe.job:select_main",
    },
    needs=("mnist",),
    check=check,
)
