"""The compiled (numba) kernels run on the job's thread count, torch's, and leave torch's as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
import torch

__all__ = ["kernel_threads"]


@contextmanager
def kernel_threads() -> Iterator[int]:
    """Within the block numba's parallel loops use ``torch.get_num_threads()`` threads (the job's ``--threads``;
    at most the cores numba found); on leaving, torch's count is set back. Both libraries share one OpenMP
    runtime here, and a numba launch can change the count torch's own parallel loops then use."""
    threads = torch.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield numba.get_num_threads()
    finally:
        torch.set_num_threads(threads)
