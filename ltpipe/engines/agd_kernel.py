"""The gradient of eq. 2 in one pass over the inputs (numba): the AGD engine's CPU kernel.

Zhang et al. 2021, eq. 2 and Algorithm 1: every iteration needs, per trial,
z = X W (N x K), the residuals res_n = (1/K) sum_j relu(z_nj) - y_n, and the
gradient X^T (1[z > 0] res / (N K)). As two matrix products (the tensor
program in :mod:`ltpipe.engines.agd`) the inputs X are read twice an
iteration, and a CPU's BLAS runs such thin products (K = 2 to 10 columns) far
below its speed on square ones. Here each sample's inputs are read once: its
K pre-activations, its residual, and its K contributions to the gradient are
computed while its row is in the first-level cache, four samples at a time (so
that each weight and each gradient entry loaded serves four samples). Each
neuron j reads its m inputs from offset j * seg of the row: seg = 0 for the
dense layout (every neuron reads the whole row of d inputs), seg = m = r for
the gathered one (row n holds X[n, Omega_1], ..., X[n, Omega_K], r each).

Rounding: the dot products are summed in vector lanes (the compiler may
reassociate them: ``fastmath`` reassoc and contract), the gradient over the
samples in their order. A trial's numbers do not depend on which trials share
its call or on the number of threads (trials are independent loops), but they
may differ in the last bits between processors of different vector widths, as
a BLAS's do; the tensor program is the reference the tests compare with.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["gradient_kernel"]

_FAST = {"reassoc", "contract", "nsz"}


@njit(fastmath=_FAST, parallel=True, cache=True)
def gradient_kernel(U, y, W, lo, hi, seg, grad):
    """grad[b] = the unmasked gradient of eq. 2 on samples lo:hi of trial b, in the layout of W (B, K, m).

    U (B, N, M) holds each sample's inputs (M = d, seg = 0; or M = K r, seg = r), y (B, N) the targets, grad
    (B, K, m) is written. All arrays C-contiguous, of one floating dtype, which the arithmetic keeps."""
    b_total = U.shape[0]
    k = W.shape[1]
    m = W.shape[2]
    consts = np.empty(3, U.dtype)
    consts[0] = 0
    consts[1] = k
    consts[2] = (hi - lo) * k
    zero, kf, nk = consts[0], consts[1], consts[2]
    for b in prange(b_total):
        g = grad[b]
        g[:] = zero
        wb = W[b]
        c = np.empty((k, 4), U.dtype)
        n0 = lo
        while n0 + 4 <= hi:
            u0 = U[b, n0]
            u1 = U[b, n0 + 1]
            u2 = U[b, n0 + 2]
            u3 = U[b, n0 + 3]
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            for j in range(k):
                o = j * seg
                wj = wb[j]
                x0 = u0[o : o + m]
                x1 = u1[o : o + m]
                x2 = u2[o : o + m]
                x3 = u3[o : o + m]
                a0 = zero
                a1 = zero
                a2 = zero
                a3 = zero
                for i in range(m):
                    wv = wj[i]
                    a0 += x0[i] * wv
                    a1 += x1[i] * wv
                    a2 += x2[i] * wv
                    a3 += x3[i] * wv
                c[j, 0] = a0
                c[j, 1] = a1
                c[j, 2] = a2
                c[j, 3] = a3
                s0 += max(a0, zero)
                s1 += max(a1, zero)
                s2 += max(a2, zero)
                s3 += max(a3, zero)
            r0 = (s0 / kf - y[b, n0]) / nk
            r1 = (s1 / kf - y[b, n0 + 1]) / nk
            r2 = (s2 / kf - y[b, n0 + 2]) / nk
            r3 = (s3 / kf - y[b, n0 + 3]) / nk
            for j in range(k):
                o = j * seg
                c0 = r0 if c[j, 0] > zero else zero
                c1 = r1 if c[j, 1] > zero else zero
                c2 = r2 if c[j, 2] > zero else zero
                c3 = r3 if c[j, 3] > zero else zero
                x0 = u0[o : o + m]
                x1 = u1[o : o + m]
                x2 = u2[o : o + m]
                x3 = u3[o : o + m]
                gj = g[j]
                for i in range(m):
                    gj[i] += c0 * x0[i] + c1 * x1[i] + c2 * x2[i] + c3 * x3[i]
            n0 += 4
        while n0 < hi:  # the last samples, one at a time
            u = U[b, n0]
            s = zero
            for j in range(k):
                x = u[j * seg : j * seg + m]
                wj = wb[j]
                acc = zero
                for i in range(m):
                    acc += x[i] * wj[i]
                c[j, 0] = acc
                s += max(acc, zero)
            res = (s / kf - y[b, n0]) / nk
            for j in range(k):
                if c[j, 0] > zero:
                    x = u[j * seg : j * seg + m]
                    gj = g[j]
                    for i in range(m):
                        gj[i] += res * x[i]
            n0 += 1
