"""PL: worst-case subset-sum errors and the n needed, against brute force and hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltpipe.engines.subsetsum import brute_force
from ltpipe.studies.pensia2020.claims import claims_pl
from ltpipe.studies.pensia2020.pl import coefficients, n_needed, pl_trials


def test_worst_error_equals_brute_force_over_the_grid():
    cfg = {"distributions": ["uniform", "product"], "n": [3, 8], "trials": 3, "grid_points": 11, "target_range": 0.5}
    df = pl_trials(cfg, 7, chunk_rows=20)  # several chunks
    grid = np.linspace(-0.5, 0.5, 11)
    for row in df.itertuples():
        a = coefficients(row.distribution, row.n, row.seed)
        err, _ = brute_force(np.repeat(a[None], grid.size, 0), grid)
        assert row.worst_error == pytest.approx(err.max(), abs=1e-15)
        assert row.worst_target == grid[err.argmax()]
    assert len(df) == 2 * 2 * 3 and df["seed"].is_unique


def test_coefficient_distributions():
    u = np.concatenate([coefficients("uniform", 1000, s) for s in range(20)])
    p = np.concatenate([coefficients("product", 1000, s) for s in range(20)])
    g = np.concatenate([coefficients("normal", 1000, s) for s in range(20)])
    assert u.min() >= -1 and u.max() <= 1 and abs(u.var() - 1 / 3) < 0.01
    assert abs(p.var() - 1 / 9) < 0.005  # E[X^2] E[Y^2] = 1/9
    assert abs(g.std() - 1) < 0.02 and g.max() > 1
    with pytest.raises(ValueError, match="unknown distribution"):
        coefficients("cauchy", 3, 0)


def test_n_needed_and_claims_on_a_hand_made_table():
    rows = []
    for n in range(2, 20):
        for t in range(10):
            # worst error 10^(-(n - 2) / 4), except one trial in ten that is 10x worse
            worst = 10 ** (-(n - 2) / 4) * (10 if t == 0 else 1)
            rows.append({"distribution": "uniform", "n": n, "trial": t, "worst_error": worst})
    trials = pd.DataFrame(rows)
    need = n_needed(trials, [1e-1, 1e-2, 1e-3], probability=0.9)
    assert need["n_needed"].tolist() == [6, 10, 14]
    strict = n_needed(trials, [1e-1, 1e-2, 1e-3, 1e-5], probability=1.0)
    assert strict["n_needed"].tolist()[:3] == [10, 14, 18] and np.isnan(strict["n_needed"].iloc[3])
    out = {c["id"]: c for c in claims_pl({"needed": need}, {"min_r2": 0.9})}
    assert all(c["verdict"] == "pass" for c in out.values())
    out = {c["id"]: c for c in claims_pl({"needed": strict}, {"min_r2": 0.9})}
    assert out["pl.reached[uniform]"]["verdict"] == "fail"
