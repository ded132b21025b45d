#!/usr/bin/env bash
# Create .venv and install ltpipe with everything it needs (torch pinned to the
# CPU/CUDA build this project is tested with). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "ltpipe is installed in .venv; activate it with: source .venv/bin/activate"
