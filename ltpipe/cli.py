"""The ``ltpipe`` command: one subcommand per workflow step.

Each subcommand lives in the module that does the work and parses its own
arguments; this file only maps names to those entry points (imported lazily,
so ``ltpipe --help`` is fast and a rule's code inputs are the modules it runs).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

COMMANDS = {
    "teachers": ("ltpipe.teacher", "teachers_main"),
    "zhang2021-trials": ("ltpipe.zhang2021", "trials_main"),
    "zhang2021-rates": ("ltpipe.zhang2021", "rates_main"),
    "mnist": ("ltpipe.mnist", "main"),
    "zhang2021-z6": ("ltpipe.teacher_imp", "z6_main"),
    "zhang2021-z7": ("ltpipe.mnist_imp", "z7_main"),
    "pensia2020-ps-target": ("ltpipe.subsetsum_network", "target_main"),
    "pensia2020-ps-solve": ("ltpipe.subsetsum_network", "solve_main"),
    "pensia2020-pl-trials": ("ltpipe.pensia2020", "pl_trials_main"),
    "pensia2020-pl-needed": ("ltpipe.pensia2020", "pl_needed_main"),
    "gather": ("ltpipe.tables", "gather_main"),
    "figure": ("ltpipe.figures", "main"),
    "claims": ("ltpipe.claims", "main"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``ltpipe SUBCOMMAND ARGS...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {_summary(name)}" for name in COMMANDS]
        print("usage: ltpipe SUBCOMMAND [ARGS...]\n\nsubcommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nltpipe: unknown subcommand {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module, func = COMMANDS[argv[0]]
    getattr(importlib.import_module(module), func)(argv[1:])
    return 0


def _summary(name: str) -> str:
    module, func = COMMANDS[name]
    doc = getattr(importlib.import_module(module), func).__doc__ or ""
    return doc.strip().splitlines()[0].split(": ", 1)[-1] if doc else ""


if __name__ == "__main__":
    sys.exit(main())
