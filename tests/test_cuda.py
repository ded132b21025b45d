"""The engines on CUDA against their CPU references (run where a GPU is present: ``pytest -m cuda``).

Every CUDA path is also the tensor program that the CPU tests run with
``method="reference"`` or on the CPU, so the arithmetic is tested everywhere;
these tests check what only a GPU can show: the same answers from cuBLAS and
cuDNN under the deterministic settings the workflow's jobs use.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_problems, reference_agd
from test_stacked import nets
from test_subsetsum import dyadic

from ltpipe.config import deterministic_cuda
from ltpipe.data.teacher import ball_init
from ltpipe.engines.agd import run_agd
from ltpipe.engines.prune import Pruner
from ltpipe.engines.stacked import StackedNet, train_stacked
from ltpipe.engines.subsetsum import brute_force, solve, solve_sparsest
from ltpipe.engines.train import train_epochs

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (pytest -m cuda on a GPU host)"),
]


@pytest.fixture(autouse=True, scope="module")
def deterministic():
    deterministic_cuda()  # as every CUDA job runs


@pytest.mark.parametrize("n", [1, 7, 16])
def test_subset_sum_on_cuda_is_the_exact_optimum(n):
    rng = np.random.default_rng(n)
    a = dyadic(rng, (2000, n))
    w = dyadic(rng, 2000, low=-2.0, high=2.0)
    err, mask = solve(a, w, device="cuda", chunk=257)
    assert err.device.type == "cpu" and mask.device.type == "cpu"  # results come back to the CPU
    best, _ = brute_force(a, w)
    np.testing.assert_array_equal(err.numpy(), best)
    np.testing.assert_array_equal(np.abs(w - (a * mask.numpy()).sum(1)), err.numpy())
    cpu = solve_sparsest(a, w, 0.01, method="reference")
    gpu = solve_sparsest(a, w, 0.01, device="cuda")
    np.testing.assert_array_equal(gpu[2].numpy(), cpu[2].numpy())
    np.testing.assert_array_equal(gpu[1].sum(1).numpy(), cpu[1].sum(1).numpy())


@pytest.mark.parametrize("layout", ["dense", "gathered"])
@pytest.mark.parametrize(("beta", "partitions"), [(0.3, 0), (0.2, 3)])
def test_agd_on_cuda_matches_the_per_trial_numpy_reference(layout, beta, partitions):
    seeds, p = make_problems()
    W0 = ball_init(seeds, p.target, p.mask, 0.5)
    on = [t.cuda() for t in (p.X, p.y, p.mask, W0, p.target)]
    res = run_agd(
        *on,
        eta=0.5,
        beta=beta,
        max_iter=25,
        tol=0.0,
        data_mode="partition" if partitions else "full",
        partitions=max(partitions, 1),
        layout=layout,
    )
    assert (res.iterations == 25).all()
    for b in range(p.batch):
        ref = reference_agd(p.X[b], p.y[b], p.mask[b], W0[b], 0.5, beta, 25, partitions)
        np.testing.assert_allclose(res.W[b].numpy(), ref, rtol=1e-10, atol=1e-13)


def test_agd_on_cuda_stops_where_the_cpu_engine_stops():
    seeds, p = make_problems(trials=4)
    W0 = ball_init(seeds, p.target, p.mask, 0.5)
    kw = {"eta": 0.5, "beta": 0.2, "max_iter": 3000, "tol": 1e-10}
    cpu = run_agd(p.X, p.y, p.mask, W0, p.target, **kw)
    gpu = run_agd(*(t.cuda() for t in (p.X, p.y, p.mask, W0, p.target)), **kw)
    assert torch.equal(gpu.iterations, cpu.iterations) and torch.equal(gpu.converged, cpu.converged)
    torch.testing.assert_close(gpu.rel_error, cpu.rel_error, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("arch", ["lenet-300-100", "lenet5"])
def test_stacked_training_on_cuda_equals_each_network_alone(arch):
    """k networks trained together on the GPU, each against itself trained alone there (per-epoch losses; the
    weights of a network whose gradients are near zero in places differ by more, as Adam scales rounding up)."""
    cfg = {"optimizer": "adam", "lr": 1.2e-3, "batch_size": 20, "epochs": 2}
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 60, 1, 28, 28, generator=g).cuda()
    y = torch.randint(0, 10, (2, 60), generator=g).cuda()
    rows, seeds = torch.tensor([1, 0, 1]), (7, 8, 7)
    models = [m.cuda() for m in nets(arch, 3, prune=True)]
    net = StackedNet(models)
    together: list[list[float]] = []
    train_stacked(
        net,
        x,
        y,
        rows,
        cfg,
        generators=[torch.Generator().manual_seed(s) for s in seeds],
        on_epoch=lambda e, loss: together.append(loss),
    )
    net.write_back(models)
    for i, m in enumerate(nets(arch, 3, prune=True)):
        m = m.cuda()
        own: list[float] = []
        pruner = Pruner(m, rate=0.3, output_rate=0.2)  # the masks are already installed; only apply() is used
        data = {"x_train": x[rows[i]], "y_train": y[rows[i]]}
        train_epochs(
            m,
            data,
            cfg,
            pruner=pruner,
            generator=torch.Generator().manual_seed(seeds[i]),
            on_epoch=lambda e, loss, own=own: own.append(loss),
        )
        np.testing.assert_allclose([epoch[i] for epoch in together], own, rtol=1e-5, atol=1e-6)
        for name in net.prunable:  # pruned weights stayed exactly zero
            assert (models[i].get_parameter(name)[net.masks[name][i] == 0] == 0).all()
