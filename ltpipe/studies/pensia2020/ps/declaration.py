"""PS's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure

EXPERIMENT = Experiment(
    id="ps",
    study="pensia2020",
    title="a trained network's weights as exact subset sums (Experiment 1)",
    rules="subsetsum",
    tables=("weights", "summary"),
    figures=(Figure("ps", ("weights", "summary")),),
    claims=("ps.within_eps", "ps.max_error", "ps.accuracy"),
    claim_tables=("summary",),
    commands={
        "ps-target": "ltpipe.studies.pensia2020.ps.job:target_main",
        "ps-solve": "ltpipe.studies.pensia2020.ps.job:solve_main",
    },
    needs=("mnist",),
)
