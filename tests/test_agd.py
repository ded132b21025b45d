"""The batched AGD engine against autograd, a numpy reference, and known optima."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_problems, reference_agd

from ltpipe.data.teacher import ball_init
from ltpipe.engines.agd import curvature, gradient, loss, run_agd, window_size


def test_gradient_equals_autograd(small):
    seeds, p = small
    W = ball_init(seeds, p.target, p.mask, 0.7).requires_grad_(True)
    loss(p.X, p.y, W * p.mask).sum().backward()
    expected = W.grad * p.mask
    got = gradient(p.X, p.y, W.detach(), p.mask)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got.abs().max() > 1e-6  # a real gradient, not a vanishing one


def test_gradient_is_zero_at_noiseless_teacher(small):
    _, p = small
    assert gradient(p.X, p.y, p.target, p.mask).abs().max() < 1e-14


@pytest.mark.parametrize("method", ["kernel", "reference"])
@pytest.mark.parametrize("layout", ["dense", "gathered"])
@pytest.mark.parametrize(("beta", "partitions"), [(0.0, 0), (0.3, 0), (0.2, 3)])
def test_engine_matches_per_trial_numpy_reference(small, beta, partitions, layout, method):
    seeds, p = small
    W0 = ball_init(seeds, p.target, p.mask, 0.5)
    iters = 25
    res = run_agd(
        p.X,
        p.y,
        p.mask,
        W0,
        p.target,
        eta=0.5,
        beta=beta,
        max_iter=iters,
        tol=0.0,
        data_mode="partition" if partitions else "full",
        partitions=max(partitions, 1),
        layout=layout,
        method=method,
    )
    assert (res.iterations == iters).all()
    for b in range(p.batch):
        ref = reference_agd(p.X[b], p.y[b], p.mask[b], W0[b], 0.5, beta, iters, partitions)
        np.testing.assert_allclose(res.W[b].numpy(), ref, rtol=1e-10, atol=1e-13)


def test_beta_zero_is_gradient_descent(small):
    seeds, p = small
    W0 = ball_init(seeds, p.target, p.mask, 0.5)
    res = run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.0, max_iter=10, tol=0.0, layout="dense")
    W = W0.clone()
    for _ in range(10):
        W = W - 0.5 * gradient(p.X, p.y, W, p.mask)
    torch.testing.assert_close(res.W, W, rtol=1e-12, atol=1e-15)


def test_noiseless_agd_recovers_teacher_from_ball():
    seeds, p = make_problems(d=20, k=3, r=5, n=400, trials=4)
    W0 = ball_init(seeds, p.target, p.mask, 0.2)
    res = run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.2, max_iter=10_000)
    assert res.success.all()
    assert (res.rel_error < 1e-4).all()
    assert (res.iterations < 10_000).all()  # stopped by tol, not by the cap
    assert (res.rel_change < 1e-8).all()
    # the returned error is the distance of the returned W to the teacher
    err = torch.linalg.vector_norm(res.W - p.target, dim=(1, 2)) / torch.linalg.vector_norm(p.target, dim=(1, 2))
    torch.testing.assert_close(err, res.rel_error, rtol=1e-12, atol=0)


def test_momentum_speeds_up_convergence():
    seeds, p = make_problems(d=20, k=3, r=8, n=400, trials=3)
    W0 = ball_init(seeds, p.target, p.mask, 0.2)
    gd = run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.0)
    agd = run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.2)
    assert (agd.iterations < gd.iterations).all()


@pytest.mark.parametrize("method", ["kernel", "reference"])
def test_trials_do_not_depend_on_batch_company(method):
    seeds, p = make_problems(trials=5)
    W0 = ball_init(seeds, p.target, p.mask, 0.5)
    lam_big = ball_init(seeds, p.target, p.mask, 30.0)
    W0[1] = lam_big[1]  # one trial far away: it stops at another time than the rest
    kw = {"eta": 0.5, "beta": 0.2, "max_iter": 3000, "record_every": 7, "method": method}
    full = run_agd(p.X, p.y, p.mask, W0, p.target, **kw)
    for b in (0, 1, 4):
        sl = slice(b, b + 1)
        one = run_agd(p.X[sl], p.y[sl], p.mask[sl], W0[sl], p.target[sl], **kw)
        assert torch.equal(one.W[0], full.W[b])
        assert one.iterations[0] == full.iterations[b]
        np.testing.assert_array_equal(one.history[:, 0].numpy(), full.history[:, b].numpy())


def test_divergence_is_recorded_not_raised():
    seeds, p = make_problems(trials=3)
    W0 = ball_init(seeds, p.target, p.mask, 0.5)
    eta = torch.tensor([0.5, 1e6, 0.5], dtype=torch.float64)
    res = run_agd(p.X, p.y, p.mask, W0, p.target, eta=eta, beta=0.9, max_iter=2000)
    assert res.diverged.tolist() == [False, True, False]
    assert not res.success[1]
    assert res.iterations[1] < 2000
    assert res.success[0] and res.success[2]


def test_history_starts_at_init_and_ends_at_stop():
    seeds, p = make_problems(trials=2)
    W0 = ball_init(seeds, p.target, p.mask, 0.3)
    res = run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.2, record_every=1)
    np.testing.assert_allclose(res.history[0].numpy(), [0.3, 0.3], rtol=1e-12)
    for b in range(2):
        it = int(res.iterations[b])
        assert res.history[it, b] == res.rel_error[b]
        assert torch.isnan(res.history[it + 1 :, b]).all()


def test_bad_data_mode_is_refused(small):
    _seeds, p = small
    with pytest.raises(ValueError, match="data_mode"):
        run_agd(p.X, p.y, p.mask, p.target, p.target, eta=0.5, beta=0.0, data_mode="minibatch")


def test_layouts_agree_with_uneven_supports_and_off_support_target():
    """Gathered and dense layouts give the same run, also when supports differ in size
    and part of the target lies off the student support (as after a wrong pruning)."""
    seeds, p = make_problems(d=25, k=3, r=6, n=300, trials=3)
    mask = p.mask.clone()
    mask[0, torch.nonzero(mask[0, :, 1])[0, 0], 1] = 0  # neuron 1 of trial 0 loses one input
    W0 = ball_init(seeds, p.target, p.mask, 0.4) * mask
    runs = {
        layout: run_agd(p.X, p.y, mask, W0, p.target, eta=0.5, beta=0.2, max_iter=400, tol=0.0, layout=layout)
        for layout in ("dense", "gathered")
    }
    dense, gathered = runs["dense"], runs["gathered"]
    torch.testing.assert_close(gathered.W, dense.W, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(gathered.rel_error, dense.rel_error, rtol=1e-10, atol=1e-13)
    assert torch.equal(gathered.W * mask, gathered.W)
    # trial 0 cannot reach its target: the missing weight bounds its error from below
    missing = (p.target[0] * (1 - mask[0])).norm() / p.target[0].norm()
    assert dense.rel_error[0] >= missing * (1 - 1e-12) and missing > 0


def _hessian_extremes(X, y, mask, W):
    """Extreme eigenvalues of the autograd Hessian of eq. 2 in the free weights (one trial)."""
    d, k = W.shape
    idx = mask.flatten().nonzero().squeeze(1)

    def f(v):
        full = torch.zeros(d * k, dtype=W.dtype).index_put((idx,), v).reshape(d, k)
        return loss(X[None], y[None], full[None])[0]

    ev = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, W.flatten()[idx]))
    return float(ev[0]), float(ev[-1])


def test_curvature_is_the_hessian_at_the_noiseless_teacher():
    """h_min, h_max equal the autograd Hessian's extreme eigenvalues, also with uneven supports."""
    _, p = make_problems(d=14, k=3, r=5, n=250, trials=3)
    mask = p.mask.clone()
    mask[1, torch.nonzero(mask[1, :, 2])[:2, 0], 2] = 0  # trial 1, neuron 2: 3 free weights instead of 5
    target = p.target * mask
    y = torch.relu(p.X @ target).mean(-1)
    lo, hi = curvature(p.X, mask, target)
    for b in range(3):
        ref_lo, ref_hi = _hessian_extremes(p.X[b], y[b], mask[b], target[b])
        assert lo[b].item() == pytest.approx(ref_lo, rel=1e-9)
        assert hi[b].item() == pytest.approx(ref_hi, rel=1e-9)
    assert (lo > 0).all() and (hi > lo).all()


