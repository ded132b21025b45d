"""The ltpipe command: every subcommand is reachable and documented."""

from __future__ import annotations

import importlib

import pytest

from ltpipe.cli import COMMANDS, main


def test_every_subcommand_resolves_to_a_documented_entry_point():
    for name, target in COMMANDS.items():
        module, _, func = target.partition(":")
        entry = getattr(importlib.import_module(module), func)
        assert entry.__doc__ and entry.__doc__.startswith(f"ltpipe {name}:"), name


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_subcommand_fails(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown subcommand 'frobnicate'" in capsys.readouterr().err


def test_subcommand_help_exits_cleanly():
    with pytest.raises(SystemExit) as err:
        main(["zhang2021-trials", "--help"])
    assert err.value.code == 0
