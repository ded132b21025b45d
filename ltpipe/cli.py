"""The ``ltpipe`` command: one subcommand per workflow step.

Each subcommand lives in the module that does the work and parses its own
arguments; this file only maps names to those entry points (imported lazily,
so ``ltpipe --help`` is fast and a rule's code inputs are the modules it runs):
the shared steps below, and every experiment's own from :mod:`ltpipe.registry`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

from ltpipe import registry
from ltpipe.config import ConfigError

# The steps every study shares; each experiment's own entry points come from the registry.
DRIVERS = {
    "teachers": "ltpipe.data.teacher:teachers_main",
    "mnist": "ltpipe.data.mnist:main",
    "mnist-fetch": "ltpipe.data.mnist:fetch_main",
    "gather": "ltpipe.tables:gather_main",
    "figure": "ltpipe.plotting:main",
    "claims": "ltpipe.claims:main",
    "claims-gather": "ltpipe.claims:gather_main",
    "report-claims": "ltpipe.report:main",
}
COMMANDS = {**DRIVERS, **registry.commands()}


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
    try:
        _entry_point(argv[0])(argv[1:])
    except ConfigError as err:  # a setting this job cannot honour (e.g. device: cuda on a node without one)
        print(f"ltpipe {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    return 0


def _entry_point(name: str):
    module, _, func = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), func)


def _summary(name: str) -> str:
    doc = _entry_point(name).__doc__ or ""
    return doc.strip().splitlines()[0].split(": ", 1)[-1] if doc else ""


if __name__ == "__main__":
    sys.exit(main())
