"""The networks of the MNIST experiments, built from a name.

``lenet5``: LeNet-5 as in LeCun et al. 1998, the architecture Zhang et al.
2021 name for Fig. 7 (conv 6@5x5 pad 2, pool, conv 16@5x5, pool, fc 120,
fc 84, fc 10), with ReLU and max pooling as in modern re-implementations.
``lenet5-conv64``: the network that the IMP code the paper used (Frankle &
Carbin re-implementation, rahulvigneswaran/Lottery-Ticket-Hypothesis-in-Pytorch)
calls LeNet5: conv 64@3x3 pad 1, conv 64@3x3 pad 1, maxpool 2, fc 256,
fc 256, fc 10. ``lenet-300-100``: Frankle & Carbin's fully connected
784-300-100-10. ``fc-784-500-10-nobias``: the bias-free target of Pensia
et al. 2020, Experiment 1.

The last ``nn.Linear`` of every network is its output layer (pruned at its
own rate by :mod:`ltpipe.engines.prune`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["ARCHITECTURES", "build"]


def _lenet5() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def _lenet5_conv64() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 14 * 14, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def _lenet_300_100() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 300),
        nn.ReLU(),
        nn.Linear(300, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )


def _fc_784_500_10_nobias() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 500, bias=False), nn.ReLU(), nn.Linear(500, 10, bias=False))


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "lenet5": _lenet5,
    "lenet5-conv64": _lenet5_conv64,
    "lenet-300-100": _lenet_300_100,
    "fc-784-500-10-nobias": _fc_784_500_10_nobias,
}


def build(name: str) -> nn.Module:
    """A freshly initialised network (PyTorch's default init, from torch's global generator)."""
    try:
        return ARCHITECTURES[name]()
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}") from None
