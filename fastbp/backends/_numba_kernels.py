"""The compiled kernels of the numba backend (imported lazily by numba_backend).

Importing this module defines the ``@njit`` functions but compiles nothing:
Numba compiles each one on its first call, or loads it from its on-disk cache
(``cache=True``: ``__pycache__`` next to this file, or ``NUMBA_CACHE_DIR``).

Per-sample SGD epoch
--------------------
One compiled call runs every sample of a batch in order. The layer count is
fixed at compile time for 1 to 4 weight matrices (``sgd_epoch_1`` ..
``sgd_epoch_4``: fixed-arity weight arguments, so there is no container of
arrays indexed at run time and no array view is made per sample: a Numba view
costs an atomic reference-count pair, and a ``reshape`` a run-time call).
Any other count goes through ``sgd_epoch_gen``, which keeps all weights in
one flat buffer with per-layer offsets (slower, by the views it makes per
layer and sample). Activations and deltas live in two preallocated
``(L+1, max width)`` buffers: nothing is allocated per sample.

Per sample (REFERENCE.md), fixed-arity epochs: every weight matrix is kept
TRANSPOSED, ``WT[l]`` of shape (c, r) = ``W[l].T`` C-contiguous (the backend
copies in and back once per call), so every inner loop runs over the r
inputs of a layer. Forward: four outputs' dot products at a time over
contiguous i (four vector accumulators, one horizontal reduction each), then
the sigmoid; output delta; then for l = L-1 .. 1 ONE pass over the rows j of
``WT[l]`` that adds ``WT[j, i] * d[j]`` to ``d_prev[i]`` (old weight) and then
updates it, ``WT[j, i] -= (alpha * d[j]) * a[i]``; the sigmoid derivative is
applied to ``d_prev`` afterwards; layer 0 gets only the update. No
horizontal reduction in the backward pass (the row-major version needed one
per row of W, 17 and 10 long for digits, mostly scalar). The general
function (5+ layers) keeps row-major weights: forward ``out[j] += a[i] *
W[i, j]`` with rows 4 at a time, and per row the hidden delta
``d_prev[i] = (W[i, :] . d) * a[i] * (1 - a[i])`` then the update.

Tried and dropped (measured on the 2-core EPYC, digits 64-32-16-10,
interleaved A/B in one process): padding every width to a multiple of 8 with
fixed 8-wide inner loops (gathers: 2-4x slower); padding row lengths to a
multiple of 4 with plain loops (0.9x) or hand-written 4-column chunks
(0.25-0.34x: not SLP-vectorised); widths as compile-time constants (closure
constants: 0.6-0.7x, LLVM unrolls the short loops into worse code); skipping
zero inputs of layer 0 (half the digits pixels): row-major 0.97-1.02x, with
transposed hidden layers 1.28x vs 1.24x for all-transposed (noise), so not
kept; eight outputs per forward group (same as four); two rows j per backward
pass (0.85x); ``-force-vector-interleave=1`` (1.02x); indexing one flat
buffer with offsets computed from memory (Numba's negative-index wraparound
is then a select on every access and nothing vectorises: 3-4x slower).

Fast-math and the sigmoid
-------------------------
The arithmetic kernels use every LLVM fast-math flag except ``nnan`` and
``ninf`` (reassociation and FMA contraction vectorise the dots and updates;
IEEE infinities and NaNs keep their meaning, so a diverging network still
shows NaN/inf). ``error_model="numpy"`` removes the division-by-zero branch.

The sigmoid ``1 / (1 + exp(-z))`` has its own exp, written so that it
vectorises (libm's ``exp`` is a scalar call: without SVML it was half the
cost of a digits epoch): Cody-Waite reduction ``x = k ln2 + r``, a degree-13
Taylor polynomial for ``e^r`` on ``|r| <= ln2/2`` (truncation error < 1e-17),
and ``2^k`` built from the bits of the round-to-nearest shifter. It is
within 2 ulp of ``scipy.special.expit`` for the sigmoid. ``x`` is clamped
to [-708, 708], so no finite input overflows: ``z = +-1000`` gives exactly
1 and 3.3e-308 (expit: 1 and 0), never NaN/inf. This function is compiled
with only the ``contract`` flag: reassociation would fold the shifter's
``(t + S) - S`` into ``t`` and break the rounding. float32 activations are
computed through the float64 sigmoid (then rounded once), which costs little
and keeps float32 sigmoids correctly rounded in practice.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

#: Fast-math flags of the arithmetic kernels: all but no-NaNs / no-infs.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_OPTS = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True, boundscheck=False)


# ------------------------------------------------------------ vector exp
@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE bit pattern of a float64, as an int64 (a free bitcast)."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, x):
    """The float64 whose IEEE bit pattern is the int64 ``x``."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: t = y + S rounds y to an integer in t's low bits
