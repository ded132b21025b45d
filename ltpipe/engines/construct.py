"""Strong lottery tickets by construction: a target ReLU network found inside a random one by masks only.

Two constructions, on the same random network (Pensia et al. 2020, Lemma 1-3
and Theorem 1; Malach et al. 2020, Theorem 2.1 and Lemma A.1-A.5):

A target layer y = W x (W of shape d_out x d_in, then the target's ReLU
unless it is the last layer) is approximated by a *pair* of random layers,
g(x) = M2 relu(M1 x), M1 of shape (2n d_in) x d_in and M2 of shape
d_out x (2n d_in), every entry i.i.d. U[-1, 1]. Hidden unit k belongs to
block j = k // (2n) of input j; within a block the first n units are the
"positive" ones and the last n the "negative" ones. The mask of M1 keeps
only the entry (k, j) of unit k's own input j and only when its sign is the
unit's (Pensia's Step 1: u pruned to a+ = max(0, a) and c- = min(0, c)); the
other units are dead. M1 is then block diagonal with at most one non-zero
per row (Lemma 2-3's pre-processing), and for x_j > 0 a positive unit
outputs M1[k, j] x_j, for x_j < 0 a negative unit outputs M1[k, j] x_j, so
with z_k = M2[r, k] M1[k, j] (the products of Lemma 1)

    (S2 o M2) relu((S1 o M1) x)_r = sum_j P[r, j] relu(x_j) - N[r, j] relu(-x_j),

P[r, j] (N[r, j]) the sum of z_k over the kept positive (negative) units of
block j. Since w x = w relu(x) - w relu(-x), the pair equals W x exactly when
P = N = W, and for every x with ||x|| <= 1 it is within max |P - W|, |N - W|
per weight. The constructions differ only in the mask of M2, chosen per
(r, j) and side:

- ``subset_sum`` (Pensia et al., Lemma 1 Step 2): the subset of the side's
  n products z_k (dead units contribute 0) whose sum is closest to W[r, j],
  found exactly (:func:`ltpipe.engines.subsetsum.solve`);
- ``closest`` (Malach et al., Lemma A.1): the one live product z_k closest
  to W[r, j] (none when 0 is closer). Malach's proof asks separately for a
  first-layer weight close to w and a second-layer weight close to 1
  (probability about eps^2 per unit); taking the best product is never
  worse, so the comparison favours this construction.

A depth-l target f(x) = W_l relu(... relu(W_1 x)) becomes the 2l-layer
g(x) = M_2l relu(M_2l-1 ... relu(M_1 x)) (Theorem 1): pair i approximates
layer i. Unused units are pruned too (a first-layer weight whose unit no
kept second-layer weight reads), which changes no output.

The random network is never held whole: block j of pair i (the rows of M1
and the columns of M2 of its 2n units) is drawn from its own generator
(seed, pair, block), so a network of any width is built block by block and
:func:`dense_random` rebuilds the same matrices for checking. A pruned
network keeps, per pair, the kept first-layer entries (unit, input, value)
and the kept second-layer entries (row, unit, value), each value the random
weight itself: the masks are the only change.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ltpipe.engines.compiled import one_thread
from ltpipe.engines.subsetsum import solve
from ltpipe.seeds import numpy_generator, torch_generator

__all__ = [
    "RULES",
    "Pair",
    "Pruned",
    "build",
    "dense_random",
    "random_block",
    "random_target",
    "single_weight",
    "sup_ball",
    "target_forward",
]

RULES = ("subset_sum", "closest")
MAX_SUBSET_N = 48  # products per weight and side for the subset-sum rule (live ones > 40: P < 1e-6 at 48)
DENSE_LIMIT = 2**24  # second-layer entries multiplied as a dense matrix (128 MiB in float64); sparse beyond


def random_block(seed: int, pair: int, block: int, n: int, d_in: int, d_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Block ``block`` of pair ``pair`` of the random network: its 2n rows of M1 (2n x d_in) and its 2n
    columns of M2 (d_out x 2n), i.i.d. U[-1, 1] from the block's own generator."""
    gen = numpy_generator(seed, "pair", pair, "block", block)
    m1 = gen.uniform(-1.0, 1.0, (2 * n, d_in))
    m2 = gen.uniform(-1.0, 1.0, (d_out, 2 * n))
    return m1, m2


