"""Type aliases of fastbp's public signatures (for annotations only)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeAlias, Union

from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from .backends.base import Backend
    from .datasets import Dataset

#: A file's path: a string or a path object (``pathlib.Path``).
PathLike: TypeAlias = Union[str, "os.PathLike[str]"]
#: A backend: its name ("auto", "numpy", "numba", "cuda", or an alias) or a backend object.
BackendLike: TypeAlias = Union[str, "Backend"]
#: A data set: a built-in name, a ``fastbp.datasets.Dataset``, an .npz file's path, or arrays
#: ``(X, y)`` / ``(X, y, X_test, y_test)``.
DataLike: TypeAlias = Union[str, "os.PathLike[str]", "Dataset", tuple[ArrayLike, ...], list[ArrayLike]]
