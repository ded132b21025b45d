"""PE's networks (Pensia et al. 2020, Experiment 2): the fully connected ones and LeNet5, in the variants
Fig. 2 compares, every weight and score drawn from a seed (see :mod:`ltpipe.studies.pensia2020.pe.job`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from ltpipe.engines.supermask import (
    StructuredSupermaskLinear,
    SupermaskConv2d,
    SupermaskLinear,
    kaiming_normal,
    kaiming_uniform_scores,
    supermask_layers,
)
from ltpipe.seeds import torch_generator

__all__ = [
    "CONV_INITS",
    "NETWORKS",
    "VARIANTS",
    "FrozenConv2d",
    "build_network",
    "conv_weights",
    "count_params",
    "fc_dims",
    "structure_params",
    "wide_width",
]

NETWORKS = ("fc2", "fc4", "lenet5")
VARIANTS = ("structure", "structure-relu", "wide", "baseline")
LENET5_FEATURES = 16 * 5 * 5


def fc_dims(network: str, hidden: int = 500) -> list[int]:
    """The fully connected layer sizes of ``network`` (input first)."""
    if network == "fc2":
        return [784, hidden, 10]
    if network == "fc4":
        return [784, hidden, hidden, hidden, 10]
    if network == "lenet5":
        return [LENET5_FEATURES, 120, 84, 10]
    raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {network!r}")


def structure_params(dims: Sequence[int], r: int) -> int:
    """Weights of Fig. 1c's structure over the layers ``dims``: r * in (the block-diagonal a) + r * in * out
    (the b) per layer."""
    return sum(r * i * (o + 1) for i, o in itertools.pairwise(dims))


def wide_width(dims: Sequence[int], r: int) -> int:
    """The hidden width h whose plain network (the hidden layers of ``dims`` all of width h) has about the
    structure's weights: the root of (L - 1) h^2 + (in + out) h = P, rounded (L hidden layers)."""
    p = structure_params(dims, r)
    hidden_layers = len(dims) - 2
    b = dims[0] + dims[-1]
    if hidden_layers == 1:
        return round(p / b)
    a = hidden_layers - 1
    return round((math.sqrt(b * b + 4 * a * p) - b) / (2 * a))


CONV_INITS = ("default", "kaiming_normal")


def conv_weights(shape: tuple[int, ...], init: str, generator: torch.Generator) -> torch.Tensor:
    """A frozen convolution's filters: ``default`` is PyTorch's Conv2d default, U[-1/sqrt(fan_in),
    1/sqrt(fan_in)] (Kaiming uniform with a = sqrt(5)), which the paper's released code leaves in place
    (its LeNet5 never re-initialises its convolutions); ``kaiming_normal`` is N(0, 2 / fan_in)."""
    fan_in = math.prod(shape[1:])
    if init == "default":
        return kaiming_uniform_scores(shape, fan_in, generator)
    if init == "kaiming_normal":
        return kaiming_normal(shape, fan_in, generator)
    raise ValueError(f"conv_init must be one of {', '.join(CONV_INITS)}, not {init!r}")


class FrozenConv2d(nn.Module):
    """A bias-free convolution with frozen filters (a buffer: never trained), drawn by :func:`conv_weights`."""

    def __init__(
        self, cin: int, cout: int, kernel: int, generator: torch.Generator, padding: int = 0, init: str = "default"
    ):
        super().__init__()
        self.padding = padding
        self.register_buffer("weight", conv_weights((cout, cin, kernel, kernel), init, generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight, padding=self.padding)


def _dense(cin: int, cout: int, generator: torch.Generator) -> nn.Linear:
    layer = nn.Linear(cin, cout, bias=False)
    with torch.no_grad():
        layer.weight.copy_(kaiming_normal((cout, cin), cin, generator))
    return layer


def build_network(
    network: str,
    variant: str,
    *,
    keep: float,
    r: int,
    hidden: int,
    seed: int,
    conv: str = "frozen",
    conv_seed: int | None = None,
    conv_init: str = "default",
) -> tuple[nn.Module, list[int]]:
    """(the network, its hidden widths), every weight and score drawn from ``seed``; LeNet5's frozen
    convolutions from ``conv_seed`` (default: ``seed``), so that every variant of a trial can share one draw
    of them, as the paper's released code loads one into all (``--load-weights``).

    ``keep`` is ignored by the baseline (dense, every weight trained).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    if conv not in ("frozen", "supermask"):
        raise ValueError(f"conv must be 'frozen' or 'supermask', not {conv!r}")
    gen = torch_generator(seed, "weights")
    dims = fc_dims(network, hidden)
    if variant == "wide":
        dims = [dims[0]] + [wide_width(dims, r)] * (len(dims) - 2) + [dims[-1]]
    layers: list[nn.Module] = []
    if network == "lenet5":
        conv_gen = torch_generator(seed if conv_seed is None else conv_seed, "convs")
        for cin, cout, pad in ((1, 6, 2), (6, 16, 0)):
            if conv == "supermask" and variant != "baseline":
                layers.append(SupermaskConv2d(cin, cout, 5, keep, gen, padding=pad))
            else:
                layers.append(FrozenConv2d(cin, cout, 5, conv_gen, padding=pad, init=conv_init))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
    layers.append(nn.Flatten())
    for j, (cin, cout) in enumerate(itertools.pairwise(dims)):
        if j:
            layers.append(nn.ReLU())
        if variant == "baseline":
            layers.append(_dense(cin, cout, gen))
        elif variant == "wide":
            layers.append(SupermaskLinear(cin, cout, keep, gen))
        else:
            layers.append(StructuredSupermaskLinear(cin, cout, r, keep, variant == "structure-relu", gen))
    return nn.Sequential(*layers), dims[1:-1]


def count_params(model: nn.Module) -> tuple[int, int]:
    """(prunable weights, weights kept): the supermasked layers' weights, or a baseline's trained weights."""
    masked = supermask_layers(model)
    if masked:
        counts = [m.counts() for m in masked]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, total
