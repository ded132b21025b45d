"""Every experiment of ltpipe, declared once: its study, tables, figures (with captions), claims and
entry points.

The workflow (``workflow/rules/common.smk``) derives from this registry its
targets, table paths, the parts each gathered table is concatenated from,
figure inputs, report captions and wildcard constraints; the ``ltpipe``
command adds each experiment's entry points to its subcommands; the tests
check that the registry, the configs, the schema, the figure and claim
functions and the captions agree. Adding an experiment that reuses an engine
means: its module under ``ltpipe/studies/<study>/``, its config sections and
schema, one :class:`Experiment` below, a test and the README.

This module imports neither torch nor matplotlib (Snakemake imports it to
build the DAG), and no job imports it, so editing it reruns no job.

Conventions an entry relies on (and the tests check):

- table ``NAME`` of experiment ``EXP`` of study ``STUDY`` is
  ``results/STUDY/EXP/NAME.parquet``;
- figure ``FIG`` is drawn by ``fig_FIG`` in ``ltpipe.studies.STUDY.figures``
  from its plot settings ``STUDY.EXP.plot`` (or ``STUDY.EXP.plot.PANEL`` for a
  figure ``EXP_PANEL``);
- experiment ``EXP``'s claims are computed by ``claims_EXP`` in
  ``ltpipe.studies.STUDY.claims`` with the thresholds ``STUDY.EXP.claims``;
  every claim id it writes is ``BASE`` or ``BASE[qualifier]`` with ``BASE``
  declared in :attr:`Experiment.claims`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "EXPERIMENTS",
    "STUDIES",
    "Experiment",
    "Figure",
    "by_engine",
    "commands",
    "experiment",
    "figures",
    "module_files",
]

# The papers, by study key (the top-level config sections).
STUDIES: dict[str, str] = {
    "zhang2021": "Zhang et al., Why Lottery Ticket Wins? A Theoretical Perspective of Sample Complexity on "
    "Sparse Neural Networks (NeurIPS 2021)",
    "pensia2020": "Pensia et al., Optimal Lottery Tickets via SubsetSum: Logarithmic Over-Parameterization "
    "is Sufficient (NeurIPS 2020)",
    "malach2020": "Malach et al., Proving the Lottery Ticket Hypothesis: Pruning is All You Need (ICML 2020)",
}


@dataclass(frozen=True)
class Figure:
    """One figure: ``id`` (``EXP`` or ``EXP_PANEL``), the experiment tables it reads, its report caption."""

    id: str
    tables: tuple[str, ...]
    caption: str

    @property
    def panel(self) -> str | None:
        """The key under ``plot`` holding this figure's settings (None: ``plot`` itself)."""
        return self.id.partition("_")[2] or None


@dataclass(frozen=True)
class Experiment:
    """One experiment.

    ``engine`` names the rules that compute it (``workflow/rules``): ``agd``
    (one trials job per r, Z2-Z5), ``imp-teacher``, ``imp-mnist``, ``pl``,
    ``ps``, ``edgepopup`` (one job per network and variant, PE), ``construct`` (PC and MW, whose tables
    one job writes for both: the same random networks pruned by both rules), ``mn``. ``gathered``
    are the tables concatenated from per-job parts;
    ``claim_tables`` the tables the claims read (default: all); ``needs`` the
    data nodes it reads (``mnist``); ``commands`` its ``ltpipe`` subcommands as
    ``{name: "module:function"}``.
    """

    id: str
    study: str
    title: str
    engine: str
    tables: tuple[str, ...]
    figures: tuple[Figure, ...]
    claims: tuple[str, ...]
    commands: dict[str, str] = field(default_factory=dict)
    gathered: tuple[str, ...] = ()
    claim_tables: tuple[str, ...] | None = None
    needs: tuple[str, ...] = ()

    def table(self, name: str) -> str:
        """The path of one of its tables, relative to the workflow's directory."""
        if name not in self.tables:
            raise KeyError(f"{self.id} has no table {name!r} (tables: {', '.join(self.tables)})")
        return f"results/{self.study}/{self.id}/{name}.parquet"

    @property
    def claims_reads(self) -> tuple[str, ...]:
        return self.tables if self.claim_tables is None else self.claim_tables


_AGD_TRIALS = "ltpipe.studies.zhang2021.trials:trials_main"
_SUCCESS = "success = relative error ||W - W~*||_F / ||W~*||_F below 1e-4 (Sec. 5)"
_CAPPED = "hatched cells: most trials stopped at max_iter, so the budget, not the landscape, decided them."

EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(
        id="z2",
        study="zhang2021",
        title="local convex region: success over (sqrt r, initial distance lambda)",
        engine="agd",
        tables=("trials",),
        gathered=("trials",),
        figures=(
            Figure(
                "z2",
                ("trials",),
                "Zhang et al. 2021, Fig. 2: the local convex region. Paper: the success rate of AGD from an "
                "initialisation at relative distance lambda from the ground truth, over lambda and sqrt r (K = 5, "
                "d = 500, N = 3000, 100 tests per cell); the radius of the region where it succeeds is linear in "
                "-sqrt r (Theorem 1), so it grows as the network is pruned. Ours: success rate of AGD from a ball "
                "initialisation at relative distance lambda (y) for each support size r (x: sqrt r); black = every "
                "trial fails, white = every trial "
                f"succeeds ({_SUCCESS}). Red: the largest lambda with success rate >= 0.5 per r (the radius of the "
                f"local convex region). One panel per step size eta; {_CAPPED}",
            ),
        ),
        claims=("z2.boundary_visible", "z2.radius_decreases", "z2.radius_linear", "z2.budget"),
        commands={"zhang2021-trials": _AGD_TRIALS},
    ),
    Experiment(
        id="z3",
        study="zhang2021",
        title="linear convergence and its rate, GD against AGD",
        engine="agd",
        tables=("trials", "curves", "rates"),
        gathered=("trials", "curves"),
        figures=(
            Figure(
                "z3_a",
                ("curves",),
                "Zhang et al. 2021, Fig. 3a: linear convergence. Paper: the relative error falls exponentially with "
                "the iterations, so Algorithm 1 converges linearly (N = 3000, d = 300, K = 5, eta = 0.5, "
                "beta = 0.2). Ours: relative error ||W - W~*||_F / ||W~*||_F against the iteration, one "
                "colour per r: thin lines are single trials, the thick line their median while every trial still "
                "runs. A straight line on this log scale is linear convergence.",
            ),
            Figure(
                "z3_b",
                ("rates",),
                "Zhang et al. 2021, Fig. 3b: the convergence rate. Paper: the rate nu is almost linear in sqrt r "
                "(Theorem 2), and AGD (beta = 0.2) has a smaller rate than GD (beta = 0), so it converges faster. "
                "Ours: convergence rate nu (per-iteration contraction, exp of the slope of "
                "log error over the linear part of each curve) against sqrt r, GD (beta = 0) and AGD; mean and "
                "standard deviation over trials.",
            ),
        ),
        claims=("z3.log_linear", "z3.rate_increases", "z3.rate_linear", "z3.agd_faster", "z3.budget"),
        claim_tables=("trials", "rates"),
        commands={"zhang2021-trials": _AGD_TRIALS, "zhang2021-rates": "ltpipe.studies.zhang2021.trials:rates_main"},
    ),
    Experiment(
        id="z4",
        study="zhang2021",
        title="sample complexity: success over (r, N)",
        engine="agd",
        tables=("trials",),
        gathered=("trials",),
        figures=(
            Figure(
                "z4",
                ("trials",),
                "Zhang et al. 2021, Fig. 4: sample complexity. Paper: the phase transition of success over r and N "
                "at d = 100 (100 runs per N): the number of samples needed is linear in r (eq. 8). Ours: success "
                f"rate over support size r (x) and number of samples N (y) ({_SUCCESS}); red: the smallest N with "
                "success rate >= 0.5 per r among the trials that "
                f"converged or succeeded (a trial capped short of success is the budget's verdict, not N's). One "
                f"panel per step size eta; {_CAPPED}",
            ),
        ),
        claims=("z4.transition_visible", "z4.n_needed_increases", "z4.n_needed_linear", "z4.budget"),
        commands={"zhang2021-trials": _AGD_TRIALS},
    ),
    Experiment(
        id="z5",
        study="zhang2021",
        title="noisy measurements: final error against sqrt r per noise level",
        engine="agd",
        tables=("trials",),
        gathered=("trials",),
        figures=(
            Figure(
                "z5",
                ("trials",),
                "Zhang et al. 2021, Fig. 5: noisy measurements. Paper: at N = 1000, K = 10, d = 300 the relative "
                "error of the learned model is linear in sqrt r (eq. 9) and proportional to the noise level. Ours: "
                "final relative error against sqrt r for each noise level sigma / E_y; "
                "median and interquartile range over the trials that converged, one panel per step size eta. "
                "Grey dotted: the median distance the stop rule leaves to the limit (rel_change q / (1 - q)), "
                "which must lie well below the curves. Open markers: points where most trials stopped at "
                "max_iter (their error is the budget's).",
            ),
        ),
        claims=(
            "z5.error_increases",
            "z5.error_linear",
            "z5.error_proportional_to_noise",
            "z5.floor_below_error",
            "z5.budget",
        ),
        commands={"zhang2021-trials": _AGD_TRIALS},
    ),
    Experiment(
        id="zt",
        study="zhang2021",
        title="Algorithm 1's tensor initialisation, and AGD from it",
        engine="agd",
        tables=("trials",),
        gathered=("trials",),
        figures=(
            Figure(
                "zt",
                ("trials",),
                "Zhang et al. 2021, Algorithm 1's tensor initialisation, not a figure of the paper: W(0) by the "
                "method of moments, and AGD from it. Paper: Algorithm 1 starts AGD from a tensor initialisation "
                "that, with enough samples, lies in the local convex region (Lemma 1); its experiments start from a "
                "ball around the ground truth instead. Ours: W(0) by Zhong et al. 2017's method of moments on "
                "the pooled input x^ = K^(-1/2) sum_j x_Omega_j (the fourth moment in place of the third, which "
                "vanishes for ReLU). (a) relative error of W(0) against the number of samples N, one colour per r "
                "(median and interquartile range over trials); dashed: the part of it that comes from estimating "
                "the moments (distance to the same method run on the exact moments), dotted: N^(-1/2). (b) success "
                f"rate of AGD from the tensor start (solid) and from a ball at the same relative distance on the "
                f"same trials (dashed); {_SUCCESS}.",
            ),
        ),
        claims=("zt.error_rate", "zt.succeeds", "zt.no_worse_than_ball", "zt.budget"),
        commands={"zhang2021-trials": _AGD_TRIALS},
    ),
    Experiment(
        id="z6",
        study="zhang2021",
        title="IMP with AGD on the sparse teacher",
        engine="imp-teacher",
        tables=("rounds",),
        gathered=("rounds",),
        figures=(
            Figure(
                "z6",
                ("rounds",),
                "Zhang et al. 2021, Fig. 6: IMP on the synthetic sparse teacher. Paper: with K = 5, d = 100, "
                "r/d = 20% and noise 1e-3, for N above 100 the test error falls as pruning proceeds and falls with N "
                "at any sparsity; pruned below the teacher's 20% it is large for every N, and at N = 100 it is "
                "always large (too few samples). Ours: iterative magnitude pruning of a dense student trained by "
                "AGD on the sparse teacher (r* inputs per neuron): test error (MSE) against the percentage of "
                "first-layer "
                "weights left (x reversed, log), one line per number of samples N; median and interquartile "
                "range over trials, one panel per step size eta. The dotted line marks r*/d; open markers: "
                "rounds where most trials stopped at max_iter.",
            ),
        ),
        claims=("z6.falls", "z6.rises", "z6.larger_n_lower", "z6.smallest_n_high", "z6.budget"),
        commands={"zhang2021-z6": "ltpipe.studies.zhang2021.z6:z6_main"},
    ),
    Experiment(
        id="z7",
        study="zhang2021",
        title="IMP on MNIST with the Frankle & Carbin controls",
        engine="imp-mnist",
        tables=("rounds", "epochs"),
        gathered=("rounds", "epochs"),
        figures=(
            Figure(
                "z7",
                ("rounds",),
                "Zhang et al. 2021, Fig. 7: IMP on MNIST. Paper: LeNet5 pruned by IMP at 20% per round, N = 10,000 "
                "to 40,000: the test accuracy first rises as the network is properly pruned (e.g. N = 20,000) and "
                "drops when it is overly pruned, less clearly than on synthetic data. Ours: iterative magnitude "
                "pruning on MNIST: test accuracy at the end of each "
                "round (nothing selected on the test set) against the percentage of weights left (x reversed, "
                "log), one line per training size N, mean over trials with a band of +- one standard error; the "
                "Frankle & Carbin controls (random pruning; IMP's masks from a fresh initialisation), where run, "
                "dashed. One panel per architecture.",
            ),
        ),
        claims=(
            "z7.rises",
            "z7.rises_at_best_val",
            "z7.drops",
            "z7.larger_n_higher",
            "z7.beats_random",
            "z7.beats_reinit",
        ),
        claim_tables=("rounds",),
        commands={"zhang2021-z7": "ltpipe.studies.zhang2021.z7:z7_main"},
        needs=("mnist",),
    ),
    Experiment(
        id="ps",
        study="pensia2020",
        title="a trained network's weights as exact subset sums (Experiment 1)",
        engine="ps",
        tables=("weights", "summary"),
        figures=(
            Figure(
                "ps",
                ("weights", "summary"),
                "Pensia et al. 2020, Experiment 1: a trained network's weights as subset sums. Paper: in the text "
                "(no figure), every weight of a two-layer, 500 hidden unit MNIST network with 97.19% test accuracy "
                "is approximated by an exact subset sum (a MIP solver) of n = C log2(1/eps) = 21 random "
                "coefficients (eps = 0.01, C = 3): most weights have an error well below 0.01 and the approximated "
                "network keeps the 97.19%. Ours: fraction of the weights of the bias-free 784-500-10 target whose "
                "error |w - subset sum| is at least x, against x (log-log), each weight approximated from its own "
                "n = C round(log2(1/eps)) random coefficients by the exact optimal subset (solid) and by the sparsest "
                "subset within eps (dashed); one colour per coefficient range, U[min w, max w] as in the paper "
                "(target) and U[-max |w|, max |w|] (symmetric), drawn from the same uniform variates; the legend "
                "gives each range and how many weights miss eps, the dotted line marks eps.",
            ),
        ),
        claims=("ps.within_eps", "ps.max_error", "ps.accuracy"),
        claim_tables=("summary",),
        commands={
            "pensia2020-ps-target": "ltpipe.studies.pensia2020.ps:target_main",
            "pensia2020-ps-solve": "ltpipe.studies.pensia2020.ps:solve_main",
        },
        needs=("mnist",),
    ),
    Experiment(
        id="pe",
        study="pensia2020",
        title="edge-popup on random networks: Fig. 1c's structure against a wide network (Experiment 2)",
        engine="edgepopup",
        tables=("runs", "selected"),
        gathered=("runs",),
        figures=(
            Figure(
                "pe",
                ("selected",),
                "Pensia et al. 2020, Experiment 2 (Fig. 2a-c): edge-popup on random networks. Paper: Fig. 1c's "
                "structure (5 (a, b) pairs per weight), with and without an extra ReLU, pruned by edge-popup inside "
                "two- and four-layer fully connected networks and LeNet5, against the trained baselines and wide "
                "random networks of about the same number of weights (best test accuracy over 10 to 100 epochs): "
                "the extra ReLU does worse when few parameters are kept, and the architecture matters. Ours: MNIST "
                "test accuracy against the number of weights kept (log x), one panel per network (fc2, fc4: two- "
                "and four-layer fully connected; lenet5: LeNet5 with random frozen convolutions); colours: Fig. "
                "1c's structure (r (a, b) pairs per weight) without and with its extra ReLU, and a plain random "
                "network widened to about "
                "the same number of weights. Solid: the epoch budget chosen on a validation split (mean +- one "
                "standard error over trials); dashed: the paper's best test accuracy over the budgets. Star and "
                "dotted line: the dense network trained normally.",
            ),
        ),
        claims=("pe.relu_hurts_small", "pe.structure_matches_wide", "pe.approaches_baseline", "pe.near_baseline"),
        claim_tables=("selected",),
        commands={
            "pensia2020-pe": "ltpipe.studies.pensia2020.pe:pe_main",
            "pensia2020-pe-select": "ltpipe.studies.pensia2020.pe:select_main",
        },
        needs=("mnist",),
    ),
    Experiment(
        id="pl",
        study="pensia2020",
        title="random subset sum: n = O(log 1/eps) coefficients suffice (Lueker; Theorem 3)",
        engine="pl",
        tables=("trials", "needed"),
        figures=(
            Figure(
                "pl_a",
                ("trials",),
                "Pensia et al. 2020 (Lueker's theorem, Theorem 3 / Corollary 2): random subset sum. Paper: "
                "n >= C log(2 / min(eps, delta)) coefficients uniform on [-1, 1] approximate every target in "
                "[-0.5, 0.5] within eps with probability 1 - delta, the basis of its constructions (no figure). "
                "Ours: the supremum over every target z "
                "in [-0.5, 0.5] of the optimal subset-sum error, computed exactly (half the largest gap between "
                "consecutive subset sums, or an end's distance to its nearest sum), against the number n of random "
                "coefficients, per distribution (U[-1, 1], the product X Y of Lemma 4, N(0, 1)); median and "
                "interquartile range over trials. A straight line on the log scale is an error exponentially small "
                "in n.",
            ),
            Figure(
                "pl_b",
                ("needed",),
                "Pensia et al. 2020: the number of coefficients needed for eps. Paper: by Theorem 3, "
                "n = O(log(1/eps)) random coefficients suffice (no figure). Ours: "
                "the smallest n whose supremum error over the target interval is below eps "
                "with the stated probability, against log10(1/eps). A straight line is n = O(log(1/eps)).",
            ),
        ),
        claims=("pl.reached", "pl.increases", "pl.linear"),
        claim_tables=("needed",),
        commands={
            "pensia2020-pl-trials": "ltpipe.studies.pensia2020.pl:pl_trials_main",
            "pensia2020-pl-needed": "ltpipe.studies.pensia2020.pl:pl_needed_main",
        },
    ),
    Experiment(
        id="pc",
        study="pensia2020",
        title="the subset-sum construction (Lemma 1-3, Theorem 1) against Malach et al.'s, as real pruned networks",
        engine="construct",
        tables=("single", "network", "ps"),
        needs=("mnist",),
        figures=(
            Figure(
                "pc_mw",
                ("single", "network", "ps"),
                "Pensia et al. 2020 (Lemma 1-3, Theorem 1) against Malach et al. 2020 (Theorem 2.1): target networks "
                "found inside random ones by binary masks only. Paper: Pensia et al. prove that a random network "
                "O(log(d l / eps)) times wider and twice as deep contains a subnetwork within eps of any target of "
                "width d and depth l (each weight a subset sum of O(log(1/eps)) random products, Lemma 1), an "
                "exponential improvement on Malach et al.'s polynomial width; neither paper draws it. Ours: (a) One "
                "weight (Lemma 1): the exact sup over |x| <= 1 "
                "and over targets w on a grid in [-1, 1] of |w x - g(x)|, median and interquartile range over "
                "trials, against the random weights of g (log-log). The subset-sum construction's error falls "
                "exponentially in the width (a curve bending down), the single-product construction's like a power "
                "of it (a straight line). (b) Random ReLU targets of depth 2 and 4 (spectral norm 1 per layer): sup "
                "over the unit ball of ||f(x) - g(x)|| (sampled and gradient-searched, a lower bound) against the "
                "random 2l-layer network's parameters, both rules on the same random networks. (c) The trained PS "
                "target: test accuracy of the pruned network against the random network's parameters; the line is "
                "the target's accuracy.",
            ),
        ),
        claims=("pc.exponential", "pc.beats_power", "pc.width_log", "pc.fewer_weights", "pc.ps_accuracy"),
        commands={
            "pensia2020-pc-construct": "ltpipe.studies.pensia2020.pc:construct_main",
            "pensia2020-pc-ps": "ltpipe.studies.pensia2020.pc:construct_ps_main",
        },
    ),
    Experiment(
        id="mw",
        study="malach2020",
        title="weight-subnetworks by one random product per weight (Theorem 2.1), built beside PC",
        engine="construct",
        tables=("single", "network", "ps"),
        needs=("mnist",),
        figures=(
            Figure(
                "mw",
                ("single", "network"),
                "Malach et al. 2020 (Theorem 2.1, Lemma A.1): weight-subnetworks. Paper: a random network of depth "
                "2l and width polynomial in d, l and 1/eps contains, with high probability, a subnetwork within eps "
                "of any target of depth l with bounded weights, each weight one random product (the paper has no "
                "experiments). Ours: each target weight approximated by the one product of "
                "random weights closest to it (with w x = w relu(x) - w relu(-x) for the sign), on the random "
                "networks of PC. (a) One weight: the exact sup error over |x| <= 1 and a grid of targets in [-1, 1] "
                "against the width factor n (log-log); (b) random targets of depth 2 and 4: the sup over the unit "
                "ball. Dashed: the least-squares power law, its exponent in the legend. A straight line is an error "
                "polynomial in the width, so a width polynomial in 1/eps.",
            ),
        ),
        claims=("mw.power", "mw.beats_exponential", "mw.width_poly", "mw.ps_accuracy"),
    ),
    Experiment(
        id="mn",
        study="malach2020",
        title="neuron-subnetworks (Remark 3.5) against random features (Theorem 3.2, 3.3)",
        engine="mn",
        tables=("trials",),
        needs=("mnist",),
        figures=(
            Figure(
                "mn",
                ("trials",),
                "Malach et al. 2020 (Theorem 3.2, Theorem 3.3, Remark 3.5): neuron-subnetworks. Paper: pruning "
                "whole neurons of a random two-layer network is as expressive as the random-features model "
                "(Theorem 3.2), so unlike weight pruning it cannot approximate a single ReLU neuron efficiently as "
                "d grows, but it fits finite datasets (Theorem 3.3) by the algorithm of Remark 3.5 (no "
                "experiments). Ours: pruning whole neurons of a random "
                "two-layer network of width k m (m blocks of k; a neuron kept when its random second-layer weight "
                "is within delta of its block's fitted readout; the blocks averaged) against the random-features "
                "model of k features fitted by least squares. (a) A single ReLU neuron relu(<w*, x>), x ~ N(0, I_d): "
                "relative test error against d at fixed k and m, with weight pruning of the same neuron (PC and MW, "
                "widths growing with d as their theorems prescribe). (b, c) Two MNIST digits as a finite dataset "
                "(unit-norm images, +1 / -1 targets): relative training error and test accuracy against k. Median "
                "and interquartile range over trials.",
            ),
        ),
        claims=("mn.tracks", "mn.degrades", "mn.weight_pruning_holds"),
        commands={"malach2020-mn": "ltpipe.studies.malach2020.mn:mn_main"},
    ),
)


