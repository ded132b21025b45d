"""Z2's radius of the local convex region per (eta, r), from its trials (Zhang et al. 2021, Fig. 2, Theorem 1).

Table ``radius`` (one row per step size and r): eta, r, radius (the largest initial distance lambda whose
success rate is at least ``level`` among the settled trials, see :func:`ltpipe.analysis.radius`),
censored and bound (``exact``; ``lower`` when the region reaches beyond the lambda grid, so the radius is
at least the value given; ``upper`` when no lambda of the grid reaches the level, so the radius lies
below the value given, the grid's smallest), level, trials (per cell), settled (trials counted per r).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from ltpipe.analysis import per_eta, radius, settled
from ltpipe.config import job_parser, start_job
from ltpipe.tables import read_table, write_table

__all__ = ["radius_main", "radius_table"]

log = logging.getLogger(__name__)


def radius_table(trials: pd.DataFrame, level: float = 0.5) -> pd.DataFrame:
    """The radius per (eta, r) with its censoring, and how many trials it rests on."""
    rad = radius(trials, level)
    counts = settled(trials).groupby(["eta", "r"] if "eta" in trials else ["r"]).size().rename("settled")
    cells = trials.groupby(["eta", "r", "lam"] if "eta" in trials else ["r", "lam"]).size()
    rad = rad.join(counts, on=["eta", "r"] if "eta" in trials else ["r"])
    rad["settled"] = rad["settled"].fillna(0).astype(int)
    rad["trials"] = int(cells.max())
    rad["level"] = float(level)
    return rad


def radius_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe z2-radius: the radius of the local convex region per step size and r, from the Z2 trials."""
    parser = job_parser("ltpipe z2-radius", radius_main.__doc__, 'radius ({"level": 0.5})')
    parser.add_argument("--trials", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, _ = start_job(args)
    trials = read_table(args.trials)
    table = radius_table(trials, float(cfg.get("level", 0.5)))
    for eta, g in per_eta(table):
        log.info(
            "eta = %g: radius per r: %s",
            eta,
            ", ".join(
                f"{r}: {'>=' if b == 'lower' else '<' if b == 'upper' else ''}{v:g}"
                for r, v, b in zip(g["r"], g["radius"], g["bound"], strict=True)
            ),
        )
    write_table(table, args.out, config={"radius": cfg})
