"""Iterative magnitude pruning (Frankle & Carbin 2019) for any torch module.

IMP as Zhang et al. 2021 use it (Sec. 4.1 and 5.2): train, remove the
smallest-magnitude fraction ``rate`` of the surviving weights, rewind the
survivors to their initial values (or to their values after iteration k of
the first round), and repeat. Only weights are pruned (the ``weight`` of every
``nn.Linear`` and ``nn.Conv*``), never biases; the output layer (the module's
last prunable layer) has its own rate. Pruning is per layer (each layer loses
``rate`` of its own survivors) or global (one magnitude threshold over all
non-output layers).

Masks are buffers (``weight_mask``) of their layers, so they travel with the
state dict. They are enforced twice: the gradient of a pruned weight is
zeroed by a hook (so optimiser state never moves it) and the weights are
multiplied by their mask after every optimiser step, so a pruned weight is
exactly zero at all times. The mask depends on magnitude only, never on sign
(an older re-implementation froze every negative weight through a
``weight > 0`` test).

The two controls of Frankle & Carbin (2019, Sec. 2 and Fig. 4): ``reinit``
trains IMP's own mask of each round (:meth:`Pruner.set_masks`, the masks an
IMP run recorded with :meth:`Pruner.masks`) from a fresh random
initialisation; ``random`` prunes at random, with the same per-layer counts,
and rewinds like IMP.

:func:`run_rounds` drives the rounds and checkpoints each finished one, so a
killed run resumes from its last finished round; every random draw of a round
comes from a seed derived from the run's seed and the round, so the resumed
run computes the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ltpipe.progress import Progress
from ltpipe.tables import atomic_path, load_torch

__all__ = [
    "MODES",
    "Pruner",
    "magnitude_prune",
    "prunable_layers",
    "random_prune",
    "rewind",
    "run_rounds",
    "snapshot",
]

log = logging.getLogger(__name__)
MODES = ("imp", "reinit", "random")


def prune_count(alive: torch.Tensor, rate: float) -> torch.Tensor:
    """How many of ``alive`` survivors a round removes: round(rate * alive), as Frankle & Carbin."""
    return torch.round(alive.to(torch.float64) * rate).to(torch.long)


def _prune_scores(score: torch.Tensor, mask: torch.Tensor, rate: float) -> torch.Tensor:
    """New masks removing, per row of (B, M) ``score``, the round(rate * alive) lowest-scoring survivors.

    Ties break by position (stable sort), so the result is deterministic.
    """
    alive = mask.sum(dim=1)
    remove = prune_count(alive, rate)
    score = torch.where(mask.bool(), score, torch.full_like(score, float("inf")))
    order = torch.argsort(score, dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(score.shape[1], device=score.device).expand_as(order))
    return (mask.bool() & (rank >= remove.unsqueeze(1))).to(mask.dtype)


def magnitude_prune(weight: torch.Tensor, mask: torch.Tensor, rate: float) -> torch.Tensor:
    """Masks after removing the smallest |w| of each batch row's survivors (rows: leading dim B)."""
    b = weight.shape[0]
    out = _prune_scores(weight.detach().abs().reshape(b, -1), mask.reshape(b, -1), rate)
    return out.reshape(mask.shape)


