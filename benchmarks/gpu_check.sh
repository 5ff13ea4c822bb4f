#!/usr/bin/env bash
# The GPU check of fastbp's cuda backend, in one call of under 5 minutes
# (a hard timeout of 280 s included):
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh        (from the repo root)
#
# Runs the cuda tests, times every training kernel against numba on this
# machine and writes the decision table to
# $OUT/gpu-check-<card>-<date>.{md,json} (ready for benchmarks/results/),
# with $OUT/gpu_check.log, $OUT/nvidia-smi.txt and $OUT/pytest_*.{log,xml}.
# Needs an NVIDIA GPU, CuPy, numpy, scikit-learn, pytest and numba (its
# timings are skipped when numba is unusable); no network.
set -u
cd "$(dirname "$0")/.." || exit 2
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
{
  echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) $(git rev-parse --short HEAD 2>/dev/null)"
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
} > "$OUT/nvidia-smi.txt" 2>&1
timeout -k 10 280 "$PY" benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
echo "gpu_check exit status: $rc (0: tests passed and every stage ran; 1: a test or a stage failed; 124: timeout)" | tee -a "$OUT/gpu_check.log"
exit "$rc"