_LN2HI = 6.93147180369123816490e-01  # Cody-Waite split of ln 2 (fdlibm)
_LN2LO = 1.90821492927058770002e-10
_EXPC = tuple(1.0 / math.factorial(i) for i in range(14))
_XMAX = 708.0  # e^708 and e^-708 are normal float64s


@njit(cache=True, fastmath={"contract"}, error_model="numpy", nogil=True, boundscheck=False)
def _sigmoid_row(z, n):
    """z[:n] = 1 / (1 + exp(-z[:n])) in place, z 1-D (float32 or float64)."""
    c = _EXPC
    for j in range(n):
        x = -float(z[j])
        x = min(max(x, -_XMAX), _XMAX)
        t = x * _LOG2E + _SHIFT
        kf = t - _SHIFT
        r = x - kf * _LN2HI
        r = r - kf * _LN2LO
        p = c[13]
        p = p * r + c[12]
        p = p * r + c[11]
        p = p * r + c[10]
        p = p * r + c[9]
        p = p * r + c[8]
        p = p * r + c[7]
        p = p * r + c[6]
        p = p * r + c[5]
        p = p * r + c[4]
        p = p * r + c[3]
        p = p * r + c[2]
        p = p * r + c[1]
        p = p * r + c[0]
        # low bits of t hold k; (k << 52) + (1023 << 52) are the bits of 2**k
        s = _bits_f64((_f64_bits(t) << 52) + (1023 << 52))
        z[j] = 1.0 / (1.0 + p * s)


# --------------------------------------------------------------- per-layer
# W is one (r, c) C-contiguous weight matrix, a / out / d / d_prev 1-D rows
# of the activation and delta buffers. Every index below comes straight from
# a range() starting at 0, so LLVM proves it non-negative and drops Numba's
# negative-index wraparound.
@njit(inline="always", **_OPTS)
def _fwd(W, a, out, r, c):
    """out[:c] = sigmoid(a[:r] @ W) for one sample, W of shape (r, c)."""
    for j in range(c):
        out[j] = 0
    r4 = r - r % 4
    for i in range(0, r4, 4):
        a0 = a[i]
        a1 = a[i + 1]
        a2 = a[i + 2]
        a3 = a[i + 3]
        for j in range(c):
            out[j] += (a0 * W[i, j] + a1 * W[i + 1, j]) + (a2 * W[i + 2, j] + a3 * W[i + 3, j])
    for i in range(r4, r):
        ai = a[i]
        for j in range(c):
            out[j] += ai * W[i, j]
    _sigmoid_row(out, c)


@njit(inline="always", **_OPTS)
def _bwd(W, a, d, d_prev, r, alpha, one, with_delta):
    """Fused hidden delta d_prev[:r] (weights before the update; only when
    with_delta) and update W -= (alpha * a[:r]) outer d, W of shape (r, c)."""
    c = W.shape[1]
    if with_delta:
        for i in range(r):
            ai = a[i]
            s = W[i, 0] * d[0]
            for j in range(1, c):
                s += W[i, j] * d[j]
            d_prev[i] = s * ai * (one - ai)
            g = alpha * ai
            for j in range(c):
                W[i, j] -= g * d[j]
    else:
        for i in range(r):
            g = alpha * a[i]
            for j in range(c):
                W[i, j] -= g * d[j]


@njit(inline="always", **_OPTS)
def _load(X, n, a0, r):
    for i in range(r):
        a0[i] = X[n, i]


