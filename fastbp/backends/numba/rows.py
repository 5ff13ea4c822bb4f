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

#: a call keeps the lists of the nonzero inputs of its samples from epoch to
#: epoch when X has at most this many elements: a memory bound (their int32
#: indices then take at most 8 MB); a larger X has each list built when it is
#: used (MNIST's 47 M elements: building a list costs a pass over one sample)
LIST_MAX = 1 << 21
#: the kernels' ``rows`` argument: every row of the first layer / the rows
#: of the nonzero inputs (lists built in the call)
EVERY_ROW = np.zeros(0, np.bool_)
LISTED_ROWS = np.zeros(0, np.int32)


def _nonzero_inputs(context, builder, xty, x, a, b, I, io):
    """IR: lists at ``I + io`` (a pointer into an int32/int64 index array,
    ascending) the inputs i where X[a, i] or X[b, i] is nonzero (b = a: one
    sample's) and returns how many (branch-free: every i is stored, the
    count advances past the nonzero ones); ``x`` the 2-D C-contiguous X."""
    nx = builder.extract_value(x.shape, 1)
    xa = builder.gep(x.data, [builder.mul(a, nx)])
    xb = builder.gep(x.data, [builder.mul(b, nx)])
    out = builder.gep(I, [io])
    ety = I.type.pointee
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


def training_lists(X, n, rows):
    """The first layer's row lists of a call: for ``rows`` of dtype int32,
    storage ``(I, ptr)`` for ``n`` lists of nonzero inputs of X's rows, list
    j at ``I[ptr[j]:ptr[j + 1]]`` (``row_list``), or, when X is larger than
    LIST_MAX, one list's room and an empty ``ptr``; for ``rows`` of dtype
    bool (every row: inputs with few zeros), ``rows`` itself and an empty
    ``ptr``. Compiled code only."""
    raise NotImplementedError


# not inlined: Numba compiles an overload's implementation to type it either way, and
# inlining its IR at both calls of a kernel costs 0.28 s of XOR's cold compile (probe)
@overload(training_lists, inline="never")
def _training_lists_impl(X, n, rows):
    if rows.dtype == types.boolean:
        return lambda X, n, rows: (rows, np.empty(0, np.int64))

    def listed(X, n, rows):
        nx = X.shape[1]
        if X.shape[0] * nx > LIST_MAX:
            return np.empty(nx, np.int32), np.empty(0, np.int64)
        return np.empty(n * nx, np.int32), np.zeros(n + 1, np.int64)

    return listed


@intrinsic
def row_list(typingctx, X, I, ptr, j, a, b, build):
    """``(offset, count)`` in I of list j: the inputs where sample a's or
    b's is nonzero (the rows of the first layer that sample a's update and
    sample b's product touch). Built when ``build`` (list j - 1 built
    before it) and kept; with an empty ``ptr``, built at I[0:] every time;
    for a bool ``I`` (every row) ``(0, X.shape[1])``."""
    if not (isinstance(X, types.Array) and X.ndim == 2 and X.layout == "C" and isinstance(X.dtype, types.Float)):
        raise TypeError("row_list takes a 2-D C-contiguous float array")
    if not (isinstance(I, types.Array) and I.dtype in (types.int32, types.int64, types.boolean) and I.layout == "C"):
        raise TypeError("row_list takes a C-contiguous int32, int64 or bool index array")
    ip = types.intp
    sig = types.UniTuple(ip, 2)(X, I, types.Array(types.int64, 1, "C"), ip, ip, ip, types.boolean)
    every = I.dtype == types.boolean

    def codegen(context, builder, sig, args):
        xv, iv, pv, j, a, b, build = args
        xty, ity, pty = sig.args[:3]
        x = context.make_array(xty)(context, builder, xv)
        nx = builder.extract_value(x.shape, 1)
        i64 = ir.IntType(64)
        if every:
            return context.make_tuple(builder, sig.return_type, [ir.Constant(i64, 0), nx])
        lists = context.make_array(ity)(context, builder, iv).data
        p = context.make_array(pty)(context, builder, pv)
        off = cgutils.alloca_once(builder, i64)
        cnt = cgutils.alloca_once(builder, i64)
        with builder.if_else(builder.icmp_unsigned("==", builder.extract_value(p.shape, 0), i64(0))) as (
            each,
            kept,
        ):
            with each:  # no room to keep the lists: built at I[0:] every time
                builder.store(i64(0), off)
                builder.store(_nonzero_inputs(context, builder, xty, x, a, b, lists, i64(0)), cnt)
            with kept:
                pj = builder.load(builder.gep(p.data, [j]))
                nxt = builder.gep(p.data, [builder.add(j, i64(1))])
                with builder.if_then(build):
                    builder.store(builder.add(pj, _nonzero_inputs(context, builder, xty, x, a, b, lists, pj)), nxt)
                builder.store(pj, off)
                builder.store(builder.sub(builder.load(nxt), pj), cnt)
        return context.make_tuple(builder, sig.return_type, [builder.load(off), builder.load(cnt)])

    return sig, codegen
