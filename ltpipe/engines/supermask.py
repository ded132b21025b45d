"""Supermask layers for edge-popup (Ramanujan et al. 2020), as Pensia et al. 2020 use it (Sec. 5, Experiment 2).

The weights of a supermask layer are frozen at their random initialisation
(Kaiming normal; buffers, so no optimiser ever sees them); each weight has a
score (Kaiming uniform), and the forward pass uses the weights whose |score|
is among the top ``keep`` fraction of the layer. The backward pass sends the
gradient of the masked weight straight through the selection to the scores
(through the |.|, as the reference code does), so only the scores learn.

One convention everywhere: ``keep`` is the fraction of a layer's weights
kept. The reference code (allenai/hidden-networks, ``GetSubnet``) calls this
fraction ``k``; the paper's released code (acnagle/optimal-lottery-tickets)
takes the opposite, ``sparsity`` = 1 - keep, the fraction pruned. A layer of
``numel`` weights keeps ``numel - int((1 - keep) * numel)`` of them (both
codes' count), at least one.

Selection uses ``torch.topk`` (a partial selection, O(numel) on average),
not a full sort of the scores per forward as the reference code does; ties
in |score| are broken by topk's deterministic order on the CPU.

:class:`StructuredSupermaskLinear` is the structure of Pensia et al.'s
Fig. 1c and Lemma 2: every weight w_{oi} of a linear layer is realised
through an extra hidden layer of ``r`` units per input, unit (i, s) seeing
only x_i through a_{s,i} (the block-diagonal first layer of Lemma 2), with
an optional ReLU after it, and the output o reading every unit through
b_{o,(i,s)}. Both layers are supermasked. It computes the same function as
the paper's code (which repeats x r times and multiplies) in a cheaper,
exact form: without the ReLU the layer is the dense product
W_{oi} = sum_s b_{o,(i,s)} a_{s,i}; with it, relu(a x) = a+ relu(x) + a- relu(-x)
(a+ = max(a, 0), a- = max(-a, 0): Lemma 1's decomposition), so the layer is
W+ relu(x) + W- relu(-x) with W+-_{oi} = sum_s b_{o,(i,s)} a+-_{s,i}.
Either way the per-batch cost is that of one (or two) dense products
instead of r, plus one weight build per step.

Initialisation: a supermask layer's weights are Kaiming normal, N(0, 2 / fan_in),
and its scores Kaiming uniform with the reference code's a = sqrt(5),
U[-1/sqrt(fan_in), 1/sqrt(fan_in)]. The structure is initialised as the
paper's code initialises it: a ~ N(0, 2) (fan-in 1) with scores U[-sqrt 2, sqrt 2],
b ~ N(0, 2 / in) with scores U[-sqrt(2 / in), sqrt(2 / in)] (``in`` the layer's
inputs, not its r * in units: the effective weight sum_s b a then has 2r times
Kaiming's variance before pruning, r times with the ReLU, and about Kaiming's
at keep = 1/sqrt(2r) in both of its layers). As in the paper's code, the block-diagonal first layer
is built directly: Lemma 2's dense first layer, pruned to block-diagonal
form, is never materialised, and its pruned weights are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "StructuredSupermaskLinear",
    "SupermaskConv2d",
    "SupermaskLinear",
    "kaiming_normal",
    "kaiming_uniform_scores",
    "kept_count",
    "sorted_mask",
    "supermask_layers",
    "top_mask",
]


def kept_count(numel: int, keep: float) -> int:
    """How many of ``numel`` weights a layer keeps: numel - int((1 - keep) * numel), at least 1."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must lie in (0, 1], not {keep}")
    return max(1, numel - int((1.0 - keep) * numel))


def top_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """A 0/1 mask (the dtype of ``scores``) of the ``kept_count`` largest entries of ``scores``."""
    flat = scores.reshape(-1)
    k = kept_count(flat.numel(), keep)
    mask = torch.zeros_like(flat)
    if k == flat.numel():
        return mask.add_(1).reshape(scores.shape)
    idx = torch.topk(flat, k, sorted=False).indices
    return mask.index_fill_(0, idx, 1).reshape(scores.shape)


def sorted_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """The reference code's mask (hidden-networks' ``GetSubnet``): a full sort, the lowest
    ``int((1 - keep) * numel)`` set to 0 and the rest to 1. Kept as the independent check of
    :func:`top_mask` and the baseline of ``bench/edgepopup.py``."""
    out = scores.clone()
    flat = out.reshape(-1)
    _, idx = flat.sort()
    j = flat.numel() - kept_count(flat.numel(), keep)
    flat[idx[:j]] = 0
    flat[idx[j:]] = 1
    return out


class _Subnet(torch.autograd.Function):
    """The mask ``select(|scores|, keep)`` forward; the gradient straight through backward."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, keep: float, select: Callable) -> torch.Tensor:
        return select(scores, keep)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return grad, None, None


def kaiming_normal(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """N(0, 2 / fan_in) (Kaiming normal for ReLU), drawn from ``generator`` on the CPU."""
    return torch.randn(shape, generator=generator) * math.sqrt(2.0 / fan_in)


def kaiming_uniform_scores(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """U[-1/sqrt(fan_in), 1/sqrt(fan_in)]: Kaiming uniform with a = sqrt(5), the reference code's scores."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


