"""Kernel benchmarks on the digits network (64-32-16-10) and the digits
training batch (1,347 rows): forward, fused hidden deltas, update, and the
batched per-sample SGD (``sgd_epoch``: 1,347 dependent steps in one call)."""

from __future__ import annotations

import pytest

from ._common import (
    DIGITS_EPOCH,
    DIGITS_LAYERS,
    digits_host,
    flops_per_sample,
    measure,
    on_backend,
    weight_resetter,
    weights_host,
)

ALPHA = 0.1
#: kernel -> (workload label, FLOP kind of flops_per_sample)
KERNELS = {
    "forward": ("forward, batch of 1347", "forward"),
    "hidden_delta": ("fused hidden deltas, batch of 1347", "hidden_delta"),
    "update": ("update, batch of 1347", "update"),
    "sgd_epoch": (DIGITS_EPOCH, "sgd"),
}


def _deltas(be, W, A, Y):
    """[None, D1, ..., DL] of the batch (the backward pass, untimed)."""
    L = len(W)
    D = [None] * (L + 1)
    D[L] = be.output_delta(A[L], Y)
    for l in range(L - 1, 0, -1):
        D[l] = be.hidden_delta(D[l + 1], W[l], A[l])
    return D


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_kernel(benchmark, request, backend, dtype, kernel):
    be = backend
    X1h, Yh = digits_host()
    W, X1, Y = on_backend(be, dtype, weights_host(DIGITS_LAYERS), X1h, Yh)
    n = X1h.shape[0]
    setup = None
    if kernel == "forward":

        def fn():
            return be.forward(W, X1)
    elif kernel == "hidden_delta":
        A = be.forward(W, X1)
        DL = be.output_delta(A[-1], Y)

        def fn():
            d = DL
            for l in range(len(W) - 1, 0, -1):
                d = be.hidden_delta(d, W[l], A[l])
            return d
    elif kernel == "update":
        A = be.forward(W, X1)
        D = _deltas(be, W, A, Y)

        def fn():  # the weights drift a little every call; the work does not change
            for l in range(len(W)):
                be.update(W[l], A[l], D[l + 1], 1e-4)
    else:  # sgd_epoch: every round starts from the same initial weights
        setup = weight_resetter(be, W)

        def fn(Wr):
            be.sgd_epoch(Wr, X1, Y, ALPHA)

    workload, what = KERNELS[kernel]
    measure(
        benchmark,
        request,
        fn,
        setup=setup,
        backend=be,
        workload=workload,
        section="kernels",
        dtype=dtype,
        layers=DIGITS_LAYERS,
        samples=n,
        flops=n * flops_per_sample(DIGITS_LAYERS, what),
    )
