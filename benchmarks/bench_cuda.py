"""pytest-benchmark suite of the cuda backend's training kernels.

    pytest benchmarks/bench_cuda.py --benchmark-only

Each benchmark runs one epoch through the training seam with a kernel
forced (``get_backend("cuda", kernel=...)``: one launch for the persistent
kernels), so every kernel is timed on the workloads it serves, whatever the
tuner would choose. Every timed call ends with a device synchronize; the
first call (NVRTC compilation and the kernel's check against NumPy) runs
outside the timer. Skips with the backend's unavailability reason without a
GPU. benchmarks/gpu_check.sh runs the tuner, which decides per GPU and
workload, against numba on the same machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastbp.backends import get_backend, unavailable_reason

from ._common import digits_host, random_host, stacked_weights_host

DIGITS = (64, 32, 16, 10)
WIDE = (784, 256, 128, 10)


@pytest.fixture(scope="module", autouse=True)
def gpu():
    why = unavailable_reason("cuda")
    if why is not None:
        pytest.skip(why)


def _bench(benchmark, kernel, layers, K, X1, Y, dtype):
    be = get_backend("cuda", kernel=kernel)
    P = be.params(stacked_weights_host(layers, K), dtype)
    X1d, Yd = be.asarray(X1, dtype), be.asarray(Y, dtype)
    alphas = np.full(K, 0.05)

    def epoch():
        be.train(P, X1d, Yd, alphas, 1)
        be.synchronize()

    epoch()  # compilation and the kernel's check, not timed
    n = int(X1.shape[0])
    benchmark.extra_info.update(
        kernel=be.last_plan.describe(), K=K, samples=n, network_samples=K * n, gpu=be.device.name
    )
    benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=1)
    assert all(np.isfinite(w).all() for w in be.params_to_host(P))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel", ["regs", "block", "grid", "grid-slices"])
def test_cuda_digits_epoch(benchmark, dtype, kernel):
    """One epoch of the 1,347 digits samples, 64-32-16-10, one launch."""
    X1, Y = digits_host()
    _bench(benchmark, kernel, DIGITS, 1, X1, Y, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel", ["grid", "grid-slices"])
def test_cuda_wide_epoch(benchmark, dtype, kernel):
    """784-256-128-10 on 1,000 random samples: the grid kernel."""
    X1, Y = random_host(WIDE, 1000, seed=1)
    _bench(benchmark, kernel, WIDE, 1, X1, Y, dtype)


@pytest.mark.parametrize("K", [8, 64, 512])
@pytest.mark.parametrize("kernel", ["block", "regs"])
def test_cuda_many_digits_epoch(benchmark, kernel, K):
    """K digits networks, one persistent block each, one launch per epoch."""
    X1, Y = digits_host()
    _bench(benchmark, kernel, DIGITS, K, X1, Y, np.float64)
