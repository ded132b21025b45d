"""MNIST as a data node: find, download if needed, verify and load the four IDX files.

The data live in torchvision's layout, ``<root>/MNIST/raw/`` holding the four
uncompressed IDX files listed in :data:`FILES`. ``root`` is ``resources/mnist`` unless
the config sets ``data.mnist.root``. The workflow's data node has two steps:

1. ``ltpipe mnist --root ROOT --out manifest.json`` (a checkpoint) decides whether
   the data can be had: the four files under ROOT are verified (:func:`verify`),
   or, when they are missing and downloading is allowed, torchvision's mirrors
   are asked whether they answer. Its manifest (sizes, md5s, sample counts,
   paths relative to the data root; never an absolute path) says which. With
   ``--allow-unavailable`` (the workflow's setting) data that cannot be had are
   recorded as ``available: false`` with the reason, so that the rest of the
   workflow still runs and the claims of the experiments that need MNIST are
   marked not run.
2. ``ltpipe mnist-fetch`` provides the four files as the node's declared outputs
   (``resources/mnist/verified/MNIST/raw/``, shareable between workflows with
   ``snakemake --cache``): copied from ROOT, or downloaded through torchvision's
   mirrors and its md5 of each ``.gz`` archive (extracted exactly as
   ``torchvision.datasets.MNIST`` does), and verified again before they appear;
   training jobs take these four files as inputs.

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

import argparse
import hashlib
import json
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ltpipe.tables import atomic_path

if TYPE_CHECKING:  # torch is imported by load() only, so the workflow can import this module cheaply
    import torch

__all__ = [
    "CHECKSUMS",
    "DEFAULT_ROOT",
    "FILES",
    "FULL_SIZES",
    "MnistError",
    "check",
    "check_size",
    "ensure",
    "fetch_main",
    "load",
    "main",
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


# --- download ------------------------------------------------------------------------------------------------


def _fetch(url: str, folder: Path, archive: str, md5: str) -> None:
    """Download ``url`` into ``folder`` as ``archive``, check its md5 and extract it (torchvision's helper)."""
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(url, download_root=folder, filename=archive, md5=md5)


def _download(root: str | os.PathLike, missing: Sequence[str]) -> None:
    """Fetch the ``missing`` files from torchvision's MNIST mirrors; one MnistError if any cannot be had."""
    from torchvision.datasets import MNIST

    raw = raw_dir(root)
    gz_md5 = dict(MNIST.resources)
    failures: dict[str, list[str]] = {}
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        raw.mkdir(parents=True, exist_ok=True)
        for name in missing:
            archive = f"{name}.gz"
            errors = []
            for mirror in MNIST.mirrors:
                url = f"{mirror}{archive}"
                log.info("downloading %s", url)
                try:
                    _fetch(url, raw, archive, gz_md5[archive])
                except Exception as err:  # network, HTTP, checksum or archive errors: try the next mirror
                    errors.append(f"{url}: {err}")
                    continue
                if (raw / name).is_file():
                    break
                errors.append(f"{url}: archive did not contain {name}")
            else:
                failures[name] = errors
    except OSError as err:
        failures = {name: [f"cannot create {raw}: {err}"] for name in missing}
    finally:
        socket.setdefaulttimeout(old_timeout)
    if failures:
        lines = [f"missing: {', '.join(missing)} (looked in {raw.resolve()}), and the download failed:"]
        lines += [f"{name}: {err}" for name, errs in failures.items() for err in errs]
        raise _error(lines, root)


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


def ensure(root: str | os.PathLike, verify_checksums: bool, download: bool = True) -> dict:
    """Make the four files available under ``root`` and return the manifest of :func:`verify`.

    Missing files are downloaded when ``download`` is allowed (only those
    missing; present files are never overwritten). Without network access, or
    with ``download=False``, missing files raise one :class:`MnistError` that
    names every missing file, the root and where to put the files.
    """
    raw = raw_dir(root)
    missing = [name for name in FILES.values() if not (raw / name).is_file()]
    if missing and download:
        _download(root, missing)
    return verify(root, verify_checksums)


def _probe() -> None:
    """Whether torchvision's MNIST mirrors answer (a HEAD request for the first archive); MnistError if none does."""
    import urllib.request

    from torchvision.datasets import MNIST

    archive = MNIST.resources[0][0]
    errors = []
    for mirror in MNIST.mirrors:
        url = f"{mirror}{archive}"
        try:
            request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "ltpipe"})
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT / 6):
                return
        except Exception as err:  # DNS, connection, HTTP errors: try the next mirror
            errors.append(f"{url}: {err}")
    raise MnistError("no MNIST mirror answers:\n" + "\n".join(f"  - {e}" for e in errors))


