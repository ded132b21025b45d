"""PL's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure

EXPERIMENT = Experiment(
    id="pl",
    study="pensia2020",
    title="random subset sum: n = O(log 1/eps) coefficients suffice (Lueker; Theorem 3)",
    rules="subsetsum",
    tables=("trials", "needed"),
    figures=(Figure("pl_a", ("trials",)), Figure("pl_b", ("needed",))),
    claims=("pl.reached", "pl.increases", "pl.linear"),
    claim_tables=("needed",),
    commands={
        "pl-trials": "ltpipe.studies.pensia2020.pl.job:pl_trials_main",
        "pl-needed": "ltpipe.studies.pensia2020.pl.job:pl_needed_main",
    },
)
