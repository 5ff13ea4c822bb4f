"""Numba CPU backend benchmarks (issue 3): one SGD epoch, numpy vs numba.

Run:  .venv/bin/python -m pytest benchmarks/bench_numba_cpu.py --benchmark-only -p no:cacheprovider

Groups:
- ``digits-epoch``: one per-sample SGD epoch of 64-32-16-10 on the 1,347
  digits training rows (min-max scaled, bias column, one-hot targets);
  backends numpy and numba, float64 and float32.
- ``wide-epoch``: 784-256-128-10 on random data; numba runs 2,000 samples,
  numpy 200 (it is slow), so compare ``samples_per_s`` / ``gflops``.
- ``matmul-1thread``: a 1024 x 1024 float64 NumPy matmul with BLAS limited to
  one thread (threadpoolctl), the single-thread reference rate.
- ``many-networks``: sgd_epoch_many on digits for K = 1, 2, 8 (network-samples/s).

Every benchmark stores ``samples_per_s`` and ``gflops`` in ``extra_info``:
2 FLOPs per multiply-add over forward (rows*cols per layer), hidden deltas
(rows*cols for every layer l >= 1) and update (rows*cols per layer).
Compilation and warm-up happen before timing.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from fastbp.backends import get_backend, unavailable_reason

DIGITS = [64, 32, 16, 10]
WIDE = [784, 256, 128, 10]


def _weights(layers, dtype, seed=0):
    rs = np.random.RandomState(seed)
    W = []
    for i in range(len(layers) - 1):
        cols = layers[i + 1] + (1 if i < len(layers) - 2 else 0)
        W.append((rs.randn(layers[i] + 1, cols) / np.sqrt(layers[i])).astype(dtype))
    return W


def flops_per_sample(W) -> int:
    """2 * multiply-adds of one per-sample step: forward + update over every
    layer, hidden deltas over layers l >= 1."""
    macs = sum(w.shape[0] * w.shape[1] for w in W) * 2
    macs += sum(w.shape[0] * w.shape[1] for w in W[1:])
    return 2 * macs


def _digits(dtype):
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float64)
    X = (X - X.min()) / (X.max() - X.min())
    X1 = np.hstack([X, np.ones((X.shape[0], 1))])[:1347]
    Y = np.eye(10)[d.target][:1347]
    return X1.astype(dtype), Y.astype(dtype)


def _wide(n, dtype):
    rs = np.random.RandomState(1)
    X1 = np.hstack([rs.rand(n, WIDE[0]), np.ones((n, 1))]).astype(dtype)
    Y = np.eye(10)[rs.randint(0, 10, n)].astype(dtype)
    return X1, Y


def _backend(name):
    why = unavailable_reason(name)
    if why is not None:
        pytest.skip(why)
    return get_backend(name)


def _median(benchmark):
    """The median round time, or None when timing is disabled."""
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else stats.stats.median


def _epoch_bench(benchmark, be, layers, X1, Y, dtype, rounds):
    W0 = _weights(layers, dtype)
    W = [w.copy() for w in W0]
    be.sgd_epoch(W, X1[:2], Y[:2], 0.1)  # compile / load from cache, outside the timing

    def setup():
        return ([w.copy() for w in W0], X1, Y, 0.1), {}

    benchmark.pedantic(be.sgd_epoch, setup=setup, rounds=rounds, iterations=1, warmup_rounds=1)
    t = _median(benchmark)
    if t is None:  # --benchmark-disable: the body ran once as a smoke test
        return
    n = X1.shape[0]
    benchmark.extra_info.update(
        backend=be.name,
        dtype=np.dtype(dtype).name,
        network="-".join(map(str, layers)),
        samples=n,
        median_s=t,
        samples_per_s=n / t,
        gflops=flops_per_sample(W0) * n / t / 1e9,
        flops_per_sample=flops_per_sample(W0),
    )


@pytest.mark.benchmark(group="digits-epoch")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_digits_epoch(benchmark, name, dtype):
    be = _backend(name)
    X1, Y = _digits(dtype)
    _epoch_bench(benchmark, be, DIGITS, X1, Y, dtype, rounds=10 if name == "numpy" else 50)


@pytest.mark.benchmark(group="wide-epoch")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_wide_epoch(benchmark, name, dtype):
    be = _backend(name)
    X1, Y = _wide(200 if name == "numpy" else 2000, dtype)
    _epoch_bench(benchmark, be, WIDE, X1, Y, dtype, rounds=5)


@pytest.mark.benchmark(group="matmul-1thread")
def test_matmul_single_thread(benchmark):
    try:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover
        limit = contextlib.nullcontext()
    n = 1024
    rs = np.random.RandomState(0)
    A, B = rs.rand(n, n), rs.rand(n, n)
    C = np.empty((n, n))
    with limit:
        np.matmul(A, B, out=C)
        benchmark.pedantic(np.matmul, args=(A, B), kwargs={"out": C}, rounds=10, iterations=1, warmup_rounds=1)
    t = _median(benchmark)
    if t is None:  # --benchmark-disable: the body ran once as a smoke test
        return
    benchmark.extra_info.update(
        n=n, median_s=t, gflops=2 * n**3 / t / 1e9, threadpoolctl=not isinstance(limit, contextlib.nullcontext)
    )


@pytest.mark.benchmark(group="many-networks")
@pytest.mark.parametrize("K", [1, 2, 8])
def test_many_networks_digits(benchmark, K):
    be = _backend("numba")
    X1, Y = _digits(np.float64)
    nets = [_weights(DIGITS, np.float64, seed=k) for k in range(K)]
    Ws0 = [np.stack([n[l] for n in nets]) for l in range(len(DIGITS) - 1)]
    alphas = np.linspace(0.05, 0.5, K)
    be.sgd_epoch_many([w.copy() for w in Ws0], X1[:2], Y[:2], alphas)

    def setup():
        return ([w.copy() for w in Ws0], X1, Y, alphas), {}

    benchmark.pedantic(be.sgd_epoch_many, setup=setup, rounds=10, iterations=1, warmup_rounds=1)
    t = _median(benchmark)
    if t is None:  # --benchmark-disable: the body ran once as a smoke test
        return
    benchmark.extra_info.update(
        K=K, median_s=t, network_samples_per_s=K * X1.shape[0] / t, info=str(be.info().get("threading_layer"))
    )
