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
    for k in range(K):
        W = [backend.asarray(w, dtype) for w in inits[k]]
        backend.sgd_epoch(W, X1, Y, float(alphas[k]))
        for l in range(len(W)):
            assert_close(backend.to_numpy(Ws[l])[k], backend.to_numpy(W[l]), dtype, f"network {k} W[{l}]")


def stacked(layers, K, seed=0):
    inits = [init_weights(layers, seed + k) for k in range(K)]
    return [np.stack([w[l] for w in inits]) for l in range(len(layers) - 1)]


@pytest.mark.parametrize("K", [1, 3])
def test_train_many_epochs_in_one_call_equals_epoch_by_epoch(backend, dtype, K):
    """The seam: E epochs and the losses at the recorded epochs in one call
    equal E one-epoch calls and the loss computed after each."""
    layers = [6, 5, 4, 3]
    rng = np.random.RandomState(3)
    X1h, Yh = add_bias(rng.rand(13, 6)), rng.rand(13, 3)
    X1, Y = backend.asarray(X1h, dtype), backend.asarray(Yh, dtype)
    alphas = np.linspace(0.3, 0.9, K)
    host = stacked(layers, K)
    P = backend.params(host, dtype)
    record = np.array([1, 2, 5, 7])
    losses = backend.train(P, X1, Y, alphas, 7, record)
    assert losses.shape == (4, K) and losses.dtype == np.float64
    Q = backend.params(host, dtype)
    for e in range(1, 8):
        backend.train(Q, X1, Y, alphas, 1)
        if e in record:
            for k in range(K):
                want = backend.loss(Q.network(k), X1, Y)
                assert losses[list(record).index(e), k] == pytest.approx(want, rel=rtol(dtype))
    for a, b in zip(backend.params_to_host(P), backend.params_to_host(Q)):
        np.testing.assert_array_equal(a, b)  # the same code per epoch: bit for bit
        assert a.shape[0] == K
    np.testing.assert_array_equal(backend.params_to_host(backend.copy_params(P))[0], backend.params_to_host(P)[0])


def test_train_reports_nan_for_a_network_with_a_non_finite_weight(backend, dtype):
    layers = [4, 3, 2]
    rng = np.random.RandomState(4)
    X1, Y = backend.asarray(add_bias(rng.rand(5, 4)), dtype), backend.asarray(rng.rand(5, 2), dtype)
    host = stacked(layers, 2)
    host[1][1, 0, 0] = np.inf  # network 1, last layer: the loss alone could stay finite
    P = backend.params(host, dtype)
    losses = backend.train(P, X1, Y, np.array([0.1, 0.1]), 3, np.array([1, 3]))
    assert np.isfinite(losses[:, 0]).all() and np.isnan(losses[:, 1]).all()


def _small(backend, dtype=np.float64):
    layers = [4, 3, 2]
    _, _, _, W, X1, Y = setup(backend, layers, 6, dtype)
    return W, X1, Y


@pytest.mark.parametrize("bad_dtype", [np.int64, np.float16, np.complex128])
def test_one_epoch_kernels_name_a_wrong_dtype(backend, bad_dtype):
    W, X1, Y = _small(backend)
    bad = lambda a: backend.asarray(backend.to_numpy(a), bad_dtype)  # noqa: E731
    with pytest.raises(TypeError, match=r"X1 has dtype"):
        backend.sgd_epoch(W, bad(X1), Y, 0.1)
    with pytest.raises(TypeError, match=r"Y has dtype"):
        backend.sgd_epoch(W, X1, bad(Y), 0.1)
    with pytest.raises(TypeError, match=r"W\[1\] has dtype"):
        backend.sgd_epoch([W[0], bad(W[1])], X1, Y, 0.1)
    with pytest.raises(TypeError, match=r"W\[0\] has dtype"):
        backend.sgd_epoch([bad(W[0]), W[1]], X1, Y, 0.1)
    with pytest.raises(TypeError, match="alphas must be real numbers"):
        backend.sgd_epoch(W, X1, Y, "0.1")


def test_one_epoch_kernels_name_a_wrong_shape(backend):
    W, X1, Y = _small(backend)
    with pytest.raises(ValueError, match=r"X1 has shape \(6, 4\) but the weights need 5 columns"):
        backend.sgd_epoch(W, X1[:, :4], Y, 0.1)
    with pytest.raises(ValueError, match=r"W\[1\] has shape \(5, 2\) but W\[0\] has shape \(5, 4\)"):
        backend.sgd_epoch([W[0], backend.asarray(np.zeros((5, 2)), np.float64)], X1, Y, 0.1)
    with pytest.raises(ValueError, match=r"Y has shape \(6, 3\)"):
        backend.sgd_epoch(W, X1, backend.asarray(np.zeros((6, 3)), np.float64), 0.1)
    with pytest.raises(ValueError, match=r"Y has 5 rows but X1 has 6"):
        backend.sgd_epoch(W, X1, Y[:5], 0.1)
    with pytest.raises(ValueError, match=r"X1 must be 2-D"):
        backend.sgd_epoch(W, X1[0], Y, 0.1)
    with pytest.raises(ValueError, match=r"W\[0\] must be a non-empty 2-D"):
        backend.sgd_epoch([W[0][None], W[1]], X1, Y, 0.1)
    with pytest.raises(TypeError, match=r"W must be a non-empty list"):
        backend.sgd_epoch([], X1, Y, 0.1)
    with pytest.raises(ValueError, match=r"alphas has 2 values but Ws stacks 1"):
        backend.sgd_epoch_many([w[None] for w in W], X1, Y, [0.1, 0.2])
    with pytest.raises(ValueError, match=r"Ws\[1\] stacks 2 networks"):
        backend.sgd_epoch_many([W[0][None], backend.asarray(np.zeros((2, 4, 2)), np.float64)], X1, Y, [0.1])


def test_read_only_weights_are_refused_before_training(backend):
    W, X1, Y = _small(backend)
    if not hasattr(W[1], "flags") or not hasattr(W[1].flags, "writeable") or backend.on_device:
        pytest.skip("device arrays have no read-only flag")
    before = [w.copy() for w in W]
    W[1].flags.writeable = False
    with pytest.raises(ValueError, match=r"W\[1\] is read-only"):
        backend.sgd_epoch(W, X1, Y, 0.1)
    np.testing.assert_array_equal(W[0], before[0])  # nothing ran
