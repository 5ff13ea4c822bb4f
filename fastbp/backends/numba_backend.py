"""Numba CPU backend: many epochs of per-sample SGD in ONE compiled call.

The compiled kernels live in ``_numba_kernels`` (read its docstring for the
loop orders, the fused hidden-delta/update pass and the vectorised sigmoid).
A ``Params`` of this backend packs its K networks into one flat, aligned
buffer (``_Layout``); the weights stay packed between training calls and
``Params.W`` are views into it. ``train`` trusts its inputs (the boundary
validated them); the public per-layer kernels check shapes, O(1) per call,
since their compiled loops run without bounds checks.

Compilation is lazy: importing this module or constructing ``NumbaBackend``
imports numba but compiles nothing; each kernel is compiled (or loaded from
Numba's on-disk cache, ``cache=True``) on its first call.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    import numba
except ImportError as exc:  # pragma: no cover - exercised where numba is absent
    raise ImportError(f"numba is not installed ({exc})") from exc

from .base import NO_RECORD, Backend, Params

_kernels = None


def _k():
    """The compiled-kernels module, imported on first use."""
    global _kernels
    if _kernels is None:
        from . import _numba_kernels

        _kernels = _numba_kernels
    return _kernels


# ------------------------------------------------- per-layer kernel checks
def _require(ok: bool, message: str) -> None:
    """The public per-layer kernels run compiled loops without bounds checks:
    their shapes are checked first (O(1)), with a message naming the argument."""
    if not ok:
        raise ValueError(message)


def _c2(arr: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=dtype)


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


class _Packed:
    """The numba backend's private state of a ``Params``: the layout and the
    packed weights and scratch of its K networks."""

    __slots__ = ("layout", "scratch", "slab")

    def __init__(self, layout, slab, scratch):
        self.layout, self.slab, self.scratch = layout, slab, scratch


_pool: ThreadPoolExecutor | None = None


def _threads() -> int:
    return max(1, numba.config.NUMBA_NUM_THREADS)


def _map(fn, parts) -> None:
    """Runs ``fn(part)`` for every part, on the pool's threads (the compiled
    kernels release the GIL), and waits for all of them."""
    global _pool
    if len(parts) == 1:
        fn(parts[0])
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="fastbp-numba")
    for f in [_pool.submit(fn, p) for p in parts]:
        f.result()


def _train(P: Params, X1, Y, alphas, epochs: int, record) -> np.ndarray:
    """``NumbaBackend.train``: the compiled ``train`` over groups of networks on the pool's threads."""
    imp = P.impl
    lay = imp.layout
    K = P.K
    dt = P.dtype
    losses = np.empty((K, len(record)))
    alphas = np.asarray(alphas, dtype=dt)
    fn = _k().train
    if K == 1 or _threads() == 1:
        fn(imp.slab, lay.geo, lay.wp, X1, Y, alphas, dt.type(1), imp.scratch, epochs, record, losses)
    else:
        bounds = np.linspace(0, K, min(K, _threads()) + 1).astype(int)
        _map(
            lambda ab: fn(
                imp.slab[ab[0] : ab[1]],
                lay.geo,
                lay.wp,
                X1,
                Y,
                alphas[ab[0] : ab[1]],
                dt.type(1),
                imp.scratch[ab[0] : ab[1]],
                epochs,
                record,
                losses[ab[0] : ab[1]],
            ),
            list(zip(bounds[:-1], bounds[1:])),
        )
    return losses.T


