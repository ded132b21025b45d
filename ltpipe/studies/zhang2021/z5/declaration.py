"""Z5's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure
from ltpipe.studies.zhang2021 import agd_experiments as agd

EXPERIMENT = Experiment(
    id="z5",
    study="zhang2021",
    title="noisy measurements: final error against sqrt r per noise level",
    rules="agd",
    tables=("trials",),
    gathered=("trials",),
    parts=agd.per_r,
    figures=(Figure("z5", ("trials",)),),
    claims=(
        "z5.error_increases",
        "z5.error_linear",
        "z5.error_proportional_to_noise",
        "z5.floor_below_error",
        "z5.budget",
    ),
    commands=agd.TRIALS,
    check=agd.check,
)
