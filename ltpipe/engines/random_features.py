"""Random features and neuron pruning (Malach et al. 2020, Sec. 3: Theorem 3.2, Theorem 3.3, Remark 3.5).

A random two-layer network g(x) = sum_i u_i relu(<w_i, x>) of width k m has
first-layer weights w_i uniform on the unit sphere and second-layer weights
u_i i.i.d. U[-1, 1]. A *neuron-subnetwork* keeps a subset of its neurons
(whole rows and their second-layer weight), unchanged, and may scale the
output by one constant c.

Remark 3.5's algorithm, as the proof of Theorem 3.2 (Appendix B) builds it:

1. split the k m neurons into m blocks of k;
2. on every block b fit the best linear readout alpha^(b) of its k random
   features on the training data (least squares, optionally with a ridge
   penalty: Theorem 3.2 assumes readouts bounded by C / k, and unpenalised
   least squares on nearly collinear features gives huge ones);
3. scale all readouts by one s = max_b max_i |alpha_i^(b)| / (1 - delta), so
   that every a_i = alpha_i / s lies in [-(1 - delta), 1 - delta];
4. keep neuron i when |u_i - a_i| <= delta. With u_i ~ U[-1, 1],
   E[u_i 1{|u_i - a_i| <= delta}] = (1/2) int_{a_i - delta}^{a_i + delta} u du
   = delta a_i exactly (the window lies inside [-1, 1] by step 3): the kept
   neurons of a block, as a random function of the u's, equal delta / s times
   its fitted readout in expectation;
5. average the blocks: the pruned network's output is
   c sum_{i kept} u_i relu(<w_i, x>) with c = s / (delta m).

So the pruned network is an unbiased estimate of the average of the m blocks'
fitted random-features models, with a variance that falls like 1 / (delta m):
it competes with a random-features model of k features (Theorem 3.2), which
is the comparison :func:`fit_readout` on k features gives, and cannot do
better than random features of its whole width k m.

The least-squares solves run on one BLAS thread: a multi-threaded LAPACK
factorises (and OpenBLAS's syrk sums F F^T) in an order that depends on the
thread count, and the tables must not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = [
    "NeuronPruning",
    "features",
    "fit_readout",
    "full_features",
    "neuron_prune",
    "random_network",
    "relative_error",
]


def random_network(seed_gen: np.random.Generator, d: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(W (width x d), rows uniform on the unit sphere; u (width,), U[-1, 1])."""
    if d < 1 or width < 1:
        raise ValueError(f"need d >= 1 and width >= 1, got d = {d}, width = {width}")
    w = seed_gen.standard_normal((width, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    u = seed_gen.uniform(-1.0, 1.0, width)
    return w, u


def features(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """relu(x W^T): (N, width) random features of the inputs x (N, d)."""
    return np.maximum(np.asarray(x, dtype=np.float64) @ w.T, 0.0)


@threadpool_limits.wrap(limits=1, user_api="blas")
def fit_readout(f: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """The least-squares readout alpha minimising ||f alpha - y||^2 + lam ||alpha||^2, lam = ``ridge`` times
    the mean squared feature norm tr(f^T f) / k (0: plain least squares, the minimum-norm solution when f is
    rank deficient)."""
    f = np.asarray(f, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if f.ndim != 2 or y.shape != (f.shape[0],):
        raise ValueError(f"need features (N, k) and targets (N,), got {f.shape} and {y.shape}")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, not {ridge}")
    if ridge == 0:
        return np.linalg.lstsq(f, y, rcond=None)[0]
    gram = f.T @ f
    lam = ridge * np.trace(gram) / f.shape[1]
    return np.linalg.solve(gram + lam * np.eye(f.shape[1]), f.T @ y)


@threadpool_limits.wrap(limits=1, user_api="blas")
def full_features(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, w: np.ndarray, ridge: float, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """The random-features model of every row of ``w`` (all k m features: what neuron pruning, which keeps some
    of them with fixed weights, cannot beat on the training objective), fitted as :func:`fit_readout` does
    (ridge > 0: the same lam = ridge tr(F^T F) / width) but in the dual, alpha = F^T (F F^T + lam I)^-1 y, so
    that only N x N kernels are formed, ``chunk`` features at a time. Returns its predictions on x_train and
    x_test."""
    if ridge <= 0:
        raise ValueError(f"the full model needs ridge > 0 (it has more features than samples), not {ridge}")
    n = len(x_train)
    k_train = np.zeros((n, n))
    k_test = np.zeros((len(x_test), n))
    for lo in range(0, len(w), chunk):
        f = features(x_train, w[lo : lo + chunk])
        k_train += f @ f.T
        k_test += features(x_test, w[lo : lo + chunk]) @ f.T
    lam = ridge * np.trace(k_train) / len(w)
    beta = np.linalg.solve(k_train + lam * np.eye(n), np.asarray(y_train, dtype=np.float64))
    return k_train @ beta, k_test @ beta


@dataclass
class NeuronPruning:
    """The result of Remark 3.5's algorithm: which neurons are kept, the output constant c, the blocks'
    fitted readouts (m, k) and the common scale s."""

    keep: np.ndarray
    c: float
    readouts: np.ndarray
    scale: float

    def predict(self, x: np.ndarray, w: np.ndarray, u: np.ndarray) -> np.ndarray:
        """c sum over kept neurons of u_i relu(<w_i, x>): the pruned network's output on x (N, d)."""
        return self.c * (features(x, w[self.keep]) @ u[self.keep])


def neuron_prune(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, u: np.ndarray, k: int, m: int, delta: float, ridge: float = 0.0
) -> NeuronPruning:
    """Remark 3.5 on training inputs x (N, d) and targets y (N,) for the random network (w (k m, d), u (k m,)):
    m blocks of k neurons, keep-window ``delta``, each block's readout fitted by :func:`fit_readout` with
    ``ridge`` (see the module docstring). The features are formed a block at a time."""
    w = np.asarray(w, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if w.shape[0] != k * m or u.shape != (k * m,):
        raise ValueError(f"need w ({k * m}, d) and u ({k * m},) for k = {k}, m = {m}, got {w.shape} and {u.shape}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), not {delta}")
    readouts = np.stack([fit_readout(features(x, w[b * k : (b + 1) * k]), y, ridge) for b in range(m)])
    top = float(np.abs(readouts).max())
    scale = top / (1.0 - delta) if top > 0 else 1.0
    a = readouts.reshape(-1) / scale
    keep = np.abs(u - a) <= delta
    return NeuronPruning(keep=keep, c=scale / (delta * m), readouts=readouts, scale=scale)


def relative_error(pred: np.ndarray, y: np.ndarray) -> float:
    """||pred - y|| / ||y|| (root mean square error relative to the target's root mean square)."""
    return float(np.linalg.norm(pred - y) / np.linalg.norm(y))
