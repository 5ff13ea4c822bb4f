"""Bad input gets a clear error that names the argument."""

import warnings

import numpy as np
import pytest

import fastbp
from fastbp.errors import BackendUnavailableError, NetworkFileError

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
y = np.array([[0], [1], [1], [0]], float)


@pytest.fixture
def net(backend_name):
    return fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)


@pytest.mark.parametrize(
    "Xbad, ybad, match",
    [
        (X[:3], y, "X has 3 rows but y has 4"),
        (np.ones((4, 3)), y, "X has 3 features but layers\\[0\\] = 2"),
        (X, np.ones((4, 2)), "y has 2 columns but layers\\[-1\\] = 1"),
        (np.where(X == 1, np.nan, X), y, "X contains NaN or infinite"),
        (X, np.full((4, 1), np.inf), "y contains NaN or infinite"),
        (np.where(X == 1, np.inf, -np.inf), y, "X contains NaN or infinite"),  # their sum: NaN
        (np.where(X == 1, 1e308, np.inf), y, "X contains NaN or infinite"),  # the finite values' sum: inf
        (np.empty((0, 2)), np.empty((0, 1)), "X is empty"),
        (np.ones((2, 2, 2)), y, "X must be 2-D"),
    ],
)
def test_fit_rejects_bad_data(net, Xbad, ybad, match):
    before = net.W
    with pytest.raises(ValueError, match=match):
        net.fit(Xbad, ybad, epochs=1, verbose=False)
    for a, b in zip(net.W, before):  # no lost state
        np.testing.assert_array_equal(a, b)


def test_non_numeric_data(net):
    with pytest.raises(TypeError, match="X must hold numbers"):
        net.fit(np.array([["a", "b"]] * 4), y, epochs=1, verbose=False)
    with pytest.raises(TypeError, match="y must hold numbers"):
        net.fit(X, np.array([["a"]] * 4), epochs=1, verbose=False)


def test_predict_and_loss_validate(net):
    with pytest.raises(ValueError, match="X has 5 features"):
        net.predict(np.ones((1, 5)))
    with pytest.raises(ValueError, match="targets has 3 columns"):
        net.calculate_loss(X, np.ones((4, 3)))
    with pytest.raises(ValueError, match="x must be one sample"):
        net.fit_partial(np.ones((2, 3)), [1])


@pytest.mark.parametrize(
    "layers, exc, match",
    [
        ([3], ValueError, "at least 2"),
        ([], ValueError, "at least 2"),
        ([2, 0, 1], ValueError, "layers\\[1\\] must be a positive width"),
        ([2, -3, 1], ValueError, "layers\\[1\\] must be a positive width"),
        ([2, 1.5, 1], TypeError, "layers\\[1\\] must be an integer"),
        ("2-2-1", TypeError, "layers must be a list"),
    ],
)
def test_bad_layers(layers, exc, match):
    with pytest.raises(exc, match=match):
        fastbp.NeuralNetwork(layers, backend="numpy")


@pytest.mark.parametrize("alpha", [0, -0.1, float("nan"), float("inf")])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a positive finite number"):
        fastbp.NeuralNetwork([2, 2, 1], alpha, backend="numpy")
    with pytest.raises(ValueError, match="alpha"):
        fastbp.train("xor", alpha=alpha, backend="numpy", verbose=False)


def test_bad_alpha_type():
    with pytest.raises(TypeError, match="alpha must be a positive number"):
        fastbp.NeuralNetwork([2, 2, 1], "fast", backend="numpy")


