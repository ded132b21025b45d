"""Sparse one-hidden-layer teachers, Gaussian data and ball initialisation.

The model of Zhang et al. 2021, Sec. 2 and Sec. 5: input x ~ N(0, I_d); the
teacher has K ReLU neurons, neuron j sees the r* inputs Omega*_j and
y = (1/K) sum_j relu(w*_j . x_{Omega*_j}) + xi (eq. 1). The student neuron j
sees Omega_j ⊇ Omega*_j with |Omega_j| = r. Weights are held densely as a
(d, K) matrix with a 0/1 support mask, which is what the batched engine
multiplies with.

Teacher table columns (one row per trial and neuron), written by
:func:`teacher_table`:

``trial``, ``seed`` (the trial's seed, from which every draw of the trial
derives), ``neuron``, ``d``, ``k``, ``r``, ``r_star``, the experiment's grid
columns, ``teacher_support`` (list of r* input indices), ``teacher_weights``
(list of r* weights, U[-0.5, 0.5]) and ``student_support`` (list of r input
indices, a superset of the teacher's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ltpipe.config import job_parser, start_job
from ltpipe.data.grid import job_args, trial_specs
from ltpipe.seeds import numpy_generator, torch_generator
from ltpipe.tables import write_table

__all__ = [
    "Problems",
    "ball_init",
    "build_problems",
    "make_teachers",
    "teacher_output",
    "teacher_table",
]

log = logging.getLogger(__name__)


def _draw_teacher(seed: int, d: int, k: int, r: int, r_star: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Supports and weights of one teacher (Sec. 5: indices without replacement, U[-0.5, 0.5])."""
    if not 1 <= r_star <= r <= d:
        raise ValueError(f"need 1 <= r_star <= r <= d, got r_star={r_star}, r={r}, d={d}")
    rng = numpy_generator(seed, "teacher")
    teacher = np.empty((k, r_star), dtype=np.int64)
    student = np.empty((k, r), dtype=np.int64)
    for j in range(k):
        perm = rng.permutation(d)
        teacher[j] = np.sort(perm[:r_star])
        student[j] = np.sort(perm[:r])
    weights = rng.uniform(-0.5, 0.5, size=(k, r_star))
    return teacher, weights, student


def teacher_table(trials: Sequence[dict], d: int, k: int) -> pd.DataFrame:
    """Draw one teacher per trial spec; each spec has ``seed``, ``r``, ``r_star``, ``trial``.

    Any further keys of a spec (grid columns such as ``lam``) are copied to the
    rows of that trial.
    """
    rows = []
    for spec in trials:
        support, weights, student = _draw_teacher(int(spec["seed"]), d, k, int(spec["r"]), int(spec["r_star"]))
        for j in range(k):
            rows.append(
                {
                    **spec,
                    "neuron": j,
                    "d": d,
                    "k": k,
                    "teacher_support": support[j].tolist(),
                    "teacher_weights": weights[j].tolist(),
                    "student_support": student[j].tolist(),
                }
            )
    return pd.DataFrame(rows)


@dataclass
class Problems:
    """A batch of B teacher-student problems with the same (N, d, K).

    X: (B, N, d) inputs; y: (B, N) labels; mask: (B, d, K) student support;
    target: (B, d, K) the teacher's weights on the student support (W~*).
    """

    X: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor

    @property
    def batch(self) -> int:
        return self.X.shape[0]


