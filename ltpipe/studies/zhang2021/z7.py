"""Z7: iterative magnitude pruning of LeNet-5 on MNIST (Zhang et al. 2021, Sec. 5.2, Fig. 7).

One job per (architecture, mode, training size N) runs ``trials`` IMP runs
of ``rounds`` rounds each (round 0 trains the dense network; every later
round prunes, rewinds and retrains). The training subset of N images is
stratified and seeded; a validation split (``val_fraction`` of the N) is
taken from it and the network trains on the rest only; test accuracy is
recorded on the whole test set at the end of every epoch, and nothing is
selected on it: per round the table gives the test accuracy at the end of
the round and at the epoch of best validation accuracy.

The controls of Frankle & Carbin (2019, Sec. 2, Fig. 4) use the same data,
batches and rounds as IMP: ``random`` prunes at random at IMP's rates and
rewinds to IMP's initialisation; ``reinit`` trains, in each round, the mask
that the IMP run of the same (architecture, N, trial) found in that round,
from a fresh random initialisation (read from IMP's masks file, so the
re-initialised networks never choose their own masks).

Tables:

- ``epochs``: arch, mode, n_samples, trial, seed, round, remaining (fraction
  of prunable weights left), epoch, train_loss, val_acc, test_acc.
- ``rounds``: arch, mode, n_samples, trial, seed, round, remaining,
  layer_remaining (list, per prunable layer), test_acc (end of round),
  val_acc (end of round), best_epoch, best_val_acc, test_acc_at_best_val.

Every job also writes its masks (``torch.save``): ``{"arch", "mode",
"n_samples", "seed", "config", "trials"}`` with ``trials[t][k]`` the masks of
round k of trial t, ``{weight name: bool tensor}``.

``remaining`` counts prunable weights only (biases are never pruned).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ltpipe.config import job_parser, start_job
from ltpipe.data import mnist
from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.models import build
from ltpipe.engines.prune import MODES, Pruner, rewind, run_rounds, snapshot
from ltpipe.engines.train import evaluate, seeded_init, train_epochs
from ltpipe.seeds import derive_seed, torch_generator
from ltpipe.tables import atomic_path, write_table

__all__ = ["load_imp_masks", "run_imp"]

log = logging.getLogger(__name__)

Masks = dict[str, torch.Tensor]  # one round's masks: {weight name: bool tensor}
MASKS_KEY = "masks"


def _clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def run_imp(
    cfg: dict[str, Any],
    data: dict[str, torch.Tensor],
    *,
    arch: str,
    mode: str,
    seed: int,
    checkpoint_dir: Path | None = None,
    ids: dict[str, Any] | None = None,
    masks: Sequence[Masks] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Masks]]:
    """One IMP run: ``cfg["rounds"]`` rounds of train / prune / rewind, checkpointed per round.

    ``mode``: ``imp`` (magnitude pruning, rewind), ``random`` (random pruning
    at IMP's rates: per layer, or pooled over the hidden layers with ``scope:
    global``; then rewind) or ``reinit`` (round k trains ``masks[k]``, the
    mask IMP found in its round k, from a fresh initialisation drawn for that
    round; Frankle & Carbin 2019). The rewinding point is the initial
    weights, or the weights after ``rewind_iteration`` steps of round 0.
    Returns (epoch rows, round rows, the masks of every round).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    n_rounds = int(cfg["rounds"])
    if mode == "reinit" and (masks is None or len(masks) < n_rounds):
        raise ValueError(f"the reinit control needs IMP's masks of all {n_rounds} rounds")
    device = data["x_train"].device
    ids = dict(ids or {})
    rate, output_rate, scope = float(cfg["rate"]), float(cfg["output_rate"]), cfg.get("scope", "layer")
    rewind_at = int(cfg.get("rewind_iteration", 0)) if mode != "reinit" else 0

    def fresh(*key: object) -> torch.nn.Module:
        return seeded_init(lambda: build(arch), seed, *key).to(device)

    def do_round(k: int, state: dict | None):
        point = None
        if mode == "reinit":
            model = fresh("reinit", k)
            pruner = Pruner(model, rate=rate, output_rate=output_rate, scope=scope)
            pruner.set_masks(masks[k])
        else:
            model = fresh("original")
            pruner = Pruner(model, rate=rate, output_rate=output_rate, scope=scope)
            if k == 0:
                point = snapshot(model) if rewind_at == 0 else None
            else:
                model.load_state_dict({n: t.to(device) for n, t in state["trained"].items()})
                point = {n: t.to(device) for n, t in state["rewind"].items()}
                if mode == "random":
                    pruner.prune("random", torch_generator(seed, "prune", k))
                else:
                    pruner.prune("magnitude")
                rewind(model, point, pruner)
        remaining = pruner.remaining()
        epoch_rows: list[dict] = []
        captured: dict[str, dict] = {}

        def on_step(step: int) -> None:
            if k == 0 and step == rewind_at and rewind_at > 0:
                captured["rewind"] = snapshot(model)

        def on_epoch(epoch: int, train_loss: float) -> None:
            _, val_acc = evaluate(model, data["x_val"], data["y_val"])
            _, test_acc = evaluate(model, data["x_test"], data["y_test"])
            epoch_rows.append(
                {**ids, "round": k, "remaining": remaining, "epoch": epoch, "train_loss": train_loss,
                 "val_acc": val_acc, "test_acc": test_acc}
            )  # fmt: skip
            log.info(
                "round %d (%.1f%% left) epoch %d: loss %.4f val %.4f test %.4f",
                k, 100 * remaining, epoch, train_loss, val_acc, test_acc,
            )  # fmt: skip

        train_epochs(
            model, data, cfg, generator=torch_generator(seed, "batches", k), pruner=pruner,
            on_step=on_step, on_epoch=on_epoch,
        )  # fmt: skip
        if k == 0 and rewind_at > 0:
            if "rewind" not in captured:
                raise ValueError(f"rewind_iteration {rewind_at} exceeds the steps of round 0")
            point = captured["rewind"]
        frame = pd.DataFrame(epoch_rows)
        val = frame["val_acc"].fillna(-1.0)
        best = int(val.idxmax())
        round_row = {
            **ids,
            "round": k,
            "remaining": remaining,
            "layer_remaining": pruner.layer_remaining(),
            "test_acc": float(frame["test_acc"].iloc[-1]),
            "val_acc": float(frame["val_acc"].iloc[-1]),
            "best_epoch": int(frame["epoch"].iloc[best]),
            "best_val_acc": float(frame["val_acc"].iloc[best]),
            "test_acc_at_best_val": float(frame["test_acc"].iloc[best]),
            # the round's masks travel with the rows (so a resumed run has them) and are split off below
            MASKS_KEY: pruner.masks(),
        }
        new_state = None
        if mode != "reinit":  # the re-initialised rounds are independent of each other
            new_state = {"trained": _clone_state(model), "rewind": {n: t.cpu() for n, t in point.items()}}
        return new_state, epoch_rows, [round_row]

    epoch_rows, round_rows = run_rounds(n_rounds, do_round, None, checkpoint_dir)
    round_masks = [row.pop(MASKS_KEY) for row in round_rows]
    return pd.DataFrame(epoch_rows), pd.DataFrame(round_rows), round_masks


