"""How the AGD engine holds a batch of trials: the dense and gathered layouts, and who computes the gradient.

The engine (:mod:`ltpipe.engines.agd`, Zhang et al. 2021, Algorithm 1) needs
per iteration the gradient of eq. 2 for every trial of a batch. On the CPU
the one-pass kernel of :mod:`ltpipe.engines.agd_kernel` computes it;
elsewhere, and as the reference, two batched matrix products (the tensor
program). Either reads the inputs as the whole rows (``dense``: d numbers a
sample) or only each neuron's support (``gathered``: K r numbers a sample).
The constants below say where each layout is faster; they were measured and
change speed only, never a result beyond rounding.
"""

from __future__ import annotations

import torch

from ltpipe.engines.compiled import kernel_threads, use_kernel

__all__ = ["GATHER_BELOW", "KERNEL_GATHER_BELOW", "Layout"]

# The tensor program takes the gathered layout when K r <= GATHER_BELOW * d (measured on a
# 2-core CPU with bench/agd.py: faster below about 0.6, slower above).
GATHER_BELOW = 0.6
# With the one-pass kernel (ltpipe.engines.agd_kernel) the gathered layout beats the dense
# one up to K r = KERNEL_GATHER_BELOW * d: it reads K r numbers per sample but multiplies K r,
# where the dense layout reads d and multiplies K d (measured with bench/agd.py on a 2-core
# CPU, one thread; BENCHMARKS.md has the ratios).
KERNEL_GATHER_BELOW = 2.0


class Layout:
    """How the weights and inputs of a batch are held inside the engine.

    Weights are (B, K, m) and every product is a batched (K x m)(m x N) or
    (K x N)(N x m) matrix product, the orientation the CPU BLAS runs fastest.
    ``dense``: m = d, inputs X (B, N, d); each iteration reads X twice.
    ``gathered``: m = r, only the support is kept: each neuron's inputs
    X[:, Omega_j] as (B, K, N, r), with r the largest support (shorter supports
    padded by masked entries). Reading K r instead of d numbers per sample is
    several times faster when K r is well below d. Both compute the same
    iterates.

    With ``method="kernel"`` (the CPU's default) the gradient is the one-pass
    kernel of :mod:`ltpipe.engines.agd_kernel` instead of two products: the
    dense layout keeps X (B, N, d); the gathered one holds row n of trial b as
    X[n, Omega_1], ..., X[n, Omega_K] (B, N, K r), one copy.
    """

    def __init__(self, X: torch.Tensor, mask: torch.Tensor, kind: str, method: str = "reference"):
        b, n, d = X.shape
        k = mask.shape[-1]
        r = int(mask.sum(dim=1).max())
        self.kernel = use_kernel(X, method)
        kind = self.resolve(X, mask, kind, method)
        if kind not in ("dense", "gathered"):
            raise ValueError(f"layout must be 'auto', 'dense' or 'gathered', not {kind!r}")
        self.kind = kind
        self.d = d
        self.index = None
        self.X = X
        if kind == "gathered":
            order = torch.argsort(mask, dim=1, descending=True, stable=True)
            self.index = order[:, :r, :].transpose(1, 2)  # (B, K, r): support first, then masked padding
            if self.kernel:
                self.X = X.gather(2, self.index.reshape(b, 1, k * r).expand(b, n, k * r))  # (B, N, K r)
            else:
                cols = self.index.unsqueeze(2).expand(b, k, n, r)
                self.X = X.unsqueeze(1).expand(b, k, n, d).gather(3, cols)
        elif self.kernel:
            self.X = X.contiguous()

    @staticmethod
    def resolve(X: torch.Tensor, mask: torch.Tensor, kind: str, method: str = "reference") -> str:
        """The layout ``auto`` stands for: gathered while K r is below KERNEL_GATHER_BELOW d with the one-pass
        kernel, GATHER_BELOW d with the tensor program, dense above; other kinds as given."""
        if kind != "auto":
            return kind
        k, d, r = mask.shape[-1], X.shape[2], int(mask.sum(dim=1).max())
        below = KERNEL_GATHER_BELOW if use_kernel(X, method) else GATHER_BELOW
        return "gathered" if k * r <= below * d else "dense"

    @staticmethod
    def bytes_per_trial(X: torch.Tensor, mask: torch.Tensor, kind: str, method: str = "reference") -> int:
        """Memory of one trial's inputs in the layout ``kind`` resolves to: what the engine holds, and what one
        pass over them reads."""
        _, n, d = X.shape
        k = mask.shape[-1]
        r = int(mask.sum(dim=1).max())
        gathered = Layout.resolve(X, mask, kind, method) == "gathered"
        return n * (k * r if gathered else d) * X.element_size()

    def compact(self, W: torch.Tensor) -> torch.Tensor:
        """(B, d, K) -> this layout's (B, K, m)."""
        Wt = W.transpose(1, 2)
        return (Wt if self.index is None else Wt.gather(2, self.index)).contiguous()

    def expand(self, W: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        """This layout's (B, K, m) -> dense (B, d, K)."""
        if index is not None:
            W = torch.zeros(W.shape[0], W.shape[1], self.d, dtype=W.dtype, device=W.device).scatter(2, index, W)
        return W.transpose(1, 2).contiguous()

    def select(self, keep: torch.Tensor) -> None:
        self.X = self.X[keep]
        if self.index is not None:
            self.index = self.index[keep]

    def loss(self, y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """f(W) of eq. 2 on all samples, per trial, in this layout (what the engine's window labels read). One
        product per trial on one thread, so a trial's value does not depend on its batch company or the thread
        count (two calls per run: the cost does not matter)."""
        b, k, m = W.shape
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            out = []
            for i in range(b):
                if self.index is None:
                    z = self.X[i] @ W[i].T  # (N, K)
                elif self.kernel:
                    z = torch.einsum("nkr,kr->nk", self.X[i].reshape(-1, k, m), W[i])
                else:
                    z = torch.einsum("knr,kr->nk", self.X[i], W[i])
                out.append(0.5 * (torch.relu(z).mean(1) - y[i]).square().mean())
            return torch.stack(out)
        finally:
            torch.set_num_threads(threads)

    def gradient(self, y: torch.Tensor, W: torch.Tensor, mask: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """grad f on samples lo:hi in this layout: the transpose of :func:`gradient`."""
        k = W.shape[1]
        if self.kernel:
            from ltpipe.engines.agd_kernel import gradient_kernel

            grad = torch.empty_like(W)
            seg = 0 if self.index is None else W.shape[2]
            y, W = y.contiguous(), W.contiguous()
            with kernel_threads():
                gradient_kernel(self.X.numpy(), y.numpy(), W.numpy(), lo, hi, seg, grad.numpy())
            return grad * mask
        if self.index is None:
            X = self.X[:, lo:hi]
            z = torch.bmm(W, X.transpose(1, 2))  # (B, K, n)
        else:
            X = self.X[:, :, lo:hi]
            z = torch.matmul(X, W.unsqueeze(-1)).squeeze(-1)  # (B, K, n)
        n = z.shape[-1]
        res = torch.relu(z).mean(1) - y[:, lo:hi]
        inner = (z > 0).to(z.dtype) * (res / (n * k)).unsqueeze(1)
        if self.index is None:
            grad = torch.bmm(inner, X)
        else:
            # X^T m rather than m^T X: slower, but the BLAS then gives each trial
            # the same bits whatever the batch size (m^T X does not).
            grad = torch.matmul(X.transpose(-1, -2), inner.unsqueeze(-1)).squeeze(-1)
        return grad * mask