def test_step_ratio_is_the_last_contraction_and_gd_contracts_at_one_minus_eta_h_min():
    """q at the stop = ||W(m) - W(m-1)|| / ||W(m-1) - W(m-2)|| (from three separate runs), and for GD
    near the noiseless teacher the slowest mode contracts by 1 - eta h_min per iteration."""
    seeds, p = make_problems(d=20, k=3, r=5, n=400, trials=2)
    W0 = ball_init(seeds, p.target, p.mask, 0.05)
    m, eta = 3000, 0.5
    runs = [run_agd(p.X, p.y, p.mask, W0, p.target, eta=eta, beta=0.0, max_iter=i, tol=0.0) for i in (m - 2, m - 1, m)]
    step = [torch.linalg.vector_norm(runs[i + 1].W - runs[i].W, dim=(1, 2)) for i in (0, 1)]
    torch.testing.assert_close(runs[2].step_ratio, step[1] / step[0], rtol=1e-9, atol=0)
    h_min, _ = curvature(p.X, p.mask, p.target)
    # the slowest mode dominates by then (a 1/K slip in h would be off by 1e-2, not 1e-4)
    np.testing.assert_allclose(runs[2].step_ratio.numpy(), 1 - eta * h_min.numpy(), rtol=1e-4)


def test_window_size_is_a_fraction_or_a_count():
    assert [window_size(w, 10_000) for w in (0.1, 0.25, 1.0, 500, 20_000)] == [1000, 2500, 1, 500, 10_000]