class _Masked(nn.Module):
    """A frozen weight (buffer) and its trainable scores; ``masked(name)`` is weight * mask(|scores|)."""

    keep: float
    select: Callable[[torch.Tensor, float], torch.Tensor] = staticmethod(top_mask)  # the mask rule

    def _add(
        self,
        name: str,
        shape: tuple[int, ...],
        fan_in: int,
        generator: torch.Generator,
        score_bound: float | None = None,
    ) -> None:
        """A frozen N(0, 2 / fan_in) weight and its scores, U[-1/sqrt(fan_in), 1/sqrt(fan_in)] or
        U[-score_bound, score_bound]."""
        self.register_buffer(name, kaiming_normal(shape, fan_in, generator))
        if score_bound is None:
            scores = kaiming_uniform_scores(shape, fan_in, generator)
        else:
            scores = (torch.rand(shape, generator=generator) * 2.0 - 1.0) * score_bound
        self.register_parameter(f"{name}_scores", nn.Parameter(scores))

    def masked(self, name: str) -> torch.Tensor:
        return getattr(self, name) * _Subnet.apply(getattr(self, f"{name}_scores").abs(), self.keep, self.select)

    def mask_of(self, name: str) -> torch.Tensor:
        """The boolean mask of weight ``name`` in use now."""
        with torch.no_grad():
            return top_mask(getattr(self, f"{name}_scores").abs(), self.keep).bool()

    def weight_names(self) -> list[str]:
        return [n[: -len("_scores")] for n, _ in self.named_parameters(recurse=False) if n.endswith("_scores")]

    def counts(self) -> tuple[int, int]:
        """(weights, weights kept) of this layer."""
        sizes = [getattr(self, n).numel() for n in self.weight_names()]
        return sum(sizes), sum(kept_count(s, self.keep) for s in sizes)


class SupermaskLinear(_Masked):
    """y = x (W * m)^T, m the top-``keep`` mask of |scores|; W frozen Kaiming normal (no bias)."""

    def __init__(self, in_features: int, out_features: int, keep: float, generator: torch.Generator):
        super().__init__()
        kept_count(in_features * out_features, keep)  # refuse a bad keep at construction
        self.in_features, self.out_features, self.keep = in_features, out_features, keep
        self._add("weight", (out_features, in_features), in_features, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.masked("weight"))


class SupermaskConv2d(_Masked):
    """A bias-free convolution whose frozen Kaiming-normal filters are supermasked like :class:`SupermaskLinear`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        keep: float,
        generator: torch.Generator,
        padding: int = 0,
    ):
        super().__init__()
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        kept_count(math.prod(shape), keep)
        self.keep, self.padding = keep, padding
        self._add("weight", shape, in_channels * kernel_size * kernel_size, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.masked("weight"), padding=self.padding)


class StructuredSupermaskLinear(_Masked):
    """Pensia et al.'s Fig. 1c structure for one linear layer (in -> out), both of its layers supermasked.

    ``a`` (r, in): unit (i, s) of the extra hidden layer computes a_{s,i} x_i (then ReLU if ``relu``);
    ``b`` (out, r * in): output o reads unit (i, s) at column s * in + i (the paper's code orders the
    columns i * r + s: a permutation of i.i.d. columns, the same distribution of networks).
    """

    def __init__(
        self, in_features: int, out_features: int, r: int, keep: float, relu: bool, generator: torch.Generator
    ):
        super().__init__()
        if r < 1:
            raise ValueError(f"r must be at least 1, not {r}")
        kept_count(r * in_features, keep)
        self.in_features, self.out_features, self.r, self.keep, self.relu = in_features, out_features, r, keep, relu
        # the paper's code's initialisation: weight std sqrt(2 / fan), scores U[-std, std], fan = 1 and in
        self._add("a", (r, in_features), 1, generator, score_bound=math.sqrt(2.0))
        self._add(
            "b", (out_features, r * in_features), in_features, generator, score_bound=math.sqrt(2.0 / in_features)
        )

    def dense_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(W, None) without the ReLU, (W+, W-) with it: the dense layer(s) this structure computes now."""
        a = self.masked("a")  # (r, in)
        b = self.masked("b").reshape(self.out_features, self.r, self.in_features)
        if not self.relu:
            return (b * a).sum(1), None
        return (b * a.clamp(min=0)).sum(1), (b * (-a).clamp(min=0)).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, w_neg = self.dense_weights()
        if w_neg is None:
            return nn.functional.linear(x, w)
        return nn.functional.linear(nn.functional.relu(x), w) + nn.functional.linear(nn.functional.relu(-x), w_neg)

    def forward_expanded(self, x: torch.Tensor) -> torch.Tensor:
        """The same function computed as the paper's code does (x repeated r times, the hidden layer
        materialised): the independent check of :meth:`forward`."""
        h = x.unsqueeze(1) * self.masked("a")  # (B, r, in)
        if self.relu:
            h = nn.functional.relu(h)
        h = h.reshape(x.shape[0], -1)  # (B, r * in), unit (i, s) at column s * in + i
        return nn.functional.linear(h, self.masked("b"))


def supermask_layers(model: nn.Module) -> list[_Masked]:
    """The supermasked layers of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, _Masked)]
