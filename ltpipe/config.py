"""A job's run-time settings (device, dtype, threads, GPU slot, memory), its argument parser, and
:class:`ConfigError`, what a job or the workflow raises for a setting it cannot honour. The workflow
checks the config before any job runs with :mod:`ltpipe.schema`."""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "claim_gpu",
    "cuda_present",
    "job_parser",
    "keep_freed_memory",
    "resolve_device",
    "resolve_dtype",
    "start_job",
]

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value is missing, unknown or out of range."""


def cuda_present() -> bool:
    """Whether a CUDA device is usable (imports torch)."""
    import torch

    return torch.cuda.is_available()


def resolve_device(name: str, declared_gpus: int = 0) -> str:
    """``auto`` -> ``cuda`` when present, else ``cpu``; ``cuda`` without a GPU is an error.

    ``declared_gpus`` is the gpu resource the job was scheduled with: a job declared with a GPU that
    finds none under ``auto`` says so on stderr (its log) and runs on the CPU.
    """
    if name not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device: must be auto, cpu or cuda, not {name!r}")
    if name == "cpu":
        return "cpu"
    if cuda_present():
        return "cuda"
    if name == "cuda":
        raise ConfigError(
            "device: cuda was requested but no CUDA device is available on this node "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}); "
            "use device: auto or cpu, or run the job where a GPU is"
        )
    if declared_gpus > 0:
        log.warning(
            "this job was declared with gpu=%d but no CUDA device is available on this node; "
            "running on the CPU (device: auto)",
            declared_gpus,
        )
    return "cpu"


def gpu_lock_dir() -> Path:
    """Where jobs on this host hold their GPU slots (LTPIPE_GPU_LOCKS, else a per-user temp folder)."""
    default = Path(tempfile.gettempdir()) / f"ltpipe-gpu-locks-{os.getuid()}"
    return Path(os.environ.get("LTPIPE_GPU_LOCKS", default))


_HELD: list[Any] = []  # the open slot files of this process (closing one releases its slot)


def claim_gpu(count: int, lock_dir: Path | None = None) -> int:
    """The index of a GPU no other ltpipe job on this host holds, held until this process exits.

    ``snakemake --resources gpu=N`` runs up to N GPU jobs at once but does not say which GPU each gets;
    each job takes the first free slot of ``count`` (an exclusive ``flock`` on ``gpu<i>.lock``), so N
    jobs on N GPUs use one each. A scheduler that gives each job its own GPU (Slurm sets
    CUDA_VISIBLE_DEVICES) leaves one visible device, and that is slot 0. With every slot taken (more
    GPU jobs than GPUs) the job shares GPU ``pid % count`` and says so.
    """
    import fcntl

    if count <= 1:
        return 0
    lock_dir = gpu_lock_dir() if lock_dir is None else Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        f = open(lock_dir / f"gpu{i}.lock", "w")  # noqa: SIM115 (held open for the life of the job)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        f.write(f"{os.getpid()}\n")
        f.flush()
        _HELD.append(f)
        return i
    i = os.getpid() % count
    log.warning("all %d GPUs are held by other ltpipe jobs; sharing GPU %d", count, i)
    return i


def resolve_dtype(name: str):
    """torch dtype for the config's ``dtype`` (float64 or float32)."""
    import torch

    try:
        return {"float64": torch.float64, "float32": torch.float32}[name]
    except KeyError:
        raise ConfigError(f"dtype: must be float64 or float32, not {name!r}") from None


def job_parser(prog: str, description: str | None, section: str) -> argparse.ArgumentParser:
    """The parser of a compute entry point, with what every such job takes: its config
    ``section`` as JSON (--config), --device and --threads."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", required=True, help=f"the {section} section as JSON")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--gpus", type=int, default=0, help="the gpu resource the job was scheduled with")
    parser.add_argument("--threads", type=int, default=1)
    return parser


def deterministic_cuda() -> None:
    """Ask CUDA for run-to-run reproducible results: deterministic algorithms (torch warns about an op that has
    none rather than stopping a long job), cuDNN without autotuning, and the cuBLAS workspace setting that
    deterministic cuBLAS needs (set before the first cuBLAS call). Recorded in every table (``deterministic``)."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
MMAP_FROM_BYTES = 32 << 20  # the largest mmap threshold glibc accepts (64-bit); a training step's buffers are smaller
TRIM_FROM_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Let the C allocator (glibc's malloc) keep in the process what a job frees, rather than hand it back to
    the kernel; returns whether it could (False on another C library, where nothing changes).

    A training step allocates its activations and gradients afresh and frees them at its end: up to 10 MB each
    for Z7's stacked LeNet-5s. By default glibc serves such blocks with mmap or returns the top of its heap
    to the kernel once more than a few MB are free there, so steps touch new pages (``bench/allocator.py``
    measures a Z7 job both ways; BENCHMARKS.md has the figures). Here blocks below ``MMAP_FROM_BYTES`` come
    from the heap and the heap is trimmed only above ``TRIM_FROM_BYTES``: a job keeps its peak memory until it
    exits. Where memory lies never changes a result (torch aligns every buffer to 64 bytes either way)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(_M_MMAP_THRESHOLD, MMAP_FROM_BYTES) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_FROM_BYTES) == 1


def start_job(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Set torch's thread count, keep freed memory in the process (:func:`keep_freed_memory`) and resolve the
    device (on CUDA: deterministic algorithms, and on a host with several GPUs the one no other job holds,
    ``claim_gpu``); returns (the parsed --config, device)."""
    import torch

    torch.set_num_threads(max(1, args.threads))
    keep_freed_memory()
    device = resolve_device(args.device, getattr(args, "gpus", 0))
    if device == "cuda":
        deterministic_cuda()
        index = claim_gpu(torch.cuda.device_count())
        torch.cuda.set_device(index)
        log.info("device: cuda:%d (%s)", index, torch.cuda.get_device_name(index))
    return json.loads(args.config), device
