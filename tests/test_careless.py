"""What a careless user does, and what fastbp says: one test per case, the
message checked."""

import os

import numpy as np
import pytest

import fastbp
from fastbp import datasets
from fastbp.errors import DataFileError, NetworkFileError

RNG = np.random.RandomState(0)
X = RNG.rand(30, 3)


def _train(y, y_test, **kw):
    return fastbp.train(X=X, y=y, X_test=X, y_test=y_test, backend="numpy", epochs=2, seed=0, verbose=False, **kw)


# ------------------------------------------------------------------ labels
def test_one_class_is_refused_before_training():
    with pytest.raises(ValueError, match=r"y holds one class only \(3\): classification needs at least two"):
        _train(np.full(30, 3), np.full(30, 3))


def test_one_class_in_a_data_file_names_the_file(tmp_path):
    p = tmp_path / "one.npz"
    np.savez(p, X=X, y=np.zeros(30, int))
    with pytest.raises(DataFileError, match=r"one\.npz.*y holds one class only \(0\)"):
        datasets.load_npz(p)


def test_float_labels_that_are_not_whole_are_refused_with_the_way_to_regression():
    with pytest.raises(ValueError, match=r"y holds 0\.5 at row 0, not a whole number.*classify=False") as info:
        _train(np.arange(30) % 3 + 0.5, np.arange(30) % 3 + 0.5)
    assert "y.reshape(-1, 1)" in str(info.value)
    ds = datasets.from_arrays(X, np.arange(30) % 3 + 0.5, classify=False)  # regression, asked for
    assert ds.n_outputs == 1 and ds.classes is None
    with pytest.raises(ValueError, match="not a whole number"):
        datasets.from_arrays(X, np.arange(30) % 3 + 0.5, classify=True)


def test_whole_float_labels_are_classes():
    ds = datasets.from_arrays(X, (np.arange(30) % 2 + 1).astype(float))  # 1.0 and 2.0: two classes, not one output
    assert ds.n_outputs == 2 and ds.classes.tolist() == [1.0, 2.0]
    ds = datasets.from_arrays(X, (np.arange(30) % 2).astype(float), X, (np.arange(30) % 2).astype(float))
    assert ds.n_outputs == 1 and ds.labels_test.tolist() == (np.arange(30) % 2).tolist()  # 0/1: one binary output


def test_test_labels_absent_from_training_are_named():
    with pytest.raises(ValueError, match=r"y_test holds labels that y does not: 2, 3; the network learns the classes"):
        _train(np.arange(30) % 2, np.arange(30) % 4)
    with pytest.raises(ValueError, match=r"y_test holds labels that y does not: 'dog'"):
        _train(np.where(X[:, 0] > 0.5, "cat", "cow"), np.where(X[:, 0] > 0.5, "cat", "dog"))


@pytest.mark.parametrize("labels", [np.arange(30) % 3 - 5, (np.arange(30) % 3) * 100])
def test_negative_and_sparse_integer_labels_keep_working(labels):
    r = _train(labels, labels)
    assert r.layers[-1] == 3 and r.evaluation.classes.tolist() == sorted(set(labels.tolist()))
    assert set(r.evaluation.pred.tolist()) <= set(labels.tolist())


def test_a_seven_long_target_for_one_sample_says_so():
    net = fastbp.NeuralNetwork([3, 4, 10], backend="numpy")
    with pytest.raises(ValueError, match=r"y has 7 values but layers\[-1\] = 10: one sample's target is one row of 10"):
        net.fit_partial(np.ones(3), list(range(7)))
    with pytest.raises(ValueError, match=r"y has shape \(10, 1\).*y\.reshape\(1, -1\)"):
        net.fit_partial(np.ones(3), np.ones((10, 1)))


# ------------------------------------------------------------------- files
@pytest.fixture
def net():
    return fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=0)


def test_save_into_a_missing_folder(net, tmp_path):
    path = tmp_path / "no" / "net.npz"
    with pytest.raises(
        NetworkFileError, match=r"cannot save the network to '.*net\.npz': the folder .* does not exist"
    ):
        net.save(path)


def test_save_over_a_directory(net, tmp_path):
    with pytest.raises(NetworkFileError, match=r"it is a directory; give a file name"):
        net.save(tmp_path)


def test_save_without_permission(net, tmp_path, monkeypatch):
    def refuse(path, flags, mode=0o777, **kw):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)  # root may write anywhere: the refusal a user would get
    with pytest.raises(NetworkFileError, match=r"'.*net\.npz': no permission to write") as info:
        net.save(tmp_path / "net.npz")
    assert ".tmp" not in str(info.value)


def test_saved_files_get_the_umask_permissions(net, tmp_path):
    old = os.umask(0o027)
    try:
        net.save(tmp_path / "net.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "net.npz").stat().st_mode & 0o777 == 0o640
    net.save(tmp_path / "again.npz")
    assert (tmp_path / "again.npz").stat().st_mode & 0o777 == 0o666 & ~old


def test_a_text_file_given_as_a_network(tmp_path):
    p = tmp_path / "net.txt"
    p.write_text("layers: 2, 2, 1\n")
    with pytest.raises(
        NetworkFileError, match=r"is not a fastbp network file \(it is a text file starting 'layers"
    ) as i:
        fastbp.NeuralNetwork.load(p, backend="numpy")
    assert "allow_pickle" not in str(i.value)


def test_a_csv_given_as_data_says_how_to_read_it(tmp_path):
    p = tmp_path / "data.csv"
    p.write_text("a,b,label\n0.1,0.2,1\n")
    with pytest.raises(DataFileError, match=r"is a text file \(it starts 'a,b,label'\).*numpy\.loadtxt") as info:
        datasets.get_dataset(str(p))
    assert " 61 2c" not in str(info.value)  # not its bytes in hex
