#!/usr/bin/env bash
# GPU benchmark (make bench-gpu): nuclassify training from HDF5 vs the hand-written PyTorch anchor.
#
# usage: bash benchmarks/gpu/run_gpu_bench.sh [--small] [--arch NAME] [--engine fit|jax-loop]
#
# - Copies ../shared/bench/anchor_bench.py into the git-ignored .devbench/ (or uses the copy
#   already there, e.g. when the repo was shipped to a GPU machine without ../shared).
# - If Keras is missing and wheels were carried in .whl/, installs them into /tmp/site.
# - Runs benchmarks/gpu/gpu_train_bench.py with the repo on PYTHONPATH (no install needed).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
mkdir -p .devbench
if [ -f ../shared/bench/anchor_bench.py ]; then
    cp ../shared/bench/anchor_bench.py .devbench/anchor_bench.py
fi
if ! "$PYTHON" -c "import keras" 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
    else
        echo "run_gpu_bench.sh: keras is not installed and no wheels in .whl/" >&2
        exit 2
    fi
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
export PYTHONUNBUFFERED=1
"$PYTHON" -c "import jax; print('jax devices:', jax.devices())" 2>/dev/null || true
exec "$PYTHON" benchmarks/gpu/gpu_train_bench.py "$@"
