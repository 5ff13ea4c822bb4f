"""An MNIST epoch: 60,000 per-sample steps of 784-300-100-10 (``sgd_epoch``),
float64 and float32, on every usable backend. The NumPy backend runs the
first 600 samples (a full epoch takes it about a minute); the rate is per
sample, so the columns compare. The numba backend runs as configured by
default (every core for this network) and on one thread (``numba, 1
thread``). Skipped, with the reason, where the MNIST files are absent
(benchmarks/_mnist.py says where they are looked for)."""

from __future__ import annotations

import pytest

from ._common import measure_sgd_epoch
from ._mnist import MNIST_LAYERS, missing, mnist_host

#: samples per call; the NumPy backend takes a slice
SAMPLES = {"numpy": 600}


@pytest.mark.parametrize("threads", [None, 1], ids=["auto", "1thread"])
def test_mnist_epoch(benchmark, request, backend, dtype, threads):
    why = missing()
    if why is not None:
        pytest.skip(why)
    if threads is not None and backend.name != "numba":
        pytest.skip("the one-thread variant is numba's")
    be = backend if threads is None else backend.with_threads(threads)
    X1h, Yh = mnist_host(SAMPLES.get(backend.name), dtype)
    measure_sgd_epoch(
        benchmark,
        request,
        be,
        dtype,
        MNIST_LAYERS,
        X1h,
        Yh,
        0.5,
        "per-sample SGD, MNIST epoch (60000 steps; numpy: the first 600)",
        column=None if threads is None else f"{backend.name}, {threads} thread",
        threads="auto" if threads is None else threads,
    )
