"""Data sets: the reference's preparation, and loaders for data on disk."""

import gzip
import struct

import numpy as np
import pytest

from fastbp import datasets


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
    with pytest.raises(ValueError, match="expected 'X' and 'y'"):
        datasets.load_npz(q)


def test_from_arrays_validates():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        datasets.from_arrays(np.ones((3, 2)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="X_test has 3 columns but X has 2"):
        datasets.from_arrays(np.ones((3, 2)), np.ones((3, 1)), np.ones((1, 3)), np.ones((1, 1)))