def random_prune(mask: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Masks after removing a uniformly random round(rate * alive) of each batch row's survivors."""
    b = mask.shape[0]
    score = torch.rand(mask.reshape(b, -1).shape, generator=generator, dtype=torch.float64).to(mask.device)
    return _prune_scores(score, mask.reshape(b, -1), rate).reshape(mask.shape)


def prunable_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose ``weight`` IMP prunes, in module order (the last is the output layer)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    if not layers:
        raise ValueError("the model has no Linear or Conv layer to prune")
    return layers


class Pruner:
    """The masks of a module's prunable weights and the rules that change them."""

    def __init__(self, model: nn.Module, *, rate: float = 0.2, output_rate: float = 0.1, scope: str = "layer"):
        if not (0 <= rate < 1 and 0 <= output_rate < 1):
            raise ValueError(f"pruning rates must lie in [0, 1), got rate={rate}, output_rate={output_rate}")
        if scope not in ("layer", "global"):
            raise ValueError(f"scope must be 'layer' or 'global', not {scope!r}")
        self.model = model
        self.rate = rate
        self.output_rate = output_rate
        self.scope = scope
        self.layers = prunable_layers(model)
        # the names of the pruned weights, as in model.named_parameters() ("0.weight", ...)
        module_names = {id(m): name for name, m in model.named_modules()}
        self.names = [f"{module_names[id(m)]}.weight" if module_names[id(m)] else "weight" for m in self.layers]
        for layer in self.layers:
            if not hasattr(layer, "weight_mask"):
                layer.register_buffer("weight_mask", torch.ones_like(layer.weight))
                layer.weight.register_hook(lambda grad, layer=layer: grad * layer.weight_mask)

    def apply(self) -> None:
        """Zero every pruned weight (after each optimiser step and after rewinding)."""
        with torch.no_grad():
            for layer in self.layers:
                layer.weight.mul_(layer.weight_mask)

    def _rates(self) -> list[float]:
        return [self.rate] * (len(self.layers) - 1) + [self.output_rate]

    def prune(self, mode: str = "magnitude", generator: torch.Generator | None = None) -> None:
        """One pruning step: ``magnitude`` (IMP) or ``random`` (the same counts, per layer or pooled)."""
        if mode not in ("magnitude", "random"):
            raise ValueError(f"prune mode must be 'magnitude' or 'random', not {mode!r}")
        if mode == "random" and generator is None:
            raise ValueError("random pruning needs a generator")
        with torch.no_grad():

            def pruned(w: torch.Tensor, mask: torch.Tensor, rate: float) -> torch.Tensor:
                if mode == "magnitude":
                    return magnitude_prune(w[None], mask[None], rate)[0]
                return random_prune(mask[None], rate, generator)[0]

            if self.scope == "global" and len(self.layers) > 1:
                hidden = self.layers[:-1]
                w = torch.cat([m.weight.reshape(-1) for m in hidden])
                new = pruned(w, torch.cat([m.weight_mask.reshape(-1) for m in hidden]), self.rate)
                start = 0
                for m in hidden:
                    size = m.weight.numel()
                    m.weight_mask.copy_(new[start : start + size].reshape(m.weight.shape))
                    start += size
                out = self.layers[-1]
                out.weight_mask.copy_(pruned(out.weight, out.weight_mask, self.output_rate))
            else:
                for layer, rate in zip(self.layers, self._rates(), strict=True):
                    layer.weight_mask.copy_(pruned(layer.weight, layer.weight_mask, rate))
        self.apply()

    def masks(self) -> dict[str, torch.Tensor]:
        """The current masks as boolean CPU tensors, by weight name."""
        return {n: m.weight_mask.detach().cpu().bool().clone() for n, m in zip(self.names, self.layers, strict=True)}

    def set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        """Install given masks (e.g. those an IMP run recorded with :meth:`masks`) and zero the pruned weights."""
        if set(masks) != set(self.names):
            raise ValueError(f"masks for {sorted(masks)}, but the prunable weights are {self.names}")
        with torch.no_grad():
            for name, layer in zip(self.names, self.layers, strict=True):
                if masks[name].shape != layer.weight.shape:
                    raise ValueError(
                        f"mask of {name} has shape {tuple(masks[name].shape)}, the weight {tuple(layer.weight.shape)}"
                    )
                layer.weight_mask.copy_(masks[name].to(layer.weight_mask))
        self.apply()

    def remaining(self) -> float:
        """Surviving fraction of all prunable weights."""
        alive = sum(int(m.weight_mask.sum()) for m in self.layers)
        return alive / sum(m.weight_mask.numel() for m in self.layers)

    def layer_remaining(self) -> list[float]:
        return [float(m.weight_mask.double().mean()) for m in self.layers]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter (the rewinding point)."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def rewind(model: nn.Module, point: dict[str, torch.Tensor], pruner: Pruner) -> None:
    """Reset every parameter to ``point`` and re-apply the masks (survivors get their saved values)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(point[name])
    pruner.apply()


def run_rounds(
    n_rounds: int,
    do_round: Callable[[int, Any], tuple[Any, list[dict], list[dict]]],
    state: Any,
    checkpoint_dir: Path | None = None,
) -> tuple[list[dict], list[dict]]:
    """Run rounds 0..n_rounds-1 of ``do_round(k, state) -> (state, epoch_rows, round_rows)``.

    After each round the state and all rows so far are saved to
    ``checkpoint_dir/round_<k>.pt`` (atomically); a rerun starts after the
    last saved round. Returns (epoch rows, round rows) of every round.
    """
    epoch_rows: list[dict] = []
    round_rows: list[dict] = []
    start = 0
    progress = Progress(n_rounds, logger=log)
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        saved = sorted(checkpoint_dir.glob("round_*.pt"))
        if saved:
            ckpt = load_torch(saved[-1])
            state, epoch_rows, round_rows = ckpt["state"], ckpt["epoch_rows"], ckpt["round_rows"]
            start = ckpt["round"] + 1
            log.info("resuming after round %d from %s", ckpt["round"], saved[-1])
            for _ in range(start):
                progress.skip()
    for k in range(start, n_rounds):
        state, epochs, rounds = do_round(k, state)
        epoch_rows += epochs
        round_rows += rounds
        progress.step("round %d of rounds 0-%d done", k, n_rounds - 1)
        if checkpoint_dir is not None:
            ckpt = {"round": k, "state": state, "epoch_rows": epoch_rows, "round_rows": round_rows}
            with atomic_path(checkpoint_dir / f"round_{k:04d}.pt") as tmp:
                torch.save(ckpt, tmp)
            for old in checkpoint_dir.glob("round_*.pt"):
                if old.name != f"round_{k:04d}.pt":
                    old.unlink()
    return epoch_rows, round_rows