@pytest.mark.parametrize("epochs", [-1, 0])
def test_epochs_must_be_positive(net, epochs):
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        net.fit(X, y, epochs=epochs)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        fastbp.train("xor", epochs=epochs, backend="numpy", verbose=False)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"seed": "abc"}, TypeError, "seed must be an integer"),
        ({"seed": 2**32}, ValueError, "seed must be below 2\\*\\*32"),
        ({"loss_every": "x"}, TypeError, "loss_every must be an integer"),
        ({"loss_every": 0}, ValueError, "loss_every must be an integer >= 1"),
        ({"display_update": -1}, ValueError, "display_update must be an integer >= 0"),
        ({"split_seed": -3}, ValueError, "split_seed must be an integer >= 0"),
        ({"epochs": 2.5}, TypeError, "epochs must be an integer"),
    ],
)
def test_train_arguments_are_checked_at_the_boundary(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastbp.train("xor", backend="numpy", verbose=False, **kwargs)


def test_fit_arguments_are_checked(net):
    with pytest.raises(ValueError, match="displayUpdate must be an integer >= 0"):
        net.fit(X, y, epochs=1, displayUpdate=-1)
    with pytest.raises(ValueError, match="loss_every must be an integer >= 1"):
        net.fit(X, y, epochs=1, loss_every=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=-1)


def test_train_many_arguments_are_checked():
    with pytest.raises(ValueError, match="seeds must be an integer >= 0"):
        fastbp.train_many("xor", seeds=[0, -2], backend="numpy")
    with pytest.raises(TypeError, match="alphas must be a number or a list"):
        fastbp.train_many("xor", alphas="fast", backend="numpy")
    with pytest.raises(ValueError, match="loss_every must be an integer >= 1"):
        fastbp.train_many("xor", loss_every=0, backend="numpy")


@pytest.mark.parametrize("dtype, exc", [("float16", ValueError), ("int32", ValueError), ("banana", TypeError)])
def test_unsupported_dtype(dtype, exc):
    with pytest.raises(exc, match="dtype must be 'float32' or 'float64'"):
        fastbp.NeuralNetwork([2, 2, 1], backend="numpy", dtype=dtype)


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'.*'numpy'.*'numba'.*'cuda'"):
        fastbp.NeuralNetwork([2, 2, 1], backend="tpu")
    with pytest.raises(ValueError, match="unknown backend"):
        fastbp.get_backend("tensorflow")


def test_backend_names_are_normalised():
    assert fastbp.get_backend("NumPy").name == "numpy"
    assert fastbp.get_backend(" numpy ").name == "numpy"


def test_unavailable_backend_raises_with_reason():
    from fastbp.backends import unavailable_reason

    for name in ("numba", "cuda"):
        why = unavailable_reason(name)
        if why is not None:
            with pytest.raises(BackendUnavailableError, match=name):
                fastbp.get_backend(name)


def test_train_checks_layers_against_data():
    with pytest.raises(ValueError, match="layers\\[0\\] = 3 but the data has 2 features"):
        fastbp.train("xor", [3, 2, 1], backend="numpy", verbose=False)
    with pytest.raises(ValueError, match="layers\\[-1\\] = 2 but the targets are 1 wide"):
        fastbp.train("xor", [2, 2, 2], backend="numpy", verbose=False)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        fastbp.train("cifar10", backend="numpy", verbose=False)


def test_no_overflow_warning_for_extreme_finite_input(net):
    big = np.array([[1e300, -1e300], [-1e308, 1e308], [1e5, -1e5], [0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = net.predict(big)
        net.fit(big, y, epochs=2, verbose=False)
        loss = net.calculate_loss(big, y)
    assert np.isfinite(p).all() and np.isfinite(loss)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip file at all", b"PK\x03\x04garbage"],
)
def test_load_corrupt_file(tmp_path, content):
    p = tmp_path / "net.npz"
    p.write_bytes(content)
    with pytest.raises(NetworkFileError, match=r"net\.npz"):
        fastbp.NeuralNetwork.load(p, backend="numpy")


def test_load_foreign_npz(tmp_path):
    p = tmp_path / "foreign.npz"
    np.savez(p, a=np.ones(3))
    with pytest.raises(NetworkFileError, match="not a fastbp network file"):
        fastbp.NeuralNetwork.load(p, backend="numpy")


def test_load_damaged_weights(tmp_path):
    p = tmp_path / "net.npz"
    fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=0).save(p)
    with np.load(p) as f:
        d = {k: f[k] for k in f.files}
    d["W1"] = np.ones((7, 7))
    np.savez(p, **d)
    with pytest.raises(NetworkFileError, match="damaged"):
        fastbp.NeuralNetwork.load(p, backend="numpy")


def test_load_missing_file(tmp_path):
    with pytest.raises(NetworkFileError, match=r"missing\.npz"):
        fastbp.NeuralNetwork.load(tmp_path / "missing.npz", backend="numpy")


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "net.npz"
    good = fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=0)
    good.save(p)
    before = p.read_bytes()

    def savez(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez)
    with pytest.raises(NetworkFileError, match=r"cannot save the network to '.*net\.npz': the disk is full") as info:
        fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=1).save(p)
    assert ".tmp" not in str(info.value)  # the user's path, never the temporary file's
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["net.npz"]  # no temporary file left behind
    monkeypatch.undo()
    back = fastbp.NeuralNetwork.load(p, backend="numpy")
    np.testing.assert_array_equal(back.W[0], good.W[0])


def test_load_names_other_wrong_files(tmp_path):
    npy = tmp_path / "x.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(NetworkFileError, match="single array"):
        fastbp.NeuralNetwork.load(npy, backend="numpy")
    with pytest.raises(NetworkFileError, match="is a directory"):
        fastbp.NeuralNetwork.load(tmp_path, backend="numpy")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(NetworkFileError) as info:
        fastbp.NeuralNetwork.load(junk, backend="numpy")
    assert len(str(info.value)) < 400  # a few lines, never the raw bytes
