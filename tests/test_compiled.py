"""What the compiled kernels share: the thread count (the job's, torch's left as it was); numba only where they run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_tensor_programs_run_without_numba():
    """A GPU node's image may hold torch alone: every module imports, the tensor programs (CUDA's, here
    method="reference" on the CPU) give the answers, and a CPU kernel stops with an error that says what to do."""
    script = """
import sys
sys.modules["numba"] = None  # an image without numba: importing it fails
import numpy as np, torch, pytest
from conftest import make_problems
from ltpipe.data.teacher import ball_init
from ltpipe.engines.agd import run_agd
from ltpipe.engines.subsetsum import brute_force, solve, solve_sparsest
rng = np.random.default_rng(1)
a, w = rng.uniform(-1, 1, (20, 10)), rng.uniform(-1, 1, 20)
err, mask = solve(a, w, method="reference")
best, _ = brute_force(a, w)
assert np.allclose(err.numpy(), best, rtol=0, atol=1e-12), (err, best)
assert solve_sparsest(a, w, 0.05, method="reference")[2].any()
seeds, p = make_problems(trials=2)
W0 = ball_init(seeds, p.target, p.mask, 0.5)
res = run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.2, max_iter=3, method="reference")
assert torch.isfinite(res.W).all()
for call in (lambda: solve(a, w), lambda: run_agd(p.X, p.y, p.mask, W0, p.target, eta=0.5, beta=0.2, max_iter=3)):
    with pytest.raises(ImportError, match="need numba"):
        call()
print("ok")
"""
    tests = Path(__file__).parent
    out = subprocess.run([sys.executable, "-c", script], cwd=tests, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
