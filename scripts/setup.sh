#!/usr/bin/env bash
# Create .venv and install ltpipe with everything it needs (torch pinned to the
# CPU/CUDA build this project is tested with). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# torch's build with its CUDA libraries fills about 6.3 GB of .venv: say so up front rather than let pip stop
# halfway with "No space left on device" (skipped when .venv already has torch; LTPIPE_SETUP_NEEDS_MB overrides)
needs_mb="${LTPIPE_SETUP_NEEDS_MB:-7000}"
if ! .venv/bin/python -c 'import torch' > /dev/null 2>&1; then
    free_kb=$(df -Pk . 2> /dev/null | awk 'NR == 2 {print $4}') || free_kb=""
    if [[ "$free_kb" =~ ^[0-9]+$ ]] && [ $((free_kb / 1024)) -lt "$needs_mb" ]; then  # (no check where df cannot tell)
        echo "setup: .venv needs about $needs_mb MB (torch with its CUDA libraries); $PWD's file system has" >&2
        echo "  $((free_kb / 1024)) MB free. Free some space (or set LTPIPE_SETUP_NEEDS_MB to go on anyway), then run this again" >&2
        exit 1
    fi
fi
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
