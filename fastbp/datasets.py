"""Data sets: the reference's XOR and 8x8 digits, and loaders for data on disk.

A ``Dataset`` holds a training split and, optionally, a labelled test split,
with the reference's defaults (layers, alpha, epochs) for the built-in ones.
Targets are 2-D float arrays of width ``layers[-1]`` (one-hot for classes).
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Training (and optional test) data with the reference's defaults.

    ``X_train``/``X_test`` are float arrays (n, features); ``Y_train``/``Y_test``
    2-D targets (n, outputs). ``labels_test`` are integer class labels for the
    test split (used for accuracy and the classification report).
    """

    name: str
    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray | None = None
    Y_test: np.ndarray | None = None
    labels_test: np.ndarray | None = None
    classes: np.ndarray | None = None
    layers: list | None = None
    alpha: float = 0.1
    epochs: int = 1000
    meta: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.Y_train.shape[1])

    def __repr__(self) -> str:
        test = 0 if self.X_test is None else len(self.X_test)
        return (
            f"Dataset({self.name!r}: {len(self.X_train)} train, {test} test, "
            f"{self.n_features} features, {self.n_outputs} outputs)"
        )


def xor() -> Dataset:
    """The XOR truth table; the reference trains and evaluates on all four rows."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return Dataset(
        name="xor",
        X_train=X,
        Y_train=y,
        X_test=X.copy(),
        Y_test=y.copy(),
        labels_test=y[:, 0].astype(int),
        classes=np.array([0, 1]),
        layers=[2, 2, 1],
        alpha=0.5,
        epochs=20000,
    )


def one_hot(labels: np.ndarray, classes: np.ndarray | None = None):
    """(one-hot matrix, classes) for integer or string labels (LabelBinarizer
    semantics, but always one column per class, also for two classes)."""
    labels = np.asarray(labels)
    if classes is None:
        classes = np.unique(labels)
    index = {c: i for i, c in enumerate(classes.tolist())}
    Y = np.zeros((len(labels), len(classes)), dtype=np.float64)
    try:
        Y[np.arange(len(labels)), [index[v] for v in labels.tolist()]] = 1.0
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of the classes {classes.tolist()}") from None
    return Y, classes


def minmax_scale(X: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] over the whole array, as the reference does."""
    X = np.asarray(X, dtype=np.float64)
    lo, hi = X.min(), X.max()
    if hi == lo:
        return np.zeros_like(X)
    return (X - lo) / (hi - lo)


def digits(test_size: float = 0.25, random_state: int | None = 0) -> Dataset:
    """scikit-learn's 8x8 digits as the reference prepares them.

    1,797 images of 64 features, min-max scaled to [0, 1] over the whole array,
    split 75/25 (1,347 train, 450 test) with ``train_test_split``, one-hot
    targets. ``random_state`` fixes the split (the tutorial's was unseeded).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = minmax_scale(d.data)
    X_tr, X_te, l_tr, l_te = train_test_split(X, d.target, test_size=test_size, random_state=random_state)
    classes = np.arange(10)
    Y_tr, _ = one_hot(l_tr, classes)
    Y_te, _ = one_hot(l_te, classes)
    return Dataset(
        name="digits",
        X_train=np.ascontiguousarray(X_tr),
        Y_train=Y_tr,
        X_test=np.ascontiguousarray(X_te),
        Y_test=Y_te,
        labels_test=np.asarray(l_te),
        classes=classes,
        layers=[64, 32, 16, 10],
        alpha=0.1,
        epochs=1000,
    )


def from_arrays(
    X,
    y,
    X_test=None,
    y_test=None,
    name: str = "arrays",
    classify: bool | None = None,
) -> Dataset:
    """A Dataset from user arrays.

    ``y`` may be 2-D targets, or a 1-D vector of class labels (integers or
    strings), which is one-hot encoded (``classify=True`` forces this,
    ``classify=False`` keeps a 1-D ``y`` as one real-valued output).
    """
    from .validation import check_matrix

    X = check_matrix(X, "X")
    y_arr = np.asarray(y)
    if classify is None:
        classify = y_arr.ndim == 1 and (
            y_arr.dtype.kind in "iubUSO"
            or (y_arr.dtype.kind == "f" and len(np.unique(y_arr)) > 2 and np.all(y_arr == np.round(y_arr)))
        )
    classes = None
    labels_test = None
    if classify:
        if y_arr.ndim != 1:
            raise ValueError(f"y must be a 1-D vector of class labels when classify=True, got shape {y_arr.shape}")
        classes = np.unique(y_arr if y_test is None else np.concatenate([y_arr, np.asarray(y_test)]))
        Y, _ = one_hot(y_arr, classes)
        Y_test = None
        if y_test is not None:
            labels_test = np.asarray(y_test)
            Y_test, _ = one_hot(labels_test, classes)
    else:
        Y = check_matrix(y_arr.reshape(-1, 1) if y_arr.ndim == 1 else y_arr, "y")
        Y_test = None
        if y_test is not None:
            yt = np.asarray(y_test)
            Y_test = check_matrix(yt.reshape(-1, 1) if yt.ndim == 1 else yt, "y_test")
            if Y_test.shape[1] == 1 and np.all((Y_test == 0) | (Y_test == 1)):
                labels_test = Y_test[:, 0].astype(int)
                classes = np.array([0, 1])
            elif Y_test.shape[1] > 1 and np.all(Y_test.sum(axis=1) == 1):
                labels_test = Y_test.argmax(axis=1)
                classes = np.arange(Y_test.shape[1])
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {Y.shape[0]}: they must match")
    Xt = None
    if X_test is not None:
        Xt = check_matrix(X_test, "X_test")
        if Xt.shape[1] != X.shape[1]:
            raise ValueError(f"X_test has {Xt.shape[1]} columns but X has {X.shape[1]}")
        if Y_test is None:
            raise ValueError("X_test was given without y_test")
        if Y_test.shape[0] != Xt.shape[0]:
            raise ValueError(f"X_test has {Xt.shape[0]} rows but y_test has {Y_test.shape[0]}: they must match")
    elif y_test is not None:
        raise ValueError("y_test was given without X_test")
    return Dataset(
        name=name,
        X_train=X,
        Y_train=Y,
        X_test=Xt,
        Y_test=Y_test,
        labels_test=labels_test,
        classes=classes,
        layers=None,
    )


def load_npz(path, scale: bool = False) -> Dataset:
    """Load a data set saved with ``numpy.savez``.

    Keys: ``X`` and ``y``, or ``X_train``, ``y_train`` and optionally
    ``X_test``, ``y_test``. ``scale=True`` min-max scales X to [0, 1].
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"path {os.fspath(path)!r} is not a readable .npz data file: {exc}") from None
    if "X_train" in arrays:
        X, y = arrays["X_train"], arrays.get("y_train", arrays.get("Y_train"))
        Xt, yt = arrays.get("X_test"), arrays.get("y_test", arrays.get("Y_test"))
    else:
        X, y = arrays.get("X"), arrays.get("y", arrays.get("Y"))
        Xt = yt = None
    if X is None or y is None:
        raise ValueError(
            f"path {os.fspath(path)!r} holds keys {sorted(arrays)}; expected 'X' and 'y' or 'X_train' and 'y_train'"
        )
    if scale:
        lo, hi = float(np.min(X)), float(np.max(X))
        span = (hi - lo) or 1.0
        X = (X - lo) / span
        if Xt is not None:
            Xt = (Xt - lo) / span
    return from_arrays(X, y, Xt, yt, name=os.path.basename(os.fspath(path)))


