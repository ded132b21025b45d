"""Z2's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure
from ltpipe.studies.zhang2021 import agd_experiments as agd

EXPERIMENT = Experiment(
    id="z2",
    study="zhang2021",
    title="local convex region: success over (sqrt r, initial distance lambda)",
    rules="agd",
    tables=("trials", "radius"),
    gathered=("trials",),
    parts=agd.per_r,
    figures=(Figure("z2", ("trials", "radius")),),
    claims=("z2.radius_decreases", "z2.radius_linear", "z2.budget"),
    commands={**agd.TRIALS, "z2-radius": "ltpipe.studies.zhang2021.z2.radius:radius_main"},
    check=agd.check,
)
