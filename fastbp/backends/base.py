"""The kernel contract every backend implements.

Weights are a list of 2-D arrays on the backend's device, one per layer, bias
rows included (``W[l]`` has shape ``(layers[l] + 1, layers[l+1] + 1)`` for the
hidden layers and ``(layers[-2] + 1, layers[-1])`` for the last, see
REFERENCE.md). Activations and deltas are 2-D: one row per sample.

A backend overrides the abstract kernels; the batched per-sample SGD
(``sgd_epoch``) and the many-networks variant (``sgd_epoch_many``) have
defaults here composed from those kernels, which fast backends replace with a
single compiled call.

Everything above this contract (NeuralNetwork, train, the CLI, the benchmarks)
is backend-agnostic and never imports numba or cupy.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np

#: The floating-point dtypes every backend supports.
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Backend(abc.ABC):
    """One implementation of the fastbp kernels.

    Subclasses set ``name`` and implement the abstract methods. Arrays passed
    to the kernels are the backend's own (made by ``asarray``); the kernels do
    not validate shapes: validation happens once, at the boundary
    (``NeuralNetwork`` and ``train``), never inside a per-sample loop.
    """

    #: Registry name ("numpy", "numba", "cuda").
    name: str = "abstract"
    #: True when arrays live off the host (device memory).
    on_device: bool = False

    # ------------------------------------------------------------------ data
    @abc.abstractmethod
    def asarray(self, host: Any, dtype: Any) -> Any:
        """A C-contiguous copy of ``host`` on this backend, of ``dtype``."""

    @abc.abstractmethod
    def to_numpy(self, dev: Any) -> np.ndarray:
        """A NumPy copy of a backend array (the only device-to-host transfer)."""

    def copy_weights(self, W: Sequence[Any]) -> list:
        """An independent copy of a list of weight arrays, on the backend."""
        return [w.copy() for w in W]

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on the CPU)."""

    def info(self) -> dict:
        """Versions and hardware this backend runs on, for ``fastbp info``."""
        return {"name": self.name}

    # --------------------------------------------------------------- kernels
    @abc.abstractmethod
    def forward(self, W: Sequence[Any], X1: Any) -> list:
        """Batched forward pass: ``[A0, A1, ..., AL]`` with ``A0 = X1`` and
        ``A[l+1] = sigmoid(A[l] @ W[l])`` (the sigmoid fused in)."""

    @abc.abstractmethod
    def output_delta(self, AL: Any, Y: Any) -> Any:
        """``(AL - Y) * AL * (1 - AL)``."""

    @abc.abstractmethod
    def hidden_delta(self, D_next: Any, W_l: Any, A_l: Any) -> Any:
        """``(D_next @ W_l.T) * A_l * (1 - A_l)``, the sigmoid derivative fused
        into the pass that produces the product."""

    @abc.abstractmethod
    def update(self, W_l: Any, A_l: Any, D: Any, alpha: float) -> None:
        """``W_l -= alpha * A_l.T @ D``, in place."""

    # ------------------------------------------------- composed operations
    def sgd_step(self, W: Sequence[Any], x1: Any, y: Any, alpha: float) -> None:
        """One per-sample SGD step (REFERENCE.md, "fit_partial") in place.

        ``x1`` is one row ``(1, layers[0] + 1)`` with the bias column, ``y``
        one row ``(1, layers[-1])``. All deltas use the weights as they were
        before this step's update.
        """
        A = self.forward(W, x1)
        L = len(W)
        D = [None] * (L + 1)
        D[L] = self.output_delta(A[L], y)
        for l in range(L - 1, 0, -1):
            D[l] = self.hidden_delta(D[l + 1], W[l], A[l])
        for l in range(L):
            self.update(W[l], A[l], D[l + 1], alpha)

    def sgd_epoch(self, W: Sequence[Any], X1: Any, Y: Any, alpha: float) -> None:
        """Batched per-sample SGD: ``sgd_step`` on every row of ``X1`` in
        order, in place. Fast backends run the whole batch in one call; the
        weights must equal those of one ``sgd_step`` call per sample."""
        for i in range(X1.shape[0]):
            self.sgd_step(W, X1[i : i + 1], Y[i : i + 1], alpha)

    def predict(self, W: Sequence[Any], X1: Any) -> Any:
        """Whole-set forward pass; returns the output activations."""
        return self.forward(W, X1)[-1]

    def loss(self, W: Sequence[Any], X1: Any, Y: Any) -> float:
        """The reference's loss: ``0.5 * sum((predict(X1) - Y) ** 2)``."""
        P = self.predict(W, X1)
        return float(0.5 * ((P - Y) ** 2).sum())

    def all_finite(self, W: Sequence[Any]) -> bool:
        """True when every weight is finite."""
        return all(bool(np.isfinite(self.to_numpy(w)).all()) for w in W)

    # -------------------------------------------------- many networks at once
    # Ws is a list over layers of stacked arrays of shape (K, rows, cols): K
    # independent networks of the same layer sizes; alphas is a length-K host
    # array. Network k is [w[k] for w in Ws].
    def sgd_epoch_many(self, Ws: Sequence[Any], X1: Any, Y: Any, alphas: Any) -> None:
        """``sgd_epoch`` for K networks on the same data, each with its own
        alpha, in place. Network k's weights must equal those of training it
        alone. The default loops over the networks."""
        alphas = np.asarray(alphas, dtype=np.float64).reshape(-1)
        for k in range(alphas.shape[0]):
            self.sgd_epoch([w[k] for w in Ws], X1, Y, float(alphas[k]))

    def loss_many(self, Ws: Sequence[Any], X1: Any, Y: Any) -> np.ndarray:
        """The reference loss of each of K networks, as a host array."""
        K = Ws[0].shape[0]
        return np.array([self.loss([w[k] for w in Ws], X1, Y) for k in range(K)])

    def __repr__(self) -> str:
        return f"<fastbp backend {self.name!r}>"
