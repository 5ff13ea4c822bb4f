#!/usr/bin/env bash
# One entry point for a fresh machine: make .venv, install fastbp into it, then
#   bash scripts/dev.sh train [fastbp train options]   compile the default run's numba kernels (fastbp warmup), then train
#                                                      digits on the best backend
#   bash scripts/dev.sh test  [pytest options]         lint (ruff), types (mypy), then the test suite
#   bash scripts/dev.sh bench [pytest options]         run the benchmark suite, save its results file in
#                                                      benchmarks/results, write docs/performance.md
# With an NVIDIA driver present (nvidia-smi works), CuPy for its CUDA major
# version is installed too, so "auto" can pick the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="${1:-train}"
shift || true
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
extras=()
case "$cmd" in
    test|bench) extras+=(test) ;;
    train) ;;
    *) echo "usage: bash scripts/dev.sh {train|test|bench} [options]" >&2; exit 2 ;;
esac
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    cuda_major="$(nvidia-smi | grep -o 'CUDA Version: [0-9]*' | grep -o '[0-9]*$' || true)"
    if [ "${cuda_major:-0}" -ge 13 ]; then extras+=(cuda13); else extras+=(cuda12); fi
fi
spec="."
if [ "${#extras[@]}" -gt 0 ]; then spec=".[$(IFS=,; echo "${extras[*]}")]"; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
case "$cmd" in
    train)
        .venv/bin/fastbp warmup --dataset digits --dtype float64 --units sigmoid/sigmoid  # the default run's kernels, shown apart (then cached)
        exec .venv/bin/fastbp train --dataset digits "$@" ;;
    test)
        .venv/bin/python -m ruff check .
        .venv/bin/python -m ruff format --check .
        .venv/bin/python -m mypy
        .venv/bin/python scripts/check_docstrings.py
        exec .venv/bin/python -m pytest "$@" ;;
    bench) exec .venv/bin/python -m benchmarks.report suite "$@" ;;
esac
