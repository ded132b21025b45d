"""Progress lines: the time so far and the estimate of what is left, on a clock the test sets."""

from __future__ import annotations

import logging

import pytest

from ltpipe import progress as progress_module
from ltpipe.progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", c)
    return c


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_the_estimate_extrapolates_the_time_per_unit_of_work(clock, caplog):
    caplog.set_level(logging.INFO)
    p = Progress(weights=[1, 1, 2, 4])
    clock.now += 10  # the first step, weight 1: 10 s per unit; 7 units left
    p.step("batch %d", 1)
    clock.now += 10
    p.step("batch %d", 2)  # 20 s for 2 units; 6 units left: 60 s
    clock.now += 20
    p.step("batch %d", 3)
    clock.now += 40
    p.step("batch %d", 4)
    assert lines(caplog) == [
        "batch 1 (step 1 of 4, 10 s so far, about 1 min 10 s left)",
        "batch 2 (step 2 of 4, 20 s so far, about 1 min 00 s left)",
        "batch 3 (step 3 of 4, 40 s so far, about 40 s left)",
        "batch 4 (step 4 of 4, 1 min 20 s so far)",
    ]


def test_steps_reused_from_a_checkpoint_do_not_skew_the_estimate(clock, caplog):
    caplog.set_level(logging.INFO)
    p = Progress(total=4)
    clock.now += 1000  # time spent before the job resumed does not count
    p.skip()
    p.skip()
    clock.now += 30
    p.step("round %d done", 2)
    assert lines(caplog) == ["round 2 done (step 3 of 4, 30 s so far, about 30 s left)"]


def test_durations_read_well():
    assert [duration(s) for s in (3.14, 42, 185, 7620)] == ["3.1 s", "42 s", "3 min 05 s", "2 h 07 min"]
    with pytest.raises(ValueError, match="total or weights"):
        Progress()
