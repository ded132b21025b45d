"""Parquet I/O: atomic writes leave no temporary file, and the result has the mode a plain open() gives; torch
files load as tensors and plain types only."""

from __future__ import annotations

import os
import platform

import pandas as pd
import pytest
import torch

from ltpipe.tables import atomic_path, load_torch, read_metadata, read_table, write_table


def test_written_tables_are_readable_by_the_group_as_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet", config={"x": 1})
        os.umask(0o027)
        write_table(pd.DataFrame({"a": [3]}), tmp_path / "u.parquet")
    finally:
        os.umask(old)
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "u.parquet").stat().st_mode & 0o777 == 0o640
    assert list(read_table(tmp_path / "t.parquet")["a"]) == [1, 2]
    assert read_metadata(tmp_path / "t.parquet")["config"] == {"x": 1}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_provenance_names_the_cpu_from_cpuinfo_or_the_platform(tmp_path):
    from ltpipe import tables

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B45\nflags\t: fpu avx512f\n")
    assert tables._cpu_model(str(info)) == "AMD EPYC 9B45"
    assert tables._cpu_model(str(tmp_path / "absent")) == (platform.processor() or platform.machine())


def test_provenance_records_versions_and_whether_the_checkout_was_dirty(monkeypatch):
    import platform

    import pyarrow
    import torch

    from ltpipe import tables

    answers = {"rev-parse": "0123abcd\n", "status": " M ltpipe/engines/agd.py\n"}
    monkeypatch.setattr(tables, "_git", lambda cmd, *rest: answers[cmd])
    tables._git_state.cache_clear()
    try:
        meta = tables.provenance({"x": 1}, "cpu")
        assert meta["git_commit"] == "0123abcd" and meta["git_dirty"] is True
        assert meta["python_version"] == platform.python_version() and meta["pyarrow_version"] == pyarrow.__version__
        assert meta["pandas_version"] == pd.__version__ and meta["cuda_version"] == torch.version.cuda
        assert meta["device"] == "cpu" and meta["gpu_name"] is None
        assert meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and meta["cpu"]
        answers["status"] = ""  # committed: clean
        tables._git_state.cache_clear()
        assert tables.provenance()["git_dirty"] is False
        answers["rev-parse"] = None  # not a git checkout (an installed copy): unknown, not clean
        tables._git_state.cache_clear()
        assert tables.provenance()["git_commit"] is None and tables.provenance()["git_dirty"] is None
    finally:
        tables._git_state.cache_clear()


def test_a_gathered_table_carries_every_part_s_config(tmp_path):
    from ltpipe.tables import gather_main

    for r in (4, 9):
        write_table(
            pd.DataFrame({"r": [r], "err": [0.5]}), tmp_path / f"r{r}.parquet", config={"z3": {"r": r}}, device="cpu"
        )
    parts = [str(tmp_path / f"r{r}.parquet") for r in (4, 9)]
    gather_main(["--out", str(tmp_path / "all.parquet"), *parts])
    meta = read_metadata(tmp_path / "all.parquet")
    assert meta["config"]["inputs"] == parts
    assert [(p["path"], p["config"], p["device"]) for p in meta["config"]["parts"]] == [
        (parts[0], {"z3": {"r": 4}}, "cpu"),
        (parts[1], {"z3": {"r": 9}}, "cpu"),
    ]
    assert list(read_table(tmp_path / "all.parquet")["r"]) == [4, 9]


def test_cuda_jobs_ask_for_deterministic_algorithms(monkeypatch):
    import torch

    from ltpipe.config import deterministic_cuda

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        deterministic_cuda()
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


class Payload:
    """What a swapped checkpoint could carry: an object whose unpickling runs code."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_file_carrying_a_pickled_callable_is_refused(tmp_path):
    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    torch.save({"state": {"w": torch.ones(2)}, "rows": [{"a": 1.5, "b": "x", "c": [1, 2]}], "round": 3}, good)
    loaded = load_torch(good)
    assert loaded["round"] == 3 and torch.equal(loaded["state"]["w"], torch.ones(2))
    torch.save({"rows": [], "trap": Payload()}, bad)
    with pytest.raises(ValueError, match=r"refusing to load .*bad\.pt: it holds more than tensors and plain types"):
        load_torch(bad)
