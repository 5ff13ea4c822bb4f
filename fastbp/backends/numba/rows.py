"""The first layer's rows of the numba backend: lists of the nonzero inputs.

For a first-layer row i whose input x_i is 0, the forward term x_i W[i] and
the update -alpha x_i d are zero, so the first layer runs over lists of rows
(``row_list``): sample n's update fused with sample n+1's product over the
inputs nonzero in either sample, each sum in input order. Leaving a zero row
out changes no value, only possibly the sign of a zero (w + (-0) = w; acc + 0
* w = acc for finite w), so every form of a call (one call or one per
sample, one thread or a team, one network or K) gives the same weights; a
non-finite weight in a row training never touches is still found by the loss
pass, which checks every weight (``loss.zero_sum``). The lists of a call's
samples are built in its first epoch and kept (up to LIST_MAX elements of X;
beyond, each is built when used); the loss pass keeps its own (one sample's
nonzero inputs). Digits has 49% zero pixels (the lists of two samples hold
64% of the rows), MNIST 81% (29%). Inputs with few zeros
(``run.first_rows``) pass a bool ``rows`` instead: every row, no lists, no
index loads (a separate compiled version; the index loads cost about 15% on
inputs without zeros).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .codegen import element_ptr

#: a call keeps the lists of the nonzero inputs of its samples from epoch to
#: epoch when X has at most this many elements: a memory bound (their int32
#: indices then take at most 8 MB); a larger X has each list built when it is
#: used (MNIST's 47 M elements: building a list costs a pass over one sample)
LIST_MAX = 1 << 21
#: the kernels' ``rows`` argument: every row of the first layer / the rows
#: of the nonzero inputs (lists built in the call)
EVERY_ROW = np.zeros(0, np.bool_)
LISTED_ROWS = np.zeros(0, np.int32)


@intrinsic
def nonzero_inputs(typingctx, X, a, b, I, io):
    """Lists in ``I[io:]`` (ascending) the inputs i where X[a, i] or X[b, i]
    is nonzero (b = a: one sample's) and returns how many (branch-free:
    every i is stored, the count advances past the nonzero ones)."""
    if not (isinstance(X, types.Array) and X.ndim == 2 and X.layout == "C" and isinstance(X.dtype, types.Float)):
        raise TypeError("nonzero_inputs takes a 2-D C-contiguous float array")
    if not (isinstance(I, types.Array) and I.dtype in (types.int32, types.int64) and I.layout == "C"):
        raise TypeError("nonzero_inputs lists into a C-contiguous int32 or int64 array")
    ip = types.intp
    sig = ip(X, ip, ip, I, ip)

    def codegen(context, builder, sig, args):
        xty, ity = sig.args[0], sig.args[3]
        x = context.make_array(xty)(context, builder, args[0])
        nx = builder.extract_value(x.shape, 1)
        xa = builder.gep(x.data, [builder.mul(args[1], nx)])
        xb = builder.gep(x.data, [builder.mul(args[2], nx)])
        out = element_ptr(context, builder, ity, args[3], args[4])
        ety = context.get_value_type(ity.dtype)
        zero = ir.Constant(context.get_value_type(xty.dtype), 0.0)
        m = cgutils.alloca_once_value(builder, ir.Constant(ir.IntType(64), 0))
        with cgutils.for_range(builder, nx) as li:
            i = li.index
            k = builder.load(m)
            builder.store(builder.trunc(i, ety) if ety.width < 64 else i, builder.gep(out, [k]))
            nz = builder.or_(
                builder.fcmp_unordered("!=", builder.load(builder.gep(xa, [i])), zero),
                builder.fcmp_unordered("!=", builder.load(builder.gep(xb, [i])), zero),
            )
            builder.store(builder.add(k, builder.zext(nz, ir.IntType(64))), m)
        return builder.load(m)

    return sig, codegen


def training_lists(X, n, rows):
    """The first layer's row lists of a call: for ``rows`` of dtype int32,
    storage ``(I, ptr)`` for ``n`` lists of nonzero inputs of X's rows, list
    j at ``I[ptr[j]:ptr[j + 1]]`` (``row_list``), or, when X is larger than
    LIST_MAX, one list's room and an empty ``ptr``; for ``rows`` of dtype
    bool (every row: inputs with few zeros), ``rows`` itself and an empty
    ``ptr``. Compiled code only."""
    raise NotImplementedError


@overload(training_lists, inline="always")
def _training_lists_impl(X, n, rows):
    if rows.dtype == types.boolean:
        return lambda X, n, rows: (rows, np.empty(0, np.int64))

    def listed(X, n, rows):
        nx = X.shape[1]
        if X.shape[0] * nx > LIST_MAX:
            return np.empty(nx, np.int32), np.empty(0, np.int64)
        return np.empty(n * nx, np.int32), np.zeros(n + 1, np.int64)

    return listed


def row_list(X, I, ptr, j, a, b, build):
    """``(offset, count)`` in I of list j: the inputs where sample a's or
    b's is nonzero (the rows of the first layer that sample a's update and
    sample b's product touch). Built when ``build`` (list j - 1 built
    before it) and kept; with an empty ``ptr``, built at I[0:] every time;
    for a bool ``I`` (every row) ``(0, X.shape[1])``. Compiled code only."""
    raise NotImplementedError


@overload(row_list, inline="always")
def _row_list_impl(X, I, ptr, j, a, b, build):
    if I.dtype == types.boolean:
        return lambda X, I, ptr, j, a, b, build: (0, X.shape[1])

    def listed(X, I, ptr, j, a, b, build):
        if ptr.shape[0] == 0:
            return 0, nonzero_inputs(X, a, b, I, 0)
        if build:
            ptr[j + 1] = ptr[j] + nonzero_inputs(X, a, b, I, ptr[j])
        return ptr[j], ptr[j + 1] - ptr[j]

    return listed
