"""The cost model: each job's runtime and memory from its work (:mod:`ltpipe.workload` counts it from the job's
own config section) and the per-unit costs measured for its kind.

A job's work is counted in the unit its engine's time grows with (its *kind*):

- ``agd`` (Z2-Z5, ZT; Zhang et al. Algorithm 1) and ``z6`` (AGD inside IMP rounds): trial-iterations x N x the
  multiply-adds of a sample (:func:`ltpipe.workload.work_width`), and as items the iterations of the groups the
  engine runs its trials in (:func:`ltpipe.workload.groups`: one kernel call per group and iteration). A trial
  stops when it converges, diverges or reaches ``max_iter``. Before a run the iterations are not known, so the
  prediction counts every trial at its cap: an upper bound. :func:`ltpipe.workload.actual_work` counts the
  iterations a finished job's table records, which is what the per-unit costs are calibrated and checked on.
- ``train:<arch>`` (Z7's LeNet-5s, the PS target), ``pe:<network>:<variant>`` (edge-popup): sample passes,
  a training sample 1, an evaluated one 1/3 (a forward pass without the backward's two).
- ``pl`` (Lueker's supremum, Pensia et al. Theorem 3): the subset sums formed inside the target interval,
  2^n times the fraction of a sum of n coefficients that falls inside it (a normal approximation).
- ``ps_solve`` (Experiment 1): weights x coefficient ranges x 2^(n/2) meet-in-the-middle sums, the fewest
  coefficients within eps at :data:`SPARSEST_FACTOR` times a plain solve.
- ``pc`` and ``pc_ps`` (Lemma 1-3, Theorem 1; Malach Theorem 2.1): PC's 2^(n/4) sums or MW's n products per
  weight built, plus the multiply-adds of the sup search over the unit ball.
- ``mn`` (Malach Theorem 3.2, 3.3): the multiply-adds of the random features and of the ridge solves.
- ``light``: the summaries, gathers, figures and claims: nothing but the start-up.

A job's predicted seconds are ``overhead_s + compile_s + units x seconds_per_unit + items x seconds_per_item``
of its kind, from the calibration file ``ltpipe/cost_units.json`` (written by ``bench/calibrate.py`` from a run
of ``bench/calibration.yaml``, a scale of its own, never the default run it is checked on). Its memory is the
kind's measured base plus its largest arrays. The workflow asks Slurm for :data:`TIME_MARGIN` times the
predicted time and :data:`MEM_MARGIN` times the memory (doubled on the retry). This module imports neither
numpy nor torch: Snakemake calls it for every job while it builds the DAG.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltpipe.config import ConfigError

__all__ = ["Job", "Units", "load_units", "mnist_sizes"]

# LTPIPE_COST_UNITS names another file (bench/calibrate.py runs its own scale with a provisional one)
UNITS_FILE = Path(os.environ.get("LTPIPE_COST_UNITS") or Path(__file__).resolve().parent / "cost_units.json")
TIME_MARGIN = 2.0  # a Slurm time limit is this many times the predicted seconds (at least MIN_MINUTES)
MEM_MARGIN = 1.5  # and its memory this many times the predicted peak
MIN_MINUTES = 5
MNIST_FULL = {"train": 60000, "test": 10000}
BYTES_PER_ROW_COLUMN = 8  # disk: an upper bound, before Parquet's compression
MB = 2**20


@dataclass
class Job:
    """One job of the workflow: its rule, wildcards, the experiments it serves and its predicted work."""

    rule: str
    wildcards: dict[str, Any]
    exps: tuple[str, ...]
    kind: str = "light"
    units: float = 0.0
    items: float = 0.0  # AGD and Z6: trial-iterations (each has a fixed cost beside its N x d units)
    bound: bool = False  # units and items count every trial at its iteration cap
    array_bytes: float = 0.0  # the largest arrays it holds at once
    rows: float = 0.0  # rows x columns of the tables it writes (disk)
    gpu: bool = False  # its rule can compute on a GPU
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        wc = ",".join(f"{k}={v}" for k, v in self.wildcards.items())
        return f"{self.rule}[{wc}]" if wc else self.rule


@dataclass
class Units:
    """Per-unit costs of every kind, as calibrated: ``kinds[kind] = {seconds_per_unit, overhead_s, base_mb}``."""

    kinds: dict[str, dict[str, float]]
    overhead_s: float
    base_mb: float
    meta: dict[str, Any] = field(default_factory=dict)
    fallback: dict[str, int] | None = None  # runtime and mem_mb of a kind not calibrated (calibration runs only)

    def kind(self, kind: str) -> dict[str, float]:
        return self.kinds.get(kind, {})

    def seconds(self, job: Job, work: tuple[float, float] | None = None) -> float:
        """Predicted wall seconds of ``job``: start-up + compile + units x seconds_per_unit + items x
        seconds_per_item, at ``work`` = (units, items) where given (a finished job's actual work), else at the
        job's own. ``compile_s`` is numba's compilation of the kernels the kind calls, which the first such job
        of a checkout pays (later ones load them from its cache): counted for every job, so a bound."""
        k = self.kind(job.kind)
        units, items = (job.units, job.items) if work is None else work
        if "seconds_per_unit" not in k and units > 0:
            raise ConfigError(f"no calibrated cost for kind {job.kind!r} (job {job.name}): rerun bench/calibrate.py")
        spu, spi = k.get("seconds_per_unit", 0.0), k.get("seconds_per_item", 0.0)
        start = float(k.get("overhead_s", self.overhead_s)) + float(k.get("compile_s", 0.0))
        return start + units * spu + items * spi

    def mem_mb(self, job: Job) -> float:
        """Predicted peak resident memory (MB): the kind's measured base plus the job's arrays."""
        return float(self.kind(job.kind).get("base_mb", self.base_mb)) + job.array_bytes / MB

    def runtime_minutes(self, job: Job) -> int:
        """The time limit to ask for: TIME_MARGIN x the predicted seconds, in whole minutes."""
        if self.fallback and job.kind not in self.kinds:
            return int(self.fallback["runtime"])
        return max(MIN_MINUTES, math.ceil(TIME_MARGIN * self.seconds(job) / 60))

    def mem_request_mb(self, job: Job) -> int:
        """The memory to ask for: MEM_MARGIN x the predicted peak, rounded up to 100 MB."""
        if self.fallback and job.kind not in self.kinds:
            return int(self.fallback["mem_mb"])
        return int(100 * math.ceil(MEM_MARGIN * self.mem_mb(job) / 100))


def load_units(path: str | Path = UNITS_FILE) -> Units:
    """The per-unit costs of ``path`` (by default the calibration file of the checkout)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot read the cost model's per-unit costs {path}: {err} (bench/calibrate.py writes them)"
        ) from None
    return Units(data["kinds"], data["overhead_s"], data["base_mb"], data["meta"], data.get("fallback"))


# --- MNIST sizes ----------------------------------------------------------------------------------------------


def _idx_count(path: Path) -> int | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    return struct.unpack(">I", head[4:8])[0] if len(head) == 8 else None


def mnist_sizes(config: dict[str, Any]) -> dict[str, int]:
    """The training and test set sizes the MNIST jobs will read: from the IDX headers under the config's root
    where the files are there (a local subset), else full MNIST's 60,000 and 10,000."""
    root = (config.get("data", {}).get("mnist", {}) or {}).get("root") or "resources/mnist"
    raw = Path(root) / "MNIST" / "raw"
    out = dict(MNIST_FULL)
    for split, stem in (("train", "train-labels-idx1-ubyte"), ("test", "t10k-labels-idx1-ubyte")):
        count = _idx_count(raw / stem)
        if count is not None:
            out[split] = count
    return out
