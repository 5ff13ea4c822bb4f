"""End-to-end benchmarks through the public API, as a user runs them:
``NeuralNetwork.fit`` (validation, transfer, per-sample SGD, the loss every
epoch) for one digits epoch (64-32-16-10, 1,347 samples) and for 100 XOR
epochs (2-2-1, 4 samples an epoch)."""

from __future__ import annotations

import pytest

from fastbp import NeuralNetwork, datasets

from ._common import flops_per_sample, measure, weights_host

#: case -> (workload label, data set factory, epochs)
CASES = {
    "digits": ("fit(): 1 digits epoch, loss included", datasets.digits, 1),
    "xor": ("fit(): 100 XOR epochs, loss included", datasets.xor, 100),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fit(benchmark, request, backend, dtype, case):
    workload, factory, epochs = CASES[case]
    ds = factory()
    layers = ds.layers
    net = NeuralNetwork(layers, ds.alpha, backend=backend.name, dtype=dtype.name, seed=0)
    W0 = weights_host(layers)

    def setup():  # every round starts from the same weights (not timed)
        net.W = W0
        backend.synchronize()
        return (), {}

    def fn():
        net.fit(ds.X_train, ds.Y_train, epochs=epochs, verbose=False, progress=False)

    n = len(ds.X_train)
    per_epoch = n * (flops_per_sample(layers, "sgd") + flops_per_sample(layers, "forward"))
    measure(
        benchmark,
        request,
        fn,
        setup=setup,
        backend=backend,
        workload=workload,
        section="end-to-end",
        dtype=dtype,
        layers=layers,
        samples=n * epochs,
        flops=per_epoch * epochs,
        epochs=epochs,
    )
