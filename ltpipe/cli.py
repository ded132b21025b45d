"""The ``ltpipe`` command: one subcommand per workflow step.

Each subcommand lives in the module that does the work and parses its own
arguments; this file only maps names to those entry points: the shared steps
below, and every experiment's own from its declaration (:mod:`ltpipe.registry`).
An entry point's module is imported only to run it: ``ltpipe --help`` reads
each summary from the module's source, so it loads neither torch nor pandas.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import sys
import textwrap
from collections.abc import Sequence

from ltpipe import registry
from ltpipe.config import ConfigError

# The steps every study shares; each experiment's own entry points come from its declaration.
DRIVERS = {
    "teachers": "ltpipe.data.teacher:teachers_main",
    "mnist": "ltpipe.data.mnist_node:main",
    "mnist-fetch": "ltpipe.data.mnist_node:fetch_main",
    "gather": "ltpipe.tables:gather_main",
    "figure": "ltpipe.plotting:main",
    "claims": "ltpipe.claims:main",
    "claims-gather": "ltpipe.claims:gather_main",
    "report-claims": "ltpipe.report:main",
    "estimate": "ltpipe.estimate:estimate_main",
}
COMMANDS = {**DRIVERS, **registry.commands()}
USAGE = "usage: ltpipe SUBCOMMAND [ARGS...]  (ltpipe SUBCOMMAND --help for its arguments)"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``ltpipe SUBCOMMAND ARGS...``; 2 for a usage error (no or an unknown subcommand)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(help_text(), file=sys.stdout if asked else sys.stderr)
        if not asked:
            what = f"unknown subcommand {argv[0]!r}" if argv else "a subcommand is required"
            print(f"\nltpipe: error: {what}", file=sys.stderr)
        return 0 if asked else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _entry_point(argv[0])(argv[1:])
    except ConfigError as err:  # a setting this job cannot honour (e.g. device: cuda on a node without one)
        print(f"ltpipe {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    return 0


def help_text() -> str:
    """The usage line and every subcommand with its whole summary, wrapped."""
    width = max(map(len, COMMANDS))
    lines = [USAGE, "", "subcommands:"]
    for name in COMMANDS:
        wrapped = textwrap.wrap(summary(name), 100 - width - 4) or [""]
        lines.append(f"  {name:<{width}}  {wrapped[0]}")
        lines += [" " * (width + 4) + rest for rest in wrapped[1:]]
    return "\n".join(lines)


def _entry_point(name: str):
    module, _, func = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), func)


def summary(name: str) -> str:
    """The first paragraph of the entry point's docstring, without its ``ltpipe NAME:`` prefix, read from
    the module's source (the module is not imported)."""
    module, _, func = COMMANDS[name].partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == func:
            doc = ast.get_docstring(node) or ""
            first = " ".join(doc.split("\n\n", 1)[0].split())
            return first.split(": ", 1)[1] if first.startswith(f"ltpipe {name}: ") else first
    return ""


if __name__ == "__main__":
    sys.exit(main())