def dense_random(seed: int, dims: Sequence[int], n: int) -> list[np.ndarray]:
    """The whole random 2l-layer network for target widths ``dims`` = (d_0, ..., d_l), as dense matrices
    [M_1, M_2, ..., M_2l] (the same weights :func:`build` prunes); for checks at small sizes."""
    out = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
        blocks = [random_block(seed, i, j, n, d_in, d_out) for j in range(d_in)]
        out.append(np.concatenate([b[0] for b in blocks], axis=0))
        out.append(np.concatenate([b[1] for b in blocks], axis=1))
    return out


def random_target(seed: int, dims: Sequence[int]) -> list[np.ndarray]:
    """A random ReLU target with spectral norm exactly 1 per layer (Pensia et al., eq. 4: norm <= 1):
    Gaussian matrices divided by their largest singular value."""
    gen = numpy_generator(seed, "target")
    out = []
    for d_in, d_out in itertools.pairwise(dims):
        w = gen.standard_normal((d_out, d_in))
        out.append(w / np.linalg.norm(w, 2))
    return out


def _masks_subset_sum(z: np.ndarray, live: np.ndarray, w: np.ndarray, device: str) -> np.ndarray:
    """z (B, n) products of one side, live (B, n) its live units, w (B,): the optimal subset's mask (B, n).

    Dead units' products are 0 and change no sum, so each row's live products are moved to the front and
    the rows solved in groups of equal live count c over those c products only (the solver's work is
    2^(c/2) per instance, c about n/2)."""
    order = np.argsort(~live, axis=1, kind="stable")
    counts = live.sum(axis=1)
    front = np.take_along_axis(np.where(live, z, 0.0), order, axis=1)
    out = np.zeros(z.shape, dtype=bool)
    for c in np.unique(counts):
        rows = np.flatnonzero(counts == c)
        if c == 0:
            continue
        _, mask = solve(np.ascontiguousarray(front[rows, :c]), w[rows], device=device)
        sub = np.zeros((rows.size, z.shape[1]), dtype=bool)
        np.put_along_axis(sub, order[rows, :c], mask.numpy(), axis=1)
        out[rows] = sub
    return out & live


def _masks_closest(z: np.ndarray, live: np.ndarray, w: np.ndarray) -> np.ndarray:
    """z (B, n), live (B, n), w (B,): a one-hot mask of the live product closest to w, or no unit at all when
    |w| is closer to 0 than every live product is to w (Malach et al., Lemma A.1: a weight within eps of 0
    needs no unit)."""
    dist = np.where(live, np.abs(z - w[:, None]), np.inf)
    best = dist.argmin(axis=1)
    mask = np.zeros(z.shape, dtype=bool)
    rows = np.flatnonzero(dist[np.arange(len(w)), best] < np.abs(w))
    mask[rows, best[rows]] = True
    return mask


def _masks(rule: str, z: np.ndarray, live: np.ndarray, w: np.ndarray, device: str) -> np.ndarray:
    """The second-layer mask of one side by ``rule``: z (B, n) products, live (B, n), w (B,) targets."""
    if rule == "subset_sum":
        return _masks_subset_sum(z, live, w, device)
    if rule == "closest":
        return _masks_closest(z, live, w)
    raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")


