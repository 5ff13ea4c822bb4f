"""Hidden activations (sigmoid, tanh, relu) and outputs (sigmoid, softmax,
linear), on every backend that implements them; refusal where one does not.

The NumPy backend is checked against calculus: its one-sample step equals
-alpha times a central finite-difference gradient of ``calculate_loss``. The
other backends' kernels and training calls are checked against the NumPy
backend for every pair of units in test_kernels.py.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import fastbp
from conftest import NON_TUTORIAL, UNIT_IDS, UNITS, rtol, stacked, supporting, targets
from fastbp.backends import ACTIVATIONS, get_backend
from fastbp.backends.base import NO_RECORD
from fastbp.errors import NetworkFileError, UnsupportedError
from fastbp.network import add_bias, init_weights


# ----------------------------------------------------------- calculus
@pytest.mark.parametrize(("activation", "output"), UNITS, ids=UNIT_IDS)
def test_numpy_step_is_minus_alpha_times_the_finite_difference_gradient(activation, output):
    layers = [4, 5, 3, 3]
    rng = np.random.RandomState(0)
    x = rng.rand(1, 4)
    y = targets(rng, 1, 3, output)
    net = fastbp.NeuralNetwork(layers, 0.01, backend="numpy", seed=1, activation=activation, output=output)
    W0 = net.W
    net.fit_partial(x, y)
    step = [w1 - w0 for w1, w0 in zip(net.W, W0)]
    h = 1e-6
    probe = fastbp.NeuralNetwork(layers, 0.01, backend="numpy", weights=W0, activation=activation, output=output)
    for l, w in enumerate(W0):
        grad = np.empty_like(w)
        for idx in np.ndindex(*w.shape):
            Ws = [v.copy() for v in W0]
            Ws[l][idx] = w[idx] + h
            probe.W = Ws
            up = probe.calculate_loss(x, y)
            Ws[l][idx] = w[idx] - h
            probe.W = Ws
            down = probe.calculate_loss(x, y)
            grad[idx] = (up - down) / (2 * h)
        assert np.any(grad != 0), f"W[{l}]: the gradient is all zero; the test network learns nothing"
        np.testing.assert_allclose(step[l], -0.01 * grad, rtol=1e-6, atol=1e-11, err_msg=f"W[{l}]")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_extra_hidden_unit_uses_the_hidden_activation(activation):
    """The bias trick as the tutorial has it: the extra unit of a hidden layer
    is computed like the others (not a constant 1)."""
    net = fastbp.NeuralNetwork([2, 3, 1], backend="numpy", seed=0, activation=activation, output="linear")
    X = np.array([[0.3, -0.7]])
    W = net.W
    h = np.array([[0.3, -0.7, 1.0]]) @ W[0]
    a = {"sigmoid": 1 / (1 + np.exp(-h)), "tanh": np.tanh(h), "relu": np.maximum(h, 0)}[activation]
    np.testing.assert_allclose(net.predict(X), a @ W[1], rtol=1e-14)


def test_relu_starts_from_he_scaled_weights_and_the_others_from_the_tutorials():
    layers = [64, 32, 16, 10]
    tutorial = init_weights(layers, 3)
    for activation in ACTIVATIONS:
        W = fastbp.NeuralNetwork(layers, backend="numpy", seed=3, activation=activation).W
        for a, b, n in zip(W, tutorial, layers):
            if activation == "relu":  # randn * sqrt(2 / fan_in): the same draws, sqrt(2) times the tutorial's
                np.testing.assert_allclose(a, b * np.sqrt(2.0), rtol=1e-15)
                np.testing.assert_allclose(a.std(), np.sqrt(2.0 / n), rtol=0.25)
            else:
                np.testing.assert_array_equal(a, b)


# --------------------------------------------------- softmax stability
def test_softmax_is_stable_for_large_logits(backend, dtype):
    supporting(backend, "sigmoid", "softmax")
    layers = [3, 4, 3]
    Wh = [w * 2000 for w in init_weights(layers, 0)]  # logits in the thousands
    X1h = add_bias(np.array([[1.0, -2.0, 3.0], [0.5, 0.5, -4.0]]))
    Yh = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    W = [backend.asarray(w, dtype) for w in Wh]
    X1, Y = backend.asarray(X1h, dtype), backend.asarray(Yh, dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        A = backend.to_numpy(backend.predict(W, X1, output="softmax"))
        loss = backend.loss(W, X1, Y, output="softmax")
        D = backend.to_numpy(backend.output_delta(backend.asarray(A, dtype), Y, output="softmax"))
        P = backend.params([w[None] for w in Wh], dtype).with_units("sigmoid", "softmax")
        losses = backend.train(P, X1, Y, np.array([1e-6]), 2, np.array([1, 2]))
    assert np.isfinite(A).all() and np.isfinite(D).all() and np.isfinite(loss) and loss > 100
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-6)
    oracle = get_backend("numpy")
    want = oracle.loss([w.astype(dtype) for w in Wh], X1h.astype(dtype), Yh.astype(dtype), output="softmax")
    assert loss == pytest.approx(want, rel=rtol(dtype))


# ------------------------------------------------------- the boundary
@pytest.mark.parametrize(("activation", "output"), NON_TUTORIAL, ids=[f"{a}-{o}" for a, o in NON_TUTORIAL])
def test_a_backend_without_the_units_refuses_them_by_name(backend_name, activation, output):
    be = get_backend(backend_name)
    why = be.unsupported(activation, output)
    if why is None:
        pytest.skip(f"{backend_name} implements {activation}/{output}")
    missing = activation if activation not in be.activations else output
    with pytest.raises(UnsupportedError, match=rf"backend '{backend_name}' does not implement .*{missing}.*numpy"):
        fastbp.NeuralNetwork([4, 3, 2], backend=backend_name, activation=activation, output=output)
    with pytest.raises(UnsupportedError, match=missing):
        fastbp.train("digits", backend=backend_name, epochs=1, activation=activation, output=output, verbose=False)
    with pytest.raises(UnsupportedError, match=missing):
        fastbp.train_many("digits", backend=backend_name, epochs=1, activation=activation, output=output)


def test_auto_passes_over_a_backend_without_the_units():
    for activation, output in UNITS:
        net = fastbp.NeuralNetwork([4, 3, 2], backend="auto", activation=activation, output=output)
        assert net.backend_impl.unsupported(activation, output) is None


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (
            {"activation": "softplus"},
            ValueError,
            r"unknown activation 'softplus'; valid choices are 'sigmoid', 'tanh', 'relu'",
        ),
        (
            {"output": "tanh"},
            ValueError,
            r"unknown output 'tanh'; valid choices are 'sigmoid', 'softmax', 'linear'",
        ),
        ({"activation": None}, TypeError, r"activation must be one of"),
        ({"output": 3}, TypeError, r"output must be one of"),
    ],
)
def test_unknown_units_are_refused_with_the_choices(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastbp.NeuralNetwork([4, 3, 2], backend="numpy", **kwargs)
    with pytest.raises(exc, match=match):
        fastbp.train("xor", backend="numpy", epochs=1, verbose=False, **kwargs)


def test_unit_names_are_normalised():
    net = fastbp.NeuralNetwork([4, 3, 2], backend="numpy", activation=" ReLU", output="SoftMax")
    assert (net.activation, net.output) == ("relu", "softmax")
    net = fastbp.NeuralNetwork([4, 3, 2], backend="numpy", activation="logistic", output="identity")
    assert (net.activation, net.output) == ("sigmoid", "linear")  # scikit-learn's names
    with pytest.raises(ValueError, match="unknown activation 'identity'"):
        fastbp.NeuralNetwork([4, 3, 2], backend="numpy", activation="identity")


def test_softmax_needs_two_outputs_and_probability_targets():
    with pytest.raises(ValueError, match=r"output='softmax' needs at least 2 output units"):
        fastbp.NeuralNetwork([2, 2, 1], backend="numpy", output="softmax")
    net = fastbp.NeuralNetwork([2, 3, 2], backend="numpy", output="softmax", seed=0)
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"y row 1 sums to 2; softmax targets are class probabilities"):
        net.fit(X, np.array([[1.0, 0.0], [1.0, 1.0]]), epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"targets has a negative entry in row 0"):
        net.calculate_loss(X, np.array([[1.5, -0.5], [0.0, 1.0]]))
    net.fit(X, np.array([[1.0, 0.0], [0.25, 0.75]]), epochs=1, verbose=False)  # soft targets are fine


def test_defaults_are_the_tutorials():
    net = fastbp.NeuralNetwork([2, 2, 1], backend="numpy")
    assert (net.activation, net.output) == ("sigmoid", "sigmoid")
    assert repr(net) == "NeuralNetwork: 2-2-1"
    assert repr(fastbp.NeuralNetwork([4, 3, 2], backend="numpy", activation="relu", output="softmax")) == (
        "NeuralNetwork: 4-3-2 (relu, softmax output)"
    )


# ------------------------------------------------------ the loss itself
def test_calculate_loss_is_the_outputs_loss():
    rng = np.random.RandomState(5)
    X, Y = rng.rand(6, 4), targets(rng, 6, 3, "softmax")
    for activation, output in UNITS:
        net = fastbp.NeuralNetwork([4, 5, 3], backend="numpy", seed=2, activation=activation, output=output)
        P = net.predict(X)
        want = -np.sum(Y * np.log(P)) if output == "softmax" else 0.5 * np.sum((P - Y) ** 2)
        assert net.calculate_loss(X, Y) == pytest.approx(want, rel=1e-12)
        if output == "softmax":
            np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-14)


def test_fit_prints_the_outputs_loss(capsys):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    Y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], float)
    net = fastbp.NeuralNetwork([2, 4, 2], 0.1, backend="numpy", seed=0, activation="tanh", output="softmax")
    _, losses = net.fit(X, Y, epochs=10, displayUpdate=5)
    out = capsys.readouterr().out
    assert f"[INFO] epoch=10, loss={losses[-1]:.7f}" in out
    assert losses[-1] == pytest.approx(net.calculate_loss(X, Y), rel=1e-12)


# ---------------------------------------------------------- save/load
@pytest.mark.parametrize(("activation", "output"), UNITS, ids=UNIT_IDS)
def test_save_load_keeps_the_units(tmp_path, activation, output):
    net = fastbp.NeuralNetwork([3, 4, 2], 0.05, backend="numpy", seed=0, activation=activation, output=output)
    path = tmp_path / "net.npz"
    net.save(path)
    back = fastbp.NeuralNetwork.load(path, backend="numpy")
    assert (back.activation, back.output) == (activation, output)
    X = np.random.RandomState(0).rand(5, 3)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
    assert meta["version"] == (1 if (activation, output) == ("sigmoid", "sigmoid") else 2)


def _write(path, meta, weights):
    np.savez(path, meta=np.array(json.dumps(meta)), **{f"W{i}": w for i, w in enumerate(weights)})


def test_a_file_without_units_holds_the_tutorials(tmp_path):
    W = init_weights([3, 4, 2], 0)
    _write(
        tmp_path / "old.npz",
        {"format": "fastbp-network", "version": 1, "layers": [3, 4, 2], "alpha": 0.1, "dtype": "float64"},
        W,
    )
    net = fastbp.NeuralNetwork.load(tmp_path / "old.npz", backend="numpy")
    assert (net.activation, net.output) == ("sigmoid", "sigmoid")


def test_a_file_with_unknown_units_is_refused(tmp_path):
    W = init_weights([3, 4, 2], 0)
    meta = {"format": "fastbp-network", "version": 2, "layers": [3, 4, 2], "alpha": 0.1, "dtype": "float64"}
    _write(tmp_path / "bad.npz", {**meta, "activation": "swish"}, W)
    with pytest.raises(NetworkFileError, match=r"damaged fastbp network file: unknown activation 'swish'"):
        fastbp.NeuralNetwork.load(tmp_path / "bad.npz", backend="numpy")


def test_loading_units_a_backend_lacks_is_refused(tmp_path):
    for name in fastbp.available_backends():
        be = get_backend(name)
        if be.unsupported("relu", "softmax") is not None:
            net = fastbp.NeuralNetwork([3, 4, 2], backend="numpy", activation="relu", output="softmax")
            net.save(tmp_path / "n.npz")
            with pytest.raises(UnsupportedError, match="relu"):
                fastbp.NeuralNetwork.load(tmp_path / "n.npz", backend=name)


# ---------------------------------------------------- train, sweeps, CLI
def test_train_and_train_many_carry_the_units(backend_name):
    be = get_backend(backend_name)
    if be.unsupported("tanh", "softmax") is not None:
        pytest.skip(be.unsupported("tanh", "softmax"))
    res = fastbp.train(
        "digits", backend=backend_name, epochs=3, seed=4, activation="tanh", output="softmax", verbose=False
    )
    assert (res.activation, res.output) == ("tanh", "softmax")
    assert (res.network.activation, res.network.output) == ("tanh", "softmax")
    assert res.alpha == fastbp.datasets.digits().alpha_units
    assert "activation=tanh output=softmax" in res.summary()
    sweep = fastbp.train_many(
        "digits", backend=backend_name, epochs=3, alphas=[0.01, 0.02], seeds=[4], activation="tanh", output="softmax"
    )
    assert (sweep.activation, sweep.output) == ("tanh", "softmax")
    alone = fastbp.NeuralNetwork(
        [64, 32, 16, 10], 0.01, backend=backend_name, seed=4, activation="tanh", output="softmax"
    )
    d = fastbp.datasets.digits()
    alone.fit(d.X_train, d.Y_train, epochs=3, verbose=False)
    for a, b in zip(sweep.results[0].network.W, alone.W):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert sweep.results[0].network.output == "softmax"


def test_cli_trains_with_units(capsys, tmp_path):
    from fastbp.cli import main

    path = tmp_path / "net.npz"
    code = main(
        [
            "train",
            "--dataset",
            "digits",
            "--backend",
            "numpy",
            "--epochs",
            "2",
            "--seed",
            "0",
            "--activation",
            "relu",
            "--output",
            "softmax",
            "--no-progress",
            "--save",
            str(path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "activation=relu, output=softmax (loss: summed cross-entropy)" in out
    assert "NeuralNetwork: 64-32-16-10 (relu, softmax output)" in out
    net = fastbp.NeuralNetwork.load(path, backend="numpy")
    assert (net.activation, net.output) == ("relu", "softmax")


def test_cli_refuses_unknown_units(capsys):
    from fastbp.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--activation", "softplus"])
    assert "invalid choice: 'softplus'" in capsys.readouterr().err


def test_train_block_units_reach_the_backend():
    """A sweep's unit of work (also what a Dask task runs) trains the units it is given."""
    from fastbp.spec import network_spec
    from fastbp.training import train_block

    rng = np.random.RandomState(0)
    X, Y = rng.rand(6, 3), targets(rng, 6, 2, "softmax")
    spec = network_spec([3, 4, 2], activation="relu", output="softmax", backend="numpy")
    got = train_block(spec, [(0.1, 0)], X, Y, 2, 1)
    net = fastbp.NeuralNetwork([3, 4, 2], 0.1, backend="numpy", seed=0, activation="relu", output="softmax")
    net.fit(X, Y, epochs=2, verbose=False)
    for a, b in zip(got["networks"][0]["weights"], net.W):
        np.testing.assert_array_equal(a, b)


def test_no_record_trains_without_losses():
    be = get_backend("numpy")
    P = be.params(stacked([3, 4, 2], 1, "tanh"), np.float64).with_units("tanh", "linear")
    out = be.train(P, add_bias(np.ones((2, 3))), np.ones((2, 2)), np.array([0.1]), 1, NO_RECORD)
    assert out.shape == (0, 1)