class NumbaBackend(Backend):
    """@njit kernels on the CPU; ``train`` runs many epochs of K networks in
    one compiled call per group of networks, the groups on all cores."""

    name = "numba"

    # ------------------------------------------------------------ data
    def asarray(self, host, dtype):
        return np.array(host, dtype=np.dtype(dtype), order="C", copy=True)

    def to_numpy(self, dev):
        return np.array(dev, copy=True)

    def info(self):
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region has run in this process
            layer = "not started"
        return {
            "name": self.name,
            "numba": numba.__version__,
            "numpy": np.__version__,
            "threads": _threads(),
            "threading_layer": layer,
            "cpu_count": os.cpu_count(),
            "cpu": _host_cpu_name(),
        }

    # ------------------------------------------------- per-layer kernels
    def forward(self, W, X1):
        if X1.dtype != W[0].dtype:
            raise TypeError(f"X1 has dtype {X1.dtype} but the weights have dtype {W[0].dtype}")
        A = [X1]
        for l, w in enumerate(W):
            _require(
                A[-1].shape[1] == w.shape[0], f"W[{l}] has {w.shape[0]} rows but its input has {A[-1].shape[1]} columns"
            )
            A.append(_sigmoid_of_product(A[-1], w))
        return A

    def output_delta(self, AL, Y):
        _require(AL.shape == Y.shape, f"Y has shape {Y.shape} but AL has shape {AL.shape}")
        D = np.empty(AL.shape, AL.dtype)
        _k().output_delta(_c2(AL, AL.dtype), _c2(Y, AL.dtype), D, AL.dtype.type(1))
        return D

    def hidden_delta(self, D_next, W_l, A_l):
        dt = W_l.dtype
        _require(D_next.shape[1] == W_l.shape[1], f"D_next has shape {D_next.shape} but W_l has shape {W_l.shape}")
        _require(
            A_l.shape == (D_next.shape[0], W_l.shape[0]),
            f"A_l has shape {A_l.shape}, expected ({D_next.shape[0]}, {W_l.shape[0]}) from D_next and W_l",
        )
        D = np.empty(A_l.shape, dt)
        _k().hidden_delta(_c2(D_next, dt), _c2(W_l, dt), _c2(A_l, dt), D, dt.type(1))
        return D

    def update(self, W_l, A_l, D, alpha):
        dt = W_l.dtype
        _require(
            A_l.shape[0] == D.shape[0] and A_l.shape[1] == W_l.shape[0] and D.shape[1] == W_l.shape[1],
            f"A_l {A_l.shape} and D {D.shape} do not match W_l {W_l.shape}: A_l.T @ D must have W_l's shape",
        )
        w = W_l if W_l.flags.c_contiguous else np.ascontiguousarray(W_l)
        _k().update(w, _c2(A_l, dt), _c2(D, dt), dt.type(alpha), np.empty(W_l.shape[1], dt))
        if w is not W_l:
            W_l[...] = w

    def loss(self, W, X1, Y):
        P = self.forward(W, X1)[-1]
        return float(0.5 * ((P - Y) ** 2).sum())

    def sgd_step(self, W, x1, y, alpha):
        self.sgd_epoch(W, x1, y, alpha)

    # ------------------------------------------------- the training seam
    def params(self, weights, dtype):
        dtype = np.dtype(dtype)
        lay = _layout((int(weights[0].shape[1]), *(int(w.shape[2]) for w in weights)), dtype)
        slab, scratch, views = lay.buffers(int(weights[0].shape[0]))
        for v, w in zip(views, weights):
            v[...] = w
        return Params(views, dtype, _Packed(lay, slab, scratch))

    def copy_params(self, P):
        imp = P.impl
        slab, scratch, views = imp.layout.buffers(P.K)
        slab[...] = imp.slab
        return Params(views, P.dtype, _Packed(imp.layout, slab, scratch))

    def train(self, P, X1, Y, alphas, epochs, record=NO_RECORD):
        return _train(P, X1, Y, alphas, epochs, record)

    def compile(self, P, X1, Y):
        _train(self.params([w[:1] for w in P.W], P.dtype), X1[:1], Y[:1], np.ones(1), 1, NO_RECORD)

    def loss_many(self, P, X1, Y):
        """Every network's loss with one stacked BLAS product per layer (the
        first layer's shared by all networks) and the compiled sigmoid, in
        chunks of networks that keep the activations to about 64 MB."""
        K = P.K
        width = max(w.shape[2] for w in P.W)
        chunk = max(1, int(64e6 // max(1, X1.shape[0] * width * P.dtype.itemsize)))
        out = np.empty(K)
        for k0 in range(0, K, chunk):
            A = X1
            for w in P.W:
                A = _sigmoid_of_product(A, w[k0 : k0 + chunk])
            out[k0 : k0 + chunk] = 0.5 * ((A - Y) ** 2).sum(axis=(1, 2))
        finite = np.array([all(np.isfinite(w[k]).all() for w in P.W) for k in range(K)])
        out[~finite] = np.nan
        return out

    def contiguous(self, a, dtype):
        return np.ascontiguousarray(a, dtype=dtype)

    def _wrap(self, Ws):
        return self.params(Ws, Ws[0].dtype)


def _host_cpu_name():
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_name()
    except Exception:  # pragma: no cover
        return None
