"""Progress lines of long jobs: what is done, the time so far, and an estimate of the time left.

The estimate extrapolates the time per unit of work done so far to the work left; a job whose steps differ
in cost gives each its weight (PL's n: the subset sums it forms), so the estimate stays fair.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

__all__ = ["Progress", "duration"]


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Counts the steps of a job (``total`` of them, or one per entry of ``weights``) and logs a line per step:
    ``<message> (step k of n, 1 min 02 s so far, about 3 min 10 s left)``.

    ``skip`` marks a step done without work (resumed from a checkpoint): it counts for what is left, not for
    the time per unit, so a resumed job's estimate is not skewed by steps it did not redo.
    """

    def __init__(self, total: int | None = None, weights: Sequence[float] | None = None, logger=None):
        if weights is None:
            if total is None:
                raise ValueError("Progress needs a total or weights")
            weights = [1.0] * int(total)
        self.weights = [float(w) for w in weights]
        self.log = logger or logging.getLogger("ltpipe.progress")
        self.started = time.perf_counter()
        self.done = 0  # steps finished
        self.worked = 0.0  # weight of the steps that were computed here (not skipped)

    @property
    def left_weight(self) -> float:
        return sum(self.weights[self.done :])

    def estimate(self) -> float | None:
        """Seconds left, from the time per unit of work so far (None before any computed step)."""
        if self.worked <= 0:
            return None
        return (time.perf_counter() - self.started) / self.worked * self.left_weight

    def skip(self, message: str = "") -> None:
        """A step done without work (reused from a checkpoint)."""
        self.done += 1
        self.started = time.perf_counter()  # time so far counts from the first computed step
        if message:
            self.log.info("%s (step %d of %d, reused)", message, self.done, len(self.weights))

    def step(self, message: str, *args) -> None:
        """A step computed here: log ``message % args`` with the time so far and the estimate of what is left."""
        self.worked += self.weights[self.done] if self.done < len(self.weights) else 0.0
        self.done += 1
        elapsed = time.perf_counter() - self.started
        left = self.estimate()
        tail = f"step {self.done} of {len(self.weights)}, {duration(elapsed)} so far"
        if self.done < len(self.weights) and left is not None:
            tail += f", about {duration(left)} left"
        self.log.info(f"{message} ({tail})", *args)