@njit(inline="always", **_OPTS)
def _out_delta(aL, Y, n, dL, c, one):
    for j in range(c):
        o = aL[j]
        dL[j] = (o - Y[n, j]) * o * (one - o)


# ------------------------------------------- per-layer, transposed weights
# The fixed-arity epochs keep every weight matrix TRANSPOSED, WT of shape
# (c, r) = W.T, C-contiguous (the backend transposes once per call and writes
# back): every inner loop then runs over the r inputs of a layer (65, 33, 17
# for digits) and the backward pass has no per-row reduction at all.
@njit(inline="always", **_OPTS)
def _fwdT(WT, a, out, r, c):
    """out[:c] = sigmoid(a[:r] @ WT.T): four outputs' dot products at a time
    over contiguous i (four independent vector accumulators, each reduced
    once at the end), then the rest one at a time."""
    c4 = c - c % 4
    a0 = a[0]
    for j in range(0, c4, 4):
        s0 = WT[j, 0] * a0
        s1 = WT[j + 1, 0] * a0
        s2 = WT[j + 2, 0] * a0
        s3 = WT[j + 3, 0] * a0
        for i in range(1, r):
            ai = a[i]
            s0 += WT[j, i] * ai
            s1 += WT[j + 1, i] * ai
            s2 += WT[j + 2, i] * ai
            s3 += WT[j + 3, i] * ai
        out[j] = s0
        out[j + 1] = s1
        out[j + 2] = s2
        out[j + 3] = s3
    for j in range(c4, c):
        s = WT[j, 0] * a0
        for i in range(1, r):
            s += WT[j, i] * a[i]
        out[j] = s
    _sigmoid_row(out, c)


@njit(inline="always", **_OPTS)
def _bwdT(WT, a, d, d_prev, r, c, alpha, one):
    """Fused hidden delta and update, WT of shape (c, r): for each output j,
    ONE pass over row j of WT (contiguous over the inputs i) that adds
    WT[j, i] * d[j] to d_prev[i] (old weight) and then updates it,
    WT[j, i] -= (alpha * d[j]) * a[i]; the sigmoid derivative is applied to
    d_prev at the end. No horizontal reductions."""
    for i in range(r):
        d_prev[i] = 0
    for j in range(c):
        dj = d[j]
        gj = alpha * dj
        for i in range(r):
            w = WT[j, i]
            d_prev[i] += w * dj
            WT[j, i] = w - gj * a[i]
    for i in range(r):
        ai = a[i]
        d_prev[i] = d_prev[i] * ai * (one - ai)


@njit(inline="always", **_OPTS)
def _updT(WT, a, d, r, c, alpha):
    """The first layer's update (no delta below it), WT of shape (c, r)."""
    for j in range(c):
        gj = alpha * d[j]
        for i in range(r):
            WT[j, i] -= gj * a[i]


# --------------------------------------------- whole epoch, fixed arity
# One function per layer count 1..4 (fixed-arity weight arguments: no
# container of arrays indexed at run time, no view made per sample; every
# W* is TRANSPOSED, (c, r) = W[l].T C-contiguous), and a general one for any
# layer count below (row-major weights). dims: the L+1 layer widths (bias
# units included); act, dlt: (L+1, max width) scratch of the weights' dtype;
# alpha, one: scalars of the weights' dtype.
@njit(inline="always", **_OPTS)
def _epoch1(W0, dims, X, Y, alpha, one, act, dlt):
    a0, a1 = act[0], act[1]
    d1 = dlt[1]
    for n in range(X.shape[0]):
        _load(X, n, a0, dims[0])
        _fwdT(W0, a0, a1, dims[0], dims[1])
        _out_delta(a1, Y, n, d1, dims[1], one)
        _updT(W0, a0, d1, dims[0], dims[1], alpha)


