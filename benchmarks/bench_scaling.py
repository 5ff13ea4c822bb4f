"""How per-sample SGD scales with the network: ``sgd_epoch`` on random data
for networks from the digits one (64-32-16-10, 6.5 k multiply-adds a step) to a
wide one (2048-1024-10, 6.3 M). The sample counts keep the NumPy backend's
call short; the rate is per sample, so backends stay comparable."""

from __future__ import annotations

import pytest

from ._common import layers_id, measure_sgd_epoch, random_host

#: network -> samples per call
NETWORKS = {
    (64, 32, 16, 10): 512,
    (256, 128, 10): 256,
    (784, 256, 128, 10): 64,
    (2048, 1024, 10): 16,
}


@pytest.mark.parametrize("layers", list(NETWORKS), ids=[layers_id(l) for l in NETWORKS])
def test_sgd_scaling(benchmark, request, backend, dtype, layers):
    n = NETWORKS[layers]
    X1h, Yh = random_host(layers, n)
    measure_sgd_epoch(
        benchmark, request, backend, dtype, layers, X1h, Yh, 0.1, f"per-sample SGD, random data ({n} steps)"
    )
