"""Z6's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure

EXPERIMENT = Experiment(
    id="z6",
    study="zhang2021",
    title="IMP with AGD on the sparse teacher",
    rules="imp",
    tables=("rounds",),
    gathered=("rounds",),
    parts=lambda section: [f"N{n}" for n in section["n_samples"]],
    figures=(Figure("z6", ("rounds",)),),
    claims=("z6.falls", "z6.rises", "z6.larger_n_lower", "z6.smallest_n_high", "z6.budget"),
    commands={"z6": "ltpipe.studies.zhang2021.z6.job:z6_main"},
)