def read_idx(path) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzip-compressed or not."""
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    with opener(path, "rb") as f:
        head = f.read(4)
        if len(head) != 4 or head[0] != 0 or head[1] != 0 or head[2] not in types:
            raise ValueError(f"path {os.fspath(path)!r} is not an IDX file (bad magic number)")
        ndim = head[3]
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        data = np.frombuffer(f.read(), dtype=types[head[2]])
    if data.size != int(np.prod(shape)):
        raise ValueError(f"path {os.fspath(path)!r} is truncated: header says {shape}, found {data.size} values")
    return data.reshape(shape)


def load_idx(
    images: str,
    labels: str,
    test_images: str | None = None,
    test_labels: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """An IDX (MNIST-format) data set: images scaled to [0, 1] by 255 and
    flattened, labels one-hot. ``limit`` keeps the first rows only."""

    def prep(img_path, lab_path):
        X = read_idx(img_path).astype(np.float64)
        X = X.reshape(X.shape[0], -1)
        if X.max() > 1.0:
            X /= 255.0
        y = read_idx(lab_path).astype(np.int64).reshape(-1)
        if limit is not None:
            X, y = X[:limit], y[:limit]
        return X, y

    X, y = prep(images, labels)
    Xt = yt = None
    if test_images is not None and test_labels is not None:
        Xt, yt = prep(test_images, test_labels)
    return from_arrays(X, y, Xt, yt, name=os.path.basename(images), classify=True)


BUILTIN = {"xor": xor, "digits": digits}


def get_dataset(name_or_data, seed_split: int | None = 0) -> Dataset:
    """A Dataset from a built-in name, a Dataset, a path (.npz) or arrays."""
    if isinstance(name_or_data, Dataset):
        return name_or_data
    if isinstance(name_or_data, str):
        key = name_or_data.strip().lower()
        if key == "digits":
            return digits(random_state=seed_split)
        if key in BUILTIN:
            return BUILTIN[key]()
        if key.endswith(".npz") and os.path.exists(name_or_data):
            return load_npz(name_or_data)
        raise ValueError(
            f"unknown dataset {name_or_data!r}; valid names are {sorted(BUILTIN)} or a path to an .npz file"
        )
    if isinstance(name_or_data, (tuple, list)) and len(name_or_data) in (2, 4):
        return from_arrays(*name_or_data)
    raise TypeError(
        "data must be a dataset name ('xor', 'digits'), a fastbp.datasets.Dataset, "
        f"an .npz path, or a tuple (X, y) / (X, y, X_test, y_test); got {type(name_or_data).__name__}"
    )


__all__: Sequence[str] = [
    "Dataset",
    "digits",
    "from_arrays",
    "get_dataset",
    "load_idx",
    "load_npz",
    "minmax_scale",
    "one_hot",
    "read_idx",
    "xor",
]
