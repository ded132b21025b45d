#!/usr/bin/env bash
# Create .venv and install ltpipe with everything it needs (torch pinned to the
# CPU/CUDA build this project is tested with). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m venv .venv; then
    echo "setup: 'python3 -m venv .venv' failed. On Debian/Ubuntu the venv module is a separate package:" >&2
    echo "  sudo apt-get install python3-venv   (or python3.X-venv for your Python), then run this again" >&2
    rm -rf .venv
    exit 1
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "ltpipe is installed in .venv; activate it with: source .venv/bin/activate"
