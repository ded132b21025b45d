"""Shared helpers for the tests: small teacher-student problems."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltpipe.grid import trial_specs
from ltpipe.teacher import Problems, build_problems, teacher_table


def make_problems(d=20, k=3, r=5, n=300, trials=3, noise=0.0, seed=7, exp="t") -> tuple[list[int], Problems]:
    cfg = {"trials": trials}
    specs = trial_specs("test", exp, cfg, r, seed)
    table = teacher_table(specs, d=d, k=k)
    return [s["seed"] for s in specs], build_problems(table, n, noise)


@pytest.fixture
def small():
    return make_problems()


def reference_agd(X, y, mask, W0, eta, beta, iters, partitions=0):
    """Per-trial numpy AGD written directly from eq. (2) and Algorithm 1, neuron by neuron."""
    X, y, mask, W = (np.asarray(a, dtype=float) for a in (X, y, mask, W0))
    n, _d = X.shape
    k = W.shape[1]
    W = W * mask
    prev = W.copy()
    for t in range(iters):
        if partitions:
            block = n // partitions
            lo = (t % partitions) * block
            Xs, ys = X[lo : lo + block], y[lo : lo + block]
        else:
            Xs, ys = X, y
        m = Xs.shape[0]
        pred = np.zeros(m)
        pre = np.zeros((m, k))
        for j in range(k):
            support = np.nonzero(mask[:, j])[0]
            pre[:, j] = Xs[:, support] @ W[support, j]
            pred += np.maximum(pre[:, j], 0) / k
        res = pred - ys
        grad = np.zeros_like(W)
        for j in range(k):
            support = np.nonzero(mask[:, j])[0]
            grad[support, j] = Xs[:, support].T @ (res * (pre[:, j] > 0)) / (m * k)
        W, prev = W - eta * grad + beta * (W - prev), W
    return W


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.set_num_threads(1)
