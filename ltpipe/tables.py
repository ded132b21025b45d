"""Parquet I/O with provenance metadata and atomic writes (the results contract).

Every table ltpipe writes carries, under the Parquet key ``ltpipe``, a JSON
object with the resolved config of the job, the ltpipe version, the git commit
when known, the torch and numpy versions and the device.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["atomic_path", "gather_main", "provenance", "read_metadata", "read_table", "write_table"]

META_KEY = b"ltpipe"
log = logging.getLogger(__name__)


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(config: Any = None, device: str | None = None) -> dict[str, Any]:
    """The metadata stored with a table."""
    import torch

    from ltpipe import __version__

    return {
        "config": config,
        "ltpipe_version": __version__,
        "git_commit": _git_commit(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "device": device,
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


def gather_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe gather: concatenate per-job tables into one (rows in input order)."""
    parser = argparse.ArgumentParser(prog="ltpipe gather", description=gather_main.__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args(argv)
    df = pd.concat([read_table(p) for p in args.inputs], ignore_index=True)
    write_table(df, args.out, config={"inputs": args.inputs})
    log.info("wrote %d rows to %s", len(df), args.out)
