"""Many networks at once: ``sgd_epoch_many`` trains K independent
64-32-16-10 networks (seeds 0..K-1, alphas spread over 0.05-0.5) on the same
digits batch, each with exact per-sample SGD. The rate is network-samples/s
(K x samples per call), so a backend that batches well grows with K.

The NumPy backend loops over the networks; its calls keep to about
NUMPY_BUDGET network-samples (fewer samples per network at large K)."""

from __future__ import annotations

import numpy as np
import pytest

from ._common import (
    DIGITS_LAYERS,
    digits_host,
    flops_per_sample,
    measure,
    on_backend,
    stacked_weights_host,
    weight_resetter,
)

KS = (1, 8, 64, 512)
#: network-samples per call for backends that loop over networks in Python
NUMPY_BUDGET = 4096


def samples_for(backend_name: str, K: int, full: int) -> int:
    if backend_name == "numpy":
        return max(8, min(full, NUMPY_BUDGET // K))
    return full


@pytest.mark.parametrize("K", KS, ids=[f"K{k}" for k in KS])
def test_sgd_many(benchmark, request, backend, dtype, K):
    X1h, Yh = digits_host()
    n = samples_for(backend.name, K, X1h.shape[0])
    Ws, X1, Y = on_backend(backend, dtype, stacked_weights_host(DIGITS_LAYERS, K), X1h[:n], Yh[:n])
    alphas = np.geomspace(0.05, 0.5, K) if K > 1 else np.array([0.1])

    def fn(Wr):
        backend.sgd_epoch_many(Wr, X1, Y, alphas)

    measure(
        benchmark,
        request,
        fn,
        setup=weight_resetter(backend, Ws),
        backend=backend,
        workload=f"sgd_epoch_many, K={K} networks",
        section="many",
        unit="network-samples/s",
        dtype=dtype,
        layers=DIGITS_LAYERS,
        samples=K * n,
        flops=K * n * flops_per_sample(DIGITS_LAYERS, "sgd"),
        networks=K,
        samples_per_network=n,
    )
