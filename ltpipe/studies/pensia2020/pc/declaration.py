"""PC's declaration (torch-free: the workflow reads it to build the DAG). Its jobs also write MW's tables."""

from ltpipe.registry import Experiment, Figure

EXPERIMENT = Experiment(
    id="pc",
    study="pensia2020",
    title="the subset-sum construction (Lemma 1-3, Theorem 1) against Malach et al.'s, as real pruned networks",
    rules="construct",
    tables=("single", "network", "ps"),
    figures=(Figure("pc_mw", ("single", "network", "ps")),),
    claims=(
        "pc.exponential",
        "pc.beats_power",
        "pc.width_log",
        "pc.fewer_weights",
        "pc.ps_accuracy",
        "pc.n_grows_log_d",
    ),
    commands={
        "pc": "ltpipe.studies.pensia2020.pc.job:construct_main",
        "pc-ps": "ltpipe.studies.pensia2020.pc.job:construct_ps_main",
    },
    needs=("mnist",),
)
