"""Input validation at the boundary: every message names the argument."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .backends.base import ACTIVATIONS, OUTPUTS, SUPPORTED_DTYPES


def check_matrix(value, name: str, ndim: int = 2, promote_1d: bool = False, dtype=np.float64) -> np.ndarray:
    """``value`` as a finite, non-empty array of ``ndim`` dimensions and
    float ``dtype`` (not copied when it is one); ``promote_1d`` reads a 1-D
    vector as one row."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if promote_1d and arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype} (kind {arr.dtype.kind!r})")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinite values (first at index {tuple(int(i) for i in bad)})")
    return arr


def check_layers(layers) -> list[int]:
    """A list of at least two positive integer widths."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__"):
        raise TypeError(f"layers must be a list of layer widths such as [64, 32, 16, 10], got {layers!r}")
    if len(layers) < 2:
        raise ValueError(f"layers must have at least 2 widths (input and output), got {list(layers)!r}")
    out = []
    for i, w in enumerate(layers):
        if isinstance(w, bool) or not isinstance(w, numbers.Integral):
            if isinstance(w, numbers.Real) and float(w).is_integer():
                w = int(float(w))
            else:
                raise TypeError(f"layers[{i}] must be an integer width, got {w!r}")
        if w <= 0:
            raise ValueError(f"layers[{i}] must be a positive width, got {w}")
        out.append(int(w))
    return out


def check_alpha(alpha, name: str = "alpha") -> float:
    """A positive, finite learning rate."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {alpha!r}")
    a = float(alpha)
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {alpha!r}")
    return a


def check_int(value, name: str, minimum: int) -> int:
    """An integer >= ``minimum`` (a float with an integral value is accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(float(value))
        else:
            raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_epochs(epochs) -> int:
    """A positive integer epoch count."""
    return check_int(epochs, "epochs", 1)


def check_seed(seed, name: str = "seed") -> int | None:
    """None, or a seed that ``np.random.RandomState`` accepts (0 <= seed < 2**32)."""
    if seed is None:
        return None
    seed = check_int(seed, name, 0)
    if seed >= 2**32:
        raise ValueError(f"{name} must be below 2**32, got {seed}")
    return seed


def check_dtype(dtype) -> np.dtype:
    """float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if dt not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dt.name!r}")
    return dt


#: Other names of the units (scikit-learn's MLP calls the sigmoid "logistic"
#: and the linear output "identity").
UNIT_ALIASES = {"logistic": "sigmoid", "identity": "linear"}


def check_units(activation, output, layers: list[int] | None = None) -> tuple[str, str]:
    """The hidden ``activation`` and the ``output`` units, by name (case and
    surrounding blanks ignored, ``UNIT_ALIASES`` resolved): one of
    ``ACTIVATIONS`` and one of ``OUTPUTS``. A softmax output needs at least
    two output units (for one, use a sigmoid output)."""
    names = []
    for arg, value, choices in (("activation", activation, ACTIVATIONS), ("output", output, OUTPUTS)):
        if not isinstance(value, str):
            raise TypeError(f"{arg} must be one of {', '.join(map(repr, choices))}, got {value!r}")
        key = value.strip().lower()
        key = UNIT_ALIASES.get(key, key)
        if key not in choices:
            raise ValueError(f"unknown {arg} {value!r}; valid choices are {', '.join(map(repr, choices))}")
        names.append(key)
    if names[1] == "softmax" and layers is not None and layers[-1] < 2:
        raise ValueError(
            f"output='softmax' needs at least 2 output units, layers[-1] = {layers[-1]}; "
            "use output='sigmoid' for one (a softmax over one unit is always 1)"
        )
    return names[0], names[1]


def check_distributions(Y: np.ndarray, name: str) -> None:
    """Softmax targets: every row of ``Y`` non-negative and summing to 1
    (class probabilities, e.g. one-hot), the condition under which the
    cross-entropy's output delta is ``a - y``."""
    if (Y < 0).any():
        row = int(np.argwhere(Y < 0)[0][0])
        raise ValueError(f"{name} has a negative entry in row {row}; softmax targets are class probabilities (one-hot)")
    tol = np.sqrt(np.finfo(Y.dtype).eps) if Y.dtype.kind == "f" else 0.0
    off = np.abs(Y.sum(axis=1, dtype=np.float64) - 1.0) > tol
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{name} row {row} sums to {Y[row].sum():.6g}; softmax targets are class probabilities whose rows sum to 1 "
            "(one-hot encode class labels, e.g. with fastbp.datasets.one_hot)"
        )
