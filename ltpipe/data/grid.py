"""The grid of an experiment section: problem axes, method axes and trial seeds.

In a zhang2021 section ``r`` is always a list (one job per r). Any of
``lam``, ``n_samples``, ``noise_level`` given as a list is a *problem* axis:
each grid point gets its own teachers, data and initialisations, as in the
paper. ``beta``, ``eta`` or ``init`` given as a list is a *method* axis: every
method value runs on the same problems, so GD and AGD are compared pairwise
(Z3), and so are the initialisations (ZT).
A trial's seed derives from (base seed, study, experiment id, r,
problem-axis values, trial index) only.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

__all__ = [
    "CURVE_KEYS",
    "METHOD_AXES",
    "PROBLEM_AXES",
    "job_args",
    "problem_axes",
    "teacher_section",
    "trial_specs",
    "values",
]

PROBLEM_AXES = ("lam", "n_samples", "noise_level")
METHOD_AXES = ("eta", "beta", "init")
DEFAULTS: dict[str, Any] = {"noise_level": 0.0, "init": "ball"}
# identity columns of an error curve (one trial under one method), in sort order
CURVE_KEYS = ("r", *METHOD_AXES, *PROBLEM_AXES, "trial", "seed")


def values(cfg: dict[str, Any], key: str) -> list[Any]:
    """The values of ``key`` in a section as a list (a scalar is one value)."""
    value = cfg.get(key, DEFAULTS.get(key))
    return list(value) if isinstance(value, list) else [value]


def problem_axes(cfg: dict[str, Any]) -> list[str]:
    """The problem axes of a section: those of PROBLEM_AXES given as lists."""
    return [k for k in PROBLEM_AXES if isinstance(cfg.get(k), list)]


def teacher_section(cfg: dict[str, Any]) -> dict[str, Any]:
    """The keys of a section that the teachers depend on (so editing eta keeps them)."""
    return {k: cfg[k] for k in ("k", "d", "trials", *problem_axes(cfg))}


def trial_specs(study: str, exp: str, cfg: dict[str, Any], r: int, base_seed: int) -> list[dict[str, Any]]:
    """One spec per (problem grid point, trial) at this r, with its derived seed."""
    from ltpipe.seeds import derive_seed  # here: the workflow's process imports this module without numpy

    axes = problem_axes(cfg)
    specs = []
    for point in itertools.product(*(values(cfg, a) for a in axes)):
        for trial in range(int(cfg["trials"])):
            seed = derive_seed(base_seed, study, exp, int(r), *point, trial)
            spec = {"r": int(r), "r_star": int(r), **dict(zip(axes, point, strict=True)), "trial": trial, "seed": seed}
            specs.append(spec)
    return specs


def job_args(parser: argparse.ArgumentParser) -> None:
    """The arguments naming one (experiment, r) job of a study (beside :func:`ltpipe.config.job_parser`'s)."""
    parser.add_argument("--study", default="zhang2021")
    parser.add_argument("--exp", required=True, help="experiment id, e.g. z3")
    parser.add_argument("--seed", type=int, required=True, help="the config's base seed")
    parser.add_argument("--r", type=int, required=True, help="the grid point r of this job")
