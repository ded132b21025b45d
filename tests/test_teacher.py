"""Teachers, data and initialisation: the model of Sec. 2 and Sec. 5."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_problems

from ltpipe.data.grid import trial_specs
from ltpipe.data.teacher import ball_init, build_problems, make_teachers, teacher_output, teacher_table
from ltpipe.seeds import derive_seed


def test_supports_sizes_and_nesting():
    specs = [{"r": 9, "r_star": 4, "trial": t, "seed": derive_seed(1, t)} for t in range(5)]
    table = teacher_table(specs, d=30, k=3)
    assert len(table) == 15
    for row in table.itertuples():
        assert len(row.teacher_support) == 4 == len(set(row.teacher_support))
        assert len(row.student_support) == 9 == len(set(row.student_support))
        assert set(row.teacher_support) <= set(row.student_support)
        assert all(0 <= i < 30 for i in row.student_support)
        assert all(-0.5 <= w <= 0.5 for w in row.teacher_weights)


def test_labels_follow_eq1_and_noise_level():
    _seeds, p = make_problems(d=15, k=2, r=4, n=20000, trials=2, noise=0.0)
    assert torch.equal(p.y, teacher_output(p.X, p.target))
    # the target lives on the student support
    assert torch.equal(p.target * p.mask, p.target)
    _, noisy = make_problems(d=15, k=2, r=4, n=20000, trials=2, noise=0.1)
    assert torch.equal(noisy.X, p.X)  # noise comes from its own stream
    energy = p.y.square().mean(-1).sqrt()
    sigma = (noisy.y - p.y).std(-1)
    np.testing.assert_allclose((sigma / energy).numpy(), [0.1, 0.1], rtol=0.03)


def test_data_regenerates_identically_from_seeds():
    _, a = make_problems(trials=3)
    _, b = make_problems(trials=3)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    _, c = make_problems(trials=3, seed=8)
    assert not torch.equal(a.X, c.X)


def test_trials_are_independent_of_grid_size():
    """A trial's draws depend on its own identity, not on how many trials the grid has."""
    few = trial_specs("zhang2021", "z2", {"trials": 2, "lam": [0.5, 1.0]}, 16, 0)
    many = trial_specs("zhang2021", "z2", {"trials": 5, "lam": [0.25, 0.5, 1.0]}, 16, 0)
    seeds_many = {(s["lam"], s["trial"]): s["seed"] for s in many}
    for s in few:
        assert seeds_many[(s["lam"], s["trial"])] == s["seed"]
    assert len({s["seed"] for s in many}) == len(many)


@pytest.mark.parametrize("distance", ["relative", "absolute"])
def test_ball_init_distance(distance):
    seeds, p = make_problems(trials=4)
    lam = [0.1, 0.5, 2.0, 7.0]
    W0 = ball_init(seeds, p.target, p.mask, lam, distance)
    dist = torch.linalg.vector_norm(W0 - p.target, dim=(1, 2))
    scale = torch.linalg.vector_norm(p.target, dim=(1, 2)) if distance == "relative" else 1.0
    np.testing.assert_allclose((dist / scale).numpy(), lam, rtol=1e-12)
    assert torch.equal(W0 * p.mask, W0)


def test_make_teachers_refuses_r_above_d():
    with pytest.raises(ValueError, match=r"z2\.r"):
        make_teachers("zhang2021", "z2", {"k": 2, "d": 10, "trials": 1}, 11, 0)


def test_build_problems_on_float32():
    specs = trial_specs("t", "t", {"trials": 2}, 3, 0)
    p = build_problems(teacher_table(specs, d=8, k=2), 50, dtype=torch.float32)
    assert p.X.dtype == torch.float32 and p.X.shape == (2, 50, 8)
