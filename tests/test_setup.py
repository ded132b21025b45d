"""scripts/setup.sh tells a new user what is missing: Python's venv module, or disk space for torch."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(tmp_path: Path, needs_mb: int) -> subprocess.CompletedProcess:
    """Run a copy of setup.sh in tmp_path, with a python3 like Debian's without python3-venv (venv stops, having
    made a partial .venv), asking for ``needs_mb`` MB of free disk."""
    (tmp_path / "scripts").mkdir(exist_ok=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python3"
    fake.write_text(
        "#!/bin/sh\nmkdir -p .venv/bin\n"
        'echo "The virtual environment was not created successfully because ensurepip is not available." >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "LTPIPE_SETUP_NEEDS_MB": str(needs_mb)}
    return subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_setup_without_the_venv_module_says_to_install_python3_venv(tmp_path):
    out = _setup(tmp_path, needs_mb=0)
    assert out.returncode == 1
    assert "apt-get install python3-venv" in out.stderr and "ensurepip" in out.stderr
    assert not (tmp_path / ".venv").exists()  # no half-made venv left to confuse the next run


def test_setup_without_the_disk_space_for_torch_says_so_before_installing(tmp_path):
    out = _setup(tmp_path, needs_mb=10**12)  # more than any disk has
    assert out.returncode == 1
    assert "MB free" in out.stderr and "ensurepip" not in out.stderr  # stopped before making the venv
    assert not (tmp_path / ".venv").exists()


def test_setup_skips_the_disk_check_once_torch_is_installed(tmp_path):
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\nexit 0\n")  # a .venv whose python imports torch
    venv_python.chmod(0o755)
    out = _setup(tmp_path, needs_mb=10**12)
    assert out.returncode == 1
    assert "MB free" not in out.stderr and "ensurepip" in out.stderr  # went on to (re)make the venv
