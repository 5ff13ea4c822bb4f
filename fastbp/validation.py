"""Input validation at the boundary: every message names the argument."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .backends.base import ACTIVATIONS, OUTPUTS, SUPPORTED_DTYPES, Backend, host_bytes_available, weight_dims
from .errors import InsufficientMemoryError


def check_matrix(
    value: ArrayLike, name: str, ndim: int = 2, promote_1d: bool = False, dtype: DTypeLike = np.float64
) -> np.ndarray:
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
    # the sum is finite when every value is (NaN and inf propagate); only a sum
    # that overflowed or a non-finite value takes the elementwise test, which
    # allocates a mask as large as the array (a 47 MB one for MNIST float32)
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if not np.isfinite(total) and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinite values (first at index {tuple(int(i) for i in bad)})")
    return arr


def check_layers(layers: Any) -> list[int]:
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


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """A positive, finite learning rate."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {alpha!r}")
    a = float(alpha)
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {alpha!r}")
    return a


def check_int(value: Any, name: str, minimum: int) -> int:
    """An integer >= ``minimum`` (a float with an integral value is accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(float(value))
        else:
            raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_epochs(epochs: Any) -> int:
    """A positive integer epoch count."""
    return check_int(epochs, "epochs", 1)


@overload
def check_seed(seed: None, name: str = ...) -> None: ...
@overload
def check_seed(seed: int | numbers.Integral, name: str = ...) -> int: ...
def check_seed(seed: Any, name: str = "seed") -> int | None:
    """None, or a seed that ``np.random.RandomState`` accepts (0 <= seed < 2**32)."""
    if seed is None:
        return None
    seed = check_int(seed, name, 0)
    if seed >= 2**32:
        raise ValueError(f"{name} must be below 2**32, got {seed}")
    return seed


def check_dtype(dtype: Any) -> np.dtype:
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


def check_units(activation: Any, output: Any, layers: list[int] | None = None) -> tuple[str, str]:
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


def _size(n: int) -> str:
    """Bytes in words: "1.5 GB", "300 MB"."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"


#: Below this many bytes ``check_memory`` does not read the available
#: memory (reading /proc/meminfo takes 60 us, more than building a small network).
MEMORY_CHECK_FROM = 64 << 20


def check_memory(
    be: Backend, layers: Sequence[int], dtype: DTypeLike, K: int = 1, n_samples: int | None = None
) -> None:
    """Raises InsufficientMemoryError, naming both sizes, when building ``K``
    networks of ``layers`` (and, with ``n_samples``, training them on that
    many samples) needs more memory than is available now: the host's
    float64 initial weights (drawn, then stacked for K > 1) beside the
    backend's layout, and the training's count by the backend
    (``Backend.bytes_needed``) with the samples' float64 copy; on a GPU the
    backend's count against the device's free memory. No check where the
    available memory is not known, nor below MEMORY_CHECK_FROM bytes."""
    dims = weight_dims(layers)
    item = np.dtype(dtype).itemsize
    weights = K * sum(dims[l] * dims[l + 1] for l in range(len(dims) - 1))
    host = 8 * weights * (2 if K > 1 else 1) + (0 if be.on_device else item * weights)
    device = item * weights if be.on_device else 0
    if n_samples is not None:
        train = be.bytes_needed(layers, K, dtype, n_samples)
        host = max(host, 8 * n_samples * (dims[0] + dims[-1]) + (0 if be.on_device else train))
        device = max(device, train if be.on_device else 0)
    for need, available, memory in ((host, host_bytes_available, "memory"), (device, be.bytes_available, "GPU memory")):
        have = available() if need >= MEMORY_CHECK_FROM else None
        if have is not None and need > have[0]:
            what = f"{K} networks" if K > 1 else "a network"
            what += f" {'-'.join(map(str, layers))} ({np.dtype(dtype).name})"
            if n_samples is not None:
                what = f"training {what} on {n_samples:,} samples"
            raise InsufficientMemoryError(
                f"{what} needs about {_size(need)} of {memory} on the {be.name} backend, but {_size(have[0])} is "
                f"available ({have[1]}): use narrower or fewer layers, float32, or fewer networks at once",
                need,
                have[0],
            )
