"""What the compiled kernels share: the thread count (the job's, leaving torch's as it was)."""

from __future__ import annotations

import numba
import numpy as np
import torch
from conftest import make_problems

from ltpipe.data.teacher import ball_init
from ltpipe.engines.agd import run_agd
from ltpipe.engines.compiled import kernel_threads
from ltpipe.engines.subsetsum import solve, solve_sparsest


def test_kernels_keep_torch_s_thread_count():
    """A numba launch shares the OpenMP runtime with torch and could leave torch on numba's count: a job given one
    thread would then run torch's parallel loops on every core."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with kernel_threads() as used:
            assert used == 1 == numba.get_num_threads()
        rng = np.random.default_rng(0)
        solve(rng.uniform(-1, 1, (50, 12)), rng.uniform(-1, 1, 50), method="kernel")
        assert torch.get_num_threads() == 1
        solve_sparsest(rng.uniform(-1, 1, (50, 12)), rng.uniform(-1, 1, 50), 0.01, method="kernel")
        assert torch.get_num_threads() == 1
        seeds, p = make_problems(trials=2)
        W0 = ball_init(seeds, p.target, p.mask, 0.5)
        run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.2, max_iter=3, method="kernel")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
