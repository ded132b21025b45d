"""Parquet I/O with provenance metadata and atomic writes (the results contract).

Every table ltpipe writes carries, under the Parquet key ``ltpipe``, a JSON
object with the resolved config of the job, the ltpipe version, the git commit
when known and whether the checkout had uncommitted changes to tracked files
(``git_dirty``), the Python, torch, numpy, pandas, pyarrow and CUDA versions, the
device and, on CUDA, the GPU's name. A gathered table (the ones users open:
trials, rounds, weights, ...) also carries the provenance of every part it was
gathered from (``parts``: path, config, device, GPU, commit), so the settings of
each row's job travel with it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["atomic_path", "gather_main", "load_torch", "provenance", "read_metadata", "read_table", "write_table"]

META_KEY = b"ltpipe"
log = logging.getLogger(__name__)


def _git(*args: str) -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.cache
def _git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout ltpipe runs from; (None, None) outside a git checkout."""
    commit = (_git("rev-parse", "HEAD") or "").strip() or None
    if commit is None:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status.strip())


def _cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), or what the platform module knows."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(config: Any = None, device: str | None = None) -> dict[str, Any]:
    """The metadata stored with a table."""
    import torch

    from ltpipe import __version__

    commit, dirty = _git_state()
    gpu = None
    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    return {
        "config": config,
        "ltpipe_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "pandas_version": pd.__version__,
        "pyarrow_version": pa.__version__,
        "cuda_version": torch.version.cuda,
        "device": device,
        "gpu_name": gpu,
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        # torch's CPU kernels differ per instruction set (AVX2, AVX512) and round differently: tables computed
        # with torch are equal to the last bit across threads, cores and batching on one kind of CPU, not across
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file next to ``path`` to write to; it replaces ``path`` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)  # mkstemp makes the file 0600; give it the mode a plain open() would
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: str | os.PathLike, config: Any = None, device: str | None = None) -> None:
    """Write ``df`` to ``path`` atomically (temp file in the same folder, then rename)."""
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(provenance(config, device), sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table`."""
    return pq.read_table(path).to_pandas()


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance metadata of a table."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(META_KEY, b"{}"))


def load_torch(path: str | os.PathLike) -> Any:
    """A file a job saved with ``torch.save`` (a checkpoint, a trained target, masks), loaded as tensors and plain
    types only: a file that carries anything else (a pickled callable, say, from a swapped results folder or a
    shared cache) is refused with a ValueError naming it, and none of its code runs."""
    import pickle

    import torch

    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"refusing to load {path}: it holds more than tensors and plain types, which no file ltpipe writes "
            f"does ({first}). Delete it and rerun the job that writes it."
        ) from None


def gather_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe gather: concatenate per-job tables into one (rows in input order)."""
    parser = argparse.ArgumentParser(prog="ltpipe gather", description=gather_main.__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args(argv)
    df = pd.concat([read_table(p) for p in args.inputs], ignore_index=True)
    parts = []
    for path in args.inputs:
        meta = read_metadata(path)
        parts.append({"path": path, **{k: meta.get(k) for k in ("config", "device", "gpu_name", "git_commit")}})
    write_table(df, args.out, config={"inputs": args.inputs, "parts": parts})
    log.info("wrote %d rows to %s", len(df), args.out)
