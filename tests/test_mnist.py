"""The MNIST data node on tiny IDX files written by the tests (no network, no shared data)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import MNIST

from ltpipe.data import mnist, mnist_node, mnist_subsets
from ltpipe.data.mnist import FILES, MnistError

N_TRAIN, N_TEST = 50, 20


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    """Write ``array`` (uint8) as an IDX file; ``magic`` overrides the header's magic number."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.tobytes())


def make_set(root: Path, n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0) -> dict[str, np.ndarray]:
    """A tiny MNIST-shaped data set in torchvision's layout under ``root``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 10, size=n, dtype=np.uint8)
    for key, array in arrays.items():
        write_idx(mnist.raw_dir(root) / FILES[key], array)
    return arrays


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def offline(monkeypatch):
    """Every download attempt fails as it does without network access; records the attempted URLs."""
    calls = []

    def fail(url, folder, archive, md5):
        calls.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    def no_answer():
        calls.append("probe")
        raise MnistError("no MNIST mirror answers:\n  - [Errno -2] Name or service not known")

    monkeypatch.setattr(mnist_node, "_fetch", fail)
    monkeypatch.setattr(mnist_node, "_probe", no_answer)
    return calls


@pytest.fixture
def tiny(tmp_path, offline):
    root = tmp_path / "data"
    return root, make_set(root)


# --- IDX parsing ---------------------------------------------------------------------------------------------


def test_read_idx_round_trip(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    write_idx(tmp_path / "img", images)
    write_idx(tmp_path / "lbl", labels)
    assert (tmp_path / "img").read_bytes()[:4] == b"\x00\x00\x08\x03"
    got = mnist.read_idx(tmp_path / "img")
    assert got.dtype == np.uint8 and got.shape == (7, 28, 28)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "lbl", ndim=1), labels)


@pytest.mark.parametrize("delta", [-1, -784, 1])
def test_read_idx_refuses_wrong_length(tmp_path, delta):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((3, 28, 28), np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[:delta] if delta < 0 else data + b"\x00" * delta)
    with pytest.raises(MnistError, match="train-images-idx3-ubyte") as err:
        mnist.read_idx(path)
    assert ("truncated" if delta < 0 else "too long") in str(err.value)


@pytest.mark.parametrize("magic", [0xDEADBEEF, 0x00000D03, 0x00000801])
def test_read_idx_refuses_wrong_magic(tmp_path, magic):
    path = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(path, np.zeros((2, 28, 28), np.uint8), magic=magic)
    with pytest.raises(MnistError, match=r"t10k-images-idx3-ubyte.*magic"):
        mnist.read_idx(path, ndim=3)


def test_read_idx_refuses_truncated_header(tmp_path):
    path = tmp_path / "lbl"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(MnistError, match="truncated header"):
        mnist.read_idx(path)


# --- verification --------------------------------------------------------------------------------------------


def test_verify_without_checksums_accepts_a_subset(tiny):
    root, _ = tiny
    manifest = mnist.verify(root, verify_checksums=False)
    assert manifest["n_train"] == N_TRAIN and manifest["n_test"] == N_TEST
    assert manifest["verify_checksums"] is False and "root" not in manifest
    assert set(manifest["files"]) == set(FILES.values())
    info = manifest["files"]["train-images-idx3-ubyte"]
    path = mnist.raw_dir(root) / "train-images-idx3-ubyte"
    assert info == {"path": "MNIST/raw/train-images-idx3-ubyte", "bytes": 16 + N_TRAIN * 784, "md5": md5_of(path)}


def test_verify_with_checksums_refuses_a_subset(tiny):
    root, _ = tiny
    with pytest.raises(MnistError) as err:
        mnist.verify(root, verify_checksums=True)
    msg = str(err.value)
    assert "60000" in msg and "10000" in msg and "verify_checksums: false" in msg
    assert all(name in msg for name in FILES.values())


def test_verify_truncated_images_names_the_file(tiny):
    root, _ = tiny
    path = mnist.raw_dir(root) / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(MnistError, match="t10k-images-idx3-ubyte: truncated") as err:
        mnist.verify(root, verify_checksums=False)
    assert str(root.resolve()) in str(err.value)
    assert "train-labels-idx1-ubyte:" not in str(err.value)  # only the bad file is blamed


def test_verify_wrong_magic_names_the_file(tiny):
    root, arrays = tiny
    write_idx(mnist.raw_dir(root) / "train-labels-idx1-ubyte", arrays["train_labels"], magic=0x00000901)
    with pytest.raises(MnistError, match="train-labels-idx1-ubyte: bad magic number 0x00000901"):
        mnist.verify(root, verify_checksums=False)


def test_verify_images_file_holding_labels(tiny):
    root, arrays = tiny
    write_idx(mnist.raw_dir(root) / "train-images-idx3-ubyte", arrays["train_labels"])
    with pytest.raises(MnistError, match="train-images-idx3-ubyte: magic number 0x00000801 says 1 dimensions"):
        mnist.verify(root, verify_checksums=False)


def test_verify_mismatched_counts(tiny):
    root, arrays = tiny
    write_idx(mnist.raw_dir(root) / "t10k-labels-idx1-ubyte", arrays["test_labels"][:-3])
    with pytest.raises(MnistError) as err:
        mnist.verify(root, verify_checksums=False)
    msg = str(err.value)
    assert f"t10k-images-idx3-ubyte has {N_TEST} images but t10k-labels-idx1-ubyte has {N_TEST - 3} labels" in msg


def test_verify_labels_out_of_range(tiny):
    root, arrays = tiny
    labels = arrays["train_labels"].copy()
    labels[[3, 9]] = [10, 255]
    write_idx(mnist.raw_dir(root) / "train-labels-idx1-ubyte", labels)
    with pytest.raises(MnistError, match=r"train-labels-idx1-ubyte: 2 labels outside 0\.\.9"):
        mnist.verify(root, verify_checksums=False)


def test_verify_wrong_image_size(tiny):
    root, _ = tiny
    write_idx(mnist.raw_dir(root) / "t10k-images-idx3-ubyte", np.zeros((N_TEST, 14, 14), np.uint8))
    with pytest.raises(MnistError, match="t10k-images-idx3-ubyte: images are 14x14, expected 28x28"):
        mnist.verify(root, verify_checksums=False)


def test_checksums_table_is_the_published_one():
    assert set(mnist.CHECKSUMS) == set(FILES.values())
    assert mnist.CHECKSUMS["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"
    assert mnist.FULL_SIZES == {"train": 60000, "test": 10000}


def test_verify_wrong_checksum_names_only_that_file(tiny, monkeypatch):
    root, _ = tiny
    raw = mnist.raw_dir(root)
    table = {name: md5_of(raw / name) for name in FILES.values()}
    table["train-labels-idx1-ubyte"] = "0" * 32
    monkeypatch.setattr(mnist, "CHECKSUMS", table)
    monkeypatch.setattr(mnist, "FULL_SIZES", {"train": N_TRAIN, "test": N_TEST})
    with pytest.raises(MnistError) as err:
        mnist.verify(root, verify_checksums=True)
    msg = str(err.value)
    assert f"train-labels-idx1-ubyte: md5 {md5_of(raw / 'train-labels-idx1-ubyte')} differs" in msg
    assert "0" * 32 in msg and "verify_checksums: false" in msg
    for other in ("train-images-idx3-ubyte:", "t10k-images-idx3-ubyte:", "t10k-labels-idx1-ubyte:"):
        assert other not in msg
    # the same files pass once the table matches them all
    table["train-labels-idx1-ubyte"] = md5_of(raw / "train-labels-idx1-ubyte")
    assert mnist.verify(root, verify_checksums=True)["verify_checksums"] is True


def test_verify_checksums_catch_corruption_the_format_check_cannot(tiny, monkeypatch):
    root, _ = tiny
    raw = mnist.raw_dir(root)
    monkeypatch.setattr(mnist, "CHECKSUMS", {name: md5_of(raw / name) for name in FILES.values()})
    monkeypatch.setattr(mnist, "FULL_SIZES", {"train": N_TRAIN, "test": N_TEST})
    path = raw / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert mnist.verify(root, verify_checksums=False)["n_train"] == N_TRAIN
    with pytest.raises(MnistError, match="train-images-idx3-ubyte: md5"):
        mnist.verify(root, verify_checksums=True)


# --- missing files and download ------------------------------------------------------------------------------


def test_missing_files_offline_one_error_naming_all(tmp_path, offline):
    root = tmp_path / "nowhere"
    with pytest.raises(MnistError) as err:
        mnist_node.ensure(root, verify_checksums=True)
    msg = str(err.value)
    assert all(name in msg for name in FILES.values())
    assert str(mnist.raw_dir(root).resolve()) in msg and "data.mnist.root" in msg
    assert "download failed" in msg and "Name or service not known" in msg
    assert len(offline) == 4 * len(MNIST.mirrors)


def test_only_missing_files_are_fetched(tiny, offline):
    root, _ = tiny
    (mnist.raw_dir(root) / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MnistError) as err:
        mnist_node.ensure(root, verify_checksums=False)
    assert offline and all(url.endswith("/t10k-labels-idx1-ubyte.gz") for url in offline)
    assert "missing: t10k-labels-idx1-ubyte " in str(err.value)
    assert "train-images-idx3-ubyte:" not in str(err.value)


def test_no_download_never_fetches(tiny, offline):
    root, _ = tiny
    (mnist.raw_dir(root) / "train-images-idx3-ubyte").unlink()
    with pytest.raises(MnistError, match="missing: train-images-idx3-ubyte"):
        mnist_node.ensure(root, verify_checksums=False, download=False)
    assert offline == []


def test_present_files_are_not_fetched(tiny, offline):
    root, _ = tiny
    assert mnist_node.ensure(root, verify_checksums=False)["n_test"] == N_TEST
    assert offline == []


def test_download_then_verify(tmp_path, monkeypatch):
    """A fetch that delivers the file (as torchvision's extraction would) completes the data set."""
    root = tmp_path / "data"
    arrays = make_set(root)
    (mnist.raw_dir(root) / "train-labels-idx1-ubyte").unlink()
    fetched = []

    def deliver(url, folder, archive, md5):
        fetched.append((archive, md5))
        write_idx(Path(folder) / archive.removesuffix(".gz"), arrays["train_labels"])

    monkeypatch.setattr(mnist_node, "_fetch", deliver)
    assert mnist_node.ensure(root, verify_checksums=False)["n_train"] == N_TRAIN
    assert fetched == [("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")]


# --- loading and sizes ---------------------------------------------------------------------------------------


def test_load(tiny):
    root, arrays = tiny
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images, labels = mnist.load(root, split)
        assert images.dtype == torch.uint8 and images.shape == (n, 28, 28)
        assert labels.dtype == torch.int64 and labels.shape == (n,)
        np.testing.assert_array_equal(images.numpy(), arrays[f"{split}_images"])
        np.testing.assert_array_equal(labels.numpy(), arrays[f"{split}_labels"])
    with pytest.raises(ValueError):
        mnist.load(root, "val")


def test_load_refuses_broken_files(tiny):
    root, arrays = tiny
    write_idx(mnist.raw_dir(root) / "train-labels-idx1-ubyte", arrays["train_labels"][:10])
    with pytest.raises(MnistError, match="train-labels-idx1-ubyte has 10 labels"):
        mnist.load(root, "train")
    (mnist.raw_dir(root) / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(MnistError, match="missing: t10k-images-idx3-ubyte"):
        mnist.load(root, "test")


def test_check_size(tmp_path):
    mnist.check_size(50, 50, "training samples")
    with pytest.raises(MnistError, match=r"requested 51 training samples but the data at .* has only 50") as err:
        mnist.check_size(51, 50, "training samples", root=tmp_path)
    assert str(tmp_path.resolve()) in str(err.value) and "data.mnist.root" in str(err.value)
    with pytest.raises(ValueError):
        mnist.check_size(-1, 50)


# --- stratified subsets --------------------------------------------------------------------------------------


def test_allocate_largest_remainder_by_hand():
    # quotas 4 * (7, 2, 1) / 10 = 2.8, 0.8, 0.4: floors 2, 0, 0, the two left over go to the .8s
    np.testing.assert_array_equal(mnist_subsets.allocate(np.array([7, 2, 1]), 4), [3, 1, 0])
    # quotas 5 * (5, 3, 2) / 10 = 2.5, 1.5, 1.0: the tie at .5 goes to the larger class
    np.testing.assert_array_equal(mnist_subsets.allocate(np.array([5, 3, 2]), 5), [3, 1, 1])
    np.testing.assert_array_equal(mnist_subsets.allocate(np.array([5, 3, 2]), 10), [5, 3, 2])
    np.testing.assert_array_equal(mnist_subsets.allocate(np.array([5, 3, 2]), 0), [0, 0, 0])


def test_stratified_indices_proportions_by_hand():
    labels = np.array([0] * 7 + [1] * 2 + [2] * 1)
    np.random.default_rng(3).shuffle(labels)
    idx = mnist_subsets.stratified_indices(labels, 4, seed=0)
    assert len(idx) == 4 and len(set(idx.tolist())) == 4 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=3), [3, 1, 0])


