"""Seeded initialisation, evaluation and the minibatch training loop shared by every trained network.

Used by IMP (Zhang et al. 2021, Sec. 5.2; Frankle & Carbin 2019), which
passes its masks in so that pruned weights stay zero after every step, and
by Pensia et al. 2020's target network (Experiment 1), which trains without
masks: the target does not depend on any pruning code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import torch
from torch import nn

from ltpipe.seeds import derive_seed

__all__ = ["eval_batch", "evaluate", "make_optimizer", "seeded_init", "train_epochs"]


class Masks(Protocol):
    """What the training loop needs of a pruner: re-apply its masks after a step."""

    def apply(self) -> None: ...


def seeded_init(build: Callable[[], nn.Module], seed: int, *key: object) -> nn.Module:
    """``build()`` with PyTorch's default initialisation drawn from the stream (seed, key)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init", *key))
        return build()


def eval_batch(x: torch.Tensor) -> int:
    """Samples evaluated at a time (over all networks of a stack) when the caller does not say: 2,000 on CUDA;
    256 on the CPU, where a chunk's activations then stay in the processor's cache (``bench/evaluate.py``).
    Predictions do not depend on it (tested), only the speed."""
    return 2000 if x.device.type == "cuda" else 256


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int | None = None) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on (x, y), in eval mode, ``batch`` samples at a time
    (default :func:`eval_batch`)."""
    if len(y) == 0:
        return float("nan"), float("nan")
    batch = batch or eval_batch(x)
    was = model.training
    model.eval()
    loss = 0.0
    correct = 0
    for lo in range(0, len(y), batch):
        out = model(x[lo : lo + batch])
        loss += float(nn.functional.cross_entropy(out, y[lo : lo + batch], reduction="sum"))
        correct += int((out.argmax(1) == y[lo : lo + batch]).sum())
    model.train(was)
    return loss / len(y), correct / len(y)


def predictions(model: nn.Module, x: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """The class ``model`` predicts for each row of ``x`` (eval mode, ``batch`` samples at a time)."""
    if not len(x):
        return torch.empty(0, dtype=torch.long, device=x.device)
    batch = batch or eval_batch(x)
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[lo : lo + batch]).argmax(1) for lo in range(0, len(x), batch)])
    model.train(was)
    return out


def make_optimizer(params: Iterable[nn.Parameter], cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam (the IMP reference code's default) or SGD with momentum, from a config section."""
    name = cfg.get("optimizer", "adam")
    wd = float(cfg.get("weight_decay", 0.0))
    # fused: one pass over each parameter, its gradient and its state per step, on the CPU as on CUDA (faster than
    # the multi-tensor foreach update, which makes a pass per operation; BENCHMARKS.md, the IMP training loop)
    if name == "adam":
        return torch.optim.Adam(params, lr=float(cfg["lr"]), weight_decay=wd, fused=True)
    if name == "sgd":
        momentum = float(cfg.get("momentum", 0.0))
        return torch.optim.SGD(params, lr=float(cfg["lr"]), momentum=momentum, weight_decay=wd, fused=True)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', not {name!r}")


def train_epochs(
    model: nn.Module,
    data: dict[str, torch.Tensor],
    cfg: dict[str, Any],
    *,
    generator: torch.Generator,
    pruner: Masks | None = None,
    on_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> None:
    """Train ``model`` for cfg["epochs"] epochs of minibatch cross-entropy on data["x_train"], data["y_train"].

    Tensors are held on the device and batches are sliced from a seeded
    permutation per epoch (no DataLoader, no per-sample transform). With a
    ``pruner`` the masks are enforced after every step. ``cfg["schedule"]``
    ``"cosine"`` anneals the learning rate to 0 over all steps (Pensia et al.'s
    target); the default keeps it constant. ``on_step(step)`` is called after
    each step (step counts from 1), ``on_epoch(epoch, mean train loss)`` after
    each epoch (epochs count from 1).
    """
    x, y = data["x_train"], data["y_train"]
    n = len(y)
    batch = int(cfg["batch_size"])
    epochs = int(cfg["epochs"])
    opt = make_optimizer(model.parameters(), cfg)
    steps_per_epoch = -(-n // batch)
    sched = None
    if cfg.get("schedule", "constant") == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps_per_epoch))
    model.train()
    step = 0
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=generator).to(x.device)
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        for lo in range(0, n, batch):
            idx = perm[lo : lo + batch]
            out = model(x[idx])
            loss = nn.functional.cross_entropy(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if pruner is not None:
                pruner.apply()
            total += loss.detach() * len(idx)
            step += 1
            if on_step is not None:
                on_step(step)
        if on_epoch is not None:
            on_epoch(epoch, float(total) / n)
