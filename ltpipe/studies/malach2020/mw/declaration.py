"""MW's declaration (torch-free: the workflow reads it to build the DAG). PC's jobs write its tables."""

from ltpipe.registry import Experiment, Figure

EXPERIMENT = Experiment(
    id="mw",
    study="malach2020",
    title="weight-subnetworks by one random product per weight (Theorem 2.1), built beside PC",
    rules="construct",
    tables=("single", "network", "ps"),
    figures=(Figure("mw", ("single", "network")),),
    claims=("mw.power", "mw.beats_exponential", "mw.width_poly", "mw.ps_accuracy", "mw.n_grows_power_d"),
    needs=("mnist",),
)
