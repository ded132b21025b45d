"""Shared helpers for the tests: small teacher-student problems, and the tiny whole-workflow run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ltpipe.data.grid import trial_specs
from ltpipe.data.teacher import Problems, build_problems, teacher_table


def make_problems(d=20, k=3, r=5, n=300, trials=3, noise=0.0, seed=7, exp="t") -> tuple[list[int], Problems]:
    cfg = {"trials": trials}
    specs = trial_specs("test", exp, cfg, r, seed)
    table = teacher_table(specs, d=d, k=k)
    return [s["seed"] for s in specs], build_problems(table, n, noise)


@pytest.fixture
def small():
    return make_problems()


def reference_agd(X, y, mask, W0, eta, beta, iters, partitions=0):
    """Per-trial numpy AGD written directly from eq. (2) and Algorithm 1, neuron by neuron."""
    X, y, mask, W = (np.asarray(a, dtype=float) for a in (X, y, mask, W0))
    n, _d = X.shape
    k = W.shape[1]
    W = W * mask
    prev = W.copy()
    for t in range(iters):
        if partitions:
            block = n // partitions
            lo = (t % partitions) * block
            Xs, ys = X[lo : lo + block], y[lo : lo + block]
        else:
            Xs, ys = X, y
        m = Xs.shape[0]
        pred = np.zeros(m)
        pre = np.zeros((m, k))
        for j in range(k):
            support = np.nonzero(mask[:, j])[0]
            pre[:, j] = Xs[:, support] @ W[support, j]
            pred += np.maximum(pre[:, j], 0) / k
        res = pred - ys
        grad = np.zeros_like(W)
        for j in range(k):
            support = np.nonzero(mask[:, j])[0]
            grad[support, j] = Xs[:, support].T @ (res * (pre[:, j] > 0)) / (m * k)
        W, prev = W - eta * grad + beta * (W - prev), W
    return W


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.set_num_threads(1)


def write_idx(path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (the MNIST format): magic 0x0000080<ndim>, sizes, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.tobytes())


def write_tiny_mnist(root, n_train: int = 300, n_test: int = 100, seed: int = 0) -> None:
    """MNIST-shaped IDX files in torchvision's layout under root/MNIST/raw: each class lights its own
    4-pixel-high band of a 28 x 28 image (plus noise), so a network can learn them."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 6 + 2 * label, 4:24] += 180
        write_idx(raw / f"{prefix}-images-idx3-ubyte", np.clip(images, 0, 255))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


def by_id(rows):
    """Claim rows by id; every id once, every row with the claim columns."""
    out = {r["id"]: r for r in rows}
    assert len(out) == len(rows)
    for r in rows:
        assert set(r) >= {"id", "value", "op", "threshold", "verdict"}
    return out


def scaled(curve, s):
    return [s * e for e in curve]


ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [str(Path(sys.executable).parent / "snakemake")]


def make_copy(dst: Path, **overrides) -> Path:
    """A copy of the workflow with the tiny config, so tests never touch the repo's results or mtimes."""
    dst.mkdir(parents=True)
    shutil.copytree(ROOT / "workflow", dst / "workflow")
    shutil.copytree(ROOT / "ltpipe", dst / "ltpipe", ignore=shutil.ignore_patterns("__pycache__"))
    cfg = yaml.safe_load((ROOT / ".test" / "config" / "config.yaml").read_text())
    write_tiny_mnist(dst / "mnist")
    cfg["data"]["mnist"]["root"] = str(dst / "mnist")
    cfg.update(overrides)
    (dst / "config").mkdir()
    (dst / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return dst


def snakemake(where: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Snakemake on a copy made by :func:`make_copy`; a failure shows the end of its output. It may take
    SNAKEMAKE_TEST_TIMEOUT seconds (default 1200; more on a busy machine)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [*SNAKEMAKE, "--directory", str(where), "-s", str(where / "workflow" / "Snakefile"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=float(os.environ.get("SNAKEMAKE_TEST_TIMEOUT", 1200)),
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A copy of the workflow run to completion on the tiny config (1 core), shared by every test that
    needs a finished run: test_workflow's (through ``runs``) and test_report's."""
    one = make_copy(tmp_path_factory.mktemp("wf") / "one")
    snakemake(one, "--cores", "1")
    return one


@pytest.fixture(scope="session")
def runs(finished_run, tmp_path_factory) -> tuple[Path, Path]:
    """The finished run, and a second copy run to completion on 2 cores with 2 threads per job and small
    batches (the results must not depend on either)."""
    two = make_copy(tmp_path_factory.mktemp("wf") / "two", threads=2, max_batch_mb=0.05)
    snakemake(two, "--cores", "2")
    return finished_run, two
