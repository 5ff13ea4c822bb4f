"""MNIST for the benchmarks, found on disk only (never downloaded here).

Looked for in ``$FASTBP_DATA`` and in ``shared/data/mnist`` beside the
repository (``<repo>/../shared/data/mnist``), through
``fastbp.datasets.mnist``. ``mnist_host`` returns None and ``missing`` the
reason when the files are in neither place.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

from fastbp.network import add_bias

#: The data set's network (fastbp.datasets.mnist's default layers).
MNIST_LAYERS = (784, 300, 100, 10)
#: Where the project's shared copy of the files lives.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def _data_dir() -> Path | None:
    if os.environ.get("FASTBP_DATA"):
        return None  # fastbp.datasets.mnist looks there itself
    return SHARED if SHARED.is_dir() else None


@cache
def _load():
    from fastbp.datasets import mnist
    from fastbp.errors import DataFileError

    try:
        ds = mnist(data_dir=_data_dir(), download=False)
    except DataFileError as exc:
        return None, f"MNIST is not here: {exc}"
    return (add_bias(ds.X_train), np.ascontiguousarray(ds.Y_train)), None


def missing() -> str | None:
    """Why the MNIST files cannot be used here, or None."""
    return _load()[1]


def mnist_host(n: int | None = None, dtype=np.float32):
    """(X1, Y) of MNIST's training images (bias column added) as ``dtype``,
    the first ``n`` rows, or None when the files are absent."""
    data = _load()[0]
    if data is None:
        return None
    X1, Y = data
    if n is not None:
        X1, Y = X1[:n], Y[:n]
    return np.ascontiguousarray(X1, dtype), np.ascontiguousarray(Y, dtype)
