"""Data sets: the reference's preparation, and loaders for data on disk."""

import gzip
import os
import struct

import numpy as np
import pytest

from fastbp import datasets
from fastbp.errors import DataFileError


def test_digits_is_prepared_like_the_reference():
    d = datasets.digits()
    assert d.X_train.shape == (1347, 64) and d.X_test.shape == (450, 64)
    assert d.Y_train.shape == (1347, 10) and np.all(d.Y_train.sum(axis=1) == 1)
    allX = np.vstack([d.X_train, d.X_test])
    assert allX.min() == 0.0 and allX.max() == 1.0
    assert (d.layers, d.alpha, d.epochs) == ([64, 32, 16, 10], 0.1, 1000)
    np.testing.assert_array_equal(d.Y_test.argmax(axis=1), d.labels_test)


def test_xor_defaults():
    d = datasets.xor()
    assert (d.layers, d.alpha, d.epochs) == ([2, 2, 1], 0.5, 20000)


def _write_idx(path, arr, code):
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, code, arr.ndim]))
        f.write(struct.pack(">" + "I" * arr.ndim, *arr.shape))
        f.write(arr.astype(arr.dtype.newbyteorder(">")).tobytes())


def test_idx_loader(tmp_path):
    imgs = np.random.RandomState(0).randint(0, 256, size=(12, 4, 4)).astype(np.uint8)
    labs = np.arange(12, dtype=np.uint8) % 3
    _write_idx(tmp_path / "i.gz", imgs, 0x08)
    _write_idx(tmp_path / "l.gz", labs, 0x08)
    d = datasets.load_idx(
        str(tmp_path / "i.gz"), str(tmp_path / "l.gz"), str(tmp_path / "i.gz"), str(tmp_path / "l.gz")
    )
    assert d.X_train.shape == (12, 16) and d.X_train.max() <= 1.0
    assert d.Y_train.shape == (12, 3)
    np.testing.assert_allclose(d.X_train[0], imgs[0].reshape(-1) / 255.0)


def test_idx_rejects_bad_magic(tmp_path):
    p = tmp_path / "bad.idx"
    p.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.read_idx(str(p))


def test_npz_loader_and_errors(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, X=np.random.rand(5, 2), y=np.array([0, 1, 2, 1, 0]))
    d = datasets.load_npz(p)
    assert d.Y_train.shape == (5, 3)
    q = tmp_path / "e.npz"
    np.savez(q, foo=np.ones(2))
    with pytest.raises(DataFileError, match=r"holds keys \['foo'\]; expected X_train, y_train"):
        datasets.load_npz(q)