def test_stop_cause_is_converged_capped_or_diverged():
    seeds, p = make_problems(trials=3)
    W0 = ball_init(seeds, p.target, p.mask, 0.3)
    eta = torch.tensor([0.5, 1e6, 1e-3], dtype=torch.float64)  # the last one is still moving at the cap
    res = run_agd(p.X, p.y, p.mask, W0, p.target, eta=eta, beta=0.2, max_iter=3000, tol=1e-6)
    assert res.stop() == ["converged", "diverged", "capped"]
    assert res.converged.tolist() == [True, False, False]
    assert res.rel_change[0] < 1e-6 <= res.rel_change[2]
    assert res.iterations[0] < 3000 and res.iterations[2] == 3000


def test_a_capped_trial_is_labelled_from_its_window_as_numpy_sees_it():
    """window_change is the larger relative change of the loss (eq. 2) and of the error over the last window
    of iterations, recomputed here from the engine's own iterates at the window's start and end; a trial
    still contracting at the cap is not settled, one whose error no longer moves is."""
    seeds, p = make_problems(trials=3)
    W0 = ball_init(seeds, p.target, p.mask, 0.3)
    eta = torch.tensor([0.5, 1e-3, 0.5], dtype=torch.float64)
    m, window = 400, 0.25
    res = run_agd(p.X, p.y, p.mask, W0, p.target, eta=eta, beta=0.2, max_iter=m, tol=0.0, window=window)
    start = run_agd(p.X, p.y, p.mask, W0, p.target, eta=eta, beta=0.2, max_iter=m - 100, tol=0.0)
    for b in range(3):
        errs = [float(x.rel_error[b]) for x in (start, res)]
        losses = [float(loss(p.X[b : b + 1], p.y[b : b + 1], x.W[b : b + 1])) for x in (start, res)]
        expected = max(abs(errs[1] - errs[0]) / errs[1], abs(losses[1] - losses[0]) / losses[1])
        assert float(res.window_change[b]) == pytest.approx(expected, rel=1e-6)
    assert res.stop() == ["capped"] * 3
    # eta 1e-3 still moves (the error falls by a few percent per window); eta 0.5 has long reached its floor
    assert float(res.window_change[1]) > 1e-2 and not bool(res.settled[1])
    loose = run_agd(p.X, p.y, p.mask, W0, p.target, eta=eta, beta=0.2, max_iter=m, tol=0.0, settle_tol=1.0)
    assert loose.settled.tolist() == [True, True, True]
    done = run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.2, max_iter=5000, tol=1e-8)
    assert done.stop() == ["converged"] * 3 and done.settled.all() and done.window_change.isnan().all()