def experiment(exp_id: str) -> Experiment:
    """The experiment ``exp_id``; a KeyError names the known ones."""
    for exp in EXPERIMENTS:
        if exp.id == exp_id:
            return exp
    raise KeyError(f"unknown experiment {exp_id!r}; known: {', '.join(e.id for e in EXPERIMENTS)}")


def by_engine(engine: str) -> list[Experiment]:
    """The experiments computed by the rules of ``engine``."""
    return [e for e in EXPERIMENTS if e.engine == engine]


def figures() -> list[tuple[Experiment, Figure]]:
    """Every figure with its experiment, in registry order."""
    return [(e, f) for e in EXPERIMENTS for f in e.figures]


def commands() -> dict[str, str]:
    """Every experiment's ``ltpipe`` subcommands, ``{name: "module:function"}``."""
    out: dict[str, str] = {}
    for e in EXPERIMENTS:
        for name, target in e.commands.items():
            if out.setdefault(name, target) != target:
                raise ValueError(f"subcommand {name!r} is declared twice with different targets")
    return out


_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(ltpipe(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[\w \t,]+)|import[ \t]+(ltpipe(?:\.\w+)+))",
    re.M,
)


def _module_file(package_root: Path, dotted: str) -> Path | None:
    """The source file of module ``ltpipe.<dotted>`` (a package's ``__init__.py``), or None."""
    base = package_root.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_files(package_root: str | Path, *modules: str) -> list[str]:
    """The source files of ``modules`` (dotted, relative to the package: ``"studies.zhang2021.z6"``) and of
    every ltpipe module they import, directly or not, including the ``__init__.py`` of each package on the way.

    A rule lists these as inputs, so that editing a module reruns exactly the jobs that run it. Imports
    are read from the source text: ``from ltpipe.a.b import c`` adds ``a/b.py`` and, when ``c`` is a
    module, ``a/b/c.py``; ``import ltpipe.a.b`` adds ``a/b.py``.
    """
    root = Path(package_root)
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        dotted = todo.pop()
        path = _module_file(root, dotted)
        if path is None:
            raise FileNotFoundError(f"no module ltpipe.{dotted} under {root}")
        if path in seen:
            continue
        seen.add(path)
        parts = dotted.split(".")
        for i in range(len(parts)):  # the packages it lives in
            seen.add(root.joinpath(*parts[:i], "__init__.py"))
        for source, names, plain in _IMPORT.findall(path.read_text()):
            module = (source or plain).split(".", 1)[1] if "." in (source or plain) else ""
            if module:
                todo.append(module)
            for name in (n.strip() for n in names.strip("()").split(",")) if source else ():
                sub = f"{module}.{name}" if module else name
                if name and _module_file(root, sub) is not None:
                    todo.append(sub)
    return sorted(str(p) for p in seen if p.is_file())