def check(root: str | os.PathLike, verify_checksums: bool, download: bool = True) -> dict:
    """The manifest of the data node's first step: the files under ``root`` verified (``source: copy``), or,
    when they are all missing and ``download`` is allowed, a mirror that answers (``source: download``).
    Raises MnistError (naming the files, the root and what to do) when the data cannot be had."""
    raw = raw_dir(root)
    missing = [name for name in FILES.values() if not (raw / name).is_file()]
    if not missing:
        return {"source": "copy", **verify(root, verify_checksums)}
    if download and len(missing) == len(FILES):
        try:
            _probe()
        except MnistError as err:
            lines = [f"missing: {', '.join(missing)} (looked in {raw.resolve()}), and the download failed:"]
            raise _error([*lines, str(err)], root) from None
        files = {name: {"path": f"MNIST/raw/{name}"} for name in FILES.values()}
        return {"source": "download", "verify_checksums": bool(verify_checksums), "files": files}
    return verify(root, verify_checksums)  # some files only, or no download: verify names what is missing


def fetch(manifest: dict, root: str | os.PathLike, dest: str | os.PathLike) -> dict:
    """Put the four files under ``dest/MNIST/raw`` as the manifest says (copied from ``root``, or downloaded),
    verified before any of them appears there (in a temporary folder beside it, removed on failure); a copy
    must also be the very files the manifest verified (same md5). Returns :func:`verify`'s manifest of dest."""
    import shutil
    import tempfile

    verify_checksums = manifest["verify_checksums"]
    raw = raw_dir(dest)
    raw.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".fetch-", dir=raw.parent))
    try:
        if manifest["source"] == "copy":
            raw_dir(stage).mkdir(parents=True)
            for name in FILES.values():
                shutil.copyfile(raw_dir(root) / name, raw_dir(stage) / name)
        else:
            _download(stage, list(FILES.values()))
        got = verify(stage, verify_checksums)
        files = manifest["files"].items()
        changed = [n for n, info in files if "md5" in info and got["files"][n]["md5"] != info["md5"]]
        if changed:
            raise _error([f"{', '.join(changed)} changed since the data were checked (rerun the mnist job)"], root)
        for name in FILES.values():
            os.replace(raw_dir(stage) / name, raw / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return verify(dest, verify_checksums)


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


# --- command line --------------------------------------------------------------------------------------------


def _write_json_atomic(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def main(argv: Sequence[str] | None = None) -> None:
    """ltpipe mnist: provide MNIST under ROOT/MNIST/raw (download if missing), verify it, write a manifest."""
    parser = argparse.ArgumentParser(prog="ltpipe mnist", description=main.__doc__)
    parser.add_argument("--root", default=DEFAULT_ROOT, help="data root (data.mnist.root); default: %(default)s")
    parser.add_argument(
        "--no-verify-checksums",
        dest="verify_checksums",
        action="store_false",
        help="accept a non-standard subset: check only format and sizes (data.mnist.verify_checksums: false)",
    )
    parser.add_argument("--no-download", dest="download", action="store_false", help="never download")
    parser.add_argument("--out", required=True, help="manifest JSON to write")
    parser.add_argument(
        "--allow-unavailable",
        action="store_true",
        help="when the data cannot be had, log why, record it in the manifest (available: false) and exit 0, "
        "so that the workflow still finishes what does not need MNIST",
    )
    args = parser.parse_args(argv)
    try:
        manifest = {"available": True, **check(args.root, args.verify_checksums, download=args.download)}
    except MnistError as err:
        log.error("%s", err)
        if not args.allow_unavailable:
            raise SystemExit(f"ltpipe mnist: {err}") from None
        unavailable = {"available": False, "error": str(err)}
        _write_json_atomic(unavailable, Path(args.out))
        log.warning("MNIST unavailable: the experiments that need it are left out and their claims marked not run")
        return
    if manifest["source"] == "download":
        log.info("MNIST is not under %s; a mirror answers, the fetch job downloads it", Path(args.root).resolve())
    else:
        for name, info in manifest["files"].items():
            log.info("%s: %d bytes, md5 %s", name, info["bytes"], info["md5"])
        checked = "checksums verified" if manifest["verify_checksums"] else "format and sizes, not checksums, verified"
        log.info("MNIST at %s: %d train, %d test; %s", args.root, manifest["n_train"], manifest["n_test"], checked)
    _write_json_atomic(manifest, Path(args.out))


def fetch_main(argv: Sequence[str] | None = None) -> None:
    """ltpipe mnist-fetch: provide the four MNIST files under DEST/MNIST/raw as the manifest says, verified."""
    parser = argparse.ArgumentParser(prog="ltpipe mnist-fetch", description=fetch_main.__doc__)
    parser.add_argument("--manifest", required=True, help="the manifest written by ltpipe mnist")
    parser.add_argument("--root", required=True, help="data root the manifest checked (data.mnist.root)")
    parser.add_argument("--dest", required=True, help="folder whose MNIST/raw receives the files")
    args = parser.parse_args(argv)
    manifest = json.loads(Path(args.manifest).read_text())
    if not manifest["available"]:
        raise SystemExit(f"ltpipe mnist-fetch: MNIST is unavailable ({args.manifest}):\n{manifest['error']}")
    try:
        got = fetch(manifest, args.root, args.dest)
    except MnistError as err:
        raise SystemExit(f"ltpipe mnist-fetch: {err}") from None
    how = "copied from " + str(args.root) if manifest["source"] == "copy" else "downloaded"
    log.info("MNIST %s into %s: %d train, %d test", how, raw_dir(args.dest), got["n_train"], got["n_test"])
