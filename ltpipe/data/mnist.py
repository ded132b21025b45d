"""MNIST's four IDX files: where they live, their verification, loading, and the sizes they can serve.

The data live in torchvision's layout, ``<root>/MNIST/raw/`` holding the four
uncompressed IDX files listed in :data:`FILES`. ``root`` is ``resources/mnist`` unless
the config sets ``data.mnist.root``; :mod:`ltpipe.data.mnist_node` is the
workflow's data node that checks, copies or downloads them.

Verification always checks the format: all four files exist, each parses as an
IDX file of unsigned bytes whose header (magic number, dimensions) matches its
byte length exactly, images are 28x28, images and labels agree in number per
split and labels lie in 0..9. With ``verify_checksums`` (the default,
``data.mnist.verify_checksums: true``) it also requires the published MNIST:
60000 training and 10000 test samples, and the md5 of each *uncompressed* file
equal to :data:`CHECKSUMS`. Those digests are the ones published for the
unpacked files by the secml library (pralab/secml,
``src/secml/data/loader/c_dataloader_mnist.py``, "Expected MD5 of the downloaded
file (after unpacking)"); they cover the files actually read, so a copy made
without the ``.gz`` archives can be verified too. ``verify_checksums: false``
accepts a non-standard subset (a smaller copy in the same layout) and checks
only format and sizes.

Every problem with the data raises :class:`MnistError`, whose message names the
files concerned, the root and what to do. Training code loads a split with
:func:`load` and refuses sizes larger than the data with :func:`check_size`;
:mod:`ltpipe.data.mnist_subsets` draws the seeded, class-stratified subsets.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and torch are imported where used: the workflow's process imports this module
    import numpy as np
    import torch

__all__ = [
    "CHECKSUMS",
    "DEFAULT_ROOT",
    "FILES",
    "FULL_SIZES",
    "MnistError",
    "check_size",
    "load",
    "raw_dir",
    "read_idx",
    "verify",
]

log = logging.getLogger(__name__)

DEFAULT_ROOT = "resources"
SPLITS = ("train", "test")
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# md5 of the uncompressed files, as listed by secml (pralab/secml, src/secml/data/loader/c_dataloader_mnist.py).
CHECKSUMS: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FULL_SIZES: dict[str, int] = {"train": 60000, "test": 10000}
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
DOWNLOAD_TIMEOUT = 60.0  # seconds per network operation, so an unreachable mirror fails instead of hanging

_UBYTE = 0x08  # IDX type code of unsigned bytes
_NDIM = {"images": 3, "labels": 1}


class MnistError(RuntimeError):
    """A problem with the MNIST files: missing, malformed, inconsistent or not the published data."""


def raw_dir(root: str | os.PathLike) -> Path:
    """The folder holding the four IDX files: ``root/MNIST/raw`` (torchvision's layout)."""
    return Path(root) / "MNIST" / "raw"


def _advice(root: str | os.PathLike, subset_hint: bool = True) -> str:
    names = ", ".join(FILES.values())
    text = (
        f"Put the four uncompressed IDX files ({names}) in {raw_dir(root).resolve()}, "
        "or set data.mnist.root to a directory whose MNIST/raw holds them"
    )
    if subset_hint:
        text += "; for a non-standard subset of MNIST set data.mnist.verify_checksums: false"
    return text + "."


def _error(problems: Sequence[str], root: str | os.PathLike, subset_hint: bool = True) -> MnistError:
    head = f"MNIST data at {Path(root).resolve()} is not usable:"
    return MnistError("\n".join([head, *(f"  - {p}" for p in problems), _advice(root, subset_hint)]))


# --- IDX files -----------------------------------------------------------------------------------------------


def _parse_idx(data: bytearray | bytes, name: str, ndim: int | None = None) -> np.ndarray:
    """Parse the bytes of an IDX file of unsigned bytes; ``name`` is used in error messages."""
    import numpy as np

    if len(data) < 4:
        raise MnistError(f"{name}: only {len(data)} bytes, too short for an IDX header")
    zero, dtype, dims = int.from_bytes(data[:2], "big"), data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero != 0 or dtype != _UBYTE or not 1 <= dims <= 4:
        raise MnistError(
            f"{name}: bad magic number 0x{magic:08x} (expected 0x000008NN, NN the number of dimensions); "
            "not an uncompressed IDX file of unsigned bytes"
        )
    if ndim is not None and dims != ndim:
        raise MnistError(f"{name}: magic number 0x{magic:08x} says {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise MnistError(f"{name}: truncated header ({len(data)} bytes, need {header} for {dims} dimensions)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise MnistError(f"{name}: {what}: {len(data)} bytes, but its header {shape} needs exactly {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_bytes(path: Path) -> bytearray:
    """The whole file in a writable buffer (so arrays over it can back torch tensors without a copy)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        data = bytearray(size)
        got = f.readinto(data)
    if got != size:
        raise MnistError(f"{path}: read {got} of {size} bytes")
    return data


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Parse an IDX file of unsigned bytes into a uint8 array of the shape in its header.

    Images (magic 0x00000803) give ``(n, rows, cols)``, labels (0x00000801) ``(n,)``.
    The magic number, the number of dimensions (``ndim`` when given) and the file
    length (exactly header + product of the dimensions) are checked; any mismatch
    raises :class:`MnistError` naming the file.
    """
    path = Path(path)
    try:
        data = _read_bytes(path)
    except OSError as err:
        raise MnistError(f"{path}: cannot be read ({err})") from err
    return _parse_idx(data, str(path), ndim)


# --- verification --------------------------------------------------------------------------------------------


def _kind(key: str) -> tuple[str, str]:
    split, kind = key.split("_")
    return split, kind


def verify(root: str | os.PathLike, verify_checksums: bool) -> dict:
    """Check the four files under ``root`` and return their manifest.

    Always: the files exist, parse as IDX (see :func:`read_idx`), images are
    28x28, images and labels agree in number per split, labels are in 0..9.
    With ``verify_checksums`` also: 60000/10000 samples and the md5 of each file
    equal to :data:`CHECKSUMS`. All problems found are reported in one
    :class:`MnistError`. The manifest is ``{"verify_checksums", "n_train",
    "n_test", "files": {name: {"path", "bytes", "md5"}}}``, each path relative to ``root``.
    """
    import numpy as np

    raw = raw_dir(root)
    missing = [name for name in FILES.values() if not (raw / name).is_file()]
    if missing:
        raise _error([f"missing: {', '.join(missing)} (looked in {raw.resolve()})"], root)
    problems: list[str] = []
    files: dict[str, dict] = {}
    arrays: dict[str, np.ndarray] = {}
    for key, name in FILES.items():
        path = raw / name
        try:
            data = _read_bytes(path)
        except OSError as err:
            problems.append(f"{name}: cannot be read ({err})")
            continue
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        files[name] = {"path": f"MNIST/raw/{name}", "bytes": len(data), "md5": md5}
        try:
            arrays[key] = _parse_idx(data, name, _NDIM[_kind(key)[1]])
        except MnistError as err:
            problems.append(str(err))
    counts: dict[str, int] = {}
    for split in SPLITS:
        img_name, lbl_name = FILES[f"{split}_images"], FILES[f"{split}_labels"]
        images, labels = arrays.get(f"{split}_images"), arrays.get(f"{split}_labels")
        if images is not None and images.shape[1:] != IMAGE_SHAPE:
            problems.append(f"{img_name}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
        if labels is not None and labels.size and int(labels.max()) >= N_CLASSES:
            bad = int(np.count_nonzero(labels >= N_CLASSES))
            problems.append(f"{lbl_name}: {bad} labels outside 0..9 (max {int(labels.max())})")
        if images is not None and labels is not None:
            if len(images) != len(labels):
                problems.append(f"{img_name} has {len(images)} images but {lbl_name} has {len(labels)} labels")
            elif len(images) == 0:
                problems.append(f"{img_name} and {lbl_name} hold no samples")
            else:
                counts[split] = len(images)
    format_ok = not problems
    if verify_checksums:
        for split in SPLITS:
            if split in counts and counts[split] != FULL_SIZES[split]:
                problems.append(
                    f"{FILES[f'{split}_images']}, {FILES[f'{split}_labels']}: {counts[split]} {split} samples, "
                    f"the published MNIST has {FULL_SIZES[split]}"
                )
        for name, info in files.items():
            if info["md5"] != CHECKSUMS[name]:
                problems.append(f"{name}: md5 {info['md5']} differs from the published {CHECKSUMS[name]}")
    if problems:
        # The subset hint only helps when the format is fine and only the published-data checks failed.
        raise _error(problems, root, subset_hint=verify_checksums and format_ok)
    return {
        "verify_checksums": bool(verify_checksums),
        "n_train": counts["train"],
        "n_test": counts["test"],
        "files": files,
    }


def present(root: str | os.PathLike) -> bool:
    """Whether the four files exist under ``root`` (no check of their contents)."""
    return all((raw_dir(root) / name).is_file() for name in FILES.values())


def data_root(paths: Sequence[str | os.PathLike]) -> str:
    """The data root of what a training job is given: the four IDX files (the workflow lists them as the job's
    inputs), or the root itself."""
    if len(paths) == 1:
        return str(paths[0])
    folders = {Path(os.path.abspath(p)).parent for p in paths}  # not resolved: the files may be links (--cache)
    names = sorted(Path(p).name for p in paths)
    if len(folders) != 1 or names != sorted(FILES.values()):
        raise MnistError(f"expected the four MNIST files ({', '.join(FILES.values())}) in one folder, got {paths}")
    return str(folders.pop().parent.parent)


# --- loading and subsets -------------------------------------------------------------------------------------


def load(root: str | os.PathLike, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (uint8, ``(n, 28, 28)``) and labels (int64, ``(n,)``) of ``split`` ("train" or "test").

    Checks format, image size, count agreement and label range (not checksums:
    that is the data node's job, see :func:`verify`).
    """
    import torch

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    raw = raw_dir(root)
    img_name, lbl_name = FILES[f"{split}_images"], FILES[f"{split}_labels"]
    missing = [name for name in (img_name, lbl_name) if not (raw / name).is_file()]
    if missing:
        raise _error([f"missing: {', '.join(missing)} (looked in {raw.resolve()})"], root)
    try:
        images = read_idx(raw / img_name, ndim=3)
        labels = read_idx(raw / lbl_name, ndim=1)
    except MnistError as err:
        raise _error([str(err)], root) from err
    problems = []
    if images.shape[1:] != IMAGE_SHAPE:
        problems.append(f"{img_name}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if len(images) != len(labels):
        problems.append(f"{img_name} has {len(images)} images but {lbl_name} has {len(labels)} labels")
    if labels.size and int(labels.max()) >= N_CLASSES:
        problems.append(f"{lbl_name}: labels outside 0..9 (max {int(labels.max())})")
    if problems:
        raise _error(problems, root)
    return torch.from_numpy(images), torch.from_numpy(labels).to(torch.int64)


def check_size(
    requested: int, available: int, what: str = "training samples", root: str | os.PathLike | None = None
) -> None:
    """Refuse (MnistError) a request for more samples than the data hold, before any training starts."""
    if requested < 0:
        raise ValueError(f"requested a negative number of {what}: {requested}")
    if requested > available:
        where = f"the data at {Path(root).resolve()}" if root is not None else "the data"
        raise MnistError(
            f"requested {requested} {what} but {where} has only {available}; lower the requested size, "
            f"or set data.mnist.root to a larger copy of MNIST (the full set has {FULL_SIZES['train']} training "
            f"and {FULL_SIZES['test']} test samples)"
        )
