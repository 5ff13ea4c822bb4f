"""Input validation at the boundary: every message names the argument."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .backends.base import SUPPORTED_DTYPES


def check_matrix(value, name: str, ndim: int = 2, promote_1d: bool = False) -> np.ndarray:
    """``value`` as a finite, non-empty float64 array of ``ndim`` dimensions;
    ``promote_1d`` reads a 1-D vector as one row."""
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
    arr = arr.astype(np.float64, copy=False)
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
                w = int(w)
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


def check_epochs(epochs) -> int:
    """A non-negative integer epoch count."""
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral):
        if isinstance(epochs, numbers.Real) and float(epochs).is_integer():
            epochs = int(epochs)
        else:
            raise TypeError(f"epochs must be a non-negative integer, got {epochs!r}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    return int(epochs)


def check_dtype(dtype) -> np.dtype:
    """float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if dt not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dt.name!r}")
    return dt


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
