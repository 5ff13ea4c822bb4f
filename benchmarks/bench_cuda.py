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

DIGITS = [64, 32, 16, 10]
WIDE = [784, 256, 128, 10]


@pytest.fixture(scope="module")
def cuda_cls():
    why = unavailable_reason("cuda")
    if why is not None:
        pytest.skip(why)
    from fastbp.backends.cuda_backend import CudaBackend

    return CudaBackend


def _weights(layers, seed=0):
    rs = np.random.RandomState(seed)
    W = [rs.randn(layers[i] + 1, layers[i + 1] + 1) / np.sqrt(layers[i]) for i in range(len(layers) - 2)]
    W.append(rs.randn(layers[-2] + 1, layers[-1]) / np.sqrt(layers[-2]))
    return W


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ds = load_digits()
    X = ds.data.astype(np.float64)
    X = (X - X.min()) / (X.max() - X.min())
    Xtr, _, ytr, _ = train_test_split(X, ds.target, test_size=0.25, random_state=0)
    return np.hstack([Xtr, np.ones((len(Xtr), 1))]), np.eye(10)[ytr]


def _random(layers, n, seed=1):
    rs = np.random.RandomState(seed)
    return np.hstack([rs.rand(n, layers[0]), np.ones((n, 1))]), np.eye(layers[-1])[rs.randint(0, layers[-1], n)]


def _run_epoch(benchmark, be, layers, X1, Y, dtype, alpha):
    W = [be.asarray(w, dtype) for w in _weights(layers)]
    X1d, Yd = be.asarray(X1, dtype), be.asarray(Y, dtype)

    def epoch():
        be.sgd_epoch(W, X1d, Yd, alpha)
        be.synchronize()

    epoch()  # warm-up: compilation and opt-in attributes, not timed
    benchmark.extra_info.update(
        samples=int(X1.shape[0]), path=be.last_plan.path, threads=be.last_plan.threads,
        blocks=be.last_plan.blocks, smem_bytes=be.last_plan.smem_bytes, gpu=be.info()["gpu"],
    )
    benchmark.pedantic(epoch, rounds=10, iterations=1, warmup_rounds=1)
    assert be.all_finite(W)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("path", ["block", "grid"])
def test_cuda_digits_epoch(benchmark, cuda_cls, dtype, path):
    """One epoch of the 1,347 digits samples, 64-32-16-10, one launch."""
    be = cuda_cls(path=path, grid_blocks=33 if path == "grid" else None)
    X1, Y = _digits()
    _run_epoch(benchmark, be, DIGITS, X1, Y, dtype, 0.1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_cuda_wide_epoch(benchmark, cuda_cls, dtype):
    """784-256-128-10 on 1,000 random samples: the multi-block grid path."""
    be = cuda_cls()
    X1, Y = _random(WIDE, 1000)
    _run_epoch(benchmark, be, WIDE, X1, Y, dtype, 0.05)


@pytest.mark.parametrize("K", [1, 8, 64, 512])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_cuda_many_digits_epoch(benchmark, cuda_cls, dtype, K):
    """K digits networks, one persistent block each, one launch per epoch."""
    be = cuda_cls()
    X1, Y = _digits()
    nets = [_weights(DIGITS, 100 + k) for k in range(K)]
    Ws = [be.asarray(np.stack([n[l] for n in nets]), dtype) for l in range(len(DIGITS) - 1)]
    alphas = np.linspace(0.05, 0.5, K)
    X1d, Yd = be.asarray(X1, dtype), be.asarray(Y, dtype)

    def epoch():
        be.sgd_epoch_many(Ws, X1d, Yd, alphas)
        be.synchronize()

    epoch()
    benchmark.extra_info.update(K=K, network_samples=K * int(X1.shape[0]), path=be.last_plan.path,
                                threads=be.last_plan.threads)
    benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=1)
