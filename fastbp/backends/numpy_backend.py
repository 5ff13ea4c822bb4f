"""The reference kernels: plain NumPy, readable, the oracle for the others.

The units (base.py): hidden activations sigmoid, tanh and relu, their
derivatives taken on the activation value; outputs sigmoid, linear and
softmax (stable: the row's largest logit subtracted before ``exp``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit  # 1 / (1 + exp(-z)) without overflow warnings

from .base import ACTIVATIONS, OUTPUTS, ComposedSeam


def activate(Z: np.ndarray, activation: str) -> np.ndarray:
    """A hidden layer's activation of the products ``Z``."""
    if activation == "sigmoid":
        return expit(Z)
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "relu":
        return np.maximum(Z, Z.dtype.type(0))
    raise ValueError(f"unknown activation {activation!r}; valid choices are {', '.join(map(repr, ACTIVATIONS))}")


def softmax(Z: np.ndarray) -> np.ndarray:
    """Each row's softmax, the row's largest logit subtracted first (no overflow)."""
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def emit(Z: np.ndarray, output: str) -> np.ndarray:
    """The output units' values for the products ``Z``."""
    if output == "sigmoid":
        return expit(Z)
    if output == "softmax":
        return softmax(Z)
    if output == "linear":
        return Z
    raise ValueError(f"unknown output {output!r}; valid choices are {', '.join(map(repr, OUTPUTS))}")


def backprop(G: np.ndarray, A: np.ndarray, activation: str) -> np.ndarray:
    """``G * act'(A)``: the derivative taken on the activation value ``A``
    (sigmoid ``A (1 - A)``, tanh ``1 - A**2``, relu 1 where ``A > 0`` else 0)."""
    if activation == "sigmoid":
        return G * A * (1.0 - A)
    if activation == "tanh":
        return G * (1.0 - A * A)
    if activation == "relu":
        return np.where(A > 0, G, G.dtype.type(0))
    raise ValueError(f"unknown activation {activation!r}; valid choices are {', '.join(map(repr, ACTIVATIONS))}")


def out_delta(AL: np.ndarray, Y: np.ndarray, output: str) -> np.ndarray:
    """The output delta: ``(AL - Y) AL (1 - AL)`` (sigmoid), else ``AL - Y``
    (linear with the squared error, softmax with the cross-entropy)."""
    if output == "sigmoid":
        return (AL - Y) * AL * (1.0 - AL)
    if output in ("softmax", "linear"):
        return AL - Y
    raise ValueError(f"unknown output {output!r}; valid choices are {', '.join(map(repr, OUTPUTS))}")


class NumpyBackend(ComposedSeam):
    """The per-layer kernels in plain NumPy; training is their composition
    (``ComposedSeam``), one sample at a time."""

    name = "numpy"

    def asarray(self, host: Any, dtype: Any) -> np.ndarray:
        return np.array(host, dtype=dtype, order="C", copy=True)

    def to_numpy(self, dev: Any) -> np.ndarray:
        return np.array(dev, copy=True)

    def contiguous(self, a: Any, dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=dtype)

    def info(self) -> dict:
        return {"name": self.name, "numpy": np.__version__}

    def forward(
        self, W: Sequence[np.ndarray], X1: np.ndarray, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> list[np.ndarray]:
        A = [X1]
        for w in W[:-1]:
            A.append(activate(A[-1] @ w, activation))
        A.append(emit(A[-1] @ W[-1], output))
        return A

    def output_delta(self, AL: np.ndarray, Y: np.ndarray, *, output: str = "sigmoid") -> np.ndarray:
        return out_delta(AL, Y, output)

    def hidden_delta(
        self, D_next: np.ndarray, W_l: np.ndarray, A_l: np.ndarray, *, activation: str = "sigmoid"
    ) -> np.ndarray:
        return backprop(D_next @ W_l.T, A_l, activation)

    def update(self, W_l: np.ndarray, A_l: np.ndarray, D: np.ndarray, alpha: float) -> None:
        W_l -= W_l.dtype.type(alpha) * (A_l.T @ D)