@dataclass
class Pair:
    """One pruned pair of layers: kept first-layer entries (unit, input, value) and second-layer entries
    (row, unit, value), unit indices into the 2n d_in hidden units; P and N (d_out x d_in) the pair's
    effective weights on relu(x) and -relu(-x)."""

    d_in: int
    d_out: int
    n: int
    unit: np.ndarray
    unit_input: np.ndarray
    unit_value: np.ndarray
    row: np.ndarray
    col: np.ndarray
    value: np.ndarray
    p: np.ndarray
    q: np.ndarray
    _m2: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def col_pos(self) -> np.ndarray:
        """Each kept second-layer entry's unit as an index into ``unit`` (sorted)."""
        return np.searchsorted(self.unit, self.col)

    @property
    def params_random(self) -> int:
        return 2 * self.n * self.d_in * (self.d_in + self.d_out)

    @property
    def params_kept(self) -> int:
        return int(self.unit.size + self.value.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(S2 o M2) relu((S1 o M1) x) for x (B, d_in): the kept entries only (a row of S1 o M1 holds at most
        its unit's one entry; the other rows are zero and give relu(0) = 0). The second layer's kept columns
        are multiplied as a dense d_out x (units kept) matrix (zeros where a unit's weight to an output is
        pruned): on a CPU tens of times faster than a sparse product at these densities; beyond
        ``DENSE_LIMIT`` entries as a sparse one."""
        dt, dev = x.dtype, x.device
        v1 = torch.as_tensor(self.unit_value, dtype=dt, device=dev)
        h = torch.relu(x[:, torch.as_tensor(self.unit_input, device=dev)] * v1)  # (B, units kept)
        key = (dt, dev)
        if self._m2 is None or self._m2[0] != key:
            rows = torch.as_tensor(self.row, device=dev)
            cols = torch.as_tensor(self.col_pos, device=dev)
            vals = torch.as_tensor(self.value, dtype=dt, device=dev)
            shape = (self.d_out, len(self.unit))
            if shape[0] * shape[1] <= DENSE_LIMIT:
                m2 = torch.zeros(shape, dtype=dt, device=dev)
                m2[rows, cols] = vals
            else:  # too large to hold dense (single products at a large width): sparse rows
                m2 = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, shape, check_invariants=False)
                with warnings.catch_warnings():  # CSR support is marked beta; the product is checked by the tests
                    warnings.simplefilter("ignore", UserWarning)
                    m2 = m2.coalesce().to_sparse_csr()
            self._m2 = (key, m2)
        m2 = self._m2[1]
        return h @ m2.T if m2.layout == torch.strided else (m2 @ h.T).T

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """The pruned matrices S1 o M1 and S2 o M2, dense (for checks at small sizes)."""
        m1 = np.zeros((2 * self.n * self.d_in, self.d_in))
        m1[self.unit, self.unit_input] = self.unit_value
        m2 = np.zeros((self.d_out, 2 * self.n * self.d_in))
        m2[self.row, self.col] = self.value
        return m1, m2


@dataclass
class Pruned:
    """A pruned 2l-layer network: its pairs, the rule that chose the masks and the per-weight sup errors."""

    rule: str
    n: int
    pairs: list[Pair]
    weight_error: list[np.ndarray]

    @property
    def params_random(self) -> int:
        return sum(p.params_random for p in self.pairs)

    @property
    def params_kept(self) -> int:
        return sum(p.params_kept for p in self.pairs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, p in enumerate(self.pairs):
            x = p.forward(x)
            if i < len(self.pairs) - 1:
                x = torch.relu(x)
        return x


def _prune_pair(
    w: np.ndarray, seed: int, index: int, n: int, rule: str, device: str, chunk_entries: int = 2**22
) -> tuple[Pair, np.ndarray]:
    """Prune pair ``index`` of the random network to approximate the layer ``w`` (d_out x d_in), blocks a
    chunk at a time (about ``chunk_entries`` products held at once)."""
    d_out, d_in = w.shape
    p, q = np.zeros((d_out, d_in)), np.zeros((d_out, d_in))
    kept: dict[str, list[np.ndarray]] = {k: [] for k in ("j", "r", "t", "v1", "v2")}
    step = max(1, chunk_entries // (d_out * 2 * n))
    for j0 in range(0, d_in, step):
        js = range(j0, min(d_in, j0 + step))
        m1d = np.empty((len(js), 2 * n))  # per block, its units' own-input weights M1[k, j]
        m2b = np.empty((len(js), d_out, 2 * n))  # per block, its columns of M2
        for i, j in enumerate(js):
            m1, m2 = random_block(seed, index, j, n, d_in, d_out)
            m1d[i], m2b[i] = m1[:, j], m2
        live = np.concatenate([m1d[:, :n] > 0, m1d[:, n:] < 0], axis=1)  # (blocks, 2n)
        z = m2b * np.where(live, m1d, 0.0)[:, None, :]  # (blocks, d_out, 2n): products, 0 for dead units
        target = w[:, js.start : js.stop].T.reshape(-1)  # matching z's first two axes
        masks = np.zeros(z.shape, dtype=bool)
        for side in (slice(0, n), slice(n, 2 * n)):
            zs = z[:, :, side].reshape(-1, n)
            ls = np.ascontiguousarray(np.broadcast_to(live[:, None, side], z[:, :, side].shape).reshape(-1, n))
            m = _masks(rule, zs, ls, target, device)
            masks[:, :, side] = m.reshape(len(js), d_out, n)
        picked = np.where(masks, z, 0.0)
        p[:, js.start : js.stop] = picked[:, :, :n].sum(axis=2).T
        q[:, js.start : js.stop] = picked[:, :, n:].sum(axis=2).T
        jj, rr, tt = np.nonzero(masks)
        kept["j"].append(jj + js.start)
        kept["r"].append(rr)
        kept["t"].append(tt)
        kept["v1"].append(m1d[jj, tt])
        kept["v2"].append(m2b[jj, rr, tt])
    j_idx, r_idx, t_idx, v1, v2 = (np.concatenate(kept[k]) for k in ("j", "r", "t", "v1", "v2"))
    col = j_idx * 2 * n + t_idx
    units, first = np.unique(col, return_index=True)
    pair = Pair(
        d_in=d_in,
        d_out=d_out,
        n=n,
        unit=units,
        unit_input=units // (2 * n),
        unit_value=v1[first],
        row=r_idx,
        col=col,
        value=v2,
        p=p,
        q=q,
    )
    return pair, np.maximum(np.abs(p - w), np.abs(q - w))


def build(target: Sequence[np.ndarray], seed: int, n: int, rule: str, device: str = "cpu") -> Pruned:
    """Prune the random 2l-layer network of width factor ``n`` (2n hidden units per input of each target
    layer; Theorem 1's width C d_i-1 log(d_i-1 d_i l / eps) is 2n d_i-1) to approximate ``target``
    (matrices W_1, ..., W_l, each d_i x d_i-1), by ``rule``: ``subset_sum`` (Pensia) or ``closest`` (Malach)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    if n < 1:
        raise ValueError(f"width factor n must be at least 1, not {n}")
    if rule == "subset_sum" and n > MAX_SUBSET_N:
        raise ValueError(
            f"n = {n}: the exact subset sum takes at most 40 live products per weight and side, and about n/2 of "
            f"the n live; n <= {MAX_SUBSET_N} keeps more than 40 improbable (P < 1e-6 per weight)"
        )
    pairs, errors = [], []
    for i, w in enumerate(target):
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 2 or (i and w.shape[1] != target[i - 1].shape[0]):
            raise ValueError(f"target layer {i}: shape {w.shape} does not follow the previous layer")
        pair, err = _prune_pair(w, seed, i, n, rule, device)
        pairs.append(pair)
        errors.append(err)
    return Pruned(rule, n, pairs, errors)


def target_forward(target: Sequence[np.ndarray], x: torch.Tensor) -> torch.Tensor:
    """f(x) = W_l relu(... relu(W_1 x)) for x (B, d_0)."""
    for i, w in enumerate(target):
        x = x @ torch.as_tensor(w, dtype=x.dtype, device=x.device).T
        if i < len(target) - 1:
            x = torch.relu(x)
    return x


def sup_ball(f, g, d: int, samples: int, starts: int, steps: int, seed: int, lr: float = 0.1) -> tuple[float, float]:
    """An estimate from below of sup over ||x|| <= 1 of ||f(x) - g(x)||_2 for positively homogeneous f and g
    (bias-free ReLU networks: the sup is on the sphere): the largest over ``samples`` points uniform on the
    sphere, then projected gradient ascent on the sphere from the ``starts`` worst of them (normalised
    steps of length ``lr``, halved whenever a step does not improve a start). Returns (sampled, searched),
    searched >= sampled. On one torch thread: its products' last bits must not depend on the job's threads."""
    with one_thread():
        return _sup_ball(f, g, d, samples, starts, steps, seed, lr)


def _sup_ball(f, g, d: int, samples: int, starts: int, steps: int, seed: int, lr: float) -> tuple[float, float]:
    gen = torch_generator(seed, "sup_ball")
    x = torch.randn(samples, d, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    with torch.no_grad():
        err = (f(x) - g(x)).norm(dim=1)
    sampled = float(err.max())
    top = err.topk(min(starts, samples)).indices
    x = x[top].clone()
    best = err[top].clone()
    step = torch.full((x.shape[0], 1), float(lr), dtype=torch.float64)
    for _ in range(steps):
        x.requires_grad_(True)
        e = (f(x) - g(x)).norm(dim=1)
        (grad,) = torch.autograd.grad(e.sum(), x)
        with torch.no_grad():
            tangent = grad - (grad * x).sum(dim=1, keepdim=True) * x
            norm = tangent.norm(dim=1, keepdim=True)
            cand = x + step * tangent / norm.clamp_min(1e-300)
            cand = cand / cand.norm(dim=1, keepdim=True)
            ce = (f(cand) - g(cand)).norm(dim=1)
            better = ce > best
            x = torch.where(better[:, None], cand, x.detach())
            best = torch.where(better, ce, best)
            step = torch.where(better[:, None], step, step / 2)
        if float(step.max()) < 1e-9:
            break
    return sampled, max(sampled, float(best.max()))


def single_weight(
    u: np.ndarray, v: np.ndarray, targets: np.ndarray, rule: str, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lemma 1: g(x) = (v o s)^T relu(u x), u, v in R^2n, approximating w x for every w in ``targets`` by one
    mask s each (u's first half a pruned to a+, its second half c to c-; the mask on v picks the products).

    The pruned g is linear on x >= 0 with slope P (the kept products b_i a_i+) and on x <= 0 with slope N
    (the kept d_i c_i-), so sup over |x| <= 1 of |w x - g(x)| = max(|w - P|, |w - N|), exactly. Returns
    (that error, P, N), one per target."""
    u, v, targets = (np.asarray(a, dtype=np.float64) for a in (u, v, targets))
    if u.shape != v.shape or u.ndim != 1 or u.size % 2:
        raise ValueError(f"u and v must be vectors of one even length 2n, got {u.shape} and {v.shape}")
    n = u.size // 2
    live = np.concatenate([u[:n] > 0, u[n:] < 0])
    z = np.where(live, u, 0.0) * v
    slopes = []
    for side in (slice(0, n), slice(n, 2 * n)):
        zs = np.broadcast_to(z[side], (targets.size, n))
        mask = _masks(rule, np.ascontiguousarray(zs), np.broadcast_to(live[side], zs.shape), targets, device)
        slopes.append(np.where(mask, zs, 0.0).sum(axis=1))
    p, q = slopes
    return np.maximum(np.abs(targets - p), np.abs(targets - q)), p, q
