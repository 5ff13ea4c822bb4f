"""NeuralNetwork: the reference API over every backend."""

import numpy as np
import pytest

import fastbp

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
y = np.array([[0], [1], [1], [0]], float)


def test_repr_and_shapes(backend_name):
    net = fastbp.NeuralNetwork([64, 32, 16, 10], backend=backend_name, seed=0)
    assert repr(net) == "NeuralNetwork: 64-32-16-10"
    assert [w.shape for w in net.W] == [(65, 33), (33, 17), (17, 10)]
    assert all(isinstance(w, np.ndarray) for w in net.W)
    assert net.backend == backend_name


def test_save_load_round_trip(tmp_path, backend_name, dtype):
    net = fastbp.NeuralNetwork([3, 5, 2], 0.25, backend=backend_name, dtype=dtype, seed=4)
    net.fit(np.random.RandomState(0).rand(6, 3), np.random.RandomState(1).rand(6, 2), epochs=2, verbose=False)
    path = tmp_path / "model.npz"
    net.save(path)
    back = fastbp.NeuralNetwork.load(path, backend=backend_name)
    assert back.layers == [3, 5, 2] and back.alpha == 0.25 and back.dtype == dtype
    for a, b in zip(back.W, net.W):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_predict_add_bias_false(backend_name):
    net = fastbp.NeuralNetwork([2, 2, 1], backend=backend_name, seed=0)
    Xb = np.c_[X, np.ones(4)]
    np.testing.assert_allclose(net.predict(Xb, addBias=False), net.predict(X), rtol=1e-15)
    with pytest.raises(ValueError, match="X has 3 features"):
        net.predict(Xb)  # bias column present but addBias=True


def test_add_bias_uses_an_array_that_has_the_column_and_copies_otherwise():
    from fastbp.network import add_bias

    rng = np.random.RandomState(0)
    room = np.c_[rng.rand(5, 3), np.ones(5)]
    with_ones = np.c_[room[:, :3], np.ones(5)]
    X1 = add_bias(room[:, :3])
    assert X1 is room  # the leading columns of [X | 1]: [X | 1] itself
    np.testing.assert_array_equal(X1, with_ones)
    not_ones = room.copy()
    not_ones[2, -1] = 0.5
    wider = np.c_[room, np.ones(5)]
    for X in (not_ones[:, :3], wider[:, :3], room[1:, :3], room[:, 1:], room[::2, :3], room[:, :3].copy()):
        X1 = add_bias(X)
        assert not np.shares_memory(X1, X)
        np.testing.assert_array_equal(X1, np.c_[X, np.ones(len(X))])


def test_calculate_loss_matches_definition(backend_name):
    net = fastbp.NeuralNetwork([2, 2, 1], backend=backend_name, seed=0)
    p = net.predict(X)
    assert net.calculate_loss(X, y) == pytest.approx(0.5 * np.sum((p - y) ** 2), rel=1e-12)
    assert net.calculate_loss(np.c_[X, np.ones(4)], y) == pytest.approx(net.calculate_loss(X, y), rel=1e-15)


def test_fit_partial_accepts_with_or_without_bias(backend_name):
    a = fastbp.NeuralNetwork([2, 2, 1], backend=backend_name, seed=0)
    b = fastbp.NeuralNetwork([2, 2, 1], backend=backend_name, seed=0)
    a.fit_partial([0, 1], [1])
    b.fit_partial([0, 1, 1], 1)
    for u, v in zip(a.W, b.W):
        np.testing.assert_array_equal(u, v)


def test_weights_setter_and_copy_semantics(backend_name):
    net = fastbp.NeuralNetwork([2, 2, 1], backend=backend_name, seed=0)
    W = net.W
    W[0][:] = 0.0  # a copy: the network is unchanged
    assert np.any(net.W[0] != 0)
    net.W = W
    np.testing.assert_array_equal(net.W[0], 0.0)
    with pytest.raises(ValueError, match="weights\\[1\\] must have shape \\(3, 1\\)"):
        net.W = [W[0], np.ones((2, 1))]


def test_to_moves_between_backends_and_dtypes(backend_name):
    net = fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=0)
    moved = net.to(backend_name, dtype="float32")
    assert moved.backend == backend_name and moved.W[0].dtype == np.float32
    np.testing.assert_allclose(moved.predict(X), net.predict(X), rtol=1e-6)


def test_zero_epochs_is_refused_and_changes_nothing(backend_name):
    net = fastbp.NeuralNetwork([2, 2, 1], backend=backend_name, seed=0)
    before = net.W
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        net.fit(X, y, epochs=0, verbose=False)
    for a, b in zip(net.W, before):
        np.testing.assert_array_equal(a, b)


def test_weights_stay_in_the_backend_layout_between_calls(backend_name):
    net = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)
    params, first = net._params, net._params.W[0]
    net.fit(X, y, epochs=3, verbose=False)
    net.fit_partial(X[0], y[0])
    net.fit(X, y, epochs=2, verbose=False)
    assert net._params is params and net._params.W[0] is first  # trained in place: no re-pack, no re-copy
    ref = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)
    ref.fit(X, y, epochs=3, verbose=False)
    ref.fit_partial(X[0], y[0])
    ref.fit(X, y, epochs=2, verbose=False)
    for a, b in zip(net.W, ref.W):
        np.testing.assert_array_equal(a, b)


def test_alpha_can_change_between_fits(backend_name):
    a = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)
    b = fastbp.NeuralNetwork([2, 2, 1], 0.2, backend=backend_name, seed=0)
    a.alpha = 0.2
    a.fit(X, y, epochs=2, verbose=False)
    b.fit(X, y, epochs=2, verbose=False)
    for u, v in zip(a.W, b.W):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="alpha must be a positive finite number"):
        a.alpha = -1


def test_tutorial_script_runs_with_only_the_import_changed(capsys):
    from fastbp import NeuralNetwork

    np.random.seed(0)
    nn = NeuralNetwork([2, 2, 1], alpha=0.5)
    nn.fit(X, y, epochs=200, displayUpdate=100)
    for x in X:
        pred = nn.predict(x)[0][0]
        step = 1 if pred > 0.5 else 0
        assert step in (0, 1)
    out = capsys.readouterr().out
    assert "[INFO] epoch=1, loss=" in out and "[INFO] epoch=200, loss=" in out
