#!/usr/bin/env bash
# The CUDA tests and the three benches on a host with a GPU, in one go; each one's output under OUT_DIR.
#
#   bash bench/cuda.sh [OUT_DIR]        # from the repository root; default OUT_DIR: cuda-check
#
# Runs from a checkout without installing it (PYTHONPATH), so a GPU node whose image holds torch, numpy,
# pandas, pyarrow, scipy and pytest is enough; without numba the CPU kernels' lines are left out of the benches
# and the GPU is set against the CPU's tensor programs. Prints each step's exit status and the benches' key
# figures; exits 1 if any step failed. LTPIPE_BENCH_DEVICE=cpu runs the same steps on the CPU's tensor programs,
# a check of this script where there is no GPU (about 7 minutes on a 2-core machine).
set -u
out=${1:-cuda-check}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python}
failed=0

step() { # step NAME COMMAND...: run it, its output to OUT_DIR/NAME.txt, and say how it ended
    local name=$1
    shift
    local t0=$SECONDS
    "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    echo "$name: exit $rc after $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || failed=1
}

device=${LTPIPE_BENCH_DEVICE:-cuda}
if [ "$device" = cuda ]; then
    "$py" -c 'import sys, torch
if not torch.cuda.is_available():
    sys.exit("no CUDA device here: bench/cuda.sh is for a host with a GPU")
print(f"device: {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, torch {torch.__version__}")' |
        tee "$out/device.txt"
    [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
    nvidia-smi >>"$out/device.txt" 2>&1
fi

step tests "$py" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py
step subsetsum "$py" bench/subsetsum.py --device "$device" --sample 5 --chunks 4096 32768
step agd "$py" bench/agd.py --device "$device"
step imp "$py" bench/imp.py --device "$device"
grep -E '^(cuda_|sparsest_cuda_|device:|ratio|project_samples|reference_samples|stacked_k6_samples)' \
    "$out"/subsetsum.txt "$out"/agd.txt "$out"/imp.txt
tail -n 1 "$out/tests.txt"
exit "$failed"
