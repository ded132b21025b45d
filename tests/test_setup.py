"""scripts/setup.sh tells a new user what to install when Python's venv module is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_setup_without_the_venv_module_says_to_install_python3_venv(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"  # Debian's python3 without python3-venv: venv stops, having made a partial .venv
    fake.write_text(
        "#!/bin/sh\nmkdir -p .venv/bin\n"
        'echo "The virtual environment was not created successfully because ensurepip is not available." >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 1
    assert "apt-get install python3-venv" in out.stderr and "ensurepip" in out.stderr
    assert not (tmp_path / ".venv").exists()  # no half-made venv left to confuse the next run
