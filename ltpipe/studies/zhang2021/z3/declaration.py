"""Z3's declaration (torch-free: the workflow reads it to build the DAG)."""

from ltpipe.registry import Experiment, Figure
from ltpipe.studies.zhang2021 import agd_experiments as agd

EXPERIMENT = Experiment(
    id="z3",
    study="zhang2021",
    title="linear convergence and its rate, GD against AGD",
    rules="agd",
    tables=("trials", "curves", "rates"),
    gathered=("trials", "curves"),
    parts=agd.per_r,
    figures=(Figure("z3_a", ("curves",)), Figure("z3_b", ("rates",))),
    claims=("z3.log_linear", "z3.rate_increases", "z3.rate_linear", "z3.agd_faster", "z3.budget"),
    claim_tables=("trials", "rates"),
    commands={**agd.TRIALS, "z3-rates": "ltpipe.studies.zhang2021.z3.rates:rates_main"},
    check=agd.check,
)
