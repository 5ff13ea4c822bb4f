"""The numba backend's public per-layer kernels, built from the training kernels' units and products.

``forward`` (the unit fused: a BLAS product into a buffer with room for one
more vector, then the units of ``units`` over whole vectors), ``output_delta``
(``units.out_delta`` / ``out_diff``), ``hidden_delta`` (``products``'
backward pass without its update: the derivative fused into the dot
products) and ``update`` (the training's per-sample FMA, ``w + (-(alpha a_i))
d_j``, one sample after the other, in place). The delta and update kernels
take weights whose rows are a whole number of vectors: they work on
zero-padded copies. Their compiled loops run without bounds checks, so the
shapes are checked first (O(1)), with a message naming the argument.
"""

from __future__ import annotations

import math

import numpy as np

from ..base import ACTIVATIONS, OUTPUTS
from .cache import compiled
from .codegen import EXACT, lanes
from .products import delta, vec_update_rows
from .units import SIGMOID, UNIT_CODES, apply_unit, out_delta, out_diff, softmax

#: the ``rows`` argument of ``vec_update_rows``: every row
_EVERY_ROW = np.zeros(0, np.bool_)


# ------------------------------------------------------------ compiled
@compiled(**EXACT)
def units_padded(buf, n, code):
    """The elementwise unit ``code`` on buf[:n] in place (buf 1-D,
    C-contiguous, with room for one more whole vector after n: those lanes
    are computed and left as they come out; LINEAR: nothing)."""
    apply_unit(buf, 0, n, code)


@compiled(**EXACT)
def softmax_rows(Z, row):
    """Each row of the 2-D C-contiguous ``Z`` replaced by its softmax (as in
    training), through ``row``, a 1-D buffer of at least Z's width rounded up
    to a whole vector."""
    N, c = Z.shape
    for n in range(N):
        for j in range(c):
            row[j] = Z[n, j]
        softmax(row, 0, c)
        for j in range(c):
            Z[n, j] = row[j]


@compiled(**EXACT)
def _output_delta(AL, Y, D, out):
    """D = (AL - Y) * AL * (1 - AL) for sigmoid outputs, AL - Y otherwise
    (2-D C-contiguous arrays of one shape)."""
    if out == SIGMOID:
        out_delta(AL, 0, Y, 0, D, 0, AL.size)
    else:
        out_diff(AL, 0, Y, 0, D, 0, AL.size)


@compiled(**EXACT)
def _hidden_delta(Dn, W, A, D, act):
    """D[n] = (Dn[n] @ W.T) * act'(A[n]) for every row n: W (r, cp) and Dn
    (N, cp) zero-padded to whole vectors, A and D (N, r)."""
    r, cp = W.shape
    for n in range(Dn.shape[0]):
        delta(W, 0, A, n * r, Dn, n * cp, D, n * r, r, cp, act)


@compiled(**EXACT)
def _update(W, A, D, alpha, rows):
    """W -= alpha * A[n].T @ D[n] for every row n in order, in place: W (r,
    cp) and D (N, cp) zero-padded to whole vectors, A (N, r)."""
    r, cp = W.shape
    for n in range(A.shape[0]):
        vec_update_rows(W, 0, A, n * r, D, n * cp, rows, 0, r, cp, cp, alpha)


# ------------------------------------------------------------- Python side
def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_units(activation: str, output: str) -> None:
    """The unit names (the compiled code would take an unknown code for the last one)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid choices are {', '.join(map(repr, ACTIVATIONS))}")
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; valid choices are {', '.join(map(repr, OUTPUTS))}")


def _c(arr, dtype) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=dtype)


def _padded(arr, dtype) -> np.ndarray:
    """A copy of the 2-D ``arr`` with its columns zero-padded to a whole number of vectors."""
    V = lanes(dtype)
    out = np.zeros((arr.shape[0], -(-arr.shape[1] // V) * V), dtype)
    out[:, : arr.shape[1]] = arr
    return out


def unit_of_product(A, w, unit: str = "sigmoid"):
    """unit(A @ w) as a new C-contiguous array, A (..., N, r) and w (..., r,
    c) with the same stacking dimensions or none on one side: the BLAS
    product into a buffer with room for one more 256-bit vector, then the
    compiled vector unit over whole vectors, or the softmax of each row (the
    same units as in the training epoch)."""
    shape = (w.shape[:-2] or A.shape[:-2]) + (A.shape[-2], w.shape[-1])  # (np.broadcast_shapes: 4 us)
    n = math.prod(shape)
    buf = np.empty(n + 8, A.dtype)  # 8 >= elements per vector (4 float64, 8 float32)
    Z = buf[:n].reshape(shape)
    np.matmul(A, w, out=Z)
    if unit == "softmax":
        softmax_rows(Z.reshape(-1, shape[-1]), np.empty(shape[-1] + 8, A.dtype))
    elif unit != "linear":
        units_padded(buf, n, UNIT_CODES[unit])
    return Z


def forward(W, X1, activation="sigmoid", output="sigmoid"):
    """``[X1, A1, ..., AL]``: each layer's product with its unit fused."""
    _check_units(activation, output)
    if X1.dtype != W[0].dtype:
        raise TypeError(f"X1 has dtype {X1.dtype} but the weights have dtype {W[0].dtype}")
    A = [X1]
    L = len(W)
    for l, w in enumerate(W):
        _require(
            A[-1].shape[1] == w.shape[0], f"W[{l}] has {w.shape[0]} rows but its input has {A[-1].shape[1]} columns"
        )
        A.append(unit_of_product(A[-1], w, activation if l < L - 1 else output))
    return A


def output_delta(AL, Y, output="sigmoid"):
    """``(AL - Y) * AL * (1 - AL)`` for sigmoid outputs, ``AL - Y`` for linear and softmax."""
    _check_units("sigmoid", output)
    _require(AL.shape == Y.shape, f"Y has shape {Y.shape} but AL has shape {AL.shape}")
    D = np.empty(AL.shape, AL.dtype)
    _output_delta(_c(AL, AL.dtype), _c(Y, AL.dtype), D, UNIT_CODES[output])
    return D


def hidden_delta(D_next, W_l, A_l, activation="sigmoid"):
    """``(D_next @ W_l.T) * act'(A_l)``, the derivative fused into the dot products."""
    _check_units(activation, "sigmoid")
    dt = W_l.dtype
    _require(D_next.shape[1] == W_l.shape[1], f"D_next has shape {D_next.shape} but W_l has shape {W_l.shape}")
    _require(
        A_l.shape == (D_next.shape[0], W_l.shape[0]),
        f"A_l has shape {A_l.shape}, expected ({D_next.shape[0]}, {W_l.shape[0]}) from D_next and W_l",
    )
    D = np.empty(A_l.shape, dt)
    _hidden_delta(_padded(D_next, dt), _padded(W_l, dt), _c(A_l, dt), D, UNIT_CODES[activation])
    return D


def update(W_l, A_l, D, alpha) -> None:
    """``W_l -= alpha * A_l.T @ D`` in place, one sample's outer product after the other."""
    dt = W_l.dtype
    _require(
        A_l.shape[0] == D.shape[0] and A_l.shape[1] == W_l.shape[0] and D.shape[1] == W_l.shape[1],
        f"A_l {A_l.shape} and D {D.shape} do not match W_l {W_l.shape}: A_l.T @ D must have W_l's shape",
    )
    w = _padded(W_l, dt)
    _update(w, _c(A_l, dt), _padded(D, dt), dt.type(alpha), _EVERY_ROW)
    W_l[...] = w[:, : W_l.shape[1]]
