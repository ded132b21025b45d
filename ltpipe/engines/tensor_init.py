"""Tensor initialisation of the sparse one-hidden-layer model (Zhang et al. 2021, Sec. 4 and Algorithm 1's W(0)).

Zhong et al. (2017)'s method of moments with x replaced by the pooled input x^ = K^{-1/2} sum_j x_{Omega_j}
(Zhang, Sec. 4). For ReLU and Gaussian input the third moment vanishes, so the fourth, M4 projected on the
K-dimensional subspace, takes its place. Steps: orthogonal iteration on M2 for the subspace
(:func:`subspace`), whitening, the K^4 tensor from the projected samples decomposed by the robust tensor
power method with deflation (:func:`decompose4`; Anandkumar et al. 2014), signs from M1, magnitudes from
M2's weight on each direction, then each direction mapped back to a neuron through B_j = A[:, Omega_j] and
assigned by the Hungarian method. The derivation (Stein's lemma with x^'s covariance, the moments' closed
forms, what overlapping supports leave invisible) is in ``docs/zt-tensor-initialisation.md``.

Batching: a call takes B trials, and a trial's W(0) does not depend on which trials share its call, to the
last bit (a noisy fourth-order tensor's power iterations can turn a last-bit difference into another
component). So the products with the data, and everything r-dimensional, are one plain matrix product per
trial, while the K-dimensional tensor work runs batched through elementwise products and sums, whose bits do
not depend on the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ltpipe.engines.compiled import one_thread
from ltpipe.seeds import torch_generator

__all__ = [
    "Moments",
    "TensorInit",
    "decompose4",
    "empirical_moments",
    "population_moments",
    "support_index",
    "tensor_init",
]

SQRT_2PI = math.sqrt(2.0 * math.pi)


def support_index(mask: torch.Tensor) -> torch.Tensor:
    """(B, K, r) input indices of each neuron's support, increasing; every neuron must have the same r."""
    counts = mask.sum(dim=1)
    r = int(counts.max())
    if bool((counts != r).any()):
        raise ValueError("the tensor initialisation needs every neuron to see the same number r of inputs")
    order = torch.argsort(mask, dim=1, descending=True, stable=True)  # support first, in index order
    return order[:, :r, :].transpose(1, 2).contiguous()


def pooling_matrix(index: torch.Tensor, d: int, dtype: torch.dtype) -> torch.Tensor:
    """A (B, r, d): x^ = A x = K^{-1/2} sum_j x_{Omega_j}."""
    b, k, r = index.shape
    A = torch.zeros(b, r, d, dtype=dtype, device=index.device)
    rows = torch.arange(r, device=index.device).view(1, 1, r).expand(b, k, r)
    flat = (rows * d + index).reshape(b, k * r)
    A.view(b, r * d).scatter_add_(1, flat, torch.ones(b, k * r, dtype=dtype, device=index.device))
    return A / math.sqrt(k)


def _per_trial(fn, *tensors: torch.Tensor) -> torch.Tensor:
    """fn applied to each trial's slices (2-D products, bits independent of the batch), stacked."""
    return torch.stack([fn(*(t[i] for t in tensors)) for i in range(tensors[0].shape[0])])


@dataclass
class Moments:
    """What the method reads from the data, per trial: the first two moments, and the two
    data-dependent contractions (projected fourth moment, per-neuron second moment).

    ``m1`` (B, r), ``M2`` (B, r, r), ``S`` (B, r, r) the covariance of x^, ``A`` (B, r, d), ``index``
    (B, K, r). ``fourth(P)`` for P (B, K, r) returns E[y He_4(P x^; P S P^T)] (B, K, K, K, K);
    ``local(v)`` for v (B, K, K, r) returns (B, K, K): E[y ((x_{Omega_j} . v_jk)^2 - ||v_jk||^2)].
    Empirical (:func:`empirical_moments`) or in closed form (:func:`population_moments`).
    """

    m1: torch.Tensor
    M2: torch.Tensor
    S: torch.Tensor
    A: torch.Tensor
    index: torch.Tensor
    fourth: Callable[[torch.Tensor], torch.Tensor]
    local: Callable[[torch.Tensor], torch.Tensor]


