"""Trial jobs: resume from saved batches, batching invariance, entry points."""

from __future__ import annotations

import json

import pandas as pd
import torch

from ltpipe.data.teacher import make_teachers
from ltpipe.studies.zhang2021.trials import run_trials, trials_main
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
