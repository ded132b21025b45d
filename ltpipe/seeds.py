"""Seeds derived from the config's base seed and a job's identity.

Every random draw in ltpipe comes from a seed that depends only on the base
seed and on *what* is drawn (study, experiment, grid point, trial), never on
global RNG state, job order or the number of cores.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported by torch_generator only, so the workflow's process never loads it
    import torch

__all__ = ["derive_seed", "numpy_generator", "seed_sequence", "torch_generator"]


def _key_word(part: object) -> int:
    """Map one identity component (str, int, float) to a stable 32-bit word."""
    if isinstance(part, bool) or not isinstance(part, (int, float, str)):
        raise TypeError(f"seed key parts must be int, float or str, not {part!r}")
    if isinstance(part, int) and 0 <= part < 2**32:
        return part
    digest = hashlib.sha256(f"{type(part).__name__}:{part!r}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def seed_sequence(base_seed: int, *key: object) -> np.random.SeedSequence:
    """The SeedSequence of the stream named by ``key`` under ``base_seed``."""
    return np.random.SeedSequence(entropy=int(base_seed), spawn_key=tuple(_key_word(k) for k in key))


def derive_seed(base_seed: int, *key: object) -> int:
    """A 63-bit integer seed for the stream named by ``key``.

    >>> derive_seed(0, "zhang2021", "z3", 16, 0) == derive_seed(0, "zhang2021", "z3", 16, 0)
    True
    """
    state = seed_sequence(base_seed, *key).generate_state(2, np.uint32)
    return int((int(state[0]) << 32 | int(state[1])) & (2**63 - 1))


def numpy_generator(seed: int, *key: object) -> np.random.Generator:
    """A numpy Generator for the sub-stream ``key`` of a recorded seed."""
    return np.random.default_rng(seed_sequence(seed, *key))


def torch_generator(seed: int, *key: object) -> torch.Generator:
    """A CPU torch.Generator for the sub-stream ``key`` of a recorded seed.

    Draws are made on the CPU and then moved, so a seed gives the same numbers
    on every device.
    """
    import torch

    gen = torch.Generator(device="cpu")
    gen.manual_seed(derive_seed(seed, *key))
    return gen