def test_from_arrays_validates():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        datasets.from_arrays(np.ones((3, 2)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="X_test has 3 columns but X has 2"):
        datasets.from_arrays(np.ones((3, 2)), np.ones((3, 1)), np.ones((1, 3)), np.ones((1, 1)))


# ---------------------------------------------------------- data-file faults
def _unchained(exc: BaseException) -> bool:
    """True when a traceback of ``exc`` shows no other exception."""
    return exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def _fault(path, match: str) -> DataFileError:
    """The DataFileError get_dataset raises for ``path``: it matches, names
    the path, is short and has no chained traceback."""
    with pytest.raises(DataFileError, match=match) as info:
        datasets.get_dataset(str(path))
    assert repr(str(path)) in str(info.value) and len(str(info.value)) < 400
    assert _unchained(info.value)
    return info.value


def _saved(path, compressed=False, **arrays):
    """``arrays`` saved with numpy.savez(_compressed) at exactly ``path``."""
    with open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return path


def _xy(n=20, seed=0):
    rng = np.random.RandomState(seed)
    return rng.rand(n, 4), np.arange(n) % 3


def test_missing_path_and_unknown_name():
    err = _fault("some/path.npz", "does not exist")
    assert err.path == "some/path.npz"
    with pytest.raises(DataFileError, match=r"unknown dataset 'mnits': valid names are \[.*'mnist'.*\]") as info:
        datasets.get_dataset("mnits")
    assert "must exist" in str(info.value)


def test_directory_is_refused(tmp_path):
    _fault(tmp_path, "is a directory")


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
@pytest.mark.parametrize("keep", [0.03, 0.5, 0.97])
def test_truncated_npz(tmp_path, compressed, keep):
    X, y = _xy(200)
    data = _saved(tmp_path / "d.npz", compressed, X=X, y=y).read_bytes()
    p = tmp_path / "cut.npz"
    p.write_bytes(data[: int(len(data) * keep)])
    _fault(p, "is truncated or corrupt")


def test_corrupt_npz_member(tmp_path):
    X, y = _xy(200)
    data = bytearray(_saved(tmp_path / "d.npz", True, X=X, y=y).read_bytes())
    data[len(data) // 3 : len(data) // 3 + 40] = bytes(range(40))
    p = tmp_path / "bad.npz"
    p.write_bytes(bytes(data))
    _fault(p, "is truncated or corrupt")


def test_random_bytes_and_other_formats(tmp_path):
    p = tmp_path / "noise.npz"
    p.write_bytes(np.random.RandomState(0).bytes(5000))
    err = _fault(p, r"is not an \.npz file \(its first bytes are [0-9a-f ]+\)")
    assert len(str(err)) < 200
    (tmp_path / "empty.npz").write_bytes(b"")
    _fault(tmp_path / "empty.npz", "is empty")
    np.save(tmp_path / "one.npy", np.ones(3))
    _fault(tmp_path / "one.npy", r"is a \.npy file")
    _write_idx(tmp_path / "labels.gz", np.arange(5, dtype=np.uint8), 0x08)
    _fault(tmp_path / "labels.gz", "is an IDX file")


def test_unreadable_file(tmp_path, monkeypatch):
    X, y = _xy()
    p = _saved(tmp_path / "d.npz", X=X, y=y)
    p.chmod(0)
    if os.access(p, os.R_OK):  # root reads any file: make this one look unreadable
        monkeypatch.setattr(os, "access", lambda path, mode: os.fspath(path) != str(p))
    try:
        _fault(p, r"cannot be read \(permission denied\)")
    finally:
        p.chmod(0o600)


def test_wrong_and_ambiguous_keys(tmp_path):
    X, y = _xy()
    _fault(_saved(tmp_path / "a.npz", data=X, labels=y), r"holds keys \['data', 'labels'\]; expected")
    _fault(_saved(tmp_path / "b.npz", X=X, y=y, X_val=X, y_val=y), r"holds keys \['X_val', 'y_val'\] that fastbp")
    _fault(_saved(tmp_path / "c.npz", X=X, X_train=X, y=y), "holds both 'X_train' and 'X'")
    _fault(
        _saved(tmp_path / "d.npz", X=X, y=y, X_test=X),
        r"holds 'X_test' but no 'y_test' \(keys: \['X', 'X_test', 'y'\]\)",
    )
    _fault(_saved(tmp_path / "e.npz", x_train=X, y_train=y, y_test=y), "holds 'y_test' but no 'X_test'")


def test_object_and_non_numeric_arrays(tmp_path):
    X, y = _xy()
    _fault(_saved(tmp_path / "o.npz", X=X.astype(object), y=y), "pickled object array 'X'.*allow_pickle=False")
    _fault(_saved(tmp_path / "s.npz", X=X.astype(str), y=y), "array 'X' has dtype <U.*must hold numbers")
    _fault(_saved(tmp_path / "c.npz", X=X, y=y, X_test=X + 1j, y_test=y), "array 'X_test' has dtype complex128")
    _fault(_saved(tmp_path / "m.npz", X=X, y=y[:-1]), "X has 20 rows but y has 19")


@pytest.mark.parametrize(
    "keys",
    [
        ("X_train", "y_train", "X_test", "y_test"),
        ("x_train", "y_train", "x_test", "y_test"),
        ("X", "y", "X_test", "y_test"),
        ("X", "Y", "X_test", "Y_test"),
        ("X_train", "Y_train", "X_test", "Y_test"),
    ],
    ids=lambda k: ",".join(k),
)
def test_npz_key_variants_keep_the_test_split(tmp_path, keys):
    X, y = _xy(20)
    Xt, yt = _xy(7, seed=1)
    p = _saved(tmp_path / "data.bin", **dict(zip(keys, (X, y, Xt, yt))))  # loaded by content, not by name
    d = datasets.get_dataset(str(p))
    assert d.X_train.shape == (20, 4) and d.X_test.shape == (7, 4)
    np.testing.assert_array_equal(d.labels_test, yt)
    np.testing.assert_array_equal(datasets.get_dataset(p).X_test, Xt)  # a Path works too


def test_keras_style_uint8_images_and_2d_targets(tmp_path):
    X = np.random.RandomState(0).randint(0, 256, size=(6, 3, 3)).astype(np.uint8).reshape(6, 9)
    Y = np.eye(2)[[0, 1, 1, 0, 1, 0]]
    d = datasets.load_npz(_saved(tmp_path / "k.npz", x_train=X, y_train=Y, x_test=X, y_test=Y))
    assert d.Y_train.shape == (6, 2) and d.X_test.shape == (6, 9)
    np.testing.assert_array_equal(d.labels_test, [0, 1, 1, 0, 1, 0])


def test_idx_faults(tmp_path):
    labs = np.arange(50, dtype=np.uint8)
    _write_idx(tmp_path / "l.gz", labs, 0x08)
    data = (tmp_path / "l.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match=r"cut\.gz' is truncated") as info:
        datasets.read_idx(tmp_path / "cut.gz")
    assert _unchained(info.value)
    raw = gzip.decompress(data)
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(
        DataFileError, match=r"is truncated: its header announces shape \(50,\), 50 bytes of data, found 47"
    ):
        datasets.read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(raw + b"xyz")
    with pytest.raises(DataFileError, match="3 bytes follow the data"):
        datasets.read_idx(tmp_path / "long")
    (tmp_path / "crc.gz").write_bytes(data[:-8] + b"\0" * 8)
    with pytest.raises(DataFileError, match="is a corrupt gzip file"):
        datasets.read_idx(tmp_path / "crc.gz")
    with pytest.raises(DataFileError, match="no such file"):
        datasets.read_idx(tmp_path / "nothing.gz")


def test_load_idx_keeps_or_refuses_a_half_test_split(tmp_path):
    imgs = np.zeros((4, 2, 2), np.uint8)
    _write_idx(tmp_path / "i.gz", imgs, 0x08)
    _write_idx(tmp_path / "l.gz", np.arange(4, dtype=np.uint8) % 2, 0x08)
    with pytest.raises(ValueError, match="test_images was given without test_labels"):
        datasets.load_idx(str(tmp_path / "i.gz"), str(tmp_path / "l.gz"), test_images=str(tmp_path / "i.gz"))
    _write_idx(tmp_path / "l3.gz", np.arange(3, dtype=np.uint8), 0x08)
    with pytest.raises(DataFileError, match="X has 4 rows but y has 3"):
        datasets.load_idx(str(tmp_path / "i.gz"), str(tmp_path / "l3.gz"))