def test_stratified_indices_on_a_larger_set():
    labels = torch.tensor([c for c, k in enumerate([120, 80, 100, 60, 40, 200, 90, 110, 50, 150]) for _ in range(k)])
    idx = mnist_subsets.stratified_indices(labels, 100, seed=5)
    # 100 of 1000: exactly one tenth of each class
    np.testing.assert_array_equal(np.bincount(labels.numpy()[idx]), [12, 8, 10, 6, 4, 20, 9, 11, 5, 15])


def test_stratified_indices_reproducible_and_seeded():
    labels = np.random.default_rng(0).integers(0, 10, size=500)
    a = mnist_subsets.stratified_indices(labels, 120, seed=1)
    np.testing.assert_array_equal(a, mnist_subsets.stratified_indices(labels, 120, seed=1))
    b = mnist_subsets.stratified_indices(labels, 120, seed=2)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(np.bincount(labels[a], minlength=10), np.bincount(labels[b], minlength=10))
    np.testing.assert_array_equal(np.sort(mnist_subsets.stratified_indices(labels, 500, seed=1)), np.arange(500))


def test_stratified_indices_refuses_too_many():
    with pytest.raises(MnistError, match=r"requested 11 .* has only 10"):
        mnist_subsets.stratified_indices(np.arange(10) % 3, 11, seed=0)


