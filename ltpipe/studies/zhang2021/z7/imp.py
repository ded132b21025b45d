"""Z7's IMP runs: one run trained alone (:func:`run_imp`, the reference) and the runs of one job trained
together (:func:`run_imp_group`, :mod:`ltpipe.engines.stacked`), round by round, checkpointed per round."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ltpipe.engines.models import build
from ltpipe.engines.prune import MODES, Pruner, rewind, run_rounds, snapshot
from ltpipe.engines.stacked import StackedNet, evaluate_stacked, train_stacked
from ltpipe.engines.train import evaluate, seeded_init, train_epochs
from ltpipe.seeds import torch_generator

__all__ = ["Masks", "Member", "run_imp", "run_imp_group", "start_round"]

log = logging.getLogger(__name__)

Masks = dict[str, torch.Tensor]  # one round's masks: {weight name: bool tensor}
MASKS_KEY = "masks"


def _clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def start_round(
    arch: str,
    mode: str,
    seed: int,
    k: int,
    state: dict | None,
    given: Masks | None,
    cfg: dict[str, Any],
    device: str | torch.device,
) -> tuple[torch.nn.Module, Pruner, dict[str, torch.Tensor] | None]:
    """The network that round ``k`` of one IMP run trains, its pruner and the run's rewinding point.

    Round 0 starts from the run's initialisation (the rewinding point, unless
    ``rewind_iteration`` is set, when the caller captures it during round 0);
    a later round of ``imp`` / ``random`` prunes the weights that ``state``
    holds from round k-1 (magnitude, or random at the same counts from the
    stream (seed, "prune", k)) and rewinds to ``state``'s point; a ``reinit``
    round installs ``given`` (IMP's masks of round k) on a fresh
    initialisation drawn for that round, and has no rewinding point.
    """
    rate, output_rate, scope = float(cfg["rate"]), float(cfg["output_rate"]), cfg.get("scope", "layer")
    rewind_at = int(cfg.get("rewind_iteration", 0)) if mode != "reinit" else 0

    def fresh(*key: object) -> torch.nn.Module:
        return seeded_init(lambda: build(arch), seed, *key).to(device)

    point = None
    if mode == "reinit":
        model = fresh("reinit", k)
        pruner = Pruner(model, rate=rate, output_rate=output_rate, scope=scope)
        pruner.set_masks(given)
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
    return model, pruner, point


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
    rewind_at = int(cfg.get("rewind_iteration", 0)) if mode != "reinit" else 0

    def do_round(k: int, state: dict | None):
        model, pruner, point = start_round(
            arch, mode, seed, k, state, masks[k] if mode == "reinit" else None, cfg, device
        )
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
                {
                    **ids,
                    "round": k,
                    "remaining": remaining,
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_acc": val_acc,
                    "test_acc": test_acc,
                }
            )
            log.info(
                "round %d (%.1f%% left) epoch %d: loss %.4f val %.4f test %.4f",
                k,
                100 * remaining,
                epoch,
                train_loss,
                val_acc,
                test_acc,
            )

        train_epochs(
            model,
            data,
            cfg,
            generator=torch_generator(seed, "batches", k),
            pruner=pruner,
            on_step=on_step,
            on_epoch=on_epoch,
        )
        if k == 0 and rewind_at > 0:
            if "rewind" not in captured:
                raise ValueError(f"rewind_iteration {rewind_at} exceeds the steps of round 0")
            point = captured["rewind"]
        round_row = _round_row(ids, k, remaining, pruner, epoch_rows)
        new_state = None
        if mode != "reinit":  # the re-initialised rounds are independent of each other
            new_state = {"trained": _clone_state(model), "rewind": {n: t.cpu() for n, t in point.items()}}
        return new_state, epoch_rows, [round_row]

    epoch_rows, round_rows = run_rounds(n_rounds, do_round, None, checkpoint_dir)
    round_masks = [row.pop(MASKS_KEY) for row in round_rows]
    return pd.DataFrame(epoch_rows), pd.DataFrame(round_rows), round_masks


def _round_row(ids: dict[str, Any], k: int, remaining: float, pruner: Pruner, epoch_rows: list[dict]) -> dict:
    """A round's row: accuracies at its end and at its epoch of best validation accuracy (never the test's)."""
    frame = pd.DataFrame(epoch_rows)
    val = frame["val_acc"].fillna(-1.0)
    best = int(val.idxmax())
    return {
        **ids,
        "round": k,
        "remaining": remaining,
        "layer_remaining": pruner.layer_remaining(),
        "test_acc": float(frame["test_acc"].iloc[-1]),
        "val_acc": float(frame["val_acc"].iloc[-1]),
        "best_epoch": int(frame["epoch"].iloc[best]),
        "best_val_acc": float(frame["val_acc"].iloc[best]),
        "test_acc_at_best_val": float(frame["test_acc"].iloc[best]),
        # the round's masks travel with the rows (so a resumed run has them) and are split off at the end
        MASKS_KEY: pruner.masks(),
    }


@dataclass(frozen=True)
class Member:
    """One IMP run of a group: its mode, its trial (which data set it trains on) and its seed."""

    mode: str
    trial: int
    seed: int


def run_imp_group(
    cfg: dict[str, Any],
    datasets: Sequence[dict[str, torch.Tensor]],
    members: Sequence[Member],
    *,
    arch: str,
    checkpoint_dir: Path | None = None,
    ids: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[list[Masks]]]:
    """The IMP runs ``members`` trained together as one program, round by round (:mod:`ltpipe.engines.stacked`).

    Member i is the run that :func:`run_imp` makes with mode ``members[i].mode``
    and seed ``members[i].seed`` on ``datasets[members[i].trial]``, with the
    same initialisation, masks, batches and rounds; only the rounding of the
    stacked products differs. A ``reinit`` member trains, in round k, the
    masks that the ``imp`` member of its trial found for round k, so the group
    must hold that member. The data sets must have equal training sizes and
    one test set. Checkpointed per round like :func:`run_imp`. Returns (epoch
    rows, round rows, each member's masks of every round); rows carry ``ids``
    and the member's mode, trial and seed, member after member.
    """
    if not members:
        raise ValueError("an IMP group needs at least one run")
    if len({(m.mode, m.trial) for m in members}) != len(members):
        raise ValueError("an IMP group holds each (mode, trial) once")
    imp_of = {m.trial: i for i, m in enumerate(members) if m.mode == "imp"}
    for m in members:
        if m.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {m.mode!r}")
        if not 0 <= m.trial < len(datasets):
            raise ValueError(f"trial {m.trial} has no data set ({len(datasets)} given)")
        if m.mode == "reinit" and m.trial not in imp_of:
            raise ValueError(f"the reinit control of trial {m.trial} needs IMP's run of that trial in its group")
    sizes = {len(d["y_train"]) for d in datasets}
    if len(sizes) != 1 or len({len(d["y_val"]) for d in datasets}) != 1:
        raise ValueError("the runs of an IMP group need training and validation sets of one size each")
    x_test, y_test = datasets[0]["x_test"], datasets[0]["y_test"]
    if not all(torch.equal(d["y_test"], y_test) and torch.equal(d["x_test"], x_test) for d in datasets[1:]):
        raise ValueError("the runs of an IMP group need one test set")
    n_rounds = int(cfg["rounds"])
    rewind_at = int(cfg.get("rewind_iteration", 0))
    device = x_test.device
    x_train = torch.stack([d["x_train"] for d in datasets])
    y_train = torch.stack([d["y_train"] for d in datasets])
    x_val = torch.stack([d["x_val"] for d in datasets])
    y_val = torch.stack([d["y_val"] for d in datasets])
    rows = torch.tensor([m.trial for m in members], device=device)
    # IMP and random members first: a reinit member takes its IMP member's masks of the round
    order = sorted(range(len(members)), key=lambda i: members[i].mode == "reinit")
    base = dict(ids or {})

    def member_ids(i: int) -> dict[str, Any]:
        m = members[i]
        return {**base, "mode": m.mode, "trial": m.trial, "seed": m.seed, "_member": i}

    def do_round(k: int, state: list | None):
        started: dict[int, tuple] = {}
        for i in order:
            m = members[i]
            given = started[imp_of[m.trial]][1].masks() if m.mode == "reinit" else None
            started[i] = start_round(arch, m.mode, m.seed, k, state[i] if state else None, given, cfg, device)
        models = [started[i][0] for i in range(len(members))]
        net = StackedNet(models)
        remaining = [started[i][1].remaining() for i in range(len(members))]
        points = {i: started[i][2] for i in range(len(members))}
        epoch_rows: list[dict] = []
        per_member: list[list[dict]] = [[] for _ in members]

        def on_step(step: int) -> None:
            if k == 0 and step == rewind_at and rewind_at > 0:
                for i, m in enumerate(members):
                    if m.mode != "reinit":
                        points[i] = net.member_params(i)

        def on_epoch(epoch: int, train_loss: list[float]) -> None:
            _, val_acc = evaluate_stacked(net, x_val, y_val, rows)
            _, test_acc = evaluate_stacked(net, x_test, y_test)
            for i in range(len(members)):
                row = {
                    **member_ids(i),
                    "round": k,
                    "remaining": remaining[i],
                    "epoch": epoch,
                    "train_loss": train_loss[i],
                    "val_acc": val_acc[i],
                    "test_acc": test_acc[i],
                }
                per_member[i].append(row)
                epoch_rows.append(row)
            log.info(
                "round %d epoch %d: test accuracy %s",
                k,
                epoch,
                " ".join(f"{m.mode}/{m.trial} {a:.4f}" for m, a in zip(members, test_acc, strict=True)),
            )

        generators = [torch_generator(m.seed, "batches", k) for m in members]
        train_stacked(net, x_train, y_train, rows, cfg, generators=generators, on_step=on_step, on_epoch=on_epoch)
        if k == 0 and rewind_at > 0 and any(points[i] is None for i, m in enumerate(members) if m.mode != "reinit"):
            raise ValueError(f"rewind_iteration {rewind_at} exceeds the steps of round 0")
        net.write_back(models)
        new_state, round_rows = [], []
        for i, m in enumerate(members):
            round_rows.append(_round_row(member_ids(i), k, remaining[i], started[i][1], per_member[i]))
            if m.mode == "reinit":  # the re-initialised rounds are independent of each other
                new_state.append(None)
            else:
                trained = _clone_state(models[i])
                new_state.append({"trained": trained, "rewind": {n: t.cpu() for n, t in points[i].items()}})
        return new_state, epoch_rows, round_rows

    epoch_rows, round_rows = run_rounds(n_rounds, do_round, None, checkpoint_dir)
    masks: list[list[Masks]] = [[] for _ in members]
    for row in round_rows:
        masks[row["_member"]].append(row.pop(MASKS_KEY))

    def table(found: list[dict]) -> pd.DataFrame:
        frame = pd.DataFrame(found)
        frame = frame.sort_values("_member", kind="stable").drop(columns="_member")
        return frame.reset_index(drop=True)

    return table(epoch_rows), table(round_rows), masks
