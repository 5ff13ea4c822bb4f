#!/usr/bin/env bash
# The GPU check of fastbp's cuda backend, in one call of under 5 minutes on a
# machine with one GPU and 16 cores (a hard timeout of 290 s included):
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh DATA_DIR [gpu_check.py options]
#
# DATA_DIR holds the MNIST files (the four IDX files, plain or .gz). Runs
# benchmarks/gpu_check.py (its docstring lists the stages) with every cache
# empty (fastbp's decisions, CuPy's compiled kernels, numba's), so the first
# use is measured as a user meets it, and writes everything under $OUT
# (default ./gpu_out): gpu-check-<card>-<date>.{md,json} (ready for
# benchmarks/results/), decisions.json, gpu_check.log, nvidia-smi.txt,
# pytest_*.{log,xml}. Needs an NVIDIA GPU, CuPy, numba, scikit-learn and
# pytest; no network. Exit status: 0 every stage ran and every test passed,
# 1 a test or a stage failed, 124 the timeout.
set -u
cd "$(dirname "$0")/.." || exit 2
DATA="${1:-}"
shift || true
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
CACHES="$(mktemp -d)"
trap 'rm -rf "$CACHES"' EXIT
export FASTBP_CACHE_DIR="$CACHES/fastbp" CUPY_CACHE_DIR="$CACHES/cupy" NUMBA_CACHE_DIR="$CACHES/numba"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
{
  echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) $(git rev-parse --short HEAD 2>/dev/null)"
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
} > "$OUT/nvidia-smi.txt" 2>&1
timeout -k 10 290 "$PY" -m benchmarks.gpu_check ${DATA:+--data "$DATA"} --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
echo "gpu_check exit status: $rc (0: every stage ran, every test passed; 1: a test or a stage failed; 124: timeout)" | tee -a "$OUT/gpu_check.log"
exit "$rc"
