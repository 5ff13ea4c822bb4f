"""Numba CPU backend: the whole batch of per-sample SGD in ONE compiled call.

The compiled kernels live in ``_numba_kernels`` (read its docstring for the
loop orders, the fused hidden-delta/update pass and the vectorised sigmoid).
This module is the boundary: it validates and converts every input (dtype,
contiguity, shapes) BEFORE a compiled call, so wrong input raises a
``TypeError``/``ValueError`` naming the argument, never a Numba typing error.
Validation is O(number of layers) per call, never per sample.

Compilation is lazy: importing this module or constructing ``NumbaBackend``
imports numba but compiles nothing; each kernel is compiled (or loaded from
Numba's on-disk cache, ``cache=True``) on its first call.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import numba
except ImportError as exc:  # pragma: no cover - exercised where numba is absent
    raise ImportError(f"numba is not installed ({exc})") from exc

from .base import SUPPORTED_DTYPES, Backend

_kernels = None


def _k():
    """The compiled-kernels module, imported on first use."""
    global _kernels
    if _kernels is None:
        from . import _numba_kernels

        _kernels = _numba_kernels
    return _kernels


# ------------------------------------------------------------ validation
def _float_dtype(arr: Any, name: str) -> np.dtype:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(arr).__name__}")
    dt = arr.dtype
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name} has dtype {dt}; the numba backend needs float32 or float64 arrays "
            f"(convert with backend.asarray({name}, np.float64))"
        )
    return dt


def _check_2d(arr: Any, name: str, dtype: np.dtype = None) -> np.ndarray:
    """arr as a C-contiguous 2-D float array of ``dtype`` (converted only for
    contiguity; a wrong dtype or rank is an error naming ``name``)."""
    dt = _float_dtype(arr, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (one row per sample), got shape {arr.shape}")
    if dtype is not None and dt != dtype:
        raise TypeError(f"{name} has dtype {dt} but the weights have dtype {dtype}; use one dtype for all arrays")
    return np.ascontiguousarray(arr)


def _check_weights(W: Any, name: str = "W", stacked: bool = False) -> np.dtype:
    """Checks a list of weight arrays (2-D, or 3-D stacked (K, r, c) when
    ``stacked``): one float dtype, chained shapes. Returns the dtype."""
    if isinstance(W, np.ndarray) or not isinstance(W, Sequence) or len(W) == 0:
        raise TypeError(f"{name} must be a non-empty list of weight arrays, one per layer, got {type(W).__name__}")
    ndim = 3 if stacked else 2
    dtype = _float_dtype(W[0], f"{name}[0]")
    for l, w in enumerate(W):
        dt = _float_dtype(w, f"{name}[{l}]")
        if dt != dtype:
            raise TypeError(f"{name}[{l}] has dtype {dt} but {name}[0] has dtype {dtype}; use one dtype for all layers")
        if w.ndim != ndim or 0 in w.shape:
            what = "(K, rows, cols)" if stacked else "(rows, cols)"
            raise ValueError(f"{name}[{l}] must be a non-empty {ndim}-D array {what}, got shape {w.shape}")
        if l > 0:
            prev = W[l - 1]
            if w.shape[-2] != prev.shape[-1]:
                raise ValueError(
                    f"{name}[{l}] has shape {w.shape} but {name}[{l - 1}] has shape {prev.shape}: "
                    f"{name}[{l}] needs {prev.shape[-1]} rows"
                )
            if stacked and w.shape[0] != prev.shape[0]:
                raise ValueError(f"{name}[{l}] stacks {w.shape[0]} networks but {name}[0] stacks {W[0].shape[0]}")
    return dtype


def _check_batch(W, X1, Y, dtype, wname="W"):
    """X1 (N, W[0] rows) and Y (N, W[-1] cols), C-contiguous, of dtype."""
    X1 = _check_2d(X1, "X1", dtype)
    if X1.shape[1] != W[0].shape[-2]:
        raise ValueError(
            f"X1 has {X1.shape[1]} columns but {wname}[0] has shape {W[0].shape}: X1 needs "
            f"{W[0].shape[-2]} columns (the inputs plus the bias column of ones)"
        )
    if Y is not None:
        Y = _check_2d(Y, "Y", dtype)
        if Y.shape != (X1.shape[0], W[-1].shape[-1]):
            raise ValueError(
                f"Y has shape {Y.shape} but X1 has {X1.shape[0]} rows and {wname}[-1] has shape "
                f"{W[-1].shape}: Y needs shape ({X1.shape[0]}, {W[-1].shape[-1]})"
            )
    return X1, Y


def _scalar(alpha, dtype, name="alpha"):
    if isinstance(alpha, np.ndarray) and alpha.ndim == 0:
        alpha = alpha[()]
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(alpha).__name__}")
    return dtype.type(alpha)


def _contig_inplace(arrs, name="W"):
    """C-contiguous stand-ins for arrays updated in place, and a function that
    writes them back where a copy had to be made."""
    for l, a in enumerate(arrs):
        if not a.flags.writeable:
            raise ValueError(f"{name}[{l}] is read-only; weights are updated in place")
    work = [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in arrs]

    def write_back():
        for a, w in zip(arrs, work):
            if w is not a:
                a[...] = w

    return work, write_back


def _writable(arrs, name="W"):
    for l, a in enumerate(arrs):
        if not a.flags.writeable:
            raise ValueError(f"{name}[{l}] is read-only; weights are updated in place")


def _sigmoid_of_product(A, w):
    """sigmoid(A @ w) as a new C-contiguous array, A (..., N, r) and w (..., r,
    c) with the same stacking dimensions or none on one side: the BLAS
    product into a buffer with room for one more 256-bit vector, then the
    compiled vector sigmoid over whole vectors (the same sigmoid as in the
    training epoch)."""
    shape = (w.shape[:-2] or A.shape[:-2]) + (A.shape[-2], w.shape[-1])  # (np.broadcast_shapes: 4 us)
    n = math.prod(shape)
    buf = np.empty(n + 8, A.dtype)  # 8 >= elements per vector (4 float64, 8 float32)
    Z = buf[:n].reshape(shape)
    np.matmul(A, w, out=Z)
    _k().sigmoid_padded(buf, n)
    return Z


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _aligned_zeros(n, dtype, align=128):
    """``n`` zeros whose data starts on an ``align``-byte boundary."""
    size = n * dtype.itemsize
    buf = np.zeros(size + align, np.uint8)
    start = (-buf.ctypes.data) % align
    return buf[start : start + size].view(dtype)


@functools.lru_cache(maxsize=64)
def _layout(dims, dtype):
    """The (cached) _Layout of one network shape and dtype."""
    return _Layout(dims, dtype)


class _Layout:
    """Where one network's weights and scratch live in the flat per-network
    buffers of the compiled epoch (see the "explicit vectors" section of
    ``_numba_kernels``): layer l row-major ``(r, cp)`` at ``geo[l, 0]``, its
    c columns zero-padded to ``cp`` (a whole number of vectors), each layer
    64-byte aligned; each network's weights and scratch take a multiple of
    128 bytes (two cache lines), so networks trained by different threads
    never share a line."""

    def __init__(self, dims, dtype):
        dtype = np.dtype(dtype)
        V = _k().lanes(dtype)
        line, pair = 64 // dtype.itemsize, 128 // dtype.itemsize
        L = len(dims) - 1
        self.parts = []  # (offset, r, c, cp) per layer, Python ints
        off = 0
        for l in range(L):
            r, c = int(dims[l]), int(dims[l + 1])
            cp = _round_up(c, V)
            self.parts.append((off, r, c, cp))
            off = _round_up(off + r * cp, line)
        self.geo = np.array(self.parts, np.int64)
        self.stride = _round_up(off, pair)
        self.wp = _round_up(int(max(dims)), V)
        self.scratch = _round_up(2 * (L + 1) * self.wp, pair)
        self.dtype = dtype

    def buffers(self, K):
        """Zeroed (K, stride) weights and (K, scratch) scratch, both 128-byte
        aligned, from one allocation, and the views of the weights: views[l]
        is layer l of every network, (K, r, c), the padding left out."""
        both = _aligned_zeros(K * (self.stride + self.scratch), self.dtype)
        n = K * self.stride
        slab = both[:n].reshape(K, self.stride)
        views = [slab[:, off : off + r * cp].reshape(K, r, cp)[:, :, :c] for off, r, c, cp in self.parts]
        return slab, both[n:].reshape(K, self.scratch), views


class NumbaBackend(Backend):
    """@njit kernels on the CPU; ``sgd_epoch`` runs a whole batch in one call."""

    name = "numba"

    # ------------------------------------------------------------ data
    def asarray(self, host, dtype):
        dt = np.dtype(dtype)
        if dt not in SUPPORTED_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        return np.array(host, dtype=dt, order="C", copy=True)

    def to_numpy(self, dev):
        return np.array(dev, copy=True)

    def info(self):
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet in this process
            layer = f"not started yet (configured: {numba.config.THREADING_LAYER})"
        return {
            "name": self.name,
            "numba": numba.__version__,
            "numpy": np.__version__,
            "threading_layer": layer,
            "threads": numba.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "cpu": getattr(numba.config, "CPU_NAME", None) or _host_cpu_name(),
            "cache_dir": numba.config.CACHE_DIR or "__pycache__ next to the kernels",
        }

    # --------------------------------------------------------- kernels
    def forward(self, W, X1):
        dtype = _check_weights(W)
        X1, _ = _check_batch(W, X1, None, dtype)
        A = [X1]
        for w in W:
            A.append(_sigmoid_of_product(A[-1], w))
        return A

    def output_delta(self, AL, Y):
        AL = _check_2d(AL, "AL")
        Y = _check_2d(Y, "Y", AL.dtype)
        if Y.shape != AL.shape:
            raise ValueError(f"Y has shape {Y.shape} but AL has shape {AL.shape}")
        D = np.empty_like(AL)
        _k().output_delta(AL, Y, D, AL.dtype.type(1))
        return D

    def hidden_delta(self, D_next, W_l, A_l):
        W_l = _check_2d(W_l, "W_l")
        D_next = _check_2d(D_next, "D_next", W_l.dtype)
        A_l = _check_2d(A_l, "A_l", W_l.dtype)
        if D_next.shape[1] != W_l.shape[1]:
            raise ValueError(
                f"D_next has shape {D_next.shape} but W_l has shape {W_l.shape}: D_next needs {W_l.shape[1]} columns"
            )
        if A_l.shape != (D_next.shape[0], W_l.shape[0]):
            raise ValueError(
                f"A_l has shape {A_l.shape}, expected ({D_next.shape[0]}, {W_l.shape[0]}) from D_next and W_l"
            )
        D = np.empty_like(A_l)
        _k().hidden_delta(D_next, W_l, A_l, D, W_l.dtype.type(1))
        return D

    def update(self, W_l, A_l, D, alpha):
        dtype = _float_dtype(W_l, "W_l")
        if W_l.ndim != 2:
            raise ValueError(f"W_l must be 2-D, got shape {W_l.shape}")
        A_l = _check_2d(A_l, "A_l", dtype)
        D = _check_2d(D, "D", dtype)
        if A_l.shape[0] != D.shape[0] or A_l.shape[1] != W_l.shape[0] or D.shape[1] != W_l.shape[1]:
            raise ValueError(
                f"A_l {A_l.shape} and D {D.shape} do not match W_l {W_l.shape}: A_l.T @ D must have W_l's shape"
            )
        (w,), write_back = _contig_inplace([W_l], "W_l")
        _k().update(w, A_l, D, _scalar(alpha, dtype), np.empty(W_l.shape[1], dtype))
        write_back()

    # ------------------------------------------------- composed operations
    def sgd_step(self, W, x1, y, alpha):
        self.sgd_epoch(W, x1, y, alpha)

    def sgd_epoch(self, W, X1, Y, alpha):
        dtype = _check_weights(W)
        X1, Y = _check_batch(W, X1, Y, dtype)
        a = _scalar(alpha, dtype)
        if X1.shape[0] == 0:
            return
        self._epoch(_k().sgd_epoch, [w[None] for w in W], X1, Y, np.array([a]), "W")

    def _epoch(self, fn, Ws, X1, Y, alphas, name):
        """Runs the compiled epoch ``fn`` over stacked weights (K, r, c) per
        layer (``name`` in errors): packed into the kernels' layout, trained,
        written back."""
        _writable(Ws, name)
        lay = _layout(tuple([Ws[0].shape[1]] + [w.shape[2] for w in Ws]), X1.dtype)
        slab, scratch, views = lay.buffers(Ws[0].shape[0])
        for v, w in zip(views, Ws):
            v[...] = w
        fn(slab, lay.geo, lay.wp, X1, Y, alphas, X1.dtype.type(1), scratch)
        for v, w in zip(views, Ws):
            w[...] = v

    def predict(self, W, X1):
        return self.forward(W, X1)[-1]

    def loss(self, W, X1, Y):
        dtype = _check_weights(W)
        X1, Y = _check_batch(W, X1, Y, dtype)
        P = self.forward(W, X1)[-1]
        return float(0.5 * ((P - Y) ** 2).sum())

    def all_finite(self, W):
        return all(bool(np.isfinite(w).all()) for w in W)

    # -------------------------------------------------- many networks at once
    def sgd_epoch_many(self, Ws, X1, Y, alphas):
        dtype = _check_weights(Ws, "Ws", stacked=True)
        X1, Y = _check_batch(Ws, X1, Y, dtype, "Ws")
        K = Ws[0].shape[0]
        alphas = np.asarray(alphas)
        if alphas.dtype.kind not in "fiu":
            raise TypeError(f"alphas must be real numbers, got dtype {alphas.dtype}")
        alphas = np.ascontiguousarray(alphas.reshape(-1), dtype=dtype)
        if alphas.shape[0] != K:
            raise ValueError(f"alphas has {alphas.shape[0]} values but Ws stacks {K} networks")
        if X1.shape[0] == 0:
            return
        self._epoch(_k().sgd_epoch_many, Ws, X1, Y, alphas, "Ws")

    def loss_many(self, Ws, X1, Y):
        """Every network's loss with one stacked BLAS product per layer (the
        first layer's shared by all networks) and the compiled sigmoid, in
        chunks of networks that keep the activations to about 64 MB."""
        dtype = _check_weights(Ws, "Ws", stacked=True)
        X1, Y = _check_batch(Ws, X1, Y, dtype, "Ws")
        K = Ws[0].shape[0]
        width = max(w.shape[2] for w in Ws)
        chunk = max(1, int(64e6 // max(1, X1.shape[0] * width * dtype.itemsize)))
        out = np.empty(K)
        for k0 in range(0, K, chunk):
            A = X1
            for w in Ws:
                A = _sigmoid_of_product(A, w[k0 : k0 + chunk])
            out[k0 : k0 + chunk] = 0.5 * ((A - Y) ** 2).sum(axis=(1, 2))
        return out


def _host_cpu_name():
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_name()
    except Exception:  # pragma: no cover
        return None