def load_imp_masks(path: str | Path, *, arch: str, n_samples: int, seed: int, cfg: dict[str, Any]) -> list[list[Masks]]:
    """The per-trial, per-round masks of the IMP job of (arch, N), checked to come from the same settings."""
    saved = torch.load(path, weights_only=True)
    found = {k: saved.get(k) for k in ("arch", "mode", "n_samples", "seed", "config")}
    wanted = {"arch": arch, "mode": "imp", "n_samples": n_samples, "seed": seed, "config": cfg}
    if found != wanted:
        bad = sorted(k for k in wanted if found[k] != wanted[k])
        raise ValueError(f"{path}: not the masks of the IMP job with these settings (differs in {', '.join(bad)})")
    return saved["trials"]


def save_masks(path: str | Path, trials: list[list[Masks]], **meta: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save({**meta, "trials": trials}, tmp)


def z7_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe zhang2021-z7: IMP on MNIST for one (architecture, mode, N) job, every trial."""
    parser = job_parser("ltpipe zhang2021-z7", z7_main.__doc__, "z7")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--mnist", nargs="+", required=True, help="the four MNIST IDX files (or the data root)")
    parser.add_argument("--arch", required=True)
    parser.add_argument("--mode", required=True)
    parser.add_argument("--n-samples", type=int, required=True)
    parser.add_argument("--imp-masks", nargs="*", default=[], help="reinit: the masks file of the IMP job of (arch, N)")
    parser.add_argument("--epochs-out", required=True)
    parser.add_argument("--rounds-out", required=True)
    parser.add_argument("--masks-out", required=True)
    args = parser.parse_args(argv)
    cfg, device = start_job(args)
    root = mnist.data_root(args.mnist)
    imp_masks = None
    if args.mode == "reinit":
        if len(args.imp_masks) != 1:
            parser.error("--mode reinit needs --imp-masks (the masks file of the IMP job of the same arch and N)")
        imp_masks = load_imp_masks(args.imp_masks[0], arch=args.arch, n_samples=args.n_samples, seed=args.seed,
                                   cfg=cfg)  # fmt: skip
    elif args.imp_masks:
        parser.error("--imp-masks is for --mode reinit only")
    out = Path(args.rounds_out)
    partial = out.parent / f".{out.name}.partial"
    epochs, rounds, masks = [], [], []
    for trial in range(int(cfg["trials"])):
        # the data depend on (N, trial) only, the initialisation also on the architecture;
        # the controls (mode) share both with IMP
        data_seed = derive_seed(args.seed, "zhang2021", "z7", "data", args.n_samples, trial)
        seed = derive_seed(args.seed, "zhang2021", "z7", args.arch, args.n_samples, trial)
        data = prepare_data(root, args.n_samples, float(cfg["val_fraction"]), data_seed, device)
        ids = {"arch": args.arch, "mode": args.mode, "n_samples": args.n_samples, "trial": trial, "seed": seed}
        log.info(
            "z7 %s/%s N=%d trial %d: %d train, %d val, %d test on %s",
            args.arch, args.mode, args.n_samples, trial,
            len(data["y_train"]), len(data["y_val"]), len(data["y_test"]), device,
        )  # fmt: skip
        e, r, m = run_imp(cfg, data, arch=args.arch, mode=args.mode, seed=seed,
                          checkpoint_dir=partial / f"trial{trial}", ids=ids,
                          masks=imp_masks[trial] if imp_masks is not None else None)  # fmt: skip
        epochs.append(e)
        rounds.append(r)
        masks.append(m)
    meta = {"seed": args.seed, "z7": cfg, "arch": args.arch, "mode": args.mode, "n_samples": args.n_samples}
    write_table(pd.concat(epochs, ignore_index=True), args.epochs_out, config=meta, device=device)
    write_table(pd.concat(rounds, ignore_index=True), args.rounds_out, config=meta, device=device)
    save_masks(args.masks_out, masks, arch=args.arch, mode=args.mode, n_samples=args.n_samples, seed=args.seed,
               config=cfg)  # fmt: skip
    shutil.rmtree(partial, ignore_errors=True)
