"""fastbp reproduces the reference: same initial weights, same trained weights."""

import numpy as np
import pytest
from reference_impl import ReferenceNetwork

import fastbp
from fastbp.datasets import digits


@pytest.fixture(scope="module")
def digits_data():
    return digits()


@pytest.mark.parametrize("layers", [[2, 2, 1], [64, 32, 16, 10], [3, 1], [5, 4, 3, 2, 1]])
def test_seeded_initial_weights_equal_the_reference_exactly(layers):
    np.random.seed(7)
    ref = ReferenceNetwork(layers)
    net = fastbp.NeuralNetwork(layers, backend="numpy", seed=7)
    assert len(net.W) == len(ref.W)
    for a, b in zip(net.W, ref.W):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_unseeded_network_draws_from_the_global_state_like_the_reference():
    np.random.seed(3)
    ref = ReferenceNetwork([4, 3, 2])
    np.random.seed(3)
    net = fastbp.NeuralNetwork([4, 3, 2], backend="numpy")
    for a, b in zip(net.W, ref.W):
        np.testing.assert_array_equal(a, b)


def test_three_digits_epochs_match_the_reference_transcription(backend_name, digits_data):
    d = digits_data
    np.random.seed(42)
    ref = ReferenceNetwork([64, 32, 16, 10], alpha=0.1)
    ref.fit(d.X_train, d.Y_train, epochs=3)
    net = fastbp.NeuralNetwork([64, 32, 16, 10], 0.1, backend=backend_name, seed=42)
    net.fit(d.X_train, d.Y_train, epochs=3, verbose=False)
    for i, (a, b) in enumerate(zip(net.W, ref.W)):
        err = np.max(np.abs(a - b)) / np.max(np.abs(b))
        assert err <= 1e-10, f"layer {i}: relative difference {err:.2e}"
    Xb = np.c_[d.X_test, np.ones(len(d.X_test))]
    assert net.calculate_loss(d.X_test, d.Y_test) == pytest.approx(ref.calculate_loss(Xb, d.Y_test), rel=1e-10)


def test_fit_partial_matches_reference_step(backend_name):
    rng = np.random.RandomState(0)
    X = rng.rand(5, 3)
    Y = rng.rand(5, 2)
    np.random.seed(11)
    ref = ReferenceNetwork([3, 4, 2], alpha=0.7)
    net = fastbp.NeuralNetwork([3, 4, 2], 0.7, backend=backend_name, seed=11)
    Xb = np.c_[X, np.ones(5)]
    for x, y in zip(Xb, Y):
        ref.fit_partial(x, y)
        net.fit_partial(x, y)
    for a, b in zip(net.W, ref.W):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.predict(X), ref.predict(X), rtol=1e-12)
