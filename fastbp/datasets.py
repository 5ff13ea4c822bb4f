"""Data sets: the reference's XOR and 8x8 digits, MNIST and Fashion-MNIST
(found on disk or downloaded, checksums verified), and loaders for data files.

A ``Dataset`` holds a training split and, optionally, a labelled test split,
with the reference's defaults (layers, alpha, epochs) for the built-in ones.
Targets are 2-D float arrays of width ``layers[-1]`` (one-hot for classes).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import numbers
import os
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._typing import DataLike, PathLike
from .errors import DataFileError
from .paths import cache_dir, text_start


@dataclass
class Dataset:
    """Training (and optional test) data with the reference's defaults.

    Attributes
    ----------
    name : str
        The data set's name.
    X_train : numpy.ndarray
        The training samples, float (n, features). MNIST's (and
        Fashion-MNIST's) are the leading columns of an array with a column of
        ones after them, which ``NeuralNetwork.fit`` and
        ``NeuralNetwork.predict`` take as the samples with the bias column
        without copying them; ``X_test`` too.
    Y_train : numpy.ndarray
        Their targets, 2-D float (n, outputs; one-hot for classes).
    X_test : numpy.ndarray or None
        The test samples.
    Y_test : numpy.ndarray or None
        Their targets.
    labels_test : numpy.ndarray or None
        The test split's class labels (for the accuracy and the
        classification report).
    classes : numpy.ndarray or None
        The class of each output (None for regression).
    layers : list of int or None
        The default layer widths (None: ``train`` chooses).
    alpha : float
        The default learning rate for the tutorial's sigmoid units.
    epochs : int
        The default number of epochs.
    meta : dict
        Where the data came from and how it was checked.
    alpha_units : float or None
        The default learning rate for other units (None: 0.01).
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
    alpha_units: float | None = None

    @property
    def n_features(self) -> int:
        """The number of features of a sample."""
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """The width of a target."""
        return int(self.Y_train.shape[1])

    def __repr__(self) -> str:
        test = 0 if self.X_test is None else len(self.X_test)
        return (
            f"Dataset({self.name!r}: {len(self.X_train)} train, {test} test, "
            f"{self.n_features} features, {self.n_outputs} outputs)"
        )


def xor() -> Dataset:
    """The XOR truth table; the reference trains and evaluates on all four rows.

    Returns
    -------
    Dataset
        Four samples, both as the training and the test split; layers 2-2-1,
        alpha 0.5, 20,000 epochs.
    """
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


