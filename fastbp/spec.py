"""The checked, immutable description of a run, built once at the boundary.

``network_spec`` turns what a user asks for (layers, units, dtype, the backend
by name or as an object, its threads) into a ``NetworkSpec``: every argument
checked, the units' aliases resolved, the backend resolved to the object that
will train (with its options; "auto" resolved for this network's shape, the
number of networks and the units, with the reason). ``NeuralNetwork``,
``train``, ``train_many``, the CLI and the estimators build one at their
boundary and hand it down; nothing below checks these again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from ._typing import BackendLike
from .backends import resolve_backend
from .backends.base import LOSSES, Backend
from .validation import check_dtype, check_int, check_layers, check_units


@dataclass(frozen=True)
class NetworkSpec:
    """A network's shape, units and dtype, and the backend object that trains it.

    Build one with ``network_spec``; the fields are checked there and trusted
    everywhere below.

    Parameters
    ----------
    layers : tuple of int
        The layer widths, input first.
    activation : str
        The hidden units: "sigmoid", "tanh" or "relu".
    output : str
        The output units: "sigmoid", "softmax" or "linear".
    dtype : numpy.dtype
        The weights' dtype, float32 or float64.
    backend : Backend
        The backend object that trains the network, with its options.
    backend_note : str
        Why this backend: "chosen by the caller", or what "auto" weighed.
    """

    layers: tuple[int, ...]
    activation: str
    output: str
    dtype: np.dtype
    backend: Backend
    backend_note: str = "chosen by the caller"

    @property
    def tutorial_units(self) -> bool:
        """True for the tutorial's sigmoid hidden and output units."""
        return self.activation == "sigmoid" and self.output == "sigmoid"

    @property
    def loss_name(self) -> str:
        """The loss of the output units, in words."""
        return LOSSES[self.output]

    @property
    def threads(self) -> int | None:
        """The backend's CPU threads setting (None: its own choice)."""
        return self.backend.options.get("threads")

    def shape_text(self) -> str:
        """The layer widths joined by dashes.

        Returns
        -------
        str
            For example "64-32-16-10".
        """
        return "-".join(str(n) for n in self.layers)


def network_spec(
    layers: Sequence[int],
    *,
    activation: str = "sigmoid",
    output: str = "sigmoid",
    dtype: DTypeLike = "float64",
    backend: BackendLike = "auto",
    threads: int | None = None,
    n_networks: int = 1,
) -> NetworkSpec:
    """A checked ``NetworkSpec``; errors name the argument.

    Parameters
    ----------
    layers : sequence of int
        The layer widths, input first (at least two, each positive).
    activation : str
        The hidden units: "sigmoid", "tanh" or "relu" (case ignored;
        "logistic" is "sigmoid").
    output : str
        The output units: "sigmoid", "softmax" or "linear" ("identity" is
        "linear").
    dtype : str or numpy.dtype
        float64 or float32.
    backend : str or Backend
        A name ("auto", "numpy", "numba", "cuda", or an alias) or a backend
        object, which is used as it is, with its options.
    threads : int or None
        The backend's CPU threads (numba; the others have none); None: the
        backend decides.
    n_networks : int
        How many networks of this shape train together (what "auto" weighs).

    Returns
    -------
    NetworkSpec
        The checked description.

    Raises
    ------
    ValueError, TypeError
        An argument out of range or of the wrong type (the message names it).
    BackendUnavailableError
        The backend named cannot run here.
    UnsupportedError
        The backend does not implement the units.
    """
    checked = check_layers(layers)
    act, out = check_units(activation, output, checked)
    dt = check_dtype(dtype)
    n = None if threads is None else check_int(threads, "threads", 1)
    be, note = resolve_backend(backend, checked, n_networks, act, out, dt)
    if n is not None:
        be = be.with_threads(n)
    return NetworkSpec(tuple(checked), act, out, dt, be, note)