def test_split_validation():
    labels = np.random.default_rng(4).integers(0, 10, size=400)
    subset = mnist_subsets.stratified_indices(labels, 200, seed=0)
    train, val = mnist_subsets.split_validation(subset, labels, 0.25, seed=0)
    assert len(val) == 50 and len(train) == 150
    assert not set(train.tolist()) & set(val.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.sort(subset))
    sub_counts = np.bincount(labels[subset], minlength=10)
    np.testing.assert_array_equal(np.bincount(labels[val], minlength=10), mnist_subsets.allocate(sub_counts, 50))
    again = mnist_subsets.split_validation(subset, labels, 0.25, seed=0)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(mnist_subsets.split_validation(subset, labels, 0.25, seed=1)[1], val)
    train0, val0 = mnist_subsets.split_validation(subset, labels, 0.0, seed=0)
    assert len(val0) == 0 and np.array_equal(train0, np.sort(subset))
    with pytest.raises(ValueError):
        mnist_subsets.split_validation(subset, labels, 1.0, seed=0)


# --- command line --------------------------------------------------------------------------------------------


def test_main_writes_manifest(tiny, caplog):
    root, _ = tiny
    out = root.parent / "out" / "manifest.json"
    with caplog.at_level("INFO", logger="ltpipe.data.mnist_node"):
        mnist_node.main(["--root", str(root), "--no-verify-checksums", "--out", str(out)])
    manifest = json.loads(out.read_text())
    assert manifest == {"available": True, "source": "copy", **mnist.verify(root, verify_checksums=False)}
    assert all(info["path"] == f"MNIST/raw/{name}" for name, info in manifest["files"].items())  # never absolute
    assert str(root) not in out.read_text()
    assert manifest["n_train"] == N_TRAIN and manifest["n_test"] == N_TEST
    assert sum(name in rec.getMessage() for rec in caplog.records for name in FILES.values()) == 4
    assert [p.name for p in out.parent.iterdir()] == ["manifest.json"]  # no temp file left behind