@njit(inline="always", **_OPTS)
def _epoch2(W0, W1, dims, X, Y, alpha, one, act, dlt):
    a0, a1, a2 = act[0], act[1], act[2]
    d1, d2 = dlt[1], dlt[2]
    for n in range(X.shape[0]):
        _load(X, n, a0, dims[0])
        _fwdT(W0, a0, a1, dims[0], dims[1])
        _fwdT(W1, a1, a2, dims[1], dims[2])
        _out_delta(a2, Y, n, d2, dims[2], one)
        _bwdT(W1, a1, d2, d1, dims[1], dims[2], alpha, one)
        _updT(W0, a0, d1, dims[0], dims[1], alpha)


@njit(inline="always", **_OPTS)
def _epoch3(W0, W1, W2, dims, X, Y, alpha, one, act, dlt):
    a0, a1, a2, a3 = act[0], act[1], act[2], act[3]
    d1, d2, d3 = dlt[1], dlt[2], dlt[3]
    for n in range(X.shape[0]):
        _load(X, n, a0, dims[0])
        _fwdT(W0, a0, a1, dims[0], dims[1])
        _fwdT(W1, a1, a2, dims[1], dims[2])
        _fwdT(W2, a2, a3, dims[2], dims[3])
        _out_delta(a3, Y, n, d3, dims[3], one)
        _bwdT(W2, a2, d3, d2, dims[2], dims[3], alpha, one)
        _bwdT(W1, a1, d2, d1, dims[1], dims[2], alpha, one)
        _updT(W0, a0, d1, dims[0], dims[1], alpha)


@njit(inline="always", **_OPTS)
def _epoch4(W0, W1, W2, W3, dims, X, Y, alpha, one, act, dlt):
    a0, a1, a2, a3, a4 = act[0], act[1], act[2], act[3], act[4]
    d1, d2, d3, d4 = dlt[1], dlt[2], dlt[3], dlt[4]
    for n in range(X.shape[0]):
        _load(X, n, a0, dims[0])
        _fwdT(W0, a0, a1, dims[0], dims[1])
        _fwdT(W1, a1, a2, dims[1], dims[2])
        _fwdT(W2, a2, a3, dims[2], dims[3])
        _fwdT(W3, a3, a4, dims[3], dims[4])
        _out_delta(a4, Y, n, d4, dims[4], one)
        _bwdT(W3, a3, d4, d3, dims[3], dims[4], alpha, one)
        _bwdT(W2, a2, d3, d2, dims[2], dims[3], alpha, one)
        _bwdT(W1, a1, d2, d1, dims[1], dims[2], alpha, one)
        _updT(W0, a0, d1, dims[0], dims[1], alpha)


@njit(inline="always", **_OPTS)
def _epoch_gen(wb, offs, dims, pdims, X, Y, alpha, one, act, dlt):
    """Any layer count: weights in one flat buffer, layer l the C-ordered
    (pdims[l], pdims[l+1]) block at offs[l] (pdims == dims). A view per layer per sample
    (reference counting, reshape): slower than the fixed-arity functions."""
    L = dims.shape[0] - 1
    for n in range(X.shape[0]):
        _load(X, n, act[0], dims[0])
        for l in range(L):
            W = wb[offs[l] : offs[l + 1]].reshape((pdims[l], pdims[l + 1]))
            _fwd(W, act[l], act[l + 1], dims[l], dims[l + 1])
        _out_delta(act[L], Y, n, dlt[L], dims[L], one)
        for l in range(L - 1, -1, -1):
            W = wb[offs[l] : offs[l + 1]].reshape((pdims[l], pdims[l + 1]))
            _bwd(W, act[l], dlt[l + 1], dlt[l], dims[l], alpha, one, l > 0)


@njit(**_OPTS)
def sgd_epoch_1(W0, dims, X, Y, alpha, one, act, dlt):
    """Per-sample SGD over every row of X, in order (1 weight matrix)."""
    _epoch1(W0, dims, X, Y, alpha, one, act, dlt)


@njit(**_OPTS)
def sgd_epoch_2(W0, W1, dims, X, Y, alpha, one, act, dlt):
    """Per-sample SGD over every row of X, in order (2 weight matrices)."""
    _epoch2(W0, W1, dims, X, Y, alpha, one, act, dlt)


