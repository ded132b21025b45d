"""k networks of one architecture trained as one program: stacked weights, grouped convolutions.

The IMP runs of one Z7 job (Zhang et al. 2021, Sec. 5.2, Fig. 7: the trials,
and Frankle & Carbin 2019's random-pruning and re-initialisation controls)
share an architecture and a training size, so they can advance in lockstep.
Each network keeps its own weights, masks, data, batch order and optimiser
state; what they share is the program: the k networks' forward pass is one
grouped convolution per convolution layer (the k networks' channels side by
side, ``groups=k``, channels-last, which PyTorch's CPU kernels run fastest)
and, per linear layer, each network's own product (the call ``nn.Linear``
makes, so the same rounding). The loss is the sum of the k
networks' own mean losses, so each network's gradient is its own. One
optimiser steps all k networks, fused (one pass per tensor), over each
network's own slices of the stacked tensors (views: the update writes into
the stack): a fused update's rounding depends on where an element falls
in the kernel's vector blocks, so slices laid out as the network's own
parameters are updated bit for bit as its own optimiser would update them,
which one update over the stacked tensors is not. The arithmetic of the
products differs from a network trained alone only in rounding (the kernels
sum in another order), which the tests bound.

Masks are applied as :mod:`ltpipe.engines.prune` applies them: the gradient
of a pruned weight is zeroed before the step and the weights are multiplied
by their masks after it, so a pruned weight is exactly zero at all times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as fn

from ltpipe.engines.prune import prunable_layers
from ltpipe.engines.train import eval_batch, make_optimizer

__all__ = ["StackedNet", "evaluate_stacked", "train_stacked"]


class StackedNet:
    """k copies of an ``nn.Sequential`` of Conv2d, Linear, ReLU, MaxPool2d and Flatten, with stacked parameters.

    ``params[name]`` is the (k, *shape) stack of the k networks' parameter
    ``name`` (their ``named_parameters`` names), ``masks[name]`` that of the
    ``weight_mask`` buffers of their prunable layers (all ones where a network
    has none). Call with inputs (k, B, *input shape); returns (k, B, outputs).
    """

    def __init__(self, models: Sequence[nn.Module]):
        if not models:
            raise ValueError("StackedNet needs at least one network")
        first = models[0]
        if not isinstance(first, nn.Sequential):
            raise ValueError(f"StackedNet stacks nn.Sequential networks, not {type(first).__name__}")
        self.k = len(models)
        self.template = first
        names = [n for n, _ in first.named_parameters()]
        for m in models[1:]:
            if [n for n, _ in m.named_parameters()] != names or any(
                a.shape != b.shape for a, b in zip(first.parameters(), m.parameters(), strict=True)
            ):
                raise ValueError("StackedNet stacks networks of one architecture")
        for layer in first:
            if not isinstance(layer, (nn.Conv2d, nn.Linear, nn.ReLU, nn.MaxPool2d, nn.Flatten)):
                raise ValueError(f"StackedNet cannot stack a {type(layer).__name__} layer")
            if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or layer.padding_mode != "zeros"):
                raise ValueError("StackedNet stacks ungrouped, zero-padded convolutions only")
            if isinstance(layer, nn.Flatten) and (layer.start_dim, layer.end_dim) != (1, -1):
                raise ValueError("StackedNet stacks Flatten() over all but the batch dimension only")
        # ReLU then max pooling runs as pooling then ReLU: max and ReLU commute, so the outputs are the same and
        # so is every gradient (both send a window's gradient to its first maximum, and ReLU's derivative is 0
        # where that maximum is <= 0), but the ReLU and its backward touch a quarter of the values
        self._order = list(first.named_children())
        for j in range(len(self._order) - 1):
            (name_a, a), (name_b, b) = self._order[j], self._order[j + 1]
            if isinstance(a, nn.ReLU) and isinstance(b, nn.MaxPool2d):
                self._order[j], self._order[j + 1] = (name_b, b), (name_a, a)
        self.params: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for name in names:
                stacked = torch.stack([dict(m.named_parameters())[name].detach() for m in models])
                self.params[name] = stacked.clone().requires_grad_(True)
        module_names = {id(m): name for name, m in first.named_modules()}
        self.prunable = [f"{module_names[id(m)]}.weight" for m in prunable_layers(first)]
        self.masks: dict[str, torch.Tensor] = {}
        for name in self.prunable:
            buffer = f"{name.rsplit('.', 1)[0]}.weight_mask"
            found = [dict(m.named_buffers()).get(buffer) for m in models]
            ones = torch.ones_like(self.params[name][0])
            self.masks[name] = torch.stack([ones if f is None else f.detach().to(ones) for f in found])
        self.apply_masks()

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def apply_masks(self) -> None:
        """Zero every pruned weight of every network."""
        with torch.no_grad():
            for name, mask in self.masks.items():
                self.params[name].mul_(mask)

    def mask_gradients(self) -> None:
        """Zero the gradient of every pruned weight (so the optimiser's state never moves it)."""
        for name, mask in self.masks.items():
            grad = self.params[name].grad
            if grad is not None:
                grad.mul_(mask)

    def member_params(self, i: int) -> dict[str, torch.Tensor]:
        """Network i's parameters (detached copies), by name."""
        return {name: p[i].detach().clone() for name, p in self.params.items()}

    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Copy each network's stacked parameters into ``models`` (the k networks it was built from)."""
        if len(models) != self.k:
            raise ValueError(f"{len(models)} networks for a stack of {self.k}")
        with torch.no_grad():
            for i, model in enumerate(models):
                for name, p in model.named_parameters():
                    p.copy_(self.params[name][i])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        k = self.k
        if x.shape[0] != k:
            raise ValueError(f"inputs for {x.shape[0]} networks, the stack has {k}")
        b = x.shape[1]
        spatial = x.dim() == 5
        if spatial:  # (k, B, C, H, W) -> (B, k C, H, W): the k networks' channels side by side
            h = x.transpose(0, 1).reshape(b, k * x.shape[2], *x.shape[3:])
            h = h.contiguous(memory_format=torch.channels_last)
        else:
            h = x
        for owner, layer in self._order:
            if isinstance(layer, nn.Conv2d):
                if not spatial:
                    raise ValueError("a convolution after the input was flattened")
                w = self.params[f"{owner}.weight"]
                bias = self.params.get(f"{owner}.bias")
                h = fn.conv2d(
                    h,
                    w.reshape(k * w.shape[1], *w.shape[2:]),
                    None if bias is None else bias.reshape(-1),
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    groups=k,
                )
            elif isinstance(layer, nn.MaxPool2d):
                h = fn.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
            elif isinstance(layer, nn.ReLU):
                h = fn.relu(h)
            elif isinstance(layer, nn.Flatten):
                h = h.reshape(b, k, -1).transpose(0, 1) if spatial else h.reshape(k, b, -1)
                spatial = False
            else:  # Linear
                if spatial:
                    raise ValueError("a linear layer before Flatten")
                # one product per network, the call nn.Linear makes: a batched product (or one over the block
                # diagonal) sums the weight gradient in another order, and these layers are a small part of the time
                # (unbind, not indexing: the backward of k indexings would fill k zero tensors of the whole stack)
                ws = self.params[f"{owner}.weight"].unbind(0)
                bias = self.params.get(f"{owner}.bias")
                bs = [None] * k if bias is None else bias.unbind(0)
                h = torch.stack([fn.linear(x_j, w_j, b_j) for x_j, w_j, b_j in zip(h.unbind(0), ws, bs, strict=True)])
        return h


def _gather(x: torch.Tensor, rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x[rows[i], idx[i]] for each network i: (k, b, ...) from per-dataset tensors (T, n, ...)."""
    return x[rows.unsqueeze(1), idx]


@torch.no_grad()
def evaluate_stacked(
    net: StackedNet, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None = None, batch: int | None = None
) -> tuple[list[float], list[float]]:
    """Per network (mean cross-entropy, accuracy) on its data: network i on (x[rows[i]], y[rows[i]]).

    ``x`` (T, n, ...) and ``y`` (T, n) hold T data sets (``rows`` picks one per
    network); without ``rows``, ``x`` (n, ...) and ``y`` (n,) are shared by all.
    ``batch`` samples are evaluated at a time over all networks together (default
    :func:`ltpipe.engines.train.eval_batch`).
    """
    k = net.k
    if rows is None:
        x, y, rows = x.unsqueeze(0), y.unsqueeze(0), torch.zeros(k, dtype=torch.long, device=x.device)
    n = y.shape[1]
    if n == 0:
        return [float("nan")] * k, [float("nan")] * k
    loss = torch.zeros(k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(k, dtype=torch.long, device=x.device)
    step = max(1, (batch or eval_batch(x)) // k)
    for lo in range(0, n, step):
        xb, yb = x[rows, lo : lo + step], y[rows, lo : lo + step]
        out = net(xb)
        ce = fn.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1), reduction="none")
        loss += ce.view(k, -1).sum(1).double()
        correct += (out.argmax(-1) == yb).sum(1)
    return (loss / n).tolist(), (correct.double() / n).tolist()


def train_stacked(
    net: StackedNet,
    x: torch.Tensor,
    y: torch.Tensor,
    rows: torch.Tensor,
    cfg: dict[str, Any],
    *,
    generators: Sequence[torch.Generator],
    on_step: Callable[[int], None] | None = None,
    on_epoch: Callable[[int, list[float]], None] | None = None,
) -> None:
    """:func:`ltpipe.engines.train.train_epochs` for the k networks of ``net`` at once.

    Network i trains on (x[rows[i]], y[rows[i]]) (x: (T, n, ...), y: (T, n);
    every data set has n samples) with batches sliced from a permutation drawn
    from ``generators[i]`` each epoch, the same draws as ``train_epochs``
    makes with that generator. One optimiser (``cfg``'s, as ``train_epochs``)
    holds every network's slices of the stacked tensors; the loss is the sum
    of the networks' mean losses. ``on_epoch(epoch, per-network mean train loss)``.
    """
    k = net.k
    if len(generators) != k or rows.shape != (k,):
        raise ValueError(f"train_stacked needs one generator and one data row per network ({k})")
    n = y.shape[1]
    batch = int(cfg["batch_size"])
    epochs = int(cfg["epochs"])
    # network i's slice of each stacked tensor, as a tensor of its own that shares the stack's memory
    stacked = net.parameters()
    slices = [[p.detach()[i] for i in range(k)] for p in stacked]
    opt = make_optimizer([s for per_tensor in slices for s in per_tensor], cfg)
    sched = None
    if cfg.get("schedule", "constant") == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * -(-n // batch)))
    rows = rows.to(x.device)
    step = 0
    for epoch in range(1, epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(x.device)
        total = torch.zeros(k, dtype=torch.float64, device=x.device)
        for lo in range(0, n, batch):
            idx = perms[:, lo : lo + batch]
            out = net(_gather(x, rows, idx))
            yb = _gather(y, rows, idx)
            # each network's mean loss as train_epochs computes it (the same rounding)
            losses = torch.stack([fn.cross_entropy(o, t) for o, t in zip(out.unbind(0), yb.unbind(0), strict=True)])
            for p in stacked:
                p.grad = None
            losses.sum().backward()
            net.mask_gradients()
            for p, per_tensor in zip(stacked, slices, strict=True):
                for i, s in enumerate(per_tensor):
                    s.grad = p.grad[i]
            opt.step()
            if sched is not None:
                sched.step()
            net.apply_masks()
            total += (losses.detach() * idx.shape[1]).double()
            step += 1
            if on_step is not None:
                on_step(step)
        if on_epoch is not None:
            on_epoch(epoch, (total / n).tolist())