def teacher_output(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """g(x; W) = (1/K) sum_j relu(w_j . x) for dense (…, d, K) weights (eq. 1 without noise)."""
    return torch.relu(X @ W).mean(-1)


def _dense(supports: Sequence[Sequence[int]], values: Sequence[Sequence[float]] | None, d: int) -> np.ndarray:
    """(d, K) matrix with ``values`` (or ones) placed on each neuron's support."""
    out = np.zeros((d, len(supports)))
    for j, support in enumerate(supports):
        out[np.asarray(support, dtype=np.int64), j] = 1.0 if values is None else np.asarray(values[j])
    return out


def build_problems(
    teachers: pd.DataFrame,
    n_samples: int,
    noise_level: Sequence[float] | float = 0.0,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Problems:
    """Regenerate data for the trials in ``teachers`` (rows ordered by trial, neuron).

    X ~ N(0, I_d) from the trial seed's "data" stream; noise xi ~ N(0, sigma^2)
    with sigma = noise_level * E_y, E_y = sqrt(mean_n g(x_n; W*)^2) (Sec. 5),
    from its "noise" stream. Draws happen on the CPU in float64, so a seed gives
    the same data on every device; they are then cast and moved.
    """
    groups = list(teachers.groupby("seed", sort=False))
    b = len(groups)
    levels = np.broadcast_to(np.asarray(noise_level, dtype=float), (b,))
    d = int(teachers["d"].iloc[0])
    xs, ys, masks, targets = [], [], [], []
    for (seed, rows), level in zip(groups, levels, strict=True):
        rows = rows.sort_values("neuron")
        target = torch.from_numpy(_dense(rows["teacher_support"].tolist(), rows["teacher_weights"].tolist(), d))
        mask = torch.from_numpy(_dense(rows["student_support"].tolist(), None, d))
        x = torch.randn((n_samples, d), generator=torch_generator(int(seed), "data"), dtype=torch.float64)
        clean = teacher_output(x, target)
        y = clean
        if level > 0:
            energy = clean.square().mean().sqrt()
            xi = torch.randn((n_samples,), generator=torch_generator(int(seed), "noise"), dtype=torch.float64)
            y = clean + float(level) * energy * xi
        xs.append(x)
        ys.append(y)
        masks.append(mask)
        targets.append(target)

    def stack(parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(parts).to(device=device, dtype=dtype)

    return Problems(X=stack(xs), y=stack(ys), mask=stack(masks), target=stack(targets))


def ball_init(
    seeds: Sequence[int],
    target: torch.Tensor,
    mask: torch.Tensor,
    lam: Sequence[float] | float,
    distance: str = "relative",
) -> torch.Tensor:
    """W(0) = W~* + lam * s * U / ||U||_F with U Gaussian on the student support (Sec. 5).

    s = ||W~*||_F for ``distance="relative"`` (the paper's lambda), s = 1 for
    ``"absolute"`` (lam is then ||W(0) - W~*||_F itself). U comes from each
    trial seed's "init" stream.
    """
    if distance not in ("relative", "absolute"):
        raise ValueError(f"distance must be 'relative' or 'absolute', not {distance!r}")
    b, d, k = target.shape
    u = torch.stack(
        [torch.randn((d, k), generator=torch_generator(int(s), "init"), dtype=torch.float64) for s in seeds]
    ).to(device=target.device, dtype=target.dtype)
    u = u * mask
    unit = u / torch.linalg.vector_norm(u, dim=(1, 2), keepdim=True)
    lam_t = torch.as_tensor(np.broadcast_to(np.asarray(lam, dtype=float), (b,)).copy(), dtype=target.dtype)
    lam_t = lam_t.to(target.device).view(b, 1, 1)
    scale = torch.linalg.vector_norm(target, dim=(1, 2), keepdim=True) if distance == "relative" else 1.0
    return target + lam_t * scale * unit


def make_teachers(study: str, exp: str, cfg: dict[str, Any], r: int, base_seed: int) -> pd.DataFrame:
    """The teachers table of one (experiment, r) job: a DAG data node."""
    if not 1 <= int(r) <= int(cfg["d"]):
        raise ValueError(f"{study}.{exp}.r: r = {r} must lie in [1, d = {cfg['d']}]")
    return teacher_table(trial_specs(study, exp, cfg, r, base_seed), d=int(cfg["d"]), k=int(cfg["k"]))


def teachers_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe teachers: draw the sparse teachers of one (experiment, r) job."""
    parser = job_parser("ltpipe teachers", teachers_main.__doc__, "experiment")
    job_args(parser)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, _ = start_job(args)
    df = make_teachers(args.study, args.exp, cfg, args.r, args.seed)
    write_table(df, args.out, config={"seed": args.seed, "r": args.r, args.exp: cfg})
    log.info("wrote %d teachers (%d rows) to %s", df["seed"].nunique(), len(df), args.out)
