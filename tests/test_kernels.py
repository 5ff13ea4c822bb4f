"""The kernel contract, checked on every backend against the NumPy oracle.

float64 agrees to 1e-12 relative; float32 to FLOAT32_RTOL (rounding of
single precision through a few dependent steps; measured differences are
around 1e-6, the bound leaves room for other summation orders).
"""

import numpy as np
import pytest

from fastbp.datasets import digits
from fastbp.network import add_bias, init_weights

FLOAT32_RTOL = 1e-4


def rtol(dtype):
    return 1e-12 if dtype == np.float64 else FLOAT32_RTOL


def assert_close(a, b, dtype, what):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(b)), 1e-30)
    err = np.max(np.abs(a - b)) / scale
    assert err <= rtol(dtype), f"{what}: relative difference {err:.3e} > {rtol(dtype):.0e}"


def setup(be, layers, n, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X1 = add_bias(rng.rand(n, layers[0]))
    Y = rng.rand(n, layers[-1])
    Wh = init_weights(layers, seed)
    return Wh, X1, Y, [be.asarray(w, dtype) for w in Wh], be.asarray(X1, dtype), be.asarray(Y, dtype)


LAYERS = [[2, 1], [2, 2, 1], [5, 7, 3], [64, 32, 16, 10], [8, 6, 5, 4, 3]]


@pytest.mark.parametrize("layers", LAYERS, ids=lambda l: "-".join(map(str, l)))
def test_single_kernels_match_numpy(backend, oracle, dtype, layers):
    Wh, X1h, Yh, W, X1, Y = setup(backend, layers, 7, dtype)
    Wo = [oracle.asarray(w, dtype) for w in Wh]
    X1o, Yo = oracle.asarray(X1h, dtype), oracle.asarray(Yh, dtype)
    A = backend.forward(W, X1)
    Ao = oracle.forward(Wo, X1o)
    assert len(A) == len(Ao) == len(layers)
    for l, (a, ao) in enumerate(zip(A, Ao)):
        assert_close(backend.to_numpy(a), ao, dtype, f"A[{l}]")
    D = backend.output_delta(A[-1], Y)
    Do = oracle.output_delta(Ao[-1], Yo)
    assert_close(backend.to_numpy(D), Do, dtype, "output delta")
    for l in range(len(W) - 1, 0, -1):
        D = backend.hidden_delta(backend.asarray(Do, dtype), W[l], backend.asarray(Ao[l], dtype))
        Do = oracle.hidden_delta(Do, Wo[l], Ao[l])
        assert_close(backend.to_numpy(D), Do, dtype, f"hidden delta {l}")
    backend.update(W[0], backend.asarray(Ao[0], dtype), backend.asarray(Do, dtype), 0.3)
    oracle.update(Wo[0], Ao[0], Do, 0.3)
    assert_close(backend.to_numpy(W[0]), Wo[0], dtype, "update")
    assert backend.loss(W, X1, Y) == pytest.approx(oracle.loss(Wo, X1o, Yo), rel=rtol(dtype))
    assert_close(backend.to_numpy(backend.predict(W, X1)), oracle.predict(Wo, X1o), dtype, "predict")


@pytest.mark.parametrize("layers", LAYERS, ids=lambda l: "-".join(map(str, l)))
def test_sgd_epoch_equals_one_step_per_sample(backend, dtype, layers):
    Wh, X1h, Yh, W, X1, Y = setup(backend, layers, 9, dtype, seed=1)
    W2 = [backend.asarray(w, dtype) for w in Wh]
    backend.sgd_epoch(W, X1, Y, 0.4)
    for i in range(X1h.shape[0]):
        backend.sgd_step(W2, backend.asarray(X1h[i : i + 1], dtype), backend.asarray(Yh[i : i + 1], dtype), 0.4)
    for l, (a, b) in enumerate(zip(W, W2)):
        assert_close(backend.to_numpy(a), backend.to_numpy(b), dtype, f"W[{l}]")
    assert not np.allclose(backend.to_numpy(W[0]), Wh[0])  # it did train


@pytest.fixture(scope="module")
def digits_data():
    return digits()


@pytest.mark.parametrize("epochs", [1, 10])
def test_digits_epochs_match_numpy(backend, oracle, dtype, epochs, digits_data):
    if backend.name == "numpy":
        pytest.skip("the oracle itself")
    d = digits_data
    X1h = add_bias(d.X_train)
    Wh = init_weights([64, 32, 16, 10], 5)
    W = [backend.asarray(w, dtype) for w in Wh]
    Wo = [oracle.asarray(w, dtype) for w in Wh]
    X1, Y = backend.asarray(X1h, dtype), backend.asarray(d.Y_train, dtype)
    X1o, Yo = oracle.asarray(X1h, dtype), oracle.asarray(d.Y_train, dtype)
    for _ in range(epochs):
        backend.sgd_epoch(W, X1, Y, 0.1)
        oracle.sgd_epoch(Wo, X1o, Yo, 0.1)
    tol = rtol(dtype) * (10 if dtype == np.float32 and epochs == 10 else 1)
    for l, (a, b) in enumerate(zip(W, Wo)):
        a = backend.to_numpy(a)
        err = np.max(np.abs(a - b)) / np.max(np.abs(b))
        assert err <= tol, f"W[{l}] after {epochs} epochs: relative difference {err:.3e}"


@pytest.mark.parametrize("K", [1, 3])
def test_sgd_epoch_many_equals_each_network_alone(backend, dtype, K):
    layers = [5, 7, 3]
    rng = np.random.RandomState(2)
    X1h = add_bias(rng.rand(11, 5))
    Yh = rng.rand(11, 3)
    alphas = np.linspace(0.1, 0.9, K)
    inits = [init_weights(layers, s) for s in range(K)]
    Ws = [backend.asarray(np.stack([w[l] for w in inits]), dtype) for l in range(len(layers) - 1)]
    X1, Y = backend.asarray(X1h, dtype), backend.asarray(Yh, dtype)
    backend.sgd_epoch_many(Ws, X1, Y, alphas)
    losses = backend.loss_many(Ws, X1, Y)
    assert np.shape(losses) == (K,)
    for k in range(K):
        W = [backend.asarray(w, dtype) for w in inits[k]]
        backend.sgd_epoch(W, X1, Y, float(alphas[k]))
        for l in range(len(W)):
            assert_close(backend.to_numpy(Ws[l])[k], backend.to_numpy(W[l]), dtype, f"network {k} W[{l}]")
        assert losses[k] == pytest.approx(backend.loss(W, X1, Y), rel=rtol(dtype))
