"""End-to-end: the tutorial's own runs through the public API, beside the
tutorial's code (the "tutorial" column, tests/reference_impl.py).

* ``xor``: ``NeuralNetwork([2, 2, 1], alpha=0.5).fit(X, y, epochs=20000)``
  with the default ``displayUpdate=100``: 20,000 epochs and the same 200
  ``[INFO]`` lines (printed into a buffer);
* ``train-xor``: ``fastbp.train("xor")`` (the same run, plus evaluation);
* ``digits``: ``fit(X, y, epochs=10, displayUpdate=10)`` on the digits
  training split (64-32-16-10, alpha 0.1), fastbp recording the loss of every
  epoch (its default);
* ``fit_partial``: one XOR step, per call.

Rates are samples/s (per-sample steps per second). Ratios against the
tutorial measured interleaved in one process: ``python -m benchmarks.tutorial_speed``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import fastbp
from fastbp import NeuralNetwork, datasets

from ._common import flops_per_sample, measure, reference_network, tutorial_blas, weights_host

#: case -> (workload, data set factory, epochs, displayUpdate)
CASES = {
    "xor": ("tutorial's XOR run: fit(), 20,000 epochs, displayUpdate=100", datasets.xor, 20000, 100),
    "digits": ("digits: fit(), 10 epochs, displayUpdate=10", datasets.digits, 10, 10),
}


class Tutorial:
    """Stands in for a backend in ``measure``: the tutorial's code, on the CPU."""

    name = "tutorial"

    @staticmethod
    def synchronize():
        return None


def _fit_runner(column, ds, layers, alpha, epochs, display, dtype):
    """A (setup, fn) pair: ``fn`` runs ``fit`` from the same initial weights every round."""
    W0 = weights_host(layers)
    if column == "tutorial":

        def setup():
            return (reference_network(layers, alpha, W0, dtype),), {}

        def fn(net):
            with tutorial_blas(), contextlib.redirect_stdout(io.StringIO()):
                net.fit(ds.X_train.astype(dtype), ds.Y_train.astype(dtype), epochs=epochs, displayUpdate=display)

        return setup, fn
    net = NeuralNetwork(layers, alpha, backend=column, dtype=dtype, weights=W0)

    def setup():
        net.W = W0
        return (), {}

    def fn():
        net.fit(ds.X_train, ds.Y_train, epochs=epochs, displayUpdate=display, out=io.StringIO(), progress=False)

    return setup, fn


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("who", ["tutorial", "backend"])
def test_fit(benchmark, request, backend, dtype, case, who):
    workload, factory, epochs, display = CASES[case]
    if who == "tutorial" and backend.name != "numpy":
        pytest.skip("the tutorial's code runs once per dtype (with the numpy parameter)")
    ds = factory()
    layers, alpha = ds.layers, ds.alpha
    column = "tutorial" if who == "tutorial" else backend.name
    setup, fn = _fit_runner(column, ds, layers, alpha, epochs, display, dtype)
    n = len(ds.X_train)
    measure(
        benchmark,
        request,
        fn,
        setup=setup,
        backend=Tutorial() if who == "tutorial" else backend,
        workload=workload,
        section="end-to-end",
        dtype=dtype,
        layers=layers,
        samples=n * epochs,
        flops=n * epochs * flops_per_sample(layers, "sgd"),
        column="tutorial" if who == "tutorial" else None,
        peer=who == "tutorial",
        epochs=epochs,
    )


def test_train_xor(benchmark, request, backend, dtype):
    ds = datasets.xor()

    def fn():
        fastbp.train("xor", backend=backend.name, dtype=dtype, seed=0, out=io.StringIO(), progress=False)

    measure(
        benchmark,
        request,
        fn,
        backend=backend,
        workload="fastbp.train('xor'): 20,000 epochs, evaluation",
        section="end-to-end",
        dtype=dtype,
        layers=ds.layers,
        samples=4 * 20000,
        flops=4 * 20000 * flops_per_sample(ds.layers, "sgd"),
    )


@pytest.mark.parametrize("who", ["tutorial", "backend"])
def test_fit_partial(benchmark, request, backend, dtype, who):
    if who == "tutorial" and backend.name != "numpy":
        pytest.skip("the tutorial's code runs once per dtype (with the numpy parameter)")
    layers = [2, 2, 1]
    x, y = np.array([0.0, 1.0, 1.0]), np.array([1.0])
    if who == "tutorial":
        net = reference_network(layers, 0.5, weights_host(layers), dtype)
        fn = lambda: net.fit_partial(x.astype(dtype), y.astype(dtype))  # noqa: E731
    else:
        net = NeuralNetwork(layers, 0.5, backend=backend.name, dtype=dtype, seed=0)
        fn = lambda: net.fit_partial(x, y)  # noqa: E731
    measure(
        benchmark,
        request,
        fn,
        backend=Tutorial() if who == "tutorial" else backend,
        workload="fit_partial(): one XOR step per call",
        section="end-to-end",
        dtype=dtype,
        layers=layers,
        samples=1,
        flops=flops_per_sample(layers, "sgd"),
        column="tutorial" if who == "tutorial" else None,
        peer=who == "tutorial",
    )
