"""The kernel contract on every backend: the per-layer kernels and the
training seam against the NumPy oracle (``backend_allclose``, every pair of
units), the one-call forms against many calls, and the checks of the public
one-epoch kernels."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import (
    NON_TUTORIAL,
    NON_TUTORIAL_IDS,
    UNIT_IDS,
    UNITS,
    assert_close,
    backend_allclose,
    rtol,
    stacked,
    supporting,
    targets,
)
from fastbp.backends import get_backend
from fastbp.datasets import digits
from fastbp.network import add_bias, init_weights

LAYERS = [[2, 1], [5, 7, 3], [64, 32, 16, 10], [8, 6, 5, 4, 3]]
LAYER_IDS = ["-".join(map(str, l)) for l in LAYERS]


def data(layers, n, output="sigmoid", seed=0):
    """(X1, Y) on the host: inputs in [-0.5, 1.5) with the bias column, targets for ``output``."""
    rng = np.random.RandomState(seed)
    X1 = add_bias(rng.rand(n, layers[0]) * 2 - 0.5)
    Y = targets(rng, n, layers[-1], output) if (output != "softmax" or layers[-1] > 1) else np.ones((n, 1))
    return X1, Y


# ------------------------------------------------------------------- parity
@pytest.mark.parametrize(("activation", "output"), UNITS, ids=UNIT_IDS)
@pytest.mark.parametrize("layers", LAYERS, ids=LAYER_IDS)
def test_per_layer_kernels_match_numpy(accelerated, dtype, activation, output, layers):
    """Each kernel on the same host inputs on both sides: forward, predict
    and loss of the weights; the output delta of the oracle's outputs; each
    hidden delta and update of the oracle's activations and random deltas."""
    supporting(accelerated, activation, output)
    n = 7
    Wh = [w.astype(dtype) for w in init_weights(layers, 0, activation)]
    X1h, Yh = (a.astype(dtype) for a in data(layers, n, output))
    Ah = get_backend("numpy").forward(Wh, X1h, activation=activation, output=output)
    rng = np.random.RandomState(1)
    Dh = [None, *(rng.randn(n, w.shape[1]).astype(dtype) for w in Wh)]  # Dh[l + 1]: the delta of W[l]'s outputs

    def body(be):
        W = [be.asarray(w, dtype) for w in Wh]
        X1, Y = be.asarray(X1h, dtype), be.asarray(Yh, dtype)
        out = {f"forward A[{l}]": a for l, a in enumerate(be.forward(W, X1, activation=activation, output=output))}
        out["predict"] = be.predict(W, X1, activation=activation, output=output)
        out["loss"] = be.loss(W, X1, Y, activation=activation, output=output)
        out["output_delta"] = be.output_delta(be.asarray(Ah[-1], dtype), Y, output=output)
        for l in range(1, len(W)):
            D, A = be.asarray(Dh[l + 1], dtype), be.asarray(Ah[l], dtype)
            out[f"hidden_delta {l}"] = be.hidden_delta(D, W[l], A, activation=activation)
        for l in range(len(W)):
            be.update(W[l], be.asarray(Ah[l], dtype), be.asarray(Dh[l + 1], dtype), 0.3)
            out[f"update W[{l}]"] = W[l]
        return out

    backend_allclose(accelerated, body, dtype)


@pytest.mark.parametrize(("activation", "output"), UNITS, ids=UNIT_IDS)
@pytest.mark.parametrize("layers", [[5, 7, 3], [8, 6, 5, 4, 3]], ids=lambda l: "-".join(map(str, l)))
def test_training_calls_match_numpy(accelerated, dtype, activation, output, layers):
    """The seam: three epochs of two networks and their losses in one call."""
    supporting(accelerated, activation, output)
    X1h, Yh = data(layers, 13, output, seed=2)
    host = stacked(layers, 2, activation)

    def body(be):
        P = be.params(host, dtype).with_units(activation, output)
        X1, Y = be.asarray(X1h, dtype), be.asarray(Yh, dtype)
        losses = be.train(P, X1, Y, np.array([0.05, 0.2]), 3, np.array([1, 3]))
        return {"losses": losses, **{f"W[{l}]": w for l, w in enumerate(be.params_to_host(P))}}

    backend_allclose(accelerated, body, dtype, factor=10 if dtype == np.float32 else 1)


