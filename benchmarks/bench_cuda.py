"""pytest-benchmark suite of the cuda backend's own paths.

    pytest benchmarks/bench_cuda.py --benchmark-only

Every timed call ends with a device synchronize (an unsynchronized GPU timing
is 10-50x too fast); the first call (NVRTC compilation, cuBLAS handles) runs
outside the timer. Skips with the backend's unavailability reason without a
GPU. Weights keep training across rounds: the cost of an epoch does not
depend on the weights' values.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastbp.backends import unavailable_reason

from ._common import digits_host, random_host, weights_host

DIGITS = [64, 32, 16, 10]
WIDE = [784, 256, 128, 10]


@pytest.fixture(scope="module")
def cuda_cls():
    why = unavailable_reason("cuda")
    if why is not None:
        pytest.skip(why)
    from fastbp.backends.cuda_backend import CudaBackend

    return CudaBackend


def _run_epoch(benchmark, be, layers, X1, Y, dtype, alpha):
    W = [be.asarray(w, dtype) for w in weights_host(layers)]
    X1d, Yd = be.asarray(X1, dtype), be.asarray(Y, dtype)

    def epoch():
        be.sgd_epoch(W, X1d, Yd, alpha)
        be.synchronize()

    epoch()  # warm-up: compilation and opt-in attributes, not timed
    benchmark.extra_info.update(
        samples=int(X1.shape[0]),
        path=be.last_plan.path,
        threads=be.last_plan.threads,
        blocks=be.last_plan.blocks,
        smem_bytes=be.last_plan.smem_bytes,
        gpu=be.info()["gpu"],
    )
    benchmark.pedantic(epoch, rounds=10, iterations=1, warmup_rounds=1)
    assert all(np.isfinite(be.to_numpy(w)).all() for w in W)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("path", ["block", "grid"])
def test_cuda_digits_epoch(benchmark, cuda_cls, dtype, path):
    """One epoch of the 1,347 digits samples, 64-32-16-10, one launch."""
    be = cuda_cls(path=path, grid_blocks=33 if path == "grid" else None)
    X1, Y = digits_host()
    _run_epoch(benchmark, be, DIGITS, X1, Y, dtype, 0.1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_cuda_wide_epoch(benchmark, cuda_cls, dtype):
    """784-256-128-10 on 1,000 random samples: the multi-block grid path."""
    be = cuda_cls()
    X1, Y = random_host(WIDE, 1000, seed=1)
    _run_epoch(benchmark, be, WIDE, X1, Y, dtype, 0.05)


@pytest.mark.parametrize("K", [1, 8, 64, 512])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_cuda_many_digits_epoch(benchmark, cuda_cls, dtype, K):
    """K digits networks, one persistent block each, one launch per epoch."""
    be = cuda_cls()
    X1, Y = digits_host()
    nets = [weights_host(DIGITS, 100 + k) for k in range(K)]
    Ws = [be.asarray(np.stack([n[l] for n in nets]), dtype) for l in range(len(DIGITS) - 1)]
    alphas = np.linspace(0.05, 0.5, K)
    X1d, Yd = be.asarray(X1, dtype), be.asarray(Y, dtype)

    def epoch():
        be.sgd_epoch_many(Ws, X1d, Yd, alphas)
        be.synchronize()

    epoch()
    benchmark.extra_info.update(
        K=K, network_samples=K * int(X1.shape[0]), path=be.last_plan.path, threads=be.last_plan.threads
    )
    benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=1)
