"""MN's declaration (torch-free: the workflow reads it to build the DAG)."""

import math
from typing import Any

from ltpipe.registry import Experiment, Figure


def check(section: dict[str, Any]) -> list[str]:
    """Weight pruning of the single neuron stays within the exact subset sum's 48 products per weight; the
    sweep of k takes its features from the k m of the random network."""
    neuron = section["neuron"]
    wp = neuron["weight_pruning"]
    big = [d for d in neuron["d"] if math.ceil(wp["pc_c"] * math.log2(max(d, 2) / wp["eps"])) > 48]
    problems = []
    if big:
        problems.append(
            f"neuron.weight_pruning: at d = {big} PC's n = ceil(pc_c log2(d / eps)) exceeds 48 products per "
            "weight (the exact subset sum's limit); lower pc_c or raise eps"
        )
    if max(neuron["k_sweep"]) > neuron["k"] * neuron["m"]:
        problems.append(
            f"neuron.k_sweep: {max(neuron['k_sweep'])} features, more than the random network's k m = "
            f"{neuron['k'] * neuron['m']}"
        )
    return problems


EXPERIMENT = Experiment(
    id="mn",
    study="malach2020",
    title="neuron-subnetworks (Remark 3.5) against random features (Theorem 3.2, 3.3)",
    rules="construct",
    tables=("trials",),
    figures=(Figure("mn", ("trials",)),),
    claims=(
        "mn.tracks",
        "mn.degrades",
        "mn.weight_pruning_holds",
        "mn.full_bounds",
        "mn.k_grows",
        "mn.k_exponential",
    ),
    commands={"mn": "ltpipe.studies.malach2020.mn.job:mn_main"},
    needs=("mnist",),
    check=check,
)
