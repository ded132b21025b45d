"""Trial jobs: resume from saved batches, batching invariance, entry points."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from ltpipe.data.teacher import make_teachers
from ltpipe.studies.zhang2021.trials import run_trials, trials_main
from ltpipe.studies.zhang2021.z6.job import run_z6, student_init
from ltpipe.tables import read_table, write_table

CFG = {
    "k": 3,
    "d": 20,
    "n_samples": 200,
    "r": [5],
    "lam": [0.2, 1.0],
    "distance": "relative",
    "trials": 3,
    "eta": 0.5,
    "beta": [0.0, 0.2],
    "max_iter": 1500,
    "tol": 1e-8,
    "success_tol": 1e-4,
    "data_mode": "full",
    "partitions": 1,
    "record_every": 5,
}


def test_batching_does_not_change_results():
    teachers = make_teachers("zhang2021", "zt", CFG, 5, 3)
    whole, curves_whole = run_trials(CFG, teachers, max_batch_mb=100)
    split, curves_split = run_trials(CFG, teachers, max_batch_mb=0.07)  # one or two trials per batch
    pd.testing.assert_frame_equal(whole, split, check_exact=True)
    pd.testing.assert_frame_equal(curves_whole, curves_split, check_exact=True)
    assert len(whole) == 2 * 2 * 3  # betas x lambdas x trials
    assert set(whole["beta"]) == {0.0, 0.2} and set(whole["lam"]) == {0.2, 1.0}


def test_interrupted_job_reuses_finished_batches(tmp_path):
    teachers = make_teachers("zhang2021", "zt", CFG, 5, 3)
    partial = tmp_path / "partial"
    partial.mkdir()
    first, _ = run_trials(CFG, teachers, max_batch_mb=0.07, partial_dir=partial)
    saved = sorted(p for p in partial.glob("*.parquet") if not p.name.endswith(".curves.parquet"))
    assert len(saved) >= 3
    # Mark one saved batch: a rerun must take it as it is instead of recomputing it,
    # and recompute a batch whose file is gone (the one the interruption lost).
    marked = read_table(saved[0])
    marked["iterations"] = -1
    write_table(marked, saved[0])
    saved[1].unlink()
    again, _ = run_trials(CFG, teachers, max_batch_mb=0.07, partial_dir=partial)
    assert (again["iterations"] == -1).sum() == len(marked)
    keep = again["iterations"] != -1
    pd.testing.assert_frame_equal(
        again[keep].reset_index(drop=True), first[first["seed"].isin(again[keep]["seed"])].reset_index(drop=True)
    )


def test_trials_entry_point_writes_tables(tmp_path):
    cfg = {**CFG, "lam": 0.3, "beta": 0.2, "record_every": 0}
    teachers_path = tmp_path / "t.parquet"
    write_table(make_teachers("zhang2021", "zt", cfg, 5, 3), teachers_path)
    out = tmp_path / "trials.parquet"
    trials_main(
        [
            "--exp",
            "zt",
            "--r",
            "5",
            "--seed",
            "3",
            "--config",
            json.dumps(cfg),
            "--teachers",
            str(teachers_path),
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    df = read_table(out)
    assert len(df) == 3 and df["success"].all() and (df["lam"] == 0.3).all()
    assert not (tmp_path / ".trials.parquet.partial").exists()
    torch.set_num_threads(1)


def test_eta_axis_runs_every_step_size_on_the_same_problems():
    """eta as a list: each value's rows equal a run with that eta alone (same teachers, data, W(0))."""
    cfg = {**CFG, "beta": 0.2, "eta": [0.5, 2.5], "record_every": 0}
    teachers = make_teachers("zhang2021", "zt", cfg, 5, 3)
    both, _ = run_trials(cfg, teachers)
    assert sorted(both["eta"].unique()) == [0.5, 2.5]
    for eta in (0.5, 2.5):
        alone, _ = run_trials({**cfg, "eta": eta}, teachers)
        pd.testing.assert_frame_equal(both[both["eta"] == eta].reset_index(drop=True), alone, check_exact=True)
    # the conditioning is the problem's, not the method's; the larger step converges in fewer iterations
    wide = both.pivot_table(index="seed", columns="eta", values=["h_min", "iterations"])
    assert (wide["h_min"][0.5] == wide["h_min"][2.5]).all()
    assert (wide["iterations"][2.5] < wide["iterations"][0.5]).all()
    assert set(both["stop"]) <= {"converged", "capped", "diverged"}
    assert (both["converged"] == (both["stop"] == "converged")).all()


Z6 = {
    "k": 3,
    "d": 20,
    "r_star": 4,
    "n_test": 50,
    "trials": 2,
    "rounds": 3,
    "max_iter": 300,
    "lam": 0.5,
    "init": "ball",
    "eta": 0.5,
    "beta": 0.2,
    "tol": 1e-8,
    "rate": 0.2,
    "noise_level": 1e-3,
    "distance": "relative",
}


def test_z6_eta_list_equals_one_run_per_eta():
    both = run_z6({**Z6, "eta": [0.5, 2.5]}, 60, 5)
    for eta in (0.5, 2.5):
        alone = run_z6({**Z6, "eta": eta}, 60, 5)
        pd.testing.assert_frame_equal(both[both["eta"] == eta].reset_index(drop=True), alone, check_exact=True)
    assert set(both["stop"]) <= {"converged", "capped", "diverged"}


def test_z6_lam_list_equals_one_run_per_radius_from_the_same_direction():
    """lam is a method axis: each radius prunes its own way from the same teachers and data, and its rows are
    those of a run at that radius alone; the first round starts at the relative distance lam."""
    both = run_z6({**Z6, "lam": [0.1, 0.5]}, 60, 5)
    assert sorted(both["lam"].unique()) == [0.1, 0.5]
    for lam in (0.1, 0.5):
        alone = run_z6({**Z6, "lam": lam}, 60, 5)
        mine = both[both["lam"] == lam].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone, check_exact=True)
    seeds = [sorted(g["seed"].unique()) for _, g in both.groupby("lam")]
    assert seeds[0] == seeds[1]  # the same teachers and data for both radii
    assert set(both["stop"]) <= {"converged", "capped", "diverged"} and both["settled"].dtype == bool


def test_z6_gaussian_init_is_independent_of_the_teacher():
    seeds = [11, 12, 13]
    mask = torch.ones(3, 200, 4, dtype=torch.float64)
    a = student_init({"init": "gaussian"}, seeds, torch.zeros(3, 200, 4, dtype=torch.float64), mask)
    b = student_init({"init": "gaussian"}, seeds, torch.randn(3, 200, 4, dtype=torch.float64), mask)
    assert torch.equal(a, b)  # the same draw whatever the teacher
    assert float(a.std()) == pytest.approx((2 / 200) ** 0.5, rel=0.05)  # Kaiming: N(0, 2 / fan-in)
    ball = student_init({"init": "ball", "lam": 0.5, "distance": "relative"}, seeds, b, mask)
    rel = torch.linalg.vector_norm(ball - b, dim=(1, 2)) / torch.linalg.vector_norm(b, dim=(1, 2))
    torch.testing.assert_close(rel, torch.full((3,), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"z6\.init"):
        student_init({"init": "zeros"}, seeds, b, mask)
