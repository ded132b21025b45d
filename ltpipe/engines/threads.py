"""The compiled (numba) kernels run on the job's thread count, torch's, and leave torch's as it was."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import torch

__all__ = ["kernel_threads"]

_set = threading.local()  # the count this Python thread last gave numba (numba's count is per thread)


@contextmanager
def kernel_threads() -> Iterator[int]:
    """Within the block numba's parallel loops use ``torch.get_num_threads()`` threads (the job's ``--threads``;
    at most the cores numba found); on leaving, torch's count is set back. Both libraries share one OpenMP
    runtime here, and a numba launch can change the count torch's own parallel loops then use.

    Asking numba for its count or setting it costs about 7 us; the AGD engine enters this block every
    iteration, so numba is told only when the count it was last given changes. The count never changes a
    result, only the speed."""
    threads = torch.get_num_threads()
    wanted = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    if getattr(_set, "threads", None) != wanted:
        numba.set_num_threads(wanted)
        _set.threads = wanted
    try:
        yield wanted
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
