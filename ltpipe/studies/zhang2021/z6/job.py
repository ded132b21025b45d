"""Z6: iterative magnitude pruning of a dense student on the sparse teacher (Zhang et al. 2021, Fig. 6).

The teacher has K neurons with r* = r_star inputs each (Sec. 5: supports
without replacement, weights U[-0.5, 0.5]), noise sigma = noise_level * E_y.
The student starts fully connected (every neuron sees all d inputs). The
paper does not say how it is initialised; ``init`` chooses: ``ball`` (a ball
of relative radius ``lam`` around the teacher, as Sec. 5 does for the
experiments of Figs. 2-5) or ``gaussian`` (drawn independently of the
teacher, N(0, 2 / d) per weight: Kaiming-scaled for fan-in d). The radius
decides what pruning meets: from a wide ball the dense problem's
underdetermined directions keep their initial noise and magnitude pruning
cuts teacher weights early, so ``lam`` may be a list, a method axis like
``eta`` (every radius starts from the same direction around the same teacher).
Each IMP round trains with the batched AGD of Algorithm 1
(:func:`ltpipe.engines.agd.run_agd`, ``max_iter`` iterations at most, stop at
``tol``), then removes the fraction ``rate`` of the surviving first-layer
weights with the smallest magnitude (per trial, over the whole layer: the
model has one trainable layer, Sec. 4.1), and rewinds the survivors to W(0).
``eta`` may be a list (a method axis: every step size prunes its own way from
the same teachers, data and W(0)). All trials, radii and step sizes of one
training size N run as one batch.

Table ``rounds`` (one row per trial, radius, step size and round): n_samples,
lam, eta, trial, seed, round, remaining (fraction of the d K first-layer
weights left), test_error (mean squared error of g(x; W) against the
noiseless teacher output on n_test fresh inputs), rel_error (||W - W*||_F /
||W*||_F), train_error (mean squared error on the noisy training labels),
iterations, rel_change (the last relative step), converged, stop
(``converged``, ``capped`` or ``diverged``, as in Z2-Z5), window_change and
settled (the labels of a capped round, as in Z2-Z5), support_contains_teacher
(every teacher weight survives), teacher_kept (fraction of the teacher's K r*
weights that survive the round's mask: what explains a rise), init, k, d,
r_star, noise_level.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ltpipe.config import job_parser, resolve_dtype, start_job
from ltpipe.data.grid import values
from ltpipe.data.teacher import ball_init, build_problems, teacher_output, teacher_table
from ltpipe.engines.agd import run_agd
from ltpipe.engines.prune import magnitude_prune, run_rounds
from ltpipe.seeds import derive_seed, torch_generator
from ltpipe.tables import write_table

__all__ = ["INITS", "run_z6", "student_init"]

log = logging.getLogger(__name__)

INITS = ("ball", "gaussian")


def student_init(
    cfg: dict[str, Any], seeds: list[int], target: torch.Tensor, mask: torch.Tensor, lam: float | None = None
) -> torch.Tensor:
    """W(0) of the dense student per trial: ``ball`` of radius ``lam`` (default: the section's) around the
    teacher or ``gaussian`` N(0, 2/d), from the seed."""
    init = cfg.get("init", "ball")
    if init == "ball":
        lam = float(cfg["lam"] if lam is None else lam)
        return ball_init(seeds, target, mask, lam, cfg.get("distance", "relative"))
    if init == "gaussian":
        _, d, k = target.shape
        draws = [torch.randn((d, k), generator=torch_generator(s, "student"), dtype=torch.float64) for s in seeds]
        return (torch.stack(draws) * (2.0 / d) ** 0.5).to(device=target.device, dtype=target.dtype) * mask
    raise ValueError(f"z6.init must be one of {INITS}, not {init!r}")


def run_z6(
    cfg: dict[str, Any],
    n_samples: int,
    base_seed: int,
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
    checkpoint_dir: Path | None = None,
) -> pd.DataFrame:
    """Every trial of one training size N through ``cfg["rounds"]`` IMP rounds; the ``rounds`` table."""
    d, k, r_star = int(cfg["d"]), int(cfg["k"]), int(cfg["r_star"])
    specs = [
        {
            "r": d,
            "r_star": r_star,
            "n_samples": n_samples,
            "trial": t,
            "seed": derive_seed(base_seed, "zhang2021", "z6", n_samples, t),
        }
        for t in range(int(cfg["trials"]))
    ]
    teachers = teacher_table(specs, d=d, k=k)
    level = float(cfg["noise_level"])
    prob = build_problems(teachers, n_samples, level, dtype=dtype, device=device)
    seeds = [s["seed"] for s in specs]
    n_test = int(cfg["n_test"])
    X_test = torch.stack(
        [torch.randn((n_test, d), generator=torch_generator(s, "test"), dtype=torch.float64) for s in seeds]
    ).to(device=device, dtype=dtype)
    # every radius and step size runs on the same problems: the batch is (lam, eta, trial), lam-major
    lams = [float(v) for v in values(cfg, "lam")] if cfg.get("init", "ball") == "ball" else [float("nan")]
    etas = [float(e) for e in values(cfg, "eta")]
    reps = len(lams) * len(etas)
    specs = [{**s, "lam": lam, "eta": e} for lam in lams for e in etas for s in specs]
    W0 = torch.cat([student_init(cfg, seeds, prob.target, prob.mask, lam) for lam in lams for _ in etas])
    X, y, target = (t.repeat(reps, *([1] * (t.dim() - 1))) for t in (prob.X, prob.y, prob.target))
    X_test = X_test.repeat(reps, 1, 1)
    eta = torch.tensor([s["eta"] for s in specs], dtype=dtype)
    y_test = teacher_output(X_test, target)
    teacher_on = target != 0

    def do_round(rnd: int, mask: torch.Tensor):
        res = run_agd(
            X,
            y,
            mask,
            W0 * mask,
            target,
            eta=eta,
            beta=float(cfg["beta"]),
            max_iter=int(cfg["max_iter"]),
            tol=float(cfg["tol"]),
            log_every=0,
            window=float(cfg.get("window", 0.1)),
            settle_tol=float(cfg.get("settle_tol", 1e-3)),
        )
        W = res.W.to(device=device, dtype=dtype)
        test_error = (teacher_output(X_test, W) - y_test).square().mean(-1).cpu()
        train_error = (teacher_output(X, W) - y).square().mean(-1).cpu()
        stops = res.stop()
        kept = (mask.bool() & teacher_on).sum(dim=(1, 2)) / teacher_on.sum(dim=(1, 2))
        remaining = mask.sum(dim=(1, 2)) / (d * k)
        rows = [
            {
                "n_samples": n_samples,
                "lam": s["lam"],
                "eta": s["eta"],
                "trial": s["trial"],
                "seed": s["seed"],
                "round": rnd,
                "remaining": float(remaining[i]),
                "test_error": float(test_error[i]),
                "rel_error": float(res.rel_error[i]),
                "train_error": float(train_error[i]),
                "iterations": int(res.iterations[i]),
                "rel_change": float(res.rel_change[i]),
                "converged": bool(res.converged[i]),
                "stop": stops[i],
                "window_change": float(res.window_change[i]),
                "settled": bool(res.settled[i]),
                "support_contains_teacher": bool(kept[i] == 1),
                "teacher_kept": float(kept[i]),
                "init": cfg.get("init", "ball"),
                "k": k,
                "d": d,
                "r_star": r_star,
                "noise_level": level,
            }
            for i, s in enumerate(specs)
        ]
        log.info(
            "N=%d round %d: %.1f%% left, median test error %.3g, teacher kept in %d of %d runs, %d capped (%d settled)",
            n_samples,
            rnd,
            100 * float(remaining.median()),
            float(test_error.median()),
            int((kept == 1).sum()),
            len(specs),
            stops.count("capped"),
            int((res.settled & ~res.converged).sum()),
        )
        next_mask = magnitude_prune(W, mask, float(cfg["rate"]))
        return next_mask, [], rows

    start = torch.ones_like(target)
    _, rows = run_rounds(int(cfg["rounds"]), do_round, start, checkpoint_dir)
    return pd.DataFrame(rows)


def z6_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe z6: IMP with AGD on the sparse teacher, every trial of one N."""
    parser = job_parser("ltpipe z6", z6_main.__doc__, "z6")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n-samples", type=int, required=True)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    out = Path(args.out)
    partial = out.parent / f".{out.name}.partial"
    df = run_z6(cfg, args.n_samples, args.seed, device=device, dtype=resolve_dtype(args.dtype), checkpoint_dir=partial)
    write_table(df, out, config={"seed": args.seed, "z6": cfg, "dtype": args.dtype}, device=device)
    shutil.rmtree(partial, ignore_errors=True)
