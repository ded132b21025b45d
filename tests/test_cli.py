"""The ltpipe command: every subcommand is reachable and documented."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ltpipe.cli import COMMANDS, main, summary

ROOT = Path(__file__).resolve().parent.parent


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
        main(["agd-trials", "--help"])
    assert err.value.code == 0


def test_bare_ltpipe_is_a_usage_error(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ltpipe SUBCOMMAND") and "a subcommand is required" in err


def test_summaries_are_whole_first_paragraphs():
    for name, target in COMMANDS.items():
        module, _, func = target.partition(":")
        doc = getattr(importlib.import_module(module), func).__doc__
        paragraph = " ".join(doc.split("\n\n", 1)[0].split())
        assert summary(name) == paragraph.removeprefix(f"ltpipe {name}: "), name
        assert summary(name).endswith("."), (name, summary(name))  # a whole sentence, not cut at a line break
    assert summary("ps-solve").endswith("per coefficient range; evaluate.")


def test_help_imports_neither_torch_nor_pandas(tmp_path):
    """With torch made unimportable, ``ltpipe --help`` still lists every subcommand."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    for name in ("torch", "pandas", "seaborn", "matplotlib"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('{name} is not importable here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "ltpipe", "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert all(name in out.stdout for name in COMMANDS)
