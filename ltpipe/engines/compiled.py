"""What the compiled (numba) kernels share: who runs (the kernel or the tensor program), and on how many threads.

The AGD gradient (:mod:`ltpipe.engines.agd_kernel`) and the exact subset sums
(:mod:`ltpipe.engines.subsetsum_kernel`) each have a compiled CPU kernel and a
torch tensor program that runs on CUDA and is the reference the kernels are
tested against; ``method`` chooses between them the same way in both.

numba is imported only when a kernel runs, so the tensor programs (CUDA, and
``method="reference"``) also run where numba is not installed, such as a GPU
node's image with torch alone; there a CPU kernel stops with an error that
says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["kernel_threads", "one_thread", "use_kernel"]

_set = threading.local()  # the count this Python thread last gave numba (numba's count is per thread)


def _numba():
    """The numba module, or an error that says what to do without it."""
    try:
        import numba
    except ImportError as e:  # a dependency of the package, but an image may hold torch alone
        raise ImportError(
            "ltpipe's CPU kernels need numba (pip install numba); without it, run on CUDA or with method='reference'"
        ) from e
    return numba


def use_kernel(x: torch.Tensor, method: str) -> bool:
    """Whether the compiled kernel runs: ``auto`` on the CPU (the tensor program on CUDA), ``kernel`` (CPU only),
    never for ``reference`` (the tensor program, also on the CPU). Where it would run without numba, an error."""
    if method not in ("auto", "kernel", "reference"):
        raise ValueError(f"method must be auto, kernel or reference, not {method!r}")
    if method == "kernel" and x.device.type != "cpu":
        raise ValueError("the compiled kernels run on the CPU; use method='auto' on CUDA")
    kernel = method == "kernel" or (method == "auto" and x.device.type == "cpu")
    if kernel:
        _numba()
    return kernel


@contextmanager
def kernel_threads() -> Iterator[int]:
    """Within the block numba's parallel loops use ``torch.get_num_threads()`` threads (the job's ``--threads``;
    at most the cores numba found); on leaving, torch's count is set back. Both libraries share one OpenMP
    runtime here, and a numba launch can change the count torch's own parallel loops then use.

    Asking numba for its count or setting it costs about 7 us; the AGD engine enters this block every
    iteration, so numba is told only when the count it was last given changes. The count never changes a
    result, only the speed."""
    numba = _numba()
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


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread within the block, its count set back on leaving: for the dense products whose
    low-order bits a multi-threaded BLAS splits differently per thread count (on some CPUs), where a table
    must not depend on the job's ``--threads``. A no-op at one thread, so results there do not change."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
