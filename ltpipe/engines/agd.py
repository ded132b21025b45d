"""Batched accelerated gradient descent (Zhang et al. 2021, Algorithm 1).

Many independent trials advance together: the weights of B trials are a
(B, d, K) tensor, and every iteration computes their gradients in one pass over
each trial's inputs on the CPU (:mod:`ltpipe.engines.agd_kernel`), or as two
batched matrix products (the tensor program: on CUDA, and the reference). A
trial stops on its own, when ||W(t+1) - W(t)||_F / ||W(t)||_F falls below
``tol`` (``converged``), when its iterate becomes non-finite (``diverged``),
or at ``max_iter`` (``capped``); stopped trials leave the batch, so the work per
iteration shrinks as trials finish. A capped trial is labelled from the last
``window`` iterations: ``window_change``, the larger relative change of its
training loss and of its error over them, and ``settled`` when that is at most
``settle_tol`` (more iterations would not change its outcome: it chatters at a
ReLU kink or sits at a fixed point); a converged trial is settled. Each trial's
arithmetic does not depend on which other trials share its batch, so results
are the same whatever the batching.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch

from ltpipe.engines.agd_layout import Layout
from ltpipe.engines.compiled import use_kernel

__all__ = ["STOPS", "AGDResult", "curvature", "gradient", "loss", "run_agd", "window_size"]

log = logging.getLogger(__name__)

# why a trial stopped: a non-finite iterate; the step tolerance; max_iter (whether a capped trial had
# settled is its own label, ``settled``, read from a window of its last iterations)
STOPS = ("diverged", "converged", "capped")


def loss(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """f(W) = 1/(2N) sum_n ((1/K) sum_j relu(w_j . x_n) - y_n)^2, per trial (eq. 2)."""
    return 0.5 * (torch.relu(X @ W).mean(-1) - y).square().mean(-1)


def gradient(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Analytic gradient of eq. 2 on the student support: X^T (res * 1[XW > 0]) / (N K), masked.

    relu'(0) is taken as 0. Shapes: X (B, N, d), y (B, N), W and mask (B, d, K).
    """
    z = torch.bmm(X, W)
    n, k = z.shape[-2], z.shape[-1]
    res = torch.relu(z).mean(-1) - y
    inner = (z > 0).to(X.dtype) * (res / (n * k)).unsqueeze(-1)
    return torch.bmm(X.transpose(1, 2), inner) * mask


