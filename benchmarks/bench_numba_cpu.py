"""The numba backend against the CPU's limit.

Run:  .venv/bin/python -m pytest benchmarks/bench_numba_cpu.py --benchmark-only -p no:cacheprovider

Groups:
- ``wide-epoch``: 784-256-128-10 on random data; numba runs 2,000 samples,
  numpy 200 (it is slow), so compare ``samples_per_s`` / ``gflops``.
- ``matmul-1thread``: a 1024 x 1024 float64 NumPy matmul with BLAS limited to
  one thread (threadpoolctl), the single-thread reference rate that the wide
  network's GFLOP/s is compared with.
The digits epoch and many-networks workloads are in bench_kernels.py and
bench_many.py, for every backend.

``extra_info`` holds ``samples_per_s`` and ``gflops`` (2 FLOPs per
multiply-add, benchmarks/_common.py). Compilation happens before timing.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from fastbp.backends import get_backend, unavailable_reason

from ._common import flops_per_sample, random_host, weights_host

WIDE = [784, 256, 128, 10]


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
    W0 = [w.astype(dtype) for w in weights_host(layers)]
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
        gflops=flops_per_sample(layers) * n / t / 1e9,
        flops_per_sample=flops_per_sample(layers),
    )


@pytest.mark.benchmark(group="wide-epoch")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_wide_epoch(benchmark, name, dtype):
    be = _backend(name)
    X1, Y = (a.astype(dtype) for a in random_host(WIDE, 200 if name == "numpy" else 2000, seed=1))
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
