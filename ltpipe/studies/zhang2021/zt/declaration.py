"""ZT's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure
from ltpipe.studies.zhang2021 import agd_experiments as agd

EXPERIMENT = Experiment(
    id="zt",
    study="zhang2021",
    title="Algorithm 1's tensor initialisation, and AGD from it",
    rules="agd",
    tables=("trials",),
    gathered=("trials",),
    parts=agd.per_r,
    figures=(Figure("zt", ("trials",)),),
    claims=("zt.samples_grow", "zt.error_rate", "zt.succeeds", "zt.no_worse_than_ball", "zt.budget"),
    commands=agd.TRIALS,
    check=agd.check,
)