def curvature(X: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Smallest and largest eigenvalue of J^T J / N at the target, per trial: the conditioning of eq. 2 there.

    J (N x sum_j |Omega_j|) is the Jacobian of g(x_n; W) = (1/K) sum_j
    relu(w_j . x_n) in the student's free weights, taken at W = ``target``:
    row n, column (j, i) = (1/K) 1[w*_j . x_n > 0] x_{n,i} for i in Omega_j.
    Without noise the residual vanishes at the teacher, so J^T J / N is the
    Hessian of eq. 2 there (relu'' = 0 off the kinks). GD and AGD contract
    at most like 1 - eta h_min per iteration near the teacher and are stable
    for eta h_max < 2 (GD) or < 2 (1 + beta) (heavy ball). Shapes as in
    :func:`gradient`; returns two (B,) tensors on the CPU. One trial at a
    time on one thread (a few milliseconds each at the papers' sizes): the
    BLAS gives other low-order bits with another batch company or thread
    count, and a trial's row must not depend on either.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a multi-threaded BLAS splits the sums of J^T J differently per thread count
    try:
        return _curvature(X, mask, target)
    finally:
        torch.set_num_threads(threads)


def _curvature(X: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b, n, _ = X.shape
    k = mask.shape[-1]
    r = int(mask.sum(dim=1).max())
    lo, hi = [], []
    for s in range(b):
        Xs, Ms, Ts = X[s : s + 1], mask[s : s + 1], target[s : s + 1]
        m = Xs.shape[0]
        order = torch.argsort(Ms, dim=1, descending=True, stable=True)[:, :r, :].transpose(1, 2)  # (m, K, r)
        valid = Ms.gather(1, order.transpose(1, 2)).transpose(1, 2).reshape(m, 1, k * r)
        cols = Xs.gather(2, order.reshape(m, 1, k * r).expand(m, n, k * r))  # (m, N, K r), neuron-major
        active = (torch.bmm(Xs, Ts) > 0).to(Xs.dtype).repeat_interleave(r, dim=2)
        J = cols * active * valid / k
        H = torch.bmm(J.transpose(1, 2), J) / n
        # padding (neurons with fewer than r free weights) gets its own eigenvalue, above every real one
        pad = valid.reshape(m, k * r) == 0
        top = H.diagonal(dim1=1, dim2=2).sum(-1, keepdim=True) * 2 + 1
        H = H + torch.diag_embed(torch.where(pad, top, torch.zeros_like(top)))
        ev = torch.linalg.eigvalsh(H)
        count = (~pad).sum(-1, keepdim=True)
        lo.append(ev[:, 0])
        hi.append(ev.gather(1, count - 1).squeeze(1))
    return torch.cat(lo).cpu(), torch.cat(hi).cpu()


@dataclass
class AGDResult:
    """Per-trial outcome of :func:`run_agd` (all tensors have leading size B, on the CPU).

    ``history`` is (rows, B): the relative error to the target after iteration
    ``i * record_every`` in row i (row 0 is W(0)); NaN after the trial stopped.
    ``window_change``: for a capped trial, max(|f_end - f_start| / f_end, |e_end - e_start| / e_end) over
    the last ``window`` iterations (f the training loss of eq. 2, e the relative error); NaN for a trial
    that stopped earlier. ``settled``: converged, or capped with ``window_change <= settle_tol``.
    ``converged``: stopped by the step tolerance (not diverged, not at the
    cap). ``step_ratio``: the last step's norm over the one before it, the
    contraction q of the iteration at the stop (NaN after one iteration);
    the distance still to go to the limit is about rel_change q / (1 - q)
    of ||W|| (a geometric tail), which is how far ``tol`` stops from it.
    """

    W: torch.Tensor
    iterations: torch.Tensor
    rel_error: torch.Tensor
    rel_change: torch.Tensor
    success: torch.Tensor
    diverged: torch.Tensor
    converged: torch.Tensor
    step_ratio: torch.Tensor
    history: torch.Tensor | None
    window_change: torch.Tensor
    settled: torch.Tensor

    def stop(self) -> list[str]:
        """Per trial, why it stopped: one of :data:`STOPS`."""
        return [
            "diverged" if d else "converged" if c else "capped"
            for d, c in zip(self.diverged.tolist(), self.converged.tolist(), strict=True)
        ]


def run_agd(
    X: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    W0: torch.Tensor,
    target: torch.Tensor,
    *,
    eta: float | torch.Tensor,
    beta: float | torch.Tensor,
    max_iter: int = 10_000,
    tol: float = 1e-8,
    success_tol: float = 1e-4,
    data_mode: str = "full",
    partitions: int = 1,
    record_every: int = 0,
    log_every: int = 1000,
    layout: str = "auto",
    cache_mb: float | None = 12.0,
    method: str = "auto",
    window: float = 0.1,
    settle_tol: float = 1e-3,
) -> AGDResult:
    """Run Algorithm 1 on B trials at once: W(t+1) = W(t) - eta grad f(W(t)) + beta (W(t) - W(t-1)).

    ``eta`` and ``beta`` are scalars or (B,) tensors (beta = 0 is GD). With
    ``data_mode="full"`` every iteration uses the whole training set (Sec. 5);
    with ``"partition"`` the N samples are split into ``partitions`` disjoint
    consecutive blocks of N // partitions and iteration t uses block t mod T
    (Algorithm 1, line 2, cycled when max_iter > T). ``layout`` picks how the
    batch is held (see :class:`Layout`). On the CPU the trials run in groups
    whose inputs fit in ``cache_mb`` (a group then stays in the processor's
    cache across iterations, which is worth more there than a wider batch);
    ``None`` runs the whole batch at once. Neither changes the results.
    ``method``: ``auto`` (on the CPU the one-pass gradient kernel of
    :mod:`ltpipe.engines.agd_kernel`, on CUDA the tensor program), ``kernel``
    or ``reference`` (the tensor program, also on the CPU). The two agree to
    rounding (the kernel's sums are ordered differently). ``window``: the
    labels' window, a fraction of ``max_iter`` (below 1) or a number of
    iterations; ``settle_tol``: the window change up to which a capped trial
    has settled.
    """
    use_kernel(X, method)  # checks method
    if data_mode not in ("full", "partition"):
        raise ValueError(f"data_mode must be 'full' or 'partition', not {data_mode!r}")
    b_total, n, _ = X.shape
    if data_mode == "partition" and not 1 <= partitions <= n:
        raise ValueError(f"partitions must be in [1, N={n}], got {partitions}")
    eta_t = torch.as_tensor(eta, dtype=X.dtype).to(X.device).expand(b_total)
    beta_t = torch.as_tensor(beta, dtype=X.dtype).to(X.device).expand(b_total)
    group = b_total
    if cache_mb is not None and X.device.type == "cpu":
        group = max(1, int(cache_mb * 2**20 // Layout.bytes_per_trial(X, mask, layout, method)))
    parts = []
    for lo in range(0, b_total, group):
        sl = slice(lo, min(lo + group, b_total))
        parts.append(
            _run_group(
                X[sl],
                y[sl],
                mask[sl],
                W0[sl],
                target[sl],
                eta_t[sl],
                beta_t[sl],
                max_iter=max_iter,
                tol=tol,
                success_tol=success_tol,
                data_mode=data_mode,
                partitions=partitions,
                record_every=record_every,
                log_every=log_every,
                layout=layout,
                method=method,
                window=window_size(window, max_iter),
                settle_tol=settle_tol,
            )
        )
        if log_every and len(parts) > 1:
            log.info("group %d of %d done", len(parts), -(-b_total // group))
    if len(parts) == 1:
        return parts[0]
    return AGDResult(
        W=torch.cat([p.W for p in parts]),
        iterations=torch.cat([p.iterations for p in parts]),
        rel_error=torch.cat([p.rel_error for p in parts]),
        rel_change=torch.cat([p.rel_change for p in parts]),
        success=torch.cat([p.success for p in parts]),
        diverged=torch.cat([p.diverged for p in parts]),
        converged=torch.cat([p.converged for p in parts]),
        step_ratio=torch.cat([p.step_ratio for p in parts]),
        history=None if record_every <= 0 else torch.cat([p.history for p in parts], dim=1),
        window_change=torch.cat([p.window_change for p in parts]),
        settled=torch.cat([p.settled for p in parts]),
    )


def window_size(window: float, max_iter: int) -> int:
    """The labels' window in iterations: a fraction of ``max_iter`` below 1, else a count (at least 1)."""
    size = math.ceil(window * max_iter) if window < 1 else int(window)
    return min(max(1, size), max_iter)


def _run_group(
    X: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    W0: torch.Tensor,
    target: torch.Tensor,
    eta: torch.Tensor,
    beta: torch.Tensor,
    *,
    max_iter: int,
    tol: float,
    success_tol: float,
    data_mode: str,
    partitions: int,
    record_every: int,
    log_every: int,
    layout: str,
    method: str,
    window: int,
    settle_tol: float,
) -> AGDResult:
    """:func:`run_agd` on one group of trials, all held at once."""
    b_total, n, _ = X.shape
    block = n // partitions if data_mode == "partition" else n
    device = X.device

    lay = Layout(X, mask, layout, method)
    full_index = lay.index
    Ma = lay.compact(mask)
    W = lay.compact(W0) * Ma
    W_prev = W.clone()
    Ta = lay.compact(target) * Ma
    Na = torch.linalg.vector_norm(target, dim=(1, 2))
    # the part of the target off the student support, which no iterate can reach
    off = torch.linalg.vector_norm(target * (1 - mask), dim=(1, 2)).square()

    def rel_error(W: torch.Tensor, Ta: torch.Tensor, off: torch.Tensor, Na: torch.Tensor) -> torch.Tensor:
        return (torch.linalg.vector_norm(W - Ta, dim=(1, 2)).square() + off).sqrt() / Na

    eta_a = eta.reshape(b_total, 1, 1)
    beta_a = beta.reshape(b_total, 1, 1)
    out_W = W.clone()
    out_iter = torch.zeros(b_total, dtype=torch.long, device=device)
    out_err = torch.full((b_total,), float("nan"), dtype=X.dtype, device=device)
    out_change = torch.full((b_total,), float("nan"), dtype=X.dtype, device=device)
    out_div = torch.zeros(b_total, dtype=torch.bool, device=device)
    out_conv = torch.zeros(b_total, dtype=torch.bool, device=device)
    out_ratio = torch.full((b_total,), float("nan"), dtype=X.dtype, device=device)
    prev_change = torch.full((b_total,), float("nan"), dtype=X.dtype, device=device)
    out_window = torch.full((b_total,), float("nan"), dtype=X.dtype, device=device)
    start_err = torch.full((b_total,), float("nan"), dtype=X.dtype, device=device)
    start_loss = torch.full((b_total,), float("nan"), dtype=X.dtype, device=device)
    history = None
    if record_every > 0:
        history = torch.full((max_iter // record_every + 1, b_total), float("nan"), dtype=X.dtype, device=device)
        history[0] = rel_error(W, Ta, off, Na)

    idx = torch.arange(b_total, device=device)
    ya = y
    if window >= max_iter:  # the window is the whole run: it starts at W(0)
        start_err, start_loss = rel_error(W, Ta, off, Na), lay.loss(ya, W)
    started = time.perf_counter()
    for t in range(1, max_iter + 1):
        lo = ((t - 1) % partitions) * block if data_mode == "partition" else 0
        grad = lay.gradient(ya, W, Ma, lo, lo + block)
        W_next = W - eta_a * grad + beta_a * (W - W_prev)
        change = torch.linalg.vector_norm(W_next - W, dim=(1, 2)) / torch.linalg.vector_norm(W, dim=(1, 2))
        W_prev, W = W, W_next
        err = rel_error(W, Ta, off, Na)
        if history is not None and t % record_every == 0:
            history[t // record_every, idx] = err
        diverged = ~(torch.isfinite(change) & torch.isfinite(err))
        converged = ~diverged & (change < tol)
        done = diverged | converged
        if t == max_iter - window:  # the labels' window starts: where the trials still running are now
            start_err[idx], start_loss[idx] = err, lay.loss(ya, W)
        if t == max_iter:
            done = torch.ones_like(done)
            capped = ~(diverged | converged)
            if bool(capped.any()):
                end_loss = lay.loss(ya, W)
                moved = torch.maximum((err - start_err[idx]).abs() / err, (end_loss - start_loss[idx]).abs() / end_loss)
                out_window[idx[capped]] = moved[capped]
        if log_every and t % log_every == 0:
            log.info(
                "iteration %d: %d of %d trials running (%.1f s)",
                t,
                int(idx.numel()),
                b_total,
                time.perf_counter() - started,
            )
        if bool(done.any()):
            where = idx[done]
            out_W[where] = W[done]
            out_iter[where] = t
            out_err[where] = err[done]
            out_change[where] = change[done]
            out_div[where] = diverged[done]
            out_conv[where] = converged[done]
            out_ratio[where] = (change / prev_change)[done]
            keep = ~done
            if not bool(keep.any()):
                break
            idx = idx[keep]
            lay.select(keep)
            ya, Ma, Ta, Na, off = ya[keep], Ma[keep], Ta[keep], Na[keep], off[keep]
            eta_a, beta_a = eta_a[keep], beta_a[keep]
            W, W_prev = W[keep], W_prev[keep]
            change = change[keep]
        prev_change = change

    out_W = lay.expand(out_W, full_index)
    success = ~out_div & (out_err < success_tol)
    settled = out_conv | (~out_div & (out_window <= settle_tol))
    cpu = torch.device("cpu")
    return AGDResult(
        W=out_W.to(cpu),
        iterations=out_iter.to(cpu),
        rel_error=out_err.to(cpu),
        rel_change=out_change.to(cpu),
        success=success.to(cpu),
        diverged=out_div.to(cpu),
        converged=out_conv.to(cpu),
        step_ratio=out_ratio.to(cpu),
        history=None if history is None else history.to(cpu),
        window_change=out_window.to(cpu),
        settled=settled.to(cpu),
    )
