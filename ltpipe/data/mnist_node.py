"""MNIST as the workflow's data node, in two steps (see :mod:`ltpipe.data.mnist` for the files and their checks).

1. ``ltpipe mnist --root ROOT --out manifest.json`` (a checkpoint) decides whether
   the data can be had: the four files under ROOT are verified
   (:func:`ltpipe.data.mnist.verify`), or, when they are missing and downloading
   is allowed, torchvision's mirrors are asked whether they answer. Its manifest
   (sizes, md5s, sample counts, paths relative to the data root; never an
   absolute path) says which. With ``--allow-unavailable`` (the workflow's
   setting) data that cannot be had are recorded as ``available: false`` with
   the reason, so that the rest of the workflow still runs and the claims of
   the experiments that need MNIST are marked not run.
2. ``ltpipe mnist-fetch`` provides the four files as the node's declared outputs
   (``resources/mnist/verified/MNIST/raw/``, shareable between workflows with
   ``snakemake --cache``): copied from ROOT, or downloaded through torchvision's
   mirrors and its md5 of each ``.gz`` archive (extracted exactly as
   ``torchvision.datasets.MNIST`` does), and verified again before they appear;
   training jobs take these four files as inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ltpipe.data.mnist import DEFAULT_ROOT, DOWNLOAD_TIMEOUT, FILES, MnistError, _error, raw_dir, verify
from ltpipe.tables import atomic_path

__all__ = ["check", "ensure", "fetch", "fetch_main", "main"]

log = logging.getLogger(__name__)


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
