"""CI helper for .ci/slurm.sh: copies of the workflow with the tiny test config, and their tables compared.

    python .ci/workflow_copies.py make DST [DST ...]   # each a copy as the workflow tests make it
    python .ci/workflow_copies.py compare LEFT RIGHT   # every results/**/*.parquet equal, but for timings

Both come from the workflow tests (tests/conftest.py: make_copy; tests/test_workflow.py: assert_same), so the copies and
the columns allowed to differ (measured times) stay those the tests use.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import make_copy  # noqa: E402
from test_workflow import assert_same  # noqa: E402


def compare(left: Path, right: Path) -> int:
    tables = {p.relative_to(left) for p in (left / "results").rglob("*.parquet")}
    others = {p.relative_to(right) for p in (right / "results").rglob("*.parquet")}
    if tables != others:
        print(f"only in {left}: {sorted(map(str, tables - others))}", file=sys.stderr)
        print(f"only in {right}: {sorted(map(str, others - tables))}", file=sys.stderr)
        return 1
    if len(tables) <= 20:
        print(f"only {len(tables)} tables under {left}/results: the run is incomplete", file=sys.stderr)
        return 1
    for rel in sorted(tables):
        assert_same(left / rel, right / rel)
    print(f"{len(tables)} tables equal ({left} and {right}; measured times left out)")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "make":
        for dst in argv[1:]:
            print(make_copy(Path(dst)))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
