"""The trials job of Zhang et al. 2021's teacher-student AGD experiments Z2-Z5 and ZT (Sec. 5.1, Figs. 2-5).

An experiment's config section names its grid: ``r`` is always a list (one
job per r), and any of ``lam``, ``n_samples``, ``noise_level`` given as a
list is a *problem* axis (each grid point gets its own teachers, data and
initialisations, as in the paper), while ``beta`` or ``eta`` given as a list
is a *method* axis (every method value runs on the same problems, so GD and
AGD are compared pairwise in Z3). A trial's seed derives from
(base seed, "zhang2021", experiment id, r, problem-axis values, trial).

Tables (one row per trial unless said):

- ``teachers`` (see :mod:`ltpipe.data.teacher`), one row per trial and neuron.
- ``trials``: r, lam, n_samples, noise_level, eta, beta, init, trial, seed,
  k, d, init_error (||W(0) - W~*||_F / ||W~*||_F), init_margin, init_floor,
  init_estimation (tensor starts, see :func:`initial_points`; NaN
  otherwise), iterations, rel_error (||W - W~*||_F / ||W~*||_F at the stop), rel_change
  (the last relative step), success (rel_error < success_tol), diverged (a
  non-finite iterate), converged (stopped by the step tolerance ``tol``),
  stop (why it stopped: ``converged``, ``capped`` at ``max_iter``, or
  ``diverged``), max_iter (the trial's budget), window_change (for a capped
  trial, the larger relative change of its training loss and of its error
  over its last ``window`` iterations; NaN otherwise), settled (converged, or
  capped with window_change at most ``settle_tol``: more iterations would not
  change its outcome), step_ratio (q, the last step over the one before: the contraction at the
  stop), stop_floor (rel_change q / (1 - q), about how far from its limit
  the stop rule left the iterate, relative to ||W||; NaN unless 0 < q < 1),
  h_min and h_max (the extreme eigenvalues of J^T J / N at the teacher, the
  Hessian of eq. 2 there without noise: see
  :func:`ltpipe.engines.agd.curvature`; eta h_min bounds the contraction per
  iteration, eta h_max < 2 is GD's stability limit).
- ``curves`` (Z3): r, beta, trial, iteration, rel_error, one row per recorded
  iteration of each trial (iteration 0 is W(0)).

``init`` (a method axis; default ``ball``) picks W(0): ``ball`` (Sec. 5: at
relative distance ``lam`` from W~*, see :func:`ltpipe.data.teacher.ball_init`),
``tensor`` (Algorithm 1's tensor initialisation from the trial's own training
data, :func:`ltpipe.engines.tensor_init.tensor_init`; ``lam`` is not used) or
``matched`` (a ball at the relative distance the tensor initialisation reached
on the same trial: the same error without its direction, which tells what the
tensor method's direction is worth). Its settings are the section's
``tensor`` mapping (restarts, power_iters, subspace_iters, rtol; see
:func:`ltpipe.engines.tensor_init.tensor_init`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ltpipe.config import job_parser, resolve_dtype, start_job
from ltpipe.data.grid import CURVE_KEYS, METHOD_AXES, PROBLEM_AXES, job_args, values
from ltpipe.data.teacher import ball_init, build_problems
from ltpipe.engines.agd import curvature, run_agd
from ltpipe.engines.agd_layout import KERNEL_GATHER_BELOW
from ltpipe.engines.tensor_init import population_moments, tensor_init
from ltpipe.progress import Progress
from ltpipe.tables import read_table, write_table

__all__ = ["INITS", "budget", "initial_points", "run_trials", "trials_main"]

log = logging.getLogger(__name__)

STUDY = "zhang2021"
INITS = ("ball", "tensor", "matched")


def _trial_frame(teachers: pd.DataFrame) -> pd.DataFrame:
    """One row per trial of a teachers table, in table order."""
    cols = [c for c in teachers.columns if c not in ("neuron", "teacher_support", "teacher_weights", "student_support")]
    return teachers.drop_duplicates("seed")[cols].reset_index(drop=True)


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _curve_rows(history: torch.Tensor, iterations: torch.Tensor, record_every: int, meta: pd.DataFrame) -> pd.DataFrame:
    """Long (trial x recorded iteration) table from a (rows, B) history, stopping at each trial's end."""
    rows = np.arange(history.shape[0])
    last = (iterations.numpy() // record_every)[None, :]
    keep = rows[:, None] <= last
    ri, bi = np.nonzero(keep)
    out = meta.iloc[bi].reset_index(drop=True)
    out["iteration"] = ri * record_every
    out["rel_error"] = history.numpy()[ri, bi]
    return out.sort_values([*meta.columns, "iteration"], kind="stable").reset_index(drop=True)


def _rel(W: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(W - target, dim=(1, 2)) / torch.linalg.vector_norm(target, dim=(1, 2))


def initial_points(cfg: dict[str, Any], inits: Sequence[str], chunk: pd.DataFrame, problems) -> dict[str, tuple]:
    """{init: (W0 (B, d, K), {column: (B,) values})} for the trials of one batch.

    The tensor initialisation is computed once and shared by ``tensor`` and
    ``matched``; ``matched`` draws its direction from the trial's "init"
    stream, as ``ball`` does. A tensor start's columns: ``init_margin``,
    ``init_floor`` (the relative error of the same method on the population
    moments, in closed form: what x^'s moments cannot see) and
    ``init_estimation`` (||W(0) - W_pop(0)||_F / ||W~*||_F, the part of the
    error that comes from estimating the moments from N samples).
    """
    unknown = sorted(set(inits) - set(INITS))
    if unknown:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {', '.join(map(str, unknown))}")
    seeds = chunk["seed"].tolist()
    out: dict[str, tuple] = {}
    nan = np.full(len(chunk), np.nan)
    blank = {"init_margin": nan, "init_floor": nan, "init_estimation": nan}
    if "ball" in inits:
        lam = chunk["lam"].to_numpy(dtype=float)
        if np.isnan(lam).any():
            raise ValueError("init: ball needs lam in the experiment's section")
        W = ball_init(seeds, problems.target, problems.mask, lam, cfg.get("distance", "relative"))
        out["ball"] = (W, blank)
    if {"tensor", "matched"} & set(inits):
        opts = dict(cfg.get("tensor", {}))
        started = time.perf_counter()
        res = tensor_init(problems.X, problems.y, problems.mask, seeds, **opts)
        seconds = time.perf_counter() - started
        W = res.W.to(problems.target)
        pop = tensor_init(
            problems.X,
            problems.y,
            problems.mask,
            seeds,
            moments=population_moments(problems.target, problems.mask),
            **opts,
        ).W.to(problems.target)
        norm = torch.linalg.vector_norm(problems.target, dim=(1, 2))
        cols = {
            "init_margin": res.score_margin.numpy(),
            "init_floor": _rel(pop, problems.target).double().cpu().numpy(),
            "init_estimation": (torch.linalg.vector_norm(W - pop, dim=(1, 2)) / norm).double().cpu().numpy(),
        }
        log.info(
            "tensor initialisation of %d trials: %.1f s, at most %d power iterations, median relative error %.3g",
            len(seeds),
            seconds,
            int(res.power_iterations.max()),
            float(_rel(W, problems.target).median()),
        )
        out["tensor"] = (W, cols)
        if "matched" in inits:
            radius = _rel(W, problems.target).double().cpu().numpy()
            out["matched"] = (ball_init(seeds, problems.target, problems.mask, radius, "relative"), blank)
    return out


def budget(cfg: dict[str, Any], eta: float) -> int:
    """A trial's iteration budget: ``max_iter``, or its entry for the step size when it maps eta to a budget
    (a smaller step needs more iterations to finish)."""
    cap = cfg["max_iter"]
    if not isinstance(cap, dict):
        return int(cap)
    for key, value in cap.items():
        if float(key) == float(eta):
            return int(value)
    raise ValueError(f"max_iter gives no budget for eta = {eta:g} (it has {', '.join(map(str, cap))})")


def run_trials(
    cfg: dict[str, Any],
    teachers: pd.DataFrame,
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
    max_batch_mb: float = 1024.0,
    partial_dir: Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run every trial of ``teachers`` under every method setting; return (trials, curves).

    Trials sharing a sample size are batched, at most ``max_batch_mb`` of
    inputs at a time. With ``partial_dir``, each finished batch is saved there
    and reused by a rerun of the same job, so an interrupted job resumes.
    """
    specs = _trial_frame(teachers)
    record_every = int(cfg.get("record_every", 0))
    methods = [
        dict(zip(METHOD_AXES, m, strict=True)) for m in itertools.product(*(values(cfg, a) for a in METHOD_AXES))
    ]
    if "n_samples" not in specs:
        specs["n_samples"] = int(cfg["n_samples"])
    if "noise_level" not in specs:
        specs["noise_level"] = float(cfg.get("noise_level", 0.0))
    if "lam" not in specs:
        specs["lam"] = float(cfg.get("lam", np.nan))
    itemsize = torch.finfo(dtype).bits // 8
    trial_parts, curve_parts = [], []
    jobs = []
    for n_samples, group in specs.groupby("n_samples", sort=True):
        # the inputs, and at most the gathered layout's copy (K r <= KERNEL_GATHER_BELOW d numbers a sample; the
        # tensor program gathers only up to GATHER_BELOW d, less)
        per_trial = (1 + KERNEL_GATHER_BELOW) * n_samples * int(cfg["d"]) * itemsize
        size = max(1, int(max_batch_mb * 2**20 // per_trial))
        jobs += [(int(n_samples), group.iloc[sl]) for sl in _chunks(len(group), size)]
    total = len(jobs)
    progress = Progress(weights=[len(chunk) * n for n, chunk in jobs], logger=log)  # trials x samples a batch
    for i, (n_samples, chunk) in enumerate(jobs, 1):
        key = hashlib.sha256(
            json.dumps([cfg, chunk["seed"].tolist(), str(dtype)], sort_keys=True, default=str).encode()
        ).hexdigest()[:20]
        saved = partial_dir / f"{key}.parquet" if partial_dir else None
        saved_curves = partial_dir / f"{key}.curves.parquet" if partial_dir else None
        if saved is not None and saved.exists() and (not record_every or saved_curves.exists()):
            progress.skip(f"batch {i}/{total}: reusing {saved.name}")
            trial_parts.append(read_table(saved))
            if record_every:
                curve_parts.append(read_table(saved_curves))
            continue
        rows = teachers[teachers["seed"].isin(chunk["seed"])]
        problems = build_problems(rows, n_samples, chunk["noise_level"].to_numpy(), dtype=dtype, device=device)
        starts = initial_points(cfg, [m["init"] for m in methods], chunk, problems)
        h_min, h_max = curvature(problems.X, problems.mask, problems.target)
        batch_trials, batch_curves = [], []
        for method in methods:
            W0, extra = starts[method["init"]]
            res = run_agd(
                problems.X,
                problems.y,
                problems.mask,
                W0,
                problems.target,
                eta=method["eta"],
                beta=method["beta"],
                max_iter=budget(cfg, method["eta"]),
                tol=float(cfg["tol"]),
                success_tol=float(cfg["success_tol"]),
                data_mode=cfg.get("data_mode", "full"),
                partitions=int(cfg.get("partitions", 1)),
                record_every=record_every,
                window=float(cfg.get("window", 0.1)),
                settle_tol=float(cfg.get("settle_tol", 1e-3)),
            )
            out = chunk.drop(columns=["r_star"]).assign(**method).reset_index(drop=True)
            out["init_error"] = _rel(W0, problems.target).double().cpu().numpy()
            for name, col in extra.items():
                out[name] = col
            out["iterations"] = res.iterations.numpy()
            out["rel_error"] = res.rel_error.double().numpy()
            out["rel_change"] = res.rel_change.double().numpy()
            out["success"] = res.success.numpy()
            out["diverged"] = res.diverged.numpy()
            out["converged"] = res.converged.numpy()
            out["stop"] = res.stop()
            out["max_iter"] = budget(cfg, method["eta"])
            out["window_change"] = res.window_change.double().numpy()
            out["settled"] = res.settled.numpy()
            q = res.step_ratio.double().numpy()
            out["step_ratio"] = q
            with np.errstate(divide="ignore", invalid="ignore"):
                out["stop_floor"] = np.where((q > 0) & (q < 1), out["rel_change"] * q / (1 - q), np.nan)
            out["h_min"] = h_min.double().numpy()
            out["h_max"] = h_max.double().numpy()
            batch_trials.append(out)
            if record_every:
                meta = out[[c for c in CURVE_KEYS if c in out.columns]]
                batch_curves.append(_curve_rows(res.history.double(), res.iterations, record_every, meta))
        trials_df = pd.concat(batch_trials, ignore_index=True)
        curves_df = pd.concat(batch_curves, ignore_index=True) if record_every else None
        if saved is not None:
            write_table(trials_df, saved)
            if curves_df is not None:
                write_table(curves_df, saved_curves)
        trial_parts.append(trials_df)
        if curves_df is not None:
            curve_parts.append(curves_df)
        progress.step(
            "batch %d/%d done: %d trials x %d methods, %d succeeded, %d capped (%d of them settled), %d diverged",
            i,
            total,
            len(chunk),
            len(methods),
            int(trials_df["success"].sum()),
            int((trials_df["stop"] == "capped").sum()),
            int(((trials_df["stop"] == "capped") & trials_df["settled"]).sum()),
            int(trials_df["diverged"].sum()),
        )
    order = ["r", *METHOD_AXES, *PROBLEM_AXES, "trial"]
    trials = pd.concat(trial_parts, ignore_index=True).sort_values(order, kind="stable").reset_index(drop=True)
    curves = None
    if record_every:
        curves = pd.concat(curve_parts, ignore_index=True)
        keys = [c for c in CURVE_KEYS if c in curves.columns]
        curves = curves.sort_values([*keys, "iteration"], kind="stable").reset_index(drop=True)
    return trials, curves


# ----------------------------------------------------------------------------- entry points


def trials_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe agd-trials: run every trial of one (experiment, r) job with batched AGD."""
    parser = job_parser("ltpipe agd-trials", trials_main.__doc__, "experiment")
    job_args(parser)
    parser.add_argument("--teachers", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--curves", help="also write the error curves (needs record_every > 0)")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--max-batch-mb", type=float, default=1024.0)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    dtype = resolve_dtype(args.dtype)
    teachers = read_table(args.teachers)
    out = Path(args.out)
    partial = out.parent / f".{out.name}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    log.info(
        "%s.%s r=%d: %d trials on %s (%s)", STUDY, args.exp, args.r, teachers["seed"].nunique(), device, args.dtype
    )
    trials, curves = run_trials(
        cfg, teachers, device=device, dtype=dtype, max_batch_mb=args.max_batch_mb, partial_dir=partial
    )
    meta = {"seed": args.seed, "r": args.r, "dtype": args.dtype, args.exp: cfg}
    if args.curves:
        if curves is None:
            raise SystemExit("--curves needs record_every > 0 in the experiment's config")
        write_table(curves, args.curves, config=meta, device=device)
    write_table(trials, out, config=meta, device=device)
    shutil.rmtree(partial, ignore_errors=True)