def test_main_fails_clearly_offline(tmp_path, offline):
    out = tmp_path / "manifest.json"
    with pytest.raises(SystemExit) as err:
        mnist_node.main(["--root", str(tmp_path / "data"), "--out", str(out)])
    assert "train-images-idx3-ubyte" in str(err.value.code) and not out.exists()
    with pytest.raises(SystemExit):
        mnist_node.main(["--root", str(tmp_path / "data"), "--no-download", "--out", str(out)])
    assert not out.exists()


def test_main_records_unavailable_data_when_allowed(tmp_path, offline):
    out = tmp_path / "manifest.json"
    mnist_node.main(["--root", str(tmp_path / "data"), "--allow-unavailable", "--out", str(out)])
    manifest = json.loads(out.read_text())
    assert manifest["available"] is False and str((tmp_path / "data").resolve()) in manifest["error"]
    assert all(name in manifest["error"] for name in FILES.values())


def test_data_root_from_the_four_files_a_manifest_or_the_root(tiny, tmp_path):
    root, _ = tiny
    files = [str(mnist.raw_dir(root) / name) for name in reversed(FILES.values())]
    assert mnist.data_root(files) == str(root.resolve())
    assert mnist.data_root([str(root)]) == str(root)
    linked = tmp_path / "linked"  # files linked from a cache under other names (snakemake --cache)
    mnist.raw_dir(linked).mkdir(parents=True)
    for name in FILES.values():
        (tmp_path / f"0123abc{name}").write_bytes((mnist.raw_dir(root) / name).read_bytes())
        (mnist.raw_dir(linked) / name).symlink_to(tmp_path / f"0123abc{name}")
    assert mnist.data_root([str(mnist.raw_dir(linked) / n) for n in FILES.values()]) == str(linked.absolute())
    assert mnist.load(mnist.data_root([str(mnist.raw_dir(linked) / n) for n in FILES.values()]), "test")[1].numel()
    with pytest.raises(MnistError, match="four MNIST files"):
        mnist.data_root([*files[:3], str(tmp_path / "train-images-idx3-ubyte")])
    assert mnist.present(root) and not mnist.present(tmp_path)


