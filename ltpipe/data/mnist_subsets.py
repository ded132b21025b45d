"""Seeded, class-stratified MNIST subsets, their validation splits, and the tensors training reads.

Zhang et al. 2021 (Sec. 5.2, Fig. 7) train on N MNIST samples; Pensia et al.
2020 (Experiment 1) on the whole training set. Both read the data through
:func:`prepare_data`, which holds the training subset, its validation split
(for selection, never the test set) and the test set on the device.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ltpipe.data import mnist
from ltpipe.seeds import derive_seed, numpy_generator

__all__ = ["allocate", "prepare_data", "split_validation", "stratified_indices"]


def _as_numpy_labels(labels: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}")
    return labels


def allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over classes of sizes ``counts`` in proportion, by largest remainders (Hamilton's method).

    Each class gets ``floor(n * count / total)``; the samples left over go one
    each to the classes with the largest fractional parts, ties going to the
    larger class, then to the lower class index. Requires ``0 <= n <= total``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if not 0 <= n <= total:
        raise ValueError(f"cannot allocate {n} samples over {total}")
    if total == 0:
        return np.zeros_like(counts)
    scaled = counts * n  # exact integer arithmetic: quota = scaled / total
    base = scaled // total
    remainder = scaled - base * total
    left = n - int(base.sum())
    order = np.lexsort((np.arange(len(counts)), -counts, -remainder))  # last key is the primary one
    base[order[:left]] += 1
    return base


def _stratified_positions(labels: np.ndarray, n: int, gen: np.random.Generator) -> np.ndarray:
    """Sorted positions into ``labels``: ``n`` of them, stratified by class, drawn without replacement."""
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = allocate(counts, n)
    chosen = []
    for c in range(len(classes)):  # classes in ascending order, so the draws depend only on (labels, n, seed)
        members = np.flatnonzero(inverse == c)
        chosen.append(gen.choice(members, size=int(quota[c]), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def stratified_indices(labels: np.ndarray | torch.Tensor, n: int, seed: int) -> np.ndarray:
    """``n`` distinct indices into ``labels``, stratified by class, returned sorted ascending.

    Class sizes follow :func:`allocate` (largest-remainder allocation, so each
    class's share is within one sample of its exact proportion); which samples
    of a class are taken is drawn from ``numpy_generator(seed, "mnist-subset")``.
    Raises :class:`MnistError` when ``n`` exceeds the number of labels.
    """
    labels = _as_numpy_labels(labels)
    mnist.check_size(n, len(labels))
    return _stratified_positions(labels, n, numpy_generator(seed, "mnist-subset")).astype(np.int64)


def split_validation(
    indices: np.ndarray, labels: np.ndarray | torch.Tensor, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split a subset into (train, validation) index arrays, stratified by class, both sorted ascending.

    ``indices`` index into ``labels`` (the labels of the whole split, as given to
    :func:`stratified_indices`). The validation part has ``round(fraction *
    len(indices))`` samples allocated over classes like :func:`allocate`, drawn
    from ``numpy_generator(seed, "mnist-validation")``; the two parts are
    disjoint and together are exactly ``indices``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), not {fraction}")
    indices = np.asarray(indices, dtype=np.int64)
    if len(np.unique(indices)) != len(indices):
        raise ValueError("indices must be distinct")
    labels = _as_numpy_labels(labels)
    n_val = round(fraction * len(indices))
    pos = _stratified_positions(labels[indices], n_val, numpy_generator(seed, "mnist-validation"))
    is_val = np.zeros(len(indices), dtype=bool)
    is_val[pos] = True
    return np.sort(indices[~is_val]), np.sort(indices[is_val])


# torchvision's MNIST normalisation, as the IMP reference code uses
MEAN, STD = 0.1307, 0.3081


def _images(x: np.ndarray | torch.Tensor, device: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    return ((x.to(torch.float32) / 255.0 - MEAN) / STD).unsqueeze(1).to(device)


def prepare_data(
    root: str | Path, n_samples: int | None, val_fraction: float, seed: int, device: str = "cpu"
) -> dict[str, torch.Tensor]:
    """The training subset (stratified, seeded), its validation split and the test set, on ``device``.

    ``n_samples`` None takes the whole training set. A size larger than the
    data is refused before any training.
    """
    x_train, y_train = mnist.load(root, "train")
    x_test, y_test = mnist.load(root, "test")
    if n_samples is None:
        idx = np.arange(len(y_train))
    else:
        mnist.check_size(int(n_samples), len(y_train), f"training samples from {root}")
        idx = stratified_indices(y_train, int(n_samples), derive_seed(seed, "subset"))
    if val_fraction > 0:
        tr, va = split_validation(idx, y_train, val_fraction, derive_seed(seed, "validation"))
    else:
        tr, va = idx, idx[:0]
    tr_t, va_t = torch.as_tensor(tr, dtype=torch.long), torch.as_tensor(va, dtype=torch.long)
    return {
        "x_train": _images(x_train[tr_t], device),
        "y_train": y_train[tr_t].to(device),
        "x_val": _images(x_train[va_t], device),
        "y_val": y_train[va_t].to(device),
        "x_test": _images(x_test, device),
        "y_test": y_test.to(device),
    }
