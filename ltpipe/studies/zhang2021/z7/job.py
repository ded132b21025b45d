"""Z7: iterative magnitude pruning of LeNet-5 on MNIST (Zhang et al. 2021, Sec. 5.2, Fig. 7).

One job per (architecture, training size N) runs ``trials`` IMP runs of
``rounds`` rounds each (round 0 trains the dense network; every later
round prunes, rewinds and retrains) and, where the config asks for them at
that N, the controls, all trained together as one program
(:func:`run_imp_group`, :mod:`ltpipe.engines.stacked`); :func:`run_imp` is
the same run trained alone, which the tests compare it with. The training
subset of N images is stratified and seeded; a validation split (``val_fraction`` of the N) is
taken from it and the network trains on the rest only; test accuracy is
recorded on the whole test set at the end of every epoch, and nothing is
selected on it: per round the table gives the test accuracy at the end of
the round and at the epoch of best validation accuracy.

The controls of Frankle & Carbin (2019, Sec. 2, Fig. 4) use the same data,
batches and rounds as IMP: ``random`` prunes at random at IMP's rates and
rewinds to IMP's initialisation; ``reinit`` trains, in each round, the mask
that the IMP run of the same (architecture, N, trial) found in that round,
from a fresh random initialisation (the re-initialised networks never choose
their own masks).

Tables:

- ``epochs``: arch, mode, n_samples, trial, seed, round, remaining (fraction
  of prunable weights left), epoch, train_loss, val_acc, test_acc.
- ``rounds``: arch, mode, n_samples, trial, seed, round, remaining,
  layer_remaining (list, per prunable layer), test_acc (end of round),
  val_acc (end of round), best_epoch, best_val_acc, test_acc_at_best_val.

Every job also writes its masks (``torch.save``): ``{"arch", "n_samples",
"seed", "config", "modes"}`` with ``modes[mode][t][k]`` the masks of round k
of trial t, ``{weight name: bool tensor}`` (IMP's too where the job ran IMP
only for the ``reinit`` control's masks, whose rows it does not write).

``remaining`` counts prunable weights only (biases are never pruned).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ltpipe.config import job_parser, start_job
from ltpipe.data import mnist
from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.prune import MODES
from ltpipe.seeds import derive_seed
from ltpipe.studies.zhang2021.z7.imp import Masks, Member, run_imp_group
from ltpipe.tables import atomic_path, write_table

__all__ = ["job_members", "save_masks", "z7_main"]

log = logging.getLogger(__name__)


def save_masks(path: str | Path, masks: dict[str, list[list[Masks]]], **meta: Any) -> None:
    """``{**meta, "modes": {mode: masks[trial][round]}}``, written atomically."""
    with atomic_path(path) as tmp:
        torch.save({**meta, "modes": masks}, tmp)


def job_members(modes: Sequence[str], trials: int, seed_of: Callable[[int], int]) -> list[Member]:
    """The runs of one Z7 job: every trial of each mode (IMP's too when only its masks are needed, for reinit)."""
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes or len(set(modes)) != len(modes):
        raise ValueError(f"modes must be distinct, from {MODES}; got {list(modes)}")
    run = list(modes)
    if "reinit" in run and "imp" not in run:
        run.insert(0, "imp")
    run.sort(key=MODES.index)
    return [Member(mode, t, seed_of(t)) for mode in run for t in range(trials)]


def z7_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe z7: IMP on MNIST for one (architecture, N) job: every trial of every mode, trained together."""
    parser = job_parser("ltpipe z7", z7_main.__doc__, "z7")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--mnist", nargs="+", required=True, help="the four MNIST IDX files (or the data root)")
    parser.add_argument("--arch", required=True)
    parser.add_argument("--modes", nargs="+", default=["imp"], help=f"the runs of this N, from {MODES}")
    parser.add_argument("--n-samples", type=int, required=True)
    parser.add_argument("--epochs-out", required=True)
    parser.add_argument("--rounds-out", required=True)
    parser.add_argument("--masks-out", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    root = mnist.data_root(args.mnist)

    def seed_of(trial: int) -> int:
        # the data depend on (N, trial) only, the initialisation also on the architecture;
        # the controls (mode) share both with IMP
        return derive_seed(args.seed, "zhang2021", "z7", args.arch, args.n_samples, trial)

    try:
        members = job_members(args.modes, int(cfg["trials"]), seed_of)
    except ValueError as err:
        parser.error(str(err))
    datasets = []
    for trial in range(int(cfg["trials"])):
        data_seed = derive_seed(args.seed, "zhang2021", "z7", "data", args.n_samples, trial)
        datasets.append(prepare_data(root, args.n_samples, float(cfg["val_fraction"]), data_seed, device))
    log.info(
        "z7 %s N=%d: %d runs (%s) together; per trial %d train, %d val, %d test on %s",
        args.arch,
        args.n_samples,
        len(members),
        ", ".join(args.modes),
        len(datasets[0]["y_train"]),
        len(datasets[0]["y_val"]),
        len(datasets[0]["y_test"]),
        device,
    )
    out = Path(args.rounds_out)
    partial = out.parent / f".{out.name}.partial"
    epochs, rounds, masks = run_imp_group(
        cfg,
        datasets,
        members,
        arch=args.arch,
        checkpoint_dir=partial,
        ids={"arch": args.arch, "n_samples": args.n_samples},
    )
    wanted = epochs["mode"].isin(args.modes), rounds["mode"].isin(args.modes)
    columns = ["arch", "mode", "n_samples", "trial", "seed"]
    epochs = epochs.loc[wanted[0], columns + [c for c in epochs.columns if c not in columns]]
    rounds = rounds.loc[wanted[1], columns + [c for c in rounds.columns if c not in columns]]
    meta = {"seed": args.seed, "z7": cfg, "arch": args.arch, "modes": list(args.modes), "n_samples": args.n_samples}
    write_table(epochs.reset_index(drop=True), args.epochs_out, config=meta, device=device)
    write_table(rounds.reset_index(drop=True), args.rounds_out, config=meta, device=device)
    by_mode: dict[str, list[list[Masks]]] = {}
    for m, found in zip(members, masks, strict=True):
        by_mode.setdefault(m.mode, []).append(found)
    save_masks(args.masks_out, by_mode, arch=args.arch, n_samples=args.n_samples, seed=args.seed, config=cfg)
    shutil.rmtree(partial, ignore_errors=True)
