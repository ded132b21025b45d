"""What the compiled (numba) kernels share: who runs (the kernel or the tensor program), and on how many threads.

The AGD gradient (:mod:`ltpipe.engines.agd_kernel`) and the exact subset sums
(:mod:`ltpipe.engines.subsetsum_kernel`) each have a compiled CPU kernel and a
torch tensor program that runs on CUDA and is the reference the kernels are
tested against; ``method`` chooses between them the same way in both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import torch

__all__ = ["kernel_threads", "use_kernel"]

_set = threading.local()  # the count this Python thread last gave numba (numba's count is per thread)


def use_kernel(x: torch.Tensor, method: str) -> bool:
    """Whether the compiled kernel runs: ``auto`` on the CPU (the tensor program on CUDA), ``kernel`` (CPU only),
    never for ``reference`` (the tensor program, also on the CPU)."""
    if method not in ("auto", "kernel", "reference"):
        raise ValueError(f"method must be auto, kernel or reference, not {method!r}")
    if method == "kernel" and x.device.type != "cpu":
        raise ValueError("the compiled kernels run on the CPU; use method='auto' on CUDA")
    return method == "kernel" or (method == "auto" and x.device.type == "cpu")


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