@pytest.fixture(scope="module")
def digits_data():
    return digits()


@pytest.mark.parametrize("epochs", [1, 10])
def test_digits_epochs_match_numpy(accelerated, dtype, epochs, digits_data):
    X1h = add_bias(digits_data.X_train)
    Wh = init_weights([64, 32, 16, 10], 5)

    def body(be):
        W = [be.asarray(w, dtype) for w in Wh]
        X1, Y = be.asarray(X1h, dtype), be.asarray(digits_data.Y_train, dtype)
        for _ in range(epochs):
            be.sgd_epoch(W, X1, Y, 0.1)
        return {f"W[{l}] after {epochs} epochs": w for l, w in enumerate(W)}

    backend_allclose(accelerated, body, dtype, factor=10 if dtype == np.float32 and epochs == 10 else 1)


# ------------------------------------------------ one call against many calls
# These compare two ways of calling one backend; on the NumPy backend both are
# the same loop, so they run on the others (``accelerated``).
@pytest.mark.parametrize(("activation", "output"), UNITS, ids=UNIT_IDS)
def test_a_batch_in_one_call_equals_one_call_per_sample(accelerated, dtype, activation, output):
    """Bit for bit on the CPU backends; to the stated tolerance elsewhere."""
    be = accelerated
    supporting(be, activation, output)
    layers = [6, 5, 4, 3]
    X1h, Yh = data(layers, 9, output, seed=1)
    host = stacked(layers, 1, activation)
    P = be.params(host, dtype).with_units(activation, output)
    Q = be.params(host, dtype).with_units(activation, output)
    be.train(P, be.asarray(X1h, dtype), be.asarray(Yh, dtype), np.array([0.3]), 1)
    for i in range(len(X1h)):
        be.train(Q, be.asarray(X1h[i : i + 1], dtype), be.asarray(Yh[i : i + 1], dtype), np.array([0.3]), 1)
    for l, (a, b) in enumerate(zip(be.params_to_host(P), be.params_to_host(Q))):
        if be.on_device:
            assert_close(a, b, dtype, f"W[{l}]")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"W[{l}]")
    assert not np.allclose(be.params_to_host(P)[0], host[0])  # it did train


@pytest.mark.parametrize("K", [1, 3])
def test_sgd_epoch_many_equals_each_network_alone(accelerated, dtype, K):
    be = accelerated
    layers = [5, 7, 3]
    X1h, Yh = data(layers, 11, seed=2)
    alphas = np.linspace(0.1, 0.9, K)
    inits = [init_weights(layers, s) for s in range(K)]
    Ws = [be.asarray(np.stack([w[l] for w in inits]), dtype) for l in range(len(layers) - 1)]
    X1, Y = be.asarray(X1h, dtype), be.asarray(Yh, dtype)
    be.sgd_epoch_many(Ws, X1, Y, alphas)
    for k in range(K):
        W = [be.asarray(w, dtype) for w in inits[k]]
        be.sgd_epoch(W, X1, Y, float(alphas[k]))
        for l in range(len(W)):
            assert_close(be.to_numpy(Ws[l])[k], be.to_numpy(W[l]), dtype, f"network {k} W[{l}]")


