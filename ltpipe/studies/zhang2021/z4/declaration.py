"""Z4's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure
from ltpipe.studies.zhang2021 import agd_experiments as agd

EXPERIMENT = Experiment(
    id="z4",
    study="zhang2021",
    title="sample complexity: success over (r, N)",
    rules="agd",
    tables=("trials",),
    gathered=("trials",),
    parts=agd.per_r,
    figures=(Figure("z4", ("trials",)),),
    claims=("z4.transition_visible", "z4.n_needed_increases", "z4.n_needed_linear", "z4.budget"),
    commands=agd.TRIALS,
    check=agd.check,
)