def one_hot(labels: ArrayLike, classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-hot rows for integer or string labels.

    As ``sklearn.preprocessing.LabelBinarizer``, but always one column per class,
    also for two classes.

    Parameters
    ----------
    labels : array_like
        The class labels, 1-D.
    classes : numpy.ndarray or None
        The classes, in column order (None: the sorted distinct labels).

    Returns
    -------
    Y : numpy.ndarray
        One float64 row per label with a 1 in its class's column.
    classes : numpy.ndarray
        The classes, in column order.

    Raises
    ------
    ValueError
        A label that is not one of ``classes``.
    """
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


def minmax_scale(X: ArrayLike) -> np.ndarray:
    """Scale to [0, 1] over the whole array, as the reference does.

    Parameters
    ----------
    X : array_like
        The samples.

    Returns
    -------
    numpy.ndarray
        ``(X - X.min()) / (X.max() - X.min())`` in float64 (zeros when all
        values are equal).
    """
    X = np.asarray(X, dtype=np.float64)
    lo, hi = X.min(), X.max()
    if hi == lo:
        return np.zeros_like(X)
    return (X - lo) / (hi - lo)


def digits(test_size: float = 0.25, random_state: int | None = 0) -> Dataset:
    """scikit-learn's 8x8 digits as the reference prepares them.

    1,797 images of 64 features, min-max scaled to [0, 1] over the whole array,
    split with ``sklearn.model_selection.train_test_split``, one-hot targets.

    Parameters
    ----------
    test_size : float
        The test split's share (0.25: 1,347 train, 450 test).
    random_state : int or None
        Fixes the split (the tutorial's was unseeded).

    Returns
    -------
    Dataset
        Layers 64-32-16-10, alpha 0.1, 1,000 epochs.
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
        alpha_units=0.03,
    )


def from_arrays(
    X: ArrayLike,
    y: ArrayLike,
    X_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    name: str = "arrays",
    classify: bool | None = None,
) -> Dataset:
    """A Dataset from user arrays.

    ``y`` holds 2-D targets (used as they are) or a 1-D vector of class
    labels: integers (negative or sparse ones too), strings or booleans,
    one-hot encoded with one output per class of ``y``. Floats that are whole
    numbers are class labels too, except a ``y`` of 0.0 and 1.0 only, which
    stays one output (a binary target). Other floats are refused: a 1-D ``y``
    is read as labels unless ``classify=False`` (one real-valued output) or
    the targets are 2-D (``y.reshape(-1, 1)``). ``classify=True`` reads ``y``
    as class labels whatever its dtype.

    Classification needs at least two classes in ``y``, and ``y_test`` may
    only hold classes of ``y`` (the network has an output for each class it
    trains on); errors name the labels.

    Parameters
    ----------
    X : array_like
        The training samples, 2-D.
    y : array_like
        Their targets: 2-D, or 1-D class labels.
    X_test : array_like or None
        Test samples (with ``y_test``).
    y_test : array_like or None
        Their targets or labels.
    name : str
        The data set's name.
    classify : bool or None
        True: ``y`` holds class labels; False: a 1-D ``y`` is one real-valued
        output; None: decided by ``y``'s values as above.

    Returns
    -------
    Dataset
        The arrays checked, class labels one-hot encoded.

    Raises
    ------
    ValueError, TypeError
        Arrays of the wrong shape or type, not finite, or labels as above.
    """
    from .validation import check_matrix

    X = check_matrix(X, "X")
    y_arr = np.asarray(y)
    binary = False
    if classify is not False and y_arr.ndim == 1 and y_arr.dtype.kind == "f":
        check_matrix(y_arr, "y", ndim=1)  # finite
        whole = y_arr == np.round(y_arr)
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise ValueError(
                f"y holds {y_arr[i]:g} at row {i}, not a whole number: class labels must be integers or strings; "
                "for regression give 2-D targets (y.reshape(-1, 1)), or the data as "
                "fastbp.datasets.from_arrays(X, y, classify=False)"
            )
        binary = classify is None and bool(np.isin(y_arr, (0.0, 1.0)).all())
    if classify is None:
        classify = y_arr.ndim == 1 and not binary and y_arr.dtype.kind in "iubfUSO"
    classes = None
    labels_test = None
    Y_test = None
    if classify:
        if y_arr.ndim != 1:
            raise ValueError(f"y must be a 1-D vector of class labels when classify=True, got shape {y_arr.shape}")
        classes = _two_or_more(np.unique(y_arr))
        Y, _ = one_hot(y_arr, classes)
        if y_test is not None:
            labels_test = _known_labels(np.asarray(y_test), classes)
            Y_test, _ = one_hot(labels_test, classes)
    elif binary:
        classes = _two_or_more(np.unique(y_arr)).astype(int)
        Y = check_matrix(y_arr.reshape(-1, 1), "y")
        if y_test is not None:
            yt = np.asarray(y_test)
            yt = yt[:, 0] if yt.ndim == 2 and yt.shape[1] == 1 else yt
            labels_test = _known_labels(yt, classes).astype(int)
            Y_test = check_matrix(labels_test.reshape(-1, 1), "y_test")
    else:
        Y = check_matrix(y_arr.reshape(-1, 1) if y_arr.ndim == 1 else y_arr, "y")
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


def _listed(values: list, most: int = 10) -> str:
    """``values`` as a short list: the first ``most`` and how many more."""
    shown = ", ".join(repr(v) for v in values[:most])
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")


def _two_or_more(classes: np.ndarray) -> np.ndarray:
    """The classes of ``y``, when there are at least two."""
    if len(classes) < 2:
        raise ValueError(
            f"y holds one class only ({_listed(classes.tolist())}): classification needs at least two classes "
            "(a network trained on one class only ever answers it)"
        )
    return classes


def _known_labels(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``labels`` (of ``y_test``), when each is one of the training ``classes``."""
    if labels.ndim != 1:
        raise ValueError(f"y_test must be a 1-D vector of class labels like y, got shape {labels.shape}")
    known = set(classes.tolist())
    missing = sorted({v for v in labels.tolist() if v not in known}, key=lambda v: (str(type(v)), v))
    if missing:
        raise ValueError(
            f"y_test holds labels that y does not: {_listed(missing)}; the network learns the classes of y "
            f"({_listed(classes.tolist())}), one output each: give the training split samples of every class, "
            "or leave these out of the test split"
        )
    return labels


# ------------------------------------------------------------ file faults
def _error(path: PathLike, what: str) -> DataFileError:
    """A DataFileError for ``path``: "data file 'PATH' WHAT"."""
    p = os.fspath(path)
    return DataFileError(f"data file {p!r} {what}", p)


def _short(exc: BaseException) -> str:
    """An exception as one short line: its type and the start of its text."""
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_readable(path: PathLike) -> None:
    """Raise a DataFileError unless ``path`` is an existing, readable file."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise _error(p, "does not exist (no such file)")
    if os.path.isdir(p):
        raise _error(p, "is a directory, not a data file")
    if not os.access(p, os.R_OK):
        raise _error(p, "cannot be read (permission denied)")


def _read(path: PathLike, n: int = -1) -> bytes:
    """The bytes of the file at ``path`` (the first ``n`` only where ``n`` >= 0);
    faults as DataFileError."""
    _check_readable(path)
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise _error(path, f"cannot be read ({_short(exc)})") from None


_GZIP_MAGIC = b"\x1f\x8b"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def _content(path: PathLike, limit: int | None = None) -> tuple[bytes, bytes]:
    """(file bytes, content): the content is the gunzipped file where the file
    is gzip-compressed (told by its first bytes, not its name), else the file.
    ``limit`` stops decompressing after that many bytes and one more."""
    data = _read(path)
    if not data.startswith(_GZIP_MAGIC):
        return data, data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
            content = g.read() if limit is None else g.read(limit + 1)
    except EOFError:
        raise _error(path, "is truncated (its gzip stream ends early)") from None
    except (OSError, zlib.error) as exc:
        raise _error(path, f"is a corrupt gzip file ({_short(exc)})") from None
    return data, content


# --------------------------------------------------------------------- IDX
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _parse_idx(content: bytes, path: PathLike) -> np.ndarray:
    """The array held by IDX bytes ``content`` (read from ``path``)."""
    if not content:
        raise _error(path, "is empty")
    magic = content[:4]
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES or magic[3] == 0:
        raise _error(path, f"is not an IDX file (bad magic number: its first bytes are {magic.hex(' ')})")
    ndim = magic[3]
    start = 4 + 4 * ndim
    if len(content) < start:
        raise _error(path, f"is truncated: {len(content)} bytes, shorter than its {ndim}-D IDX header")
    shape = struct.unpack_from(">" + "I" * ndim, content, 4)
    dtype = np.dtype(_IDX_TYPES[magic[2]])
    expected = math.prod(shape) * dtype.itemsize
    found = len(content) - start
    if found < expected:
        raise _error(
            path, f"is truncated: its header announces shape {shape}, {expected:,} bytes of data, found {found:,}"
        )
    if found > expected:
        raise _error(
            path, f"is corrupt: {found - expected:,} bytes follow the data of shape {shape} its header announces"
        )
    return np.frombuffer(content, dtype=dtype, count=math.prod(shape), offset=start).reshape(shape)


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzip-compressed or not.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    numpy.ndarray
        Its array, of the dtype and shape the file records.

    Raises
    ------
    DataFileError
        The file missing, truncated, corrupt or not IDX.
    """
    return _parse_idx(_content(path)[1], path)


def load_idx(
    images: PathLike,
    labels: PathLike,
    test_images: PathLike | None = None,
    test_labels: PathLike | None = None,
    limit: int | None = None,
) -> Dataset:
    """An IDX (MNIST-format) data set.

    Parameters
    ----------
    images : str or os.PathLike
        The training images' file.
    labels : str or os.PathLike
        The training labels' file.
    test_images : str or os.PathLike or None
        The test images' file (with ``test_labels``).
    test_labels : str or os.PathLike or None
        The test labels' file (with ``test_images``).
    limit : int or None
        Keep the first rows of each split only.

    Returns
    -------
    Dataset
        The images flattened and scaled to [0, 1] by 255, the labels one-hot.

    Raises
    ------
    DataFileError
        A file missing, truncated or corrupt, or labels that do not fit.
    ValueError
        Only one of ``test_images`` and ``test_labels`` given.
    """
    if (test_images is None) != (test_labels is None):
        given, missing = ("test_images", "test_labels") if test_labels is None else ("test_labels", "test_images")
        raise ValueError(f"{given} was given without {missing}: give both or neither")

    def prep(img_path: PathLike, lab_path: PathLike) -> tuple[np.ndarray, np.ndarray]:
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
    try:
        return from_arrays(X, y, Xt, yt, name=os.path.basename(os.fspath(images)), classify=True)
    except (ValueError, TypeError) as exc:
        files = ", ".join(repr(os.fspath(p)) for p in (images, labels, test_images, test_labels) if p is not None)
        raise DataFileError(f"data files {files}: {exc}", os.fspath(images)) from None


# --------------------------------------------------------------------- npz
_X_KEYS = ("X_train", "x_train", "X")
_Y_KEYS = ("y_train", "Y_train", "y", "Y")
_XT_KEYS = ("X_test", "x_test")
_YT_KEYS = ("y_test", "Y_test")


def _not_npz(head: bytes) -> str:
    """Why a file starting with ``head`` is not an .npz file."""
    if not head:
        return "is empty"
    if head.startswith(_NPY_MAGIC):
        return "is a .npy file (one array); save X and y together with numpy.savez"
    if head.startswith(_GZIP_MAGIC) or (len(head) >= 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES):
        return (
            "is an IDX file (one array, images or labels): load a pair with fastbp.datasets.load_idx, "
            "or MNIST's four files with mnist(data_dir=their folder)"
        )
    text = text_start(head)
    if text is not None:
        return (
            f"is a text file (it starts {text!r}), not an .npz file: read a CSV with numpy.loadtxt (e.g. "
            "numpy.loadtxt(path, delimiter=',', skiprows=1)), then pass X= and y= to fastbp.train, or save them "
            "with numpy.savez(path, X=X, y=y)"
        )
    return f"is not an .npz file (its first bytes are {head[:8].hex(' ')})"


def _npz_arrays(path: PathLike) -> dict[str, np.ndarray]:
    """Every array of the .npz file at ``path``, by key; pickled (object)
    arrays are refused."""
    head = _read(path, 64)
    if not head.startswith(_ZIP_MAGIC):
        raise _error(path, _not_npz(head))
    arrays: dict[str, np.ndarray] = {}
    key = None
    try:
        with np.load(path, allow_pickle=False) as f:
            for key in f.files:
                arrays[key] = f[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise _error(
                path,
                f"holds a pickled object array {key!r}, which fastbp refuses to load (allow_pickle=False): "
                "save plain numeric arrays",
            ) from None
        raise _error(path, f"is truncated or corrupt ({_short(exc)})") from None
    except Exception as exc:  # zipfile.BadZipFile, EOFError, zlib.error, OSError...: a damaged archive
        raise _error(path, f"is truncated or corrupt ({_short(exc)})") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise _error(path, f"is a zip archive but not an .npz file: member {key!r} is not a NumPy array")
    return arrays


def _pick(arrays: dict, keys: tuple[str, ...], path: PathLike) -> str | None:
    """The one key of ``keys`` present in ``arrays``, or None."""
    present = [k for k in keys if k in arrays]
    if len(present) > 1:
        raise _error(path, f"holds both {present[0]!r} and {present[1]!r}: which one is meant is ambiguous")
    return present[0] if present else None


def _split_keys(arrays: dict, path: PathLike) -> tuple[str, str, str | None, str | None]:
    """(X, y, X_test, y_test) keys of an .npz file's arrays (test keys None
    where there is no test split); anything else is an error."""
    kx, ky = _pick(arrays, _X_KEYS, path), _pick(arrays, _Y_KEYS, path)
    kxt, kyt = _pick(arrays, _XT_KEYS, path), _pick(arrays, _YT_KEYS, path)
    keys = sorted(arrays)
    if kx is None or ky is None:
        raise _error(
            path,
            f"holds keys {keys}; expected X_train, y_train[, X_test, y_test] (or x_train..., as Keras, "
            "or X, y[, X_test, y_test]; Y for y)",
        )
    if (kxt is None) != (kyt is None):
        have, lack = (kxt, "y_test") if kyt is None else (kyt, "X_test")
        raise _error(path, f"holds {have!r} but no {lack!r} (keys: {keys}): a test split needs both")
    unknown = sorted(set(arrays) - {kx, ky, kxt, kyt})
    if unknown:
        raise _error(
            path,
            f"holds keys {unknown} that fastbp does not use (keys: {keys}); "
            "expected X_train, y_train[, X_test, y_test] (or x_/X, y/Y variants)",
        )
    for key, kinds in ((kx, "biuf"), (ky, "biufUS"), (kxt, "biuf"), (kyt, "biufUS")):
        if key is not None and arrays[key].dtype.kind not in kinds:
            what = "numbers" if kinds == "biuf" else "numbers or class labels"
            raise _error(path, f"array {key!r} has dtype {arrays[key].dtype}: it must hold {what}")
    return kx, ky, kxt, kyt


def load_npz(path: PathLike, scale: bool = False) -> Dataset:
    """Load a data set saved with ``numpy.savez`` (or ``numpy.savez_compressed``).

    Accepted keys (exactly one spelling of each; any other key is an error,
    so nothing in the file is silently ignored):

    * "X_train", "y_train" and optionally "X_test", "y_test";
    * "x_train", "y_train" and optionally "x_test", "y_test" (Keras's
      mnist.npz);
    * "X", "y" and optionally "X_test", "y_test";

    with "Y", "Y_train", "Y_test" accepted for the targets. A test split is
    always loaded; one half of it without the other is an error. The targets
    may be 2-D or 1-D class labels (one-hot encoded).

    Parameters
    ----------
    path : str or os.PathLike
        The .npz file.
    scale : bool
        Min-max scale the samples to [0, 1] (the test split with the training
        range).

    Returns
    -------
    Dataset
        The file's arrays, checked as ``from_arrays`` checks them.

    Raises
    ------
    DataFileError
        Naming the path, for every fault: missing, a directory, unreadable,
        truncated, corrupt, not an .npz file, wrong keys, non-numeric or
        pickled object arrays, mismatched shapes.
    """
    arrays = _npz_arrays(path)
    kx, ky, kxt, kyt = _split_keys(arrays, path)
    X, y = arrays[kx], arrays[ky]
    Xt = None if kxt is None else arrays[kxt]
    yt = None if kyt is None else arrays[kyt]
    try:
        if scale:
            lo, hi = float(np.min(X)), float(np.max(X))
            span = (hi - lo) or 1.0
            X = (X - lo) / span
            if Xt is not None:
                Xt = (Xt - lo) / span
        return from_arrays(X, y, Xt, yt, name=os.path.basename(os.fspath(path)))
    except (ValueError, TypeError) as exc:
        raise _error(path, f"holds arrays fastbp cannot use: {exc}") from None


# ------------------------------------------------------ MNIST-like sets
@dataclass(frozen=True)
class _IdxFile:
    """One of a data set's four IDX files: its name (without .gz), the size of
    its content, and the known SHA-256 of that content and of the published
    .gz archive (None where not known)."""

    name: str
    size: int
    sha256: str | None = None
    gz_sha256: str | None = None


@dataclass(frozen=True)
class _Source:
    """A data set distributed as four IDX files: train images, train labels,
    test images, test labels."""

    key: str  # the data set's name and its folder's name
    title: str
    files: tuple[_IdxFile, ...]
    mirrors: tuple[str, ...]
    alpha: float
    epochs: int
    class_names: tuple[str, ...] | None = None
    alpha_units: float | None = None

    @property
    def npz_name(self) -> str:
        return f"{self.key}.npz"


# Content sizes: a 16-byte header and 28x28 bytes an image, an 8-byte header and one byte a label.
_TRAIN_IMAGES, _TRAIN_LABELS = ("train-images-idx3-ubyte", 16 + 60000 * 784), ("train-labels-idx1-ubyte", 8 + 60000)
_TEST_IMAGES, _TEST_LABELS = ("t10k-images-idx3-ubyte", 16 + 10000 * 784), ("t10k-labels-idx1-ubyte", 8 + 10000)

_SOURCES: dict[str, _Source] = {
    "mnist": _Source(
        key="mnist",
        title="MNIST",
        files=(
            _IdxFile(*_TRAIN_IMAGES, sha256="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            _IdxFile(*_TRAIN_LABELS, sha256="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            _IdxFile(*_TEST_IMAGES, sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            _IdxFile(*_TEST_LABELS, sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        # Per-sample SGD of 784-300-100-10 (numba, seed 0): test accuracy after
        # 1 and 5 epochs 91.9% and 96.8% with alpha 0.1, 94.6% and 97.5% with 0.5.
        alpha=0.5,
        epochs=20,
        # relu hidden units and a softmax output (numpy, seeds 0 and 1): 2.21% and
        # 2.11% test error after 10 epochs with alpha 0.003; 2.23% with 0.005 (seed 0),
        # whose error moves more from epoch to epoch.
        alpha_units=0.003,
    ),
    # The SHA-256 of Fashion-MNIST's decompressed files is not published; these
    # are the SHA-256 of the published .gz archives (whose MD5s the
    # fashion-mnist README lists), so only those archives can be verified.
    "fashion-mnist": _Source(
        key="fashion-mnist",
        title="Fashion-MNIST",
        files=(
            _IdxFile(*_TRAIN_IMAGES, gz_sha256="08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
            _IdxFile(*_TRAIN_LABELS, gz_sha256="b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"),
            _IdxFile(*_TEST_IMAGES, gz_sha256="78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
            _IdxFile(*_TEST_LABELS, gz_sha256="42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"),
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        # Not measured: MNIST's alpha halved, as a Fashion-MNIST image has about
        # twice the squared pixel sum of an MNIST digit (the size of a step).
        alpha=0.25,
        epochs=20,
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
}


def _known_digest(digest: str) -> tuple[_Source, str] | None:
    """(the data set, which of its files) whose SHA-256 is ``digest``, or None."""
    for src in _SOURCES.values():
        for f in src.files:
            if digest == f.sha256:
                return src, f"{src.title}'s {f.name}"
            if digest == f.gz_sha256:
                return src, f"{src.title}'s published {f.name}.gz"
    return None


def _another_sets_file(src: _Source, spec: _IdxFile, where: str, other: tuple[_Source, str]) -> DataFileError:
    """The error for a valid file of another data set found where ``src``'s ``spec`` was looked for."""
    theirs, which = other
    return DataFileError(
        f"data file {where!r} is {which}, not {src.title}'s {spec.name}: its folder holds {theirs.title}. "
        f"Give the folder of {src.title}'s files as data_dir (fastbp --data-dir) or $FASTBP_DATA, "
        f"or load these files as {theirs.key!r} (--dataset {theirs.key})",
        where,
    )


def _verify(src: _Source, spec: _IdxFile, where: str, raw: bytes | None, content: bytes) -> str:
    """Check the IDX ``content`` (or, where only that is known, the .gz
    archive ``raw``) against the known SHA-256; returns "sha256", or "none"
    where no checksum is known (then the content must at least not be another
    known file)."""
    content_digest = hashlib.sha256(content).hexdigest()
    if spec.sha256 is not None:
        expected, what, digest = spec.sha256, "its IDX content", content_digest
    elif spec.gz_sha256 is not None and raw is not None and raw is not content:
        expected, what, digest = spec.gz_sha256, "the published .gz archive", hashlib.sha256(raw).hexdigest()
    else:
        other = _known_digest(content_digest)
        if other is not None:
            raise _another_sets_file(src, spec, where, other)
        return "none"
    if digest != expected:
        other = _known_digest(digest) or _known_digest(content_digest)
        if other is not None and other[0] is not src:
            raise _another_sets_file(src, spec, where, other)
        note = f" (that is {other[1]})" if other else ""
        raise DataFileError(
            f"data file {where!r} fails its checksum: SHA-256 of {what} should be {expected}, "
            f"is {digest}{note}; the file is damaged or not {src.title}'s {spec.name}: delete it and fetch it again",
            where,
        )
    return "sha256"


def _check_shapes(src: _Source, arrays: list[np.ndarray], wheres: list[str]) -> None:
    """The four arrays have the data set's shapes, dtype and label range."""
    counts = (60000, 60000, 10000, 10000)
    for arr, where, n, spec in zip(arrays, wheres, counts, src.files):
        shape = (n, 28, 28) if "images" in spec.name else (n,)
        if arr.shape != shape or arr.dtype != np.uint8:
            raise DataFileError(
                f"data file {where!r} is not {src.title}'s {spec.name}: expected uint8 of shape {shape}, "
                f"found {arr.dtype} of shape {arr.shape}",
                where,
            )
        if "labels" in spec.name and int(arr.max()) > 9:
            raise DataFileError(f"data file {where!r} holds label {int(arr.max())}; {src.title}'s are 0..9", where)


def _idx_from_folder(src: _Source, paths: list[Path]) -> tuple[list[np.ndarray], str]:
    """The four arrays from IDX files (each verified), and what was verified."""
    arrays, checks = [], set()
    for spec, path in zip(src.files, paths):
        raw, content = _content(path, limit=spec.size)
        checks.add(_verify(src, spec, str(path), raw, content))
        arrays.append(_parse_idx(content, path))
    _check_shapes(src, arrays, [str(p) for p in paths])
    return arrays, _verified_text(src, checks)


def _idx_bytes(arr: np.ndarray) -> bytes:
    """A uint8 array as the IDX file that holds it."""
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()


def _npz_known(src: _Source, path: Path) -> tuple[list[np.ndarray], str]:
    """The four arrays from a Keras-style npz (x_train, y_train, x_test,
    y_test), verified as the IDX files they would be."""
    arrays = _npz_arrays(path)
    kx, ky, kxt, kyt = _split_keys(arrays, path)
    if kxt is None or kyt is None:
        raise _error(path, f"has no test split (keys: {sorted(arrays)}); {src.title} needs x_test and y_test")
    out, checks = [], set()
    for spec, key in zip(src.files, (kx, ky, kxt, kyt)):
        arr = arrays[key]
        if arr.dtype.kind not in "iu" or (arr.size and (int(arr.min()) < 0 or int(arr.max()) > 255)):
            raise _error(path, f"array {key!r} ({arr.dtype}) must hold integers 0..255, as Keras's {src.npz_name} does")
        arr = arr.astype(np.uint8)
        if "images" in spec.name and arr.ndim == 2 and arr.shape[1] == 784:
            arr = arr.reshape(-1, 28, 28)
        if "images" in spec.name and arr.ndim != 3:
            raise _error(path, f"array {key!r} has shape {arr.shape}; expected (n, 28, 28) images")
        checks.add(_verify(src, spec, f"{path}[{key}]", None, _idx_bytes(arr)))
        out.append(arr)
    _check_shapes(src, out, [f"{path}[{k}]" for k in (kx, ky, kxt, kyt)])
    return out, _verified_text(src, checks)


def _verified_text(src: _Source, checks: set) -> str:
    """What ``meta['verified']`` says, from the checks ``_verify`` returned."""
    if "none" in checks:
        return "not fully: no checksum is known for decompressed files or the npz; shapes and labels checked"
    return "SHA-256 of the IDX content" if src.files[0].sha256 else "SHA-256 of the published .gz archives"


def _search_folders(src: _Source, data_dir: PathLike | None) -> list[tuple[Path, str]]:
    """(folder, where it comes from) in lookup order; ``data_dir`` must be a
    folder."""
    folders = []
    if data_dir is not None:
        root = Path(data_dir)
        if not root.is_dir():
            what = "does not exist" if not root.exists() else "is not a folder"
            raise DataFileError(f"data_dir {str(root)!r} {what}: it must name a folder holding the data", str(root))
        folders += [(root / src.key, "data_dir"), (root, "data_dir")]
    env = os.environ.get("FASTBP_DATA")
    if env:
        folders += [(Path(env) / src.key, "$FASTBP_DATA"), (Path(env), "$FASTBP_DATA")]
    folders.append((cache_dir(src.key), "cache"))
    return folders


def _present(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever is a file, or None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _files(src: _Source, folder: Path) -> tuple[list[Path] | None, list[str]]:
    """(the data set's four IDX files in ``folder`` if all are there, the
    names of those that are)."""
    found = [_present(folder, spec.name) for spec in src.files]
    paths = [p for p in found if p is not None]
    return (paths if len(paths) == len(src.files) else None), [p.name for p in paths]


def _download(src: _Source, folder: Path) -> list[str]:
    """Fetch the files missing from ``folder`` (the cache), each from the
    first mirror that serves it with the right checksum, written under a
    temporary name and renamed once verified; returns why it failed (empty on
    success)."""
    import http.client  # (a download's modules: 0.04 s that ``import fastbp`` does not pay)

    for spec in src.files:
        if _present(folder, spec.name) is not None:
            continue
        dest = folder / f"{spec.name}.gz"
        failures = []
        for mirror in src.mirrors:
            url = mirror + dest.name
            tmp = None
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(dir=folder, prefix=f".{dest.name}.", suffix=".part")
                os.close(fd)
                tmp = Path(name)
                size = _fetch(url, tmp)
                raw, content = _content(tmp, limit=spec.size)
                _verify(src, spec, url, raw, content)
                _parse_idx(content, url)
                os.replace(tmp, dest)
                print(f"fastbp: downloaded {url}: {size:,} bytes (100%), verified", file=sys.stderr, flush=True)
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                failures.append(f"{url}: {exc if isinstance(exc, DataFileError) else _short(exc)}")
            finally:
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
        else:
            return failures
    return []


_MAX_DOWNLOAD = 64 << 20  # bytes; every known .gz file is smaller
_TIMEOUT = 30.0  # seconds without data before a download gives up


def _fetch(url: str, dest: Path) -> int:
    """Download ``url`` into ``dest`` and return its size, with a progress
    line on stderr on a terminal (``_download`` prints the last one)."""
    import urllib.request

    out = sys.stderr
    tty = hasattr(out, "isatty") and out.isatty()
    done, total, shown = 0, None, 0.0
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response, open(dest, "wb") as f:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > _MAX_DOWNLOAD:
                raise ValueError(f"the server announces {total:,} bytes, more than any known data file")
            while chunk := response.read(1 << 16):
                done += len(chunk)
                if done > _MAX_DOWNLOAD:
                    raise ValueError(f"more than {_MAX_DOWNLOAD:,} bytes, more than any known data file")
                f.write(chunk)
                if tty and time.monotonic() - shown > 0.2:
                    shown = time.monotonic()
                    part = f"{done:,} of {total:,} bytes ({100 * done // total}%)" if total else f"{done:,} bytes"
                    print(f"\r\x1b[Kfastbp: downloading {url}: {part}", end="", file=out, flush=True)
        if total is not None and done != total:
            raise ValueError(f"the download ended after {done:,} of {total:,} bytes")
    finally:
        if shown:
            print("\r\x1b[K", end="", file=out, flush=True)
    return done


def _not_found(
    src: _Source, folders: list[tuple[Path, str]], partial: list[str], failures: list[str], download: bool
) -> DataFileError:
    """The one error for a data set found nowhere."""
    names = ", ".join(f.name for f in src.files)
    searched = "; ".join(
        f"{folder} ({origin}{'' if folder.is_dir() else ', no such folder'})" for folder, origin in folders
    )
    if "$FASTBP_DATA" not in searched:
        searched += "; $FASTBP_DATA is not set"
    lines = [
        f"{src.title} not found: no folder holds its four files {names} (each plain or .gz) or {src.npz_name}.",
        f"Searched: {searched}.",
        *partial,
    ]
    cache = folders[-1][0]
    if not download:
        lines.append("Downloading is off (download=False).")
    elif failures:
        lines.append(f"Download into {cache} failed: " + "; ".join(failures))
    lines.append(
        f"Get the files (e.g. from {src.mirrors[0]}) and pass their folder as data_dir (fastbp --data-dir) "
        f"or $FASTBP_DATA, or put them in {cache}."
    )
    return DataFileError("\n".join(lines), str(cache))


def _check_count(value: Any, name: str, most: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= most:
        raise ValueError(f"{name} must be None or an integer from 1 to {most:,}, got {value!r}")
    return int(value)


def _load_source(
    src: _Source, data_dir: PathLike | None, n_train: Any, n_test: Any, dtype: DTypeLike, download: bool
) -> Dataset:
    n_train = _check_count(n_train, "n_train", 60000)
    n_test = _check_count(n_test, "n_test", 10000)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    folders = _search_folders(src, data_dir)
    partial = []
    found = None
    for folder, _origin in folders:
        paths, have = _files(src, folder)
        if paths is not None:
            found = (folder, *_idx_from_folder(src, paths))
            break
        if (folder / src.npz_name).is_file():
            found = (folder / src.npz_name, *_npz_known(src, folder / src.npz_name))
            break
        if have:
            lack = [spec.name for spec in src.files if _present(folder, spec.name) is None]
            partial.append(f"{folder} has {', '.join(have)} but not {', '.join(lack)}.")
    if found is None:
        cache = folders[-1][0]
        failures = _download(src, cache) if download else []
        paths = _files(src, cache)[0]
        if paths is None:
            raise _not_found(src, folders, partial, failures, download)
        found = (cache, *_idx_from_folder(src, paths))
    where, (X, y, Xt, yt), verified = found
    X, y, Xt, yt = X[:n_train], y[:n_train], Xt[:n_test], yt[:n_test]
    return Dataset(
        name=src.key,
        X_train=_scaled(X, dt),
        Y_train=_one_hot10(y, dt),
        X_test=_scaled(Xt, dt),
        Y_test=_one_hot10(yt, dt),
        labels_test=yt.astype(np.int64),
        classes=np.arange(10),
        layers=[784, 300, 100, 10],
        alpha=src.alpha,
        epochs=src.epochs,
        alpha_units=src.alpha_units,
        meta={"source": str(where), "verified": verified, "class_names": src.class_names},
    )


def _scaled(images: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The images as rows of pixels / 255: the leading columns of an array
    whose last column is ones, which ``fit`` and ``predict`` then use as the
    samples with the bias column, without copying them (188 MB for MNIST's
    training images in float32: up to 0.6 s on the 2-core VM the first
    time a process touches that much memory)."""
    n = len(images)
    room = np.empty((n, int(np.prod(images.shape[1:])) + 1), dtype=dtype)
    room[:, -1] = 1
    np.divide(images.reshape(n, -1), 255, out=room[:, :-1])
    return room[:, :-1]


def _one_hot10(labels: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """Labels 0..9 as one-hot rows."""
    Y = np.zeros((len(labels), 10), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y


def mnist(
    data_dir: PathLike | None = None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    dtype: DTypeLike = "float32",
    download: bool = True,
) -> Dataset:
    """MNIST's handwritten digits: 60,000 training and 10,000 test images of
    28x28 pixels, classes 0..9.

    Looks in ``data_dir``, then ``$FASTBP_DATA`` (in each first in an
    ``mnist`` subfolder, then in the folder itself), then the cache
    ``fastbp.paths.cache_dir("mnist")`` (``~/.cache/fastbp/mnist`` on Linux). A folder
    holds the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte,
    t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each plain or .gz), or
    mnist.npz with Keras's keys x_train, y_train, x_test, y_test. Found
    nowhere, the files are downloaded into the cache (``download=False``
    turns this off), with a progress line on stderr. Every file's IDX content
    (the npz arrays as the IDX bytes they would be) is checked against MNIST's
    published SHA-256; ``meta['source']`` says where the data came from.

    Images are flattened to 784 features scaled to [0, 1] by 255, targets are
    one-hot, both stored as ``dtype``: float32 by default (188 MB for the
    training images instead of 376 MB; training casts to the network's
    dtype).

    Parameters
    ----------
    data_dir : str or os.PathLike or None
        The folder to look in first.
    n_train : int or None
        Keep the first rows of the training split only.
    n_test : int or None
        Keep the first rows of the test split only.
    dtype : str or numpy.dtype
        The arrays' dtype.
    download : bool
        Download the files into the cache when they are found nowhere.

    Returns
    -------
    Dataset
        Layers 784-300-100-10, alpha 0.5, 20 epochs.

    Raises
    ------
    DataFileError
        Naming the path: found nowhere and the download failing, a checksum
        mismatch, a truncated or corrupt file.
    """
    return _load_source(_SOURCES["mnist"], data_dir, n_train, n_test, dtype, download)


def fashion_mnist(
    data_dir: PathLike | None = None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    dtype: DTypeLike = "float32",
    download: bool = True,
) -> Dataset:
    """Zalando's Fashion-MNIST: 60,000 training and 10,000 test images of
    28x28 pixels, 10 classes (their names in ``meta['class_names']``).

    Found, downloaded and prepared as ``mnist`` describes, in
    ``fashion-mnist`` subfolders, or ``fashion-mnist.npz``. Only the
    published .gz archives have known checksums: a .gz file must match them,
    while decompressed files and the npz are checked for shapes and labels
    only and must not be MNIST's (``meta['verified']`` says which).

    Parameters
    ----------
    data_dir : str or os.PathLike or None
        The folder to look in first.
    n_train : int or None
        Keep the first rows of the training split only.
    n_test : int or None
        Keep the first rows of the test split only.
    dtype : str or numpy.dtype
        The arrays' dtype.
    download : bool
        Download the files into the cache when they are found nowhere.

    Returns
    -------
    Dataset
        Layers 784-300-100-10, alpha 0.25, 20 epochs.

    Raises
    ------
    DataFileError
        As ``mnist``.
    """
    return _load_source(_SOURCES["fashion-mnist"], data_dir, n_train, n_test, dtype, download)


# ------------------------------------------------------------- dispatcher
BUILTIN = {"xor": xor, "digits": digits, "mnist": mnist, "fashion-mnist": fashion_mnist}
_ALIASES = {"fashion_mnist": "fashion-mnist"}


def get_dataset(name_or_data: DataLike, seed_split: int | None = 0, data_dir: PathLike | None = None) -> Dataset:
    """A Dataset from a built-in name, a Dataset, a data file path or arrays.

    Parameters
    ----------
    name_or_data : str or Dataset or os.PathLike or tuple
        A name: "xor", "digits", "mnist", "fashion-mnist" (also
        "fashion_mnist"); a Dataset (returned as it is); the path of an
        existing .npz file (``load_npz``); or arrays ``(X, y)`` /
        ``(X, y, X_test, y_test)`` (``from_arrays``).
    seed_split : int or None
        Fixes the digits split.
    data_dir : str or os.PathLike or None
        Where to look for the MNIST files first (see ``mnist``).

    Returns
    -------
    Dataset
        The data set.

    Raises
    ------
    DataFileError
        An unknown name, a missing file, or a file that cannot be used.
    TypeError
        ``name_or_data`` of none of these kinds.
    """
    if isinstance(name_or_data, Dataset):
        return name_or_data
    if isinstance(name_or_data, (str, os.PathLike)):
        text = os.fspath(name_or_data)
        key = text.strip().lower()
        key = _ALIASES.get(key, key)
        if isinstance(name_or_data, str) and key in BUILTIN:
            if key == "digits":
                return digits(random_state=seed_split)
            if key == "mnist":
                return mnist(data_dir)
            if key == "fashion-mnist":
                return fashion_mnist(data_dir)
            return xor()
        if os.path.exists(text):
            return load_npz(text)
        if isinstance(name_or_data, os.PathLike) or os.sep in text or "/" in text or os.path.splitext(text)[1]:
            raise _error(text, "does not exist (no such file)")
        raise DataFileError(
            f"unknown dataset {text!r}: valid names are {sorted(BUILTIN)}; a path to a data file must exist", text
        )
    if isinstance(name_or_data, (tuple, list)) and len(name_or_data) in (2, 4):
        return from_arrays(*name_or_data)
    raise TypeError(
        f"data must be a dataset name ({', '.join(map(repr, sorted(BUILTIN)))}), a fastbp.datasets.Dataset, "
        f"a data file path, or a tuple (X, y) / (X, y, X_test, y_test); got {type(name_or_data).__name__}"
    )


__all__: Sequence[str] = [
    "Dataset",
    "digits",
    "fashion_mnist",
    "from_arrays",
    "get_dataset",
    "load_idx",
    "load_npz",
    "minmax_scale",
    "mnist",
    "one_hot",
    "read_idx",
    "xor",
]