# --- the data node's fetch step ------------------------------------------------------------------------------


def test_missing_data_with_a_mirror_that_answers_is_left_to_the_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_node, "_probe", lambda: None)
    manifest = mnist_node.check(tmp_path / "data", verify_checksums=True)
    assert manifest["source"] == "download" and sorted(manifest["files"]) == sorted(FILES.values())
    assert not (tmp_path / "data").exists()  # the check downloads nothing


def test_missing_data_offline_is_unavailable_and_says_why(tmp_path, offline):
    with pytest.raises(MnistError, match="Name or service not known") as err:
        mnist_node.check(tmp_path / "data", verify_checksums=True)
    assert all(name in str(err.value) for name in FILES.values()) and offline == ["probe"]
    with pytest.raises(MnistError, match="missing"):
        mnist_node.check(tmp_path / "data", verify_checksums=True, download=False)
    assert offline == ["probe"]


def test_fetch_copies_the_checked_files_verified(tiny, tmp_path):
    root, _ = tiny
    manifest = mnist_node.check(root, verify_checksums=False)
    dest = tmp_path / "node"
    got = mnist_node.fetch(manifest, root, dest)
    assert got["files"] == manifest["files"] and got["n_train"] == N_TRAIN
    for name in FILES.values():
        assert (mnist.raw_dir(dest) / name).read_bytes() == (mnist.raw_dir(root) / name).read_bytes()
    assert sorted(p.name for p in mnist.raw_dir(dest).parent.iterdir()) == ["raw"]  # no staging folder left


def test_fetch_refuses_files_changed_since_the_check_and_writes_nothing(tiny, tmp_path):
    root, arrays = tiny
    manifest = mnist_node.check(root, verify_checksums=False)
    labels = arrays["test_labels"].copy()
    labels[0] = (labels[0] + 1) % 10
    write_idx(mnist.raw_dir(root) / "t10k-labels-idx1-ubyte", labels)
    dest = tmp_path / "node"
    with pytest.raises(MnistError, match="t10k-labels-idx1-ubyte changed since the data were checked"):
        mnist_node.fetch(manifest, root, dest)
    assert list(mnist.raw_dir(dest).iterdir()) == [] and sorted(p.name for p in (dest / "MNIST").iterdir()) == ["raw"]


def test_fetch_downloads_into_the_node_and_verifies(tmp_path, monkeypatch):
    arrays = make_set(tmp_path / "published")
    fetched = []

    def deliver(url, folder, archive, md5):
        fetched.append(archive)
        key = next(k for k, name in FILES.items() if name == archive.removesuffix(".gz"))
        write_idx(Path(folder) / archive.removesuffix(".gz"), arrays[key])

    monkeypatch.setattr(mnist_node, "_fetch", deliver)
    monkeypatch.setattr(mnist_node, "_probe", lambda: None)
    manifest = mnist_node.check(tmp_path / "data", verify_checksums=False)
    got = mnist_node.fetch(manifest, tmp_path / "data", tmp_path / "node")
    assert sorted(fetched) == sorted(f"{n}.gz" for n in FILES.values()) and got["n_test"] == N_TEST
    assert not (tmp_path / "data").exists()


def test_fetch_main_of_unavailable_data_fails_with_the_reason(tmp_path, offline):
    out = tmp_path / "manifest.json"
    mnist_node.main(["--root", str(tmp_path / "data"), "--allow-unavailable", "--out", str(out)])
    with pytest.raises(SystemExit, match="MNIST is unavailable"):
        mnist_node.fetch_main(["--manifest", str(out), "--root", str(tmp_path / "data"), "--dest", str(tmp_path / "n")])
    assert not (tmp_path / "n").exists()
