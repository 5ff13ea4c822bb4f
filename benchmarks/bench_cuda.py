"""pytest-benchmark suite of the cuda backend's training kernels.

    pytest benchmarks/bench_cuda.py --benchmark-only

Each benchmark runs one epoch through the training seam
(``CudaBackend.train_with``: one launch) with a forced plan, so every
kernel is timed on the workloads it serves, the ones that have not run on a
GPU before included (``CudaBackend(unverified=True)``). Every timed call ends
with a device synchronize; the first call (NVRTC compilation and the
first-use check against NumPy) runs outside the timer. Skips with the
backend's unavailability reason without a GPU. benchmarks/gpu_check.sh is
the interleaved comparison with numba that decides the defaults.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastbp.backends import unavailable_reason

from ._common import digits_host, random_host, stacked_weights_host

DIGITS = (64, 32, 16, 10)
WIDE = (784, 256, 128, 10)


@pytest.fixture(scope="module")
def cuda():
    why = unavailable_reason("cuda")
    if why is not None:
        pytest.skip(why)
    from fastbp.backends.cuda.backend import CudaBackend

    return CudaBackend(unverified=True)


def _bench(benchmark, be, layers, K, X1, Y, dtype, kernel, **force):
    P = be.params(stacked_weights_host(layers, K), dtype)
    X1d, Yd = be.asarray(X1, dtype), be.asarray(Y, dtype)
    plan = be.plan(P.dims, dtype, K, kernel=kernel, **force)
    alphas = np.full(K, 0.05)

    def epoch():
        be.train_with(plan, P, X1d, Yd, alphas, 1)
        be.synchronize()

    epoch()  # compilation and the first-use check, not timed
    n = int(X1.shape[0])
    benchmark.extra_info.update(
        kernel=plan.describe(), verified=plan.verified, K=K, samples=n, network_samples=K * n, gpu=be.device.name
    )
    benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=1)
    assert all(np.isfinite(w).all() for w in be.params_to_host(P))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kernel", ["block", "regs", "grid"])
def test_cuda_digits_epoch(benchmark, cuda, dtype, kernel):
    """One epoch of the 1,347 digits samples, 64-32-16-10, one launch."""
    X1, Y = digits_host()
    _bench(benchmark, cuda, DIGITS, 1, X1, Y, dtype, kernel)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("replicate", [True, False], ids=["replicated", "slices"])
def test_cuda_wide_epoch(benchmark, cuda, dtype, replicate):
    """784-256-128-10 on 1,000 random samples: the grid kernel."""
    X1, Y = random_host(WIDE, 1000, seed=1)
    _bench(benchmark, cuda, WIDE, 1, X1, Y, dtype, "grid", replicate=replicate)


@pytest.mark.parametrize("K", [8, 64, 512])
@pytest.mark.parametrize("kernel", ["block", "regs"])
def test_cuda_many_digits_epoch(benchmark, cuda, kernel, K):
    """K digits networks, one persistent block each, one launch per epoch."""
    X1, Y = digits_host()
    _bench(benchmark, cuda, DIGITS, K, X1, Y, np.float64, kernel)
