"""Data sets: the reference's XOR and 8x8 digits, and loaders for data files.

A ``Dataset`` holds a training split and, optionally, a labelled test split,
with the reference's defaults (layers, alpha, epochs) for the built-in ones.
Targets are 2-D float arrays of width ``layers[-1]`` (one-hot for classes).
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import DataFileError


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
            or (y_arr.dtype.kind == "f" and len(np.unique(y_arr)) > 2 and bool(np.all(y_arr == np.round(y_arr))))
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


# ------------------------------------------------------------ file faults
def _error(path, what: str) -> DataFileError:
    """A DataFileError for ``path``: "data file 'PATH' WHAT"."""
    p = os.fspath(path)
    return DataFileError(f"data file {p!r} {what}", p)


def _short(exc: BaseException) -> str:
    """An exception as one short line: its type and the start of its text."""
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_readable(path) -> None:
    """Raise a DataFileError unless ``path`` is an existing, readable file."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise _error(p, "does not exist (no such file)")
    if os.path.isdir(p):
        raise _error(p, "is a directory, not a data file")
    if not os.access(p, os.R_OK):
        raise _error(p, "cannot be read (permission denied)")


def _read(path, n: int = -1) -> bytes:
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


def _content(path, limit: int | None = None) -> tuple[bytes, bytes]:
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


def _parse_idx(content: bytes, path) -> np.ndarray:
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


def read_idx(path) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzip-compressed or not.

    Faults (missing, truncated, corrupt, not IDX) raise DataFileError.
    """
    return _parse_idx(_content(path)[1], path)


def load_idx(
    images: str,
    labels: str,
    test_images: str | None = None,
    test_labels: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """An IDX (MNIST-format) data set: images scaled to [0, 1] by 255 and
    flattened, labels one-hot. ``test_images`` and ``test_labels`` go
    together. ``limit`` keeps the first rows only."""
    if (test_images is None) != (test_labels is None):
        given, missing = ("test_images", "test_labels") if test_labels is None else ("test_labels", "test_images")
        raise ValueError(f"{given} was given without {missing}: give both or neither")

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
    try:
        return from_arrays(X, y, Xt, yt, name=os.path.basename(images), classify=True)
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
    return f"is not an .npz file (its first bytes are {head.hex(' ')})"


def _npz_arrays(path) -> dict[str, np.ndarray]:
    """Every array of the .npz file at ``path``, by key; pickled (object)
    arrays are refused."""
    head = _read(path, 8)
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


def _pick(arrays: dict, keys: tuple[str, ...], path) -> str | None:
    """The one key of ``keys`` present in ``arrays``, or None."""
    present = [k for k in keys if k in arrays]
    if len(present) > 1:
        raise _error(path, f"holds both {present[0]!r} and {present[1]!r}: which one is meant is ambiguous")
    return present[0] if present else None


def _split_keys(arrays: dict, path) -> tuple[str, str, str | None, str | None]:
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


def load_npz(path, scale: bool = False) -> Dataset:
    """Load a data set saved with ``numpy.savez`` (or ``savez_compressed``).

    Accepted keys (exactly one spelling of each; any other key is an error,
    so nothing in the file is silently ignored):

    * ``X_train``, ``y_train`` and optionally ``X_test``, ``y_test``;
    * ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test`` (Keras's
      ``mnist.npz``);
    * ``X``, ``y`` and optionally ``X_test``, ``y_test``;

    with ``Y``, ``Y_train``, ``Y_test`` accepted for the targets. A test split
    is always loaded; one half of it without the other is an error. ``y`` may
    be 2-D targets or 1-D class labels (one-hot encoded). ``scale=True``
    min-max scales X to [0, 1] (the test split with the training range).

    Every fault (missing, a directory, unreadable, truncated, corrupt, not an
    .npz file, wrong keys, non-numeric or pickled object arrays, mismatched
    shapes) raises DataFileError naming the path.
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


# ------------------------------------------------------------- dispatcher
BUILTIN = {"xor": xor, "digits": digits}


def get_dataset(name_or_data, seed_split: int | None = 0) -> Dataset:
    """A Dataset from a built-in name, a Dataset, a data file path or arrays.

    Names: "xor", "digits" (``seed_split`` fixes its split). Any other string
    or path must name an existing file, loaded by its content (an .npz file,
    see ``load_npz``); a missing file raises DataFileError.
    """
    if isinstance(name_or_data, Dataset):
        return name_or_data
    if isinstance(name_or_data, (str, os.PathLike)):
        text = os.fspath(name_or_data)
        key = text.strip().lower()
        if isinstance(name_or_data, str) and key in BUILTIN:
            if key == "digits":
                return digits(random_state=seed_split)
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
    "from_arrays",
    "get_dataset",
    "load_idx",
    "load_npz",
    "minmax_scale",
    "one_hot",
    "read_idx",
    "xor",
]
