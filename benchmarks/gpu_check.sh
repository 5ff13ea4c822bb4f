#!/usr/bin/env bash
# One-call GPU check of fastbp's cuda backend: tests + benchmarks, < 5 minutes.
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh        (from the repo root)
#
# Needs: an NVIDIA GPU, cupy-cuda12x/13x, numpy, scikit-learn, pytest (numba
# optional: its timings are skipped when the numba backend is unusable).
# No network. Writes $OUT/gpu_results.json, $OUT/gpu_results.md,
# $OUT/gpu_check.log, $OUT/nvidia-smi.txt and $OUT/pytest_*.log.
set -u
cd "$(dirname "$0")/.." || exit 2
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
{
  echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) $(git rev-parse --short HEAD 2>/dev/null) (uncommitted changes: $(git status --porcelain 2>/dev/null | wc -l))"
  echo "== nvidia-smi"
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  echo "== nvcc"; (nvcc --version 2>&1 || echo "no nvcc") | tail -2
  echo "== python"; "$PY" -c "import sys, numpy, cupy; print(sys.version); print('numpy', numpy.__version__, 'cupy', cupy.__version__)" 2>&1
} 2>&1 | tee "$OUT/nvidia-smi.txt"
# hard stop at 290 s so a hung kernel cannot eat the whole GPU lease; the
# Python side saves its results after every stage
timeout -k 10 290 "$PY" benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
echo "gpu_check exit status: $rc (0 = all passed; 1 = a test or stage failed; 124 = timeout)" | tee -a "$OUT/gpu_check.log"
# The pytest-benchmark suite on every backend, for the report beside the CPU
# run (the tutorial/torch peers run on the CPU and are left out here).
if [ "${FASTBP_SKIP_BENCH:-0}" != 1 ]; then
  timeout -k 10 "${FASTBP_BENCH_TIMEOUT:-200}" "$PY" -m fastbp.bench_report run --out "$OUT" \
      --name "gpu-$(date -u +%Y-%m-%d)" --max-time 0.25 --min-rounds 5 --no-chart \
      --note "Run by benchmarks/gpu_check.sh on the GPU machine; CPU rows use its CPU." \
      -- -p no:cacheprovider -k "not peer" 2>&1 | tail -n 40 | tee "$OUT/bench.log"
  echo "benchmark run exit status: ${PIPESTATUS[0]}" | tee -a "$OUT/bench.log"
fi
exit "$rc"