@njit(**_OPTS)
def sgd_epoch_3(W0, W1, W2, dims, X, Y, alpha, one, act, dlt):
    """Per-sample SGD over every row of X, in order (3 weight matrices)."""
    _epoch3(W0, W1, W2, dims, X, Y, alpha, one, act, dlt)


@njit(**_OPTS)
def sgd_epoch_4(W0, W1, W2, W3, dims, X, Y, alpha, one, act, dlt):
    """Per-sample SGD over every row of X, in order (4 weight matrices)."""
    _epoch4(W0, W1, W2, W3, dims, X, Y, alpha, one, act, dlt)


@njit(**_OPTS)
def sgd_epoch_gen(wb, offs, dims, pdims, X, Y, alpha, one, act, dlt):
    """Per-sample SGD over every row of X, in order (any number of layers)."""
    _epoch_gen(wb, offs, dims, pdims, X, Y, alpha, one, act, dlt)


# K networks at once: W* stacked (K, r, c), act / dlt (K, L+1, width),
# alphas (K,); network k runs the same code as alone, on its own scratch.
@njit(parallel=True, **_OPTS)
def sgd_epoch_many_1(W0, dims, X, Y, alphas, one, act, dlt):
    for k in prange(W0.shape[0]):
        _epoch1(W0[k], dims, X, Y, alphas[k], one, act[k], dlt[k])


@njit(parallel=True, **_OPTS)
def sgd_epoch_many_2(W0, W1, dims, X, Y, alphas, one, act, dlt):
    for k in prange(W0.shape[0]):
        _epoch2(W0[k], W1[k], dims, X, Y, alphas[k], one, act[k], dlt[k])


@njit(parallel=True, **_OPTS)
def sgd_epoch_many_3(W0, W1, W2, dims, X, Y, alphas, one, act, dlt):
    for k in prange(W0.shape[0]):
        _epoch3(W0[k], W1[k], W2[k], dims, X, Y, alphas[k], one, act[k], dlt[k])


@njit(parallel=True, **_OPTS)
def sgd_epoch_many_4(W0, W1, W2, W3, dims, X, Y, alphas, one, act, dlt):
    for k in prange(W0.shape[0]):
        _epoch4(W0[k], W1[k], W2[k], W3[k], dims, X, Y, alphas[k], one, act[k], dlt[k])


@njit(parallel=True, **_OPTS)
def sgd_epoch_many_gen(wb, offs, dims, pdims, X, Y, alphas, one, act, dlt):
    for k in prange(wb.shape[0]):
        _epoch_gen(wb[k], offs, dims, pdims, X, Y, alphas[k], one, act[k], dlt[k])


# ------------------------------------------------------ single kernels
@njit(**_OPTS)
def sigmoid_inplace(Z):
    """Z = 1 / (1 + exp(-Z)) in place (Z C-contiguous, any shape)."""
    _sigmoid_row(Z.reshape(Z.size), Z.size)


@njit(**_OPTS)
def output_delta(AL, Y, D, one):
    """D = (AL - Y) * AL * (1 - AL)."""
    for n in range(AL.shape[0]):
        for j in range(AL.shape[1]):
            o = AL[n, j]
            D[n, j] = (o - Y[n, j]) * o * (one - o)


@njit(**_OPTS)
def hidden_delta(D_next, W, A, D, one):
    """D = (D_next @ W.T) * A * (1 - A), the derivative fused into the dot."""
    r, c = W.shape
    for n in range(D_next.shape[0]):
        dn = D_next[n]
        for i in range(r):
            s = W[i, 0] * dn[0]
            for j in range(1, c):
                s += W[i, j] * dn[j]
            ai = A[n, i]
            D[n, i] = s * ai * (one - ai)


@njit(**_OPTS)
def update(W, A, D, alpha, acc):
    """W -= alpha * (A.T @ D) in place; acc is a (c,) scratch row."""
    r, c = W.shape
    N = A.shape[0]
    for i in range(r):
        for j in range(c):
            acc[j] = 0
        for n in range(N):
            ani = A[n, i]
            for j in range(c):
                acc[j] += ani * D[n, j]
        for j in range(c):
            W[i, j] -= alpha * acc[j]