def test_curvature_does_not_depend_on_the_thread_count():
    _, p = make_problems(d=60, k=4, r=12, n=500, trials=2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = curvature(p.X, p.mask, p.target)
        torch.set_num_threads(2)
        two = curvature(p.X, p.mask, p.target)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


@pytest.mark.parametrize("lam", [0.2, 1.0])
def test_float32_succeeds_wherever_float64_does(lam):
    """dtype: float32 halves the memory moved per iteration; it must still reach the success tolerance (relative
    error 1e-4) on every trial float64 solves. Its steps cannot shrink below float32's resolution, so it may stop
    at the cap (stalled or capped) where float64 meets the step tolerance: success, not the stop, is compared."""
    seeds, p = make_problems(d=30, k=3, r=6, n=400, trials=6, seed=11)
    W0 = ball_init(seeds, p.target, p.mask, lam)
    kw = {"eta": 0.5, "beta": 0.2, "max_iter": 4000, "tol": 1e-8, "log_every": 0}
    r64 = run_agd(p.X, p.y, p.mask, W0, p.target, **kw)
    f = torch.float32
    r32 = run_agd(p.X.to(f), p.y.to(f), p.mask.to(f), W0.to(f), p.target.to(f), **kw)
    assert r64.success.any()
    assert bool((r32.success | ~r64.success).all()), (r64.rel_error, r32.rel_error)
    # and float32 lands where float64 does, to float32's accuracy
    both = r64.success & r32.success
    assert float((r32.rel_error[both] - r64.rel_error[both]).abs().max()) < 1e-4


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("layout", ["dense", "gathered"])
@pytest.mark.parametrize("data_mode", ["full", "partition"])
def test_kernel_equals_the_tensor_program_to_rounding(data_mode, layout, dtype):
    """The one-pass kernel against the two matrix products, on uneven supports, a target partly off the support,
    201 samples or partitions of 67 (neither a multiple of the kernel's 4 rows; partitions start at 0, 67 and 134),
    a diverging trial and, on the full data, trials stopped by the tolerance: the same iterates to rounding, the
    same stops at the same iterations; and the kernel keeps the dtype."""
    seeds, p = make_problems(d=25, k=3, r=6, n=201, trials=4)
    mask = p.mask.clone()
    mask[0, torch.nonzero(mask[0, :, 1])[0, 0], 1] = 0
    W0 = ball_init(seeds, p.target, p.mask, 0.4) * mask
    X, y, W0, target = p.X.to(dtype), p.y.to(dtype), W0.to(dtype), p.target.to(dtype)
    eta = torch.tensor([0.5, 0.5, 60.0, 0.5], dtype=dtype)  # trial 2 diverges
    tol = 1e-6 if dtype == torch.float64 else 1e-4
    kw = {"eta": eta, "beta": 0.2, "max_iter": 1500, "tol": tol, "data_mode": data_mode, "partitions": 3}
    runs = {
        m: run_agd(X, y, mask.to(dtype), W0, target, layout=layout, method=m, **kw) for m in ("kernel", "reference")
    }
    kernel, ref = runs["kernel"], runs["reference"]
    assert kernel.W.dtype == dtype and kernel.rel_error.dtype == dtype
    assert kernel.stop() == ref.stop() and kernel.diverged[2]
    assert data_mode == "partition" or ref.converged.sum() == 3
    assert torch.equal(kernel.iterations, ref.iterations)
    ok = ~ref.diverged
    close = 1e-12 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(kernel.W[ok], ref.W[ok], rtol=close, atol=close)
    torch.testing.assert_close(kernel.rel_error[ok], ref.rel_error[ok], rtol=close, atol=close)


def test_kernel_results_do_not_depend_on_threads_or_groups():
    seeds, p = make_problems(d=40, k=4, r=8, n=250, trials=5)
    W0 = ball_init(seeds, p.target, p.mask, 0.5)
    kw = {"eta": 0.5, "beta": 0.2, "max_iter": 200, "tol": 0.0, "method": "kernel"}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run_agd(p.X, p.y, p.mask, W0, p.target, cache_mb=None, **kw)
        torch.set_num_threads(2)
        two = run_agd(p.X, p.y, p.mask, W0, p.target, cache_mb=0.05, **kw)  # groups of one trial
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one.W, two.W) and torch.equal(one.rel_error, two.rel_error)


def test_method_is_checked(small):
    _, p = small
    with pytest.raises(ValueError, match="method must be"):
        run_agd(p.X, p.y, p.mask, p.target, p.target, eta=0.5, beta=0.2, max_iter=1, method="fast")