def empirical_moments(X: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> Moments:
    """The sample moments of B trials: X (B, N, d), y (B, N), mask (B, d, K) the student supports.

    y is centred (its mean subtracted) in every moment; since E[He_l(x^)] = 0
    this leaves the expectations unchanged and lowers their variance.
    """
    _, n, d = X.shape
    index = support_index(mask)
    k, r = index.shape[1], index.shape[2]
    A = pooling_matrix(index, d, X.dtype)
    S = _per_trial(lambda a: a @ a.T, A)
    yc = y - y.mean(dim=1, keepdim=True)
    # x^_n = A x_n = K^{-1/2} sum_j x_{n, Omega_j}: one product with the data, nothing gathered per neuron
    Xh = _per_trial(lambda x, a: x @ a.T, X, A)
    m1 = _per_trial(lambda x, w: w @ x, Xh, yc) / n
    # E[y x^ x^T]; the - E[y] S term of He_2 is 0 once y is centred
    M2 = _per_trial(lambda x, w: x.T @ (w.unsqueeze(1) * x), Xh, yc) / n

    def fourth(P: torch.Tensor) -> torch.Tensor:
        kk = P.shape[1]

        def one(x: torch.Tensor, w: torch.Tensor, p: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            z = x @ p.T  # (N, K)
            z2 = (z.unsqueeze(-1) * z.unsqueeze(-2)).reshape(n, kk * kk)
            f4 = (z2.T @ (w.unsqueeze(1) * z2)).view(kk, kk, kk, kk) / n
            f2 = (z.T @ (w.unsqueeze(1) * z)) / n
            # E[y He_4] = E[y z^(x)4] - sym6(S_z (x) E[y z z^T]) + E[y] sym3(S_z (x) S_z); E[y] = 0 once centred
            return f4 - _sym6(p @ s @ p.T, f2)

        return _per_trial(one, Xh, yc, P, S)

    def local(v: torch.Tensor) -> torch.Tensor:
        def one(x: torch.Tensor, w: torch.Tensor, vv: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            # x_{n, Omega_j} . v_jk = x_n . (v_jk placed on Omega_j): every (j, k) in one product with the data
            placed = torch.zeros(k, k, d, dtype=x.dtype, device=x.device)
            placed.scatter_(2, idx.unsqueeze(1).expand(k, k, r), vv)
            proj = x @ placed.reshape(k * k, d).T  # (N, K K)
            return (w @ proj.square()).view(k, k) / n

        return _per_trial(one, X, yc, v, index)

    return Moments(m1=m1, M2=M2, S=S, A=A, index=index, fourth=fourth, local=local)


def population_moments(target: torch.Tensor, mask: torch.Tensor) -> Moments:
    """The same moments in closed form from the teacher (B, d, K) (noise-free, Gaussian input), for checking."""
    b, d, k = target.shape
    index = support_index(mask)
    r = index.shape[2]
    A = pooling_matrix(index, d, target.dtype)
    S = A @ A.transpose(1, 2)
    U = A @ target  # (B, r, K): u_j = A w^_j
    s = torch.linalg.vector_norm(target, dim=1)  # (B, K)
    c = 1.0 / (k * SQRT_2PI * s)
    e = -1.0 / (k * SQRT_2PI * s**3)
    m1 = U.sum(-1) / (2 * k)
    M2 = torch.einsum("bk,bik,bjk->bij", c, U, U)

    def fourth(P: torch.Tensor) -> torch.Tensor:
        Pu = P @ U  # (B, K, K): column j is P u_j
        return torch.einsum("bj,baj,bcj,bdj,bej->bacde", e, Pu, Pu, Pu, Pu)

    def local(v: torch.Tensor) -> torch.Tensor:
        # Cov(x_{Omega_j} . v, z_l) = v . (w^_l restricted to Omega_j)
        Wl = target.unsqueeze(1).expand(b, k, d, k).gather(2, index.unsqueeze(-1).expand(b, k, r, k))  # (B, j, r, l)
        cov = torch.einsum("bjkr,bjrl->bjkl", v, Wl)
        return torch.einsum("bl,bjkl->bjk", c, cov.square())

    return Moments(m1=m1, M2=M2, S=S, A=A, index=index, fourth=fourth, local=local)


def _sym6(S: torch.Tensor, F: torch.Tensor) -> torch.Tensor:
    """The 6 ways of splitting (a b c d) into an S-pair and an F-pair, summed: (K, K, K, K)."""
    return (
        torch.einsum("ij,kl->ijkl", S, F)
        + torch.einsum("ik,jl->ijkl", S, F)
        + torch.einsum("il,jk->ijkl", S, F)
        + torch.einsum("jk,il->ijkl", S, F)
        + torch.einsum("jl,ik->ijkl", S, F)
        + torch.einsum("kl,ij->ijkl", S, F)
    )


def subspace(
    M2: torch.Tensor, k: int, generators: Sequence[torch.Generator], *, iters: int = 300, tol: float = 1e-10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal (B, r, K) basis of M2's top-k eigenspace (by magnitude) by orthogonal iteration.

    Starts from a Gaussian matrix of each trial's generator; a trial stops
    when the largest principal-angle sine between its successive bases,
    ||(I - V V^T) V_new||_2, falls below ``tol``, or after ``iters``.
    Returns (V, iterations per trial).
    """
    r = M2.shape[1]
    bases, steps = [], []
    for m, g in zip(M2, generators, strict=True):
        V = torch.linalg.qr(torch.randn(r, k, generator=g, dtype=torch.float64).to(m)).Q
        it = 0
        for it in range(1, iters + 1):  # noqa: B007 (the count is the result)
            V_new = torch.linalg.qr(m @ V).Q
            sin = torch.linalg.matrix_norm(V_new - V @ (V.T @ V_new), ord=2)
            V = V_new
            if float(sin) < tol:
                break
        bases.append(V)
        steps.append(it)
    return torch.stack(bases), torch.tensor(steps)


def _contract3(T: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """T(I, u, u, u) for T (B, K, K, K, K) and u (B, L, K): (B, L, K), by elementwise products and sums."""
    t = T.unsqueeze(1)  # (B, 1, K, K, K, K)
    t = (t * u[:, :, None, None, None, :]).sum(-1)
    t = (t * u[:, :, None, None, :]).sum(-1)
    return (t * u[:, :, None, :]).sum(-1)


def decompose4(
    T: torch.Tensor, generators: Sequence[torch.Generator], *, restarts: int = 10, iters: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Robust tensor power method with deflation for a symmetric (B, K, K, K, K) tensor ~ sum_j l_j b_j^(x)4,
    l_j > 0, b_j orthonormal (Anandkumar et al. 2014, Algorithm 1, for fourth order).

    Per component: ``restarts`` random unit starts from each trial's
    generator, ``iters`` power steps u <- T(I, u, u, u) / ||.|| each, the
    start with the largest T(u, u, u, u) kept and refined by ``iters`` more
    steps, then deflated. Returns (lambdas (B, K), vectors (B, K, K) with
    component j in column j); the sign of each vector is arbitrary (b and -b
    give the same term).
    """
    b, k = T.shape[0], T.shape[1]
    T = T.clone()
    lams, vecs = [], []

    def power(T: torch.Tensor, u: torch.Tensor, n: int) -> torch.Tensor:
        for _ in range(n):
            u = _contract3(T, u)
            u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp(min=1e-300)
        return u

    def value(T: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return (_contract3(T, u) * u).sum(-1)

    rows = torch.arange(b, device=T.device)
    for _ in range(k):
        u0 = torch.stack([torch.randn(restarts, k, generator=g, dtype=torch.float64) for g in generators]).to(T)
        u0 = u0 / torch.linalg.vector_norm(u0, dim=-1, keepdim=True)
        u = power(T, u0, iters)
        best = value(T, u).argmax(dim=1)
        u = power(T, u[rows, best].unsqueeze(1), iters)
        lam = value(T, u)[:, 0]
        u = u[:, 0]
        outer = u[:, :, None, None, None] * u[:, None, :, None, None] * u[:, None, None, :, None]
        T = T - lam.view(b, 1, 1, 1, 1) * outer * u[:, None, None, None, :]
        lams.append(lam)
        vecs.append(u)
    return torch.stack(lams, 1), torch.stack(vecs, 2)


@dataclass
class TensorInit:
    """The initialisation of B trials: ``W`` (B, d, K) on the student support, and what led to it.

    ``power_iterations`` (B,): orthogonal-iteration steps each trial's subspace took.
    ``tensor_lambdas`` (B, K): the decomposed tensor's weights
    (-mu_j in the module docstring; K sqrt(2 pi) / s_j in population).
    ``score_margin`` (B,): the chosen assignment's total score over the
    best other assignment's (> 1: the assignment was clear).
    """

    W: torch.Tensor
    power_iterations: torch.Tensor
    tensor_lambdas: torch.Tensor
    score_margin: torch.Tensor


def _assign(scores: np.ndarray) -> tuple[np.ndarray, float]:
    """Directions to neurons maximising the summed score; and that total over the runner-up's."""
    rows, cols = linear_sum_assignment(scores, maximize=True)
    best = scores[rows, cols].sum()
    runner = -np.inf
    for j in range(scores.shape[0]):  # the best assignment that differs from the chosen one in neuron j
        s = scores.copy()
        s[j, cols[j]] = -1e300
        r2, c2 = linear_sum_assignment(s, maximize=True)
        runner = max(runner, s[r2, c2].sum())
    return cols, float(best / runner) if runner > 0 else math.inf


def tensor_init(
    X: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    seeds: Sequence[int],
    *,
    moments: Moments | None = None,
    restarts: int = 10,
    power_iters: int = 100,
    subspace_iters: int = 300,
    rtol: float = 1e-6,
) -> TensorInit:
    """W(0) for B trials by the method of moments described in the module docstring.

    X (B, N, d), y (B, N), mask (B, d, K) the student supports (every neuron
    the same r >= K). Random starts come from each trial seed's
    "tensor-init" stream, so a trial's W(0) does not depend on its batch.
    ``moments`` replaces the sample moments (e.g. :func:`population_moments`).
    ``rtol``: singular values of B_j below rtol times its largest count as zero. On one torch thread: the
    moments' products must give the same bits whatever the job's thread count.
    """
    with one_thread():
        return _tensor_init(X, y, mask, seeds, moments, restarts, power_iters, subspace_iters, rtol)


def _tensor_init(X, y, mask, seeds, moments, restarts, power_iters, subspace_iters, rtol) -> TensorInit:
    b, d, k = mask.shape
    r = int(mask.sum(dim=1).max())
    if r < k:
        raise ValueError(f"the tensor initialisation needs r >= K (a K-dimensional subspace of R^r), got r={r}, K={k}")
    mom = moments if moments is not None else empirical_moments(X, y, mask)
    index = mom.index
    dtype = mom.M2.dtype
    gens = [torch_generator(int(s), "tensor-init") for s in seeds]
    M2 = 0.5 * (mom.M2 + mom.M2.transpose(1, 2))
    V, n_power = subspace(M2, k, gens, iters=subspace_iters)

    def whiten(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        q = v.T @ m @ v
        ev, E = torch.linalg.eigh(0.5 * (q + q.T))
        # Q is positive definite in population; sampling can push its small eigenvalues below zero
        ev = ev.clamp(min=1e-12 * float(ev.abs().max().clamp(min=1e-300)))
        return torch.stack([E @ torch.diag(ev.rsqrt()) @ E.T, E @ torch.diag(ev.sqrt()) @ E.T])

    roots = _per_trial(whiten, V, M2)
    Wh, Qh = roots[:, 0], roots[:, 1]  # Q^{-1/2}, Q^{1/2}
    P = _per_trial(lambda w, v: w @ v.T, Wh, V)  # (B, K, r): z = P x^
    T = mom.fourth(P)
    lams, Bv = decompose4(-T, gens, restarts=restarts, iters=power_iters)
    D = _per_trial(lambda v, q, bv: v @ (q @ bv), V, Qh, Bv)  # (B, r, K): column k = sqrt(alpha_k) u^_k, up to sign
    alpha = torch.linalg.vector_norm(D, dim=1).square()  # (B, K)
    Uhat = D / alpha.sqrt().unsqueeze(1).clamp(min=1e-300)
    # signs: M1 = sum_k beta_k u^_k with beta_k = s_k ||u_k|| / (2K)
    coef = _per_trial(lambda u, m: torch.linalg.lstsq(u, m.unsqueeze(-1)).solution.squeeze(-1), Uhat, mom.m1)
    Uhat = Uhat * torch.where(coef < 0, -1.0, 1.0).to(dtype).unsqueeze(1)

    # un-mix: B_j = A[:, Omega_j] (r x r), candidates v_jk = B_j^{-1} u^_k. B_j is singular when overlapping
    # supports make two of neuron j's inputs pool alike: that part of w_j is invisible to every moment of x^,
    # and the pseudo-inverse leaves it at zero
    def candidates(a: torch.Tensor, idx: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return torch.stack([(torch.linalg.pinv(a[:, idx[j]], rtol=rtol) @ u).T for j in range(k)])  # (j, k, r)

    cand = _per_trial(candidates, mom.A, index, Uhat)
    cnorm = torch.linalg.vector_norm(cand, dim=-1)  # (B, j, k)
    scores = mom.local(cand / cnorm.unsqueeze(-1).clamp(min=1e-300)).detach().cpu().double().numpy()
    W = torch.zeros(b, d, k, dtype=dtype, device=mask.device)
    margins = np.empty(b)
    for t in range(b):
        cols, margins[t] = _assign(scores[t])
        for j, kk in enumerate(cols):
            # alpha = rho^2 / (K sqrt(2 pi) ||w||) with w = rho B_j^{-1} u^_k
            rho = alpha[t, kk] * k * SQRT_2PI * cnorm[t, j, kk]
            W[t, index[t, j], j] = rho * cand[t, j, kk]
    return TensorInit(W=W, power_iterations=n_power, tensor_lambdas=lams, score_margin=torch.from_numpy(margins))
