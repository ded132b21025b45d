"""Parquet I/O: atomic writes leave no temporary file, and the result has the mode a plain open() gives."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from ltpipe.tables import atomic_path, read_metadata, read_table, write_table


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