@pytest.mark.parametrize("K", [1, 3])
def test_many_epochs_in_one_call_equal_epoch_by_epoch(accelerated, dtype, K):
    """E epochs and the losses at the recorded epochs in one call equal E
    one-epoch calls and the loss computed after each."""
    be = accelerated
    layers = [6, 5, 4, 3]
    X1h, Yh = data(layers, 13, seed=3)
    X1, Y = be.asarray(X1h, dtype), be.asarray(Yh, dtype)
    alphas = np.linspace(0.3, 0.9, K)
    host = stacked(layers, K)
    P = be.params(host, dtype)
    record = np.array([1, 2, 5, 7])
    losses = be.train(P, X1, Y, alphas, 7, record)
    assert losses.shape == (4, K) and losses.dtype == np.float64
    Q = be.params(host, dtype)
    for e in range(1, 8):
        be.train(Q, X1, Y, alphas, 1)
        if e in record:
            for k in range(K):
                want = be.loss(Q.network(k), X1, Y)
                assert losses[list(record).index(e), k] == pytest.approx(want, rel=rtol(dtype))
    for a, b in zip(be.params_to_host(P), be.params_to_host(Q)):
        np.testing.assert_array_equal(a, b)  # the same code per epoch: bit for bit
        assert a.shape[0] == K
    np.testing.assert_array_equal(be.params_to_host(be.copy_params(P))[0], be.params_to_host(P)[0])


@pytest.mark.parametrize(("activation", "output"), NON_TUTORIAL, ids=NON_TUTORIAL_IDS)
def test_one_epoch_kernels_take_the_units(accelerated, dtype, activation, output):
    """``sgd_epoch`` and ``sgd_epoch_many`` with units equal ``train`` with a
    ``Params`` of those units; copies keep the units."""
    be = accelerated
    supporting(be, activation, output)
    layers = [5, 4, 3]
    X1h, Yh = data(layers, 8, output, seed=3)
    X1, Y = be.asarray(X1h, dtype), be.asarray(Yh, dtype)
    host = stacked(layers, 2, activation)
    Ws = [be.asarray(w, dtype) for w in host]
    be.sgd_epoch_many(Ws, X1, Y, [0.1, 0.2], activation=activation, output=output)
    W1 = [be.asarray(w[1], dtype) for w in host]
    be.sgd_epoch(W1, X1, Y, 0.2, activation=activation, output=output)
    P = be.params(host, dtype).with_units(activation, output)
    C = be.copy_params(P)
    assert (C.activation, C.output) == (activation, output)
    be.train(C, X1, Y, np.array([0.1, 0.2]), 1)
    for l in range(len(layers) - 1):
        assert_close(be.to_numpy(Ws[l]), be.params_to_host(C)[l], dtype, f"W[{l}] many vs train")
        assert_close(be.to_numpy(W1[l]), be.params_to_host(C)[l][1], dtype, f"W[{l}] one vs train")


# -------------------------------------------------------- every backend
@pytest.mark.parametrize("layer", [0, 1], ids=["first-layer", "last-layer"])  # the last: the loss could stay finite
@pytest.mark.parametrize(("activation", "output"), UNITS, ids=UNIT_IDS)
def test_a_network_with_a_non_finite_weight_reports_nan(backend, activation, output, layer):
    supporting(backend, activation, output)
    layers = [4, 3, 2]
    X1h, Yh = data(layers, 5, output, seed=4)
    host = stacked(layers, 2, activation)
    host[layer][1, 0, 0] = np.inf  # network 1
    P = backend.params(host, np.float64).with_units(activation, output)
    X1, Y = backend.asarray(X1h, np.float64), backend.asarray(Yh, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        losses = backend.train(P, X1, Y, np.array([0.01, 0.01]), 3, np.array([1, 3]))
    assert np.isfinite(losses[:, 0]).all() and np.isnan(losses[:, 1]).all()


def _small(backend, dtype=np.float64):
    layers = [4, 3, 2]
    X1h, Yh = data(layers, 6)
    return (
        [backend.asarray(w, dtype) for w in init_weights(layers, 0)],
        backend.asarray(X1h, dtype),
        backend.asarray(Yh, dtype),
    )


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
    if backend.on_device:
        pytest.skip("device arrays have no read-only flag")
    before = [w.copy() for w in W]
    W[1].flags.writeable = False
    with pytest.raises(ValueError, match=r"W\[1\] is read-only"):
        backend.sgd_epoch(W, X1, Y, 0.1)
    np.testing.assert_array_equal(W[0], before[0])  # nothing ran
