"""What the AGD experiments of Zhang et al. 2021 (Z2-Z5, ZT) declare alike: one trials job per r, run by
:mod:`ltpipe.studies.zhang2021.trials` (the ``agd`` rules), and the same config checks. Torch-free: the
declarations import it."""

from __future__ import annotations

from typing import Any

__all__ = ["TRIALS", "check", "per_r"]

TRIALS = {"agd-trials": "ltpipe.studies.zhang2021.trials:trials_main"}


def per_r(section: dict[str, Any]) -> list[str]:
    """The parts of a gathered table: one per r, in the section's order."""
    return [f"r{r}" for r in section["r"]]


def check(section: dict[str, Any]) -> list[str]:
    """A tensor initialisation needs r >= k (it estimates a k-dimensional subspace of R^r); a ball its lam; a
    budget per step size one for every step size."""
    inits = section.get("init", "ball")
    inits = inits if isinstance(inits, list) else [inits]
    problems = []
    if {"tensor", "matched"} & set(inits):
        small = [r for r in section.get("r", []) if isinstance(r, int) and r < section.get("k", 0)]
        if small:
            problems.append(f"r: {small} below k = {section['k']}; the tensor initialisation needs r >= k")
    if "ball" in inits and "lam" not in section:
        problems.append("lam: init ball needs lam (the ball's distance from W~*)")
    cap, etas = section.get("max_iter"), section.get("eta", [])
    if isinstance(cap, dict):
        etas = etas if isinstance(etas, list) else [etas]
        missing = [e for e in etas if not any(float(k) == float(e) for k in cap)]
        if missing:
            problems.append(f"max_iter: no budget for eta = {missing} (give one per step size, or one number)")
    return problems
