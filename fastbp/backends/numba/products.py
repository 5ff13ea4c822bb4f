"""The layer products of the numba backend: ``@intrinsic`` kernels emitting LLVM vector IR.

Layout (``layout``): one network's weights are one flat buffer; layer l is
row-major ``(r, cp)`` at element offset ``wo``, its ``c`` columns zero-padded
to ``cp``, a multiple of ``lanes(dtype)`` (4 float64 / 8 float32 per 256-bit
vector), each layer 64-byte aligned. Activations and deltas are rows of
another flat buffer (padded delta lanes are zero; padded activation lanes
are never read). Every offset counts elements from the start of an array's
data.

- ``vec_forward_split(W, wo, A, ao, O, oo, r, cn, ld)``: ``O[oo:oo+cn] =
  A[ao:ao+r] @ W`` for the (r, cn) block of W at ``wo`` whose rows are
  ``ld`` elements apart (a whole layer: cn = ld = cp; a thread's slice of
  its columns: cn < ld), the output lanes held in registers while the loop
  runs over the r inputs (panels of at most ``PANEL`` vectors, so nothing
  spills), even and odd inputs summed apart (the hidden layers);
  ``vec_forward_chain``: the same product computed by several threads in
  turn, each over its block of rows (``team``).
- ``vec_forward_rows(W, wo, A, ao, O, oo, I, io, m, cn, ld)``: the same
  product over the m rows listed in ``I[io:]`` (the first layer, its
  nonzero inputs), summed in list order; a bool ``I`` stands for rows
  0 .. m-1 (every row, no index loads).
- ``vec_update_forward_rows(W, wo, P, po, D, do, A, ao, O, oo, I, io, m, cn,
  ld, alpha)``: the first layer's update for one sample, ``W[i] -= (alpha
  P[po+i]) D[do:]``, fused with the forward product of the NEXT sample's
  input ``A[ao:]`` through the updated rows (each weight loaded and stored
  once per sample), over the listed rows; ``vec_update_rows``: the update
  alone (a batch's last sample).
- ``backward(W, wo, A, ao, D, do, DP, dpo, r, cp, alpha, act)``: for each
  row i, the hidden delta ``DP[dpo+i] = (W[i] . D) * act'(a_i)`` with the
  weights before the update, then the update ``W[i] -= (alpha * a_i) * D``;
  ``delta``: the hidden delta alone (the public per-layer kernel). One loop
  serves every hidden unit: the unit code ``act`` picks the derivative
  after the dot products.

The update of a weight is the same FMA in all of them (``w + (-(alpha a_i))
* d_j``) and the first layer's forward sums in input order in both of its
kernels, so a batch in one call gives bit for bit the weights of one call
per sample (rows of zero inputs, listed or not, change no value: up to the
sign of a zero). Padded weights stay zero (their deltas are zero). The
functions that inline them have no fast-math flags, so their sums run in the
order written.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .codegen import PANEL, Emit, check_floats
from .units import RELU, SIGMOID, TANH, derivative

#: the first layer's update kernels keep the delta's vectors of a panel of at
#: most this many vectors in registers for the whole row loop (a wider panel
#: reads them from memory at each row: beside 6 accumulators they spilled);
#: holding them measured 1.04-1.06x the digits epoch float64, 1.01x float32
#: (``python -m benchmarks.units_speed``)
HOLD_D = 5
#: rows of a backward group: their four dot products are reduced together
#: and their deltas stored as one 4-lane vector
GROUP = 4


def _forward_codegen(chain=False):
    """``vec_forward_split``: the even and the odd inputs summed in two sets
    of accumulators, added at the end; ``chain``: ``vec_forward_chain``, the
    two sets started from and left in Q unless ``first`` / ``last``."""

    def codegen(context, builder, sig, args):
        dt = sig.args[0].dtype
        e = Emit(context, builder, dt)
        ptrs, ints = e.operands(context, sig, args)
        if chain:
            (w0, a0, q0, o0), (rv, cnv, ldv, qsv, firstv, lastv) = ptrs, ints
        else:
            (w0, a0, o0), (rv, cnv, ldv) = ptrs, ints
        acc = [[cgutils.alloca_once(builder, e.vty) for _ in range(PANEL)] for _ in range(2)]
        nvec = builder.udiv(cnv, e.const(e.V))

        def body(start, nv):
            col = builder.mul(start, e.const(e.V))

            def step(i, a):
                x = e.splat(builder.load(e.at(a0, i)))
                row = e.at(w0, builder.add(builder.mul(i, ldv), col))
                for v in range(nv):
                    w = e.load(e.at(row, e.const(v * e.V)))
                    builder.store(e.fma(w, x, builder.load(a[v])), a[v])

            def sets():  # the sets' places in Q: even at qo, odd at qo + qs
                return [e.at(q0, col), e.at(q0, builder.add(qsv, col))]

            for a in acc:
                for v in range(nv):
                    builder.store(e.zero, a[v])
            if chain:
                with builder.if_then(builder.icmp_signed("==", firstv, e.const(0))):
                    for a, q in zip(acc, sets(), strict=True):
                        for v in range(nv):
                            builder.store(e.load(e.at(q, e.const(v * e.V))), a[v])
            # inputs 0, 2, 4, ... into one set, 1, 3, 5, ... into the other
            with cgutils.for_range(builder, builder.udiv(rv, e.const(2))) as li:
                i = builder.mul(li.index, e.const(2))
                step(i, acc[0])
                step(builder.add(i, e.const(1)), acc[1])
            with cgutils.for_range(builder, builder.urem(rv, e.const(2))) as li:
                step(builder.sub(rv, e.const(1)), acc[0])

            def finish():
                for v in range(nv):
                    out = builder.fadd(builder.load(acc[0][v]), builder.load(acc[1][v]))
                    e.store(out, e.at(o0, builder.add(col, e.const(v * e.V))))

            if not chain:
                finish()
                return
            with builder.if_else(builder.icmp_signed("!=", lastv, e.const(0))) as (last, more):
                with last:
                    finish()
                with more:
                    for a, q in zip(acc, sets(), strict=True):
                        for v in range(nv):
                            e.store(builder.load(a[v]), e.at(q, e.const(v * e.V)))

        e.panels(nvec, body)
        return context.get_dummy_value()

    return codegen


@intrinsic
def vec_forward_split(typingctx, W, wo, A, ao, O, oo, r, cn, ld):
    """O[oo:oo+cn] = A[ao:ao+r] @ W, W the (r, cn) block at W[wo:] with rows
    ``ld`` elements apart, the even and the odd inputs summed separately,
    then added: half the dependency chain (hidden layers, latency-bound)."""
    check_floats(W, A, O)
    ip = types.intp
    return types.void(W, ip, A, ip, O, ip, ip, ip, ip), _forward_codegen()


@intrinsic
def vec_forward_chain(typingctx, W, wo, A, ao, Q, qo, O, oo, r, cn, ld, qs, first, last):
    """One link of ``vec_forward_split`` computed by several threads in turn,
    each over its block of rows in row order: rows r of the block at W[wo:]
    (rows ``ld`` apart) times A[ao:ao+r], the even and the odd inputs' sums
    (even rows of the block: even rows of the layer, blocks starting on
    even rows) started from zero (``first``) or from the previous link's
    sets in Q[qo:qo+cn] and Q[qo+qs:qo+qs+cn], then left there for the next
    link or (``last``) added into O[oo:oo+cn]: the bits of one
    ``vec_forward_split`` over every row."""
    check_floats(W, A, Q, O)
    ip = types.intp
    sig = types.void(W, ip, A, ip, Q, ip, O, ip, ip, ip, ip, ip, ip, ip)
    return sig, _forward_codegen(chain=True)


def _row_index(builder, every, ip, k):
    """Row k of a list of rows: k itself for ``every`` (a bool "index
    array": every row), else element k of the int32/int64 index array."""
    if every:
        return k
    i = builder.load(builder.gep(ip, [k]))
    return i if i.type.width == 64 else builder.sext(i, ir.IntType(64))


def _check_rows(I) -> bool:
    """Whether the index array ``I`` stands for every row (dtype bool)."""
    if not (isinstance(I, types.Array) and I.dtype in (types.int32, types.int64, types.boolean) and I.layout == "C"):
        raise TypeError("fastbp's first-layer kernels take a C-contiguous int32, int64 or bool index array")
    return I.dtype == types.boolean


@intrinsic
def vec_forward_rows(typingctx, W, wo, A, ao, O, oo, I, io, m, cn, ld):
    """``O[oo:oo+cn] = sum of A[ao+i] * W[wo + i*ld:]`` over the rows i
    listed in ``I[io:io+m]`` (ascending), in list order; with a bool ``I``
    over rows 0 .. m-1 (no index loads). With the zero inputs left out of
    the list it gives the sums over every row bit for bit (a term x * w with
    x = 0 adds a zero), up to the sign of a sum that is exactly zero, for
    finite weights."""
    check_floats(W, A, O)
    every = _check_rows(I)
    ip = types.intp
    sig = types.void(W, ip, A, ip, O, ip, I, ip, ip, ip, ip)

    def codegen(context, builder, sig, args):
        dt = sig.args[0].dtype
        e = Emit(context, builder, dt)
        (w0, a0, o0, i0), (mv, cnv, ldv) = e.operands(context, sig, args)
        acc = [cgutils.alloca_once(builder, e.vty) for _ in range(PANEL)]
        nvec = builder.udiv(cnv, e.const(e.V))

        def body(start, nv):
            col = builder.mul(start, e.const(e.V))
            for v in range(nv):
                builder.store(e.zero, acc[v])
            with cgutils.for_range(builder, mv) as lk:
                i = _row_index(builder, every, i0, lk.index)
                x = e.splat(builder.load(e.at(a0, i)))
                row = e.at(w0, builder.add(builder.mul(i, ldv), col))
                for v in range(nv):
                    w = e.load(e.at(row, e.const(v * e.V)))
                    builder.store(e.fma(w, x, builder.load(acc[v])), acc[v])
            for v in range(nv):
                e.store(builder.load(acc[v]), e.at(o0, builder.add(col, e.const(v * e.V))))

        e.panels(nvec, body)
        return context.get_dummy_value()

    return sig, codegen


def _update_forward_codegen(every, forward):
    """``vec_update_forward_rows`` (``forward``: the update fused with the
    next product) or ``vec_update_rows``, over the rows listed in an index
    array or (``every``) over rows 0 .. m-1."""

    def codegen(context, builder, sig, args):
        dt = sig.args[0].dtype
        e = Emit(context, builder, dt)
        ptrs, (rv, cnv, ldv, alv) = e.operands(context, sig, args)
        w0, p0, d0 = ptrs[:3]
        a0, o0 = ptrs[3:5] if forward else (None, None)
        i0 = ptrs[-1]
        acc = [cgutils.alloca_once(builder, e.vty) for _ in range(PANEL)]
        nvec = builder.udiv(cnv, e.const(e.V))
        nalpha = builder.fneg(alv)  # (-alpha) * p == -(alpha * p) exactly

        def body(start, nv):
            col = builder.mul(start, e.const(e.V))
            dcol = e.at(d0, col)
            if forward:
                for v in range(nv):
                    builder.store(e.zero, acc[v])
            # the panel's deltas in registers (HOLD_D): a row then costs one load and one
            # store a vector, not two loads (digits float64: 1.04-1.06x the epoch)
            held = [e.load(e.at(dcol, e.const(v * e.V))) for v in range(nv)] if nv <= HOLD_D else None
            with cgutils.for_range(builder, rv) as li:
                i = _row_index(builder, every, i0, li.index)
                g = e.splat(builder.fmul(nalpha, builder.load(e.at(p0, i))))
                if forward:
                    x = e.splat(builder.load(e.at(a0, i)))
                row = e.at(w0, builder.add(builder.mul(i, ldv), col))
                for v in range(nv):
                    pw = e.at(row, e.const(v * e.V))
                    dv = held[v] if held is not None else e.load(e.at(dcol, e.const(v * e.V)))
                    w = e.fma(g, dv, e.load(pw))
                    e.store(w, pw)
                    if forward:
                        builder.store(e.fma(w, x, builder.load(acc[v])), acc[v])
            if forward:
                for v in range(nv):
                    e.store(builder.load(acc[v]), e.at(o0, builder.add(col, e.const(v * e.V))))

        e.panels(nvec, body)
        return context.get_dummy_value()

    return codegen


@intrinsic
def vec_update_forward_rows(typingctx, W, wo, P, po, D, do, A, ao, O, oo, I, io, m, cn, ld, alpha):
    """The first layer's update for one sample fused with the next sample's
    product, over the rows i listed in ``I[io:io+m]`` (ascending; a bool
    ``I``: rows 0 .. m-1): ``W[i] -= (alpha * P[po+i]) * D[do:do+cn]``, then
    ``O[oo:oo+cn] += A[ao+i] * W[i]`` (the updated row; O summed in list
    order from zero), W the (r, cn) block at W[wo:] with rows ``ld``
    elements apart: each listed weight loaded and stored once. The training
    kernels list the rows where P's or A's input is nonzero: a row left out
    would get an update by zero and add a zero to the product, so the
    weights and the product are those over every row (and the product
    vec_forward_rows' over A's nonzero inputs) up to the sign of a zero,
    for finite weights and deltas."""
    dt = check_floats(W, P, D, A, O)
    every = _check_rows(I)
    ip = types.intp
    sig = types.void(W, ip, P, ip, D, ip, A, ip, O, ip, I, ip, ip, ip, ip, dt)
    return sig, _update_forward_codegen(every, True)


@intrinsic
def vec_update_rows(typingctx, W, wo, P, po, D, do, I, io, m, cn, ld, alpha):
    """W[i] -= (alpha * P[po+i]) * D[do:do+cn] for the rows i listed in
    ``I[io:io+m]`` (a bool ``I``: rows 0 .. m-1), W the (r, cn) block at
    W[wo:] with rows ``ld`` apart (the first layer's update of a batch's
    last sample)."""
    dt = check_floats(W, P, D)
    every = _check_rows(I)
    ip = types.intp
    sig = types.void(W, ip, P, ip, D, ip, I, ip, ip, ip, ip, dt)
    return sig, _update_forward_codegen(every, False)


def _backward_codegen(update):
    """``backward`` (``update``) or ``delta``: the hidden delta with the
    derivative of the unit whose code is the last argument taken on the
    activation value (``units.derivative``), and the update."""

    def codegen(context, builder, sig, args):
        dt = sig.args[0].dtype
        e = Emit(context, builder, dt)
        ptrs, rest = e.operands(context, sig, args)
        w0, a0, d0, dp0 = ptrs
        rv, cpv = rest[:2]
        actv = rest[-1]
        acc = [cgutils.alloca_once(builder, e.vty) for _ in range(GROUP)]
        nvec = builder.udiv(cpv, e.const(e.V))
        nalpha = builder.fneg(rest[2]) if update else None  # (-alpha) * a == -(alpha * a) exactly

        def rows(first, n):
            """Delta and update of rows first .. first+n-1 (n a Python int)."""
            ai = [builder.load(e.at(a0, builder.add(first, e.const(k)))) for k in range(n)]
            g = [e.splat(builder.fmul(nalpha, x)) for x in ai] if update else []
            row = [e.at(w0, builder.mul(builder.add(first, e.const(k)), cpv)) for k in range(n)]
            for k in range(n):
                builder.store(e.zero, acc[k])
            with cgutils.for_range(builder, nvec) as lv:
                off = builder.mul(lv.index, e.const(e.V))
                d = e.load(e.at(d0, off))
                for k in range(n):
                    pw = e.at(row[k], off)
                    w = e.load(pw)
                    builder.store(e.fma(w, d, builder.load(acc[k])), acc[k])
                    if update:
                        e.store(e.fma(g[k], d, w), pw)
            sums = e.reduce4([builder.load(acc[k]) for k in range(n)])
            if n == GROUP:  # the four deltas as one 4-lane store (a later vector load can forward from it)
                v4 = ir.VectorType(e.f, GROUP)
                a4 = builder.load(builder.bitcast(e.at(a0, first), v4.as_pointer()), align=e.size)
                dp = any_derivative(builder, actv, sums, a4, ir.Constant(v4, [1.0] * GROUP), ir.Constant(v4, None))
                builder.store(dp, builder.bitcast(e.at(dp0, first), v4.as_pointer()), align=e.size)
            else:
                dp = any_derivative(builder, actv, sums, ai[0], ir.Constant(e.f, 1.0), ir.Constant(e.f, 0.0))
                builder.store(dp, e.at(dp0, first))

        ngroups = builder.udiv(rv, e.const(GROUP))
        with cgutils.for_range(builder, ngroups) as lg:
            rows(builder.mul(lg.index, e.const(GROUP)), GROUP)
        with cgutils.for_range(builder, builder.urem(rv, e.const(GROUP))) as lr:
            rows(builder.add(builder.mul(ngroups, e.const(GROUP)), lr.index), 1)
        return context.get_dummy_value()

    return codegen


def any_derivative(b, actv, sums, a, one, zero):
    """``units.derivative`` of the hidden unit whose code is the IR integer
    ``actv``: each unit's product computed as ``derivative`` writes it, one
    of them selected (sigmoid, tanh, else relu; no branch, and with a
    constant code LLVM keeps that unit's alone)."""
    i64 = ir.IntType(64)
    tanh_or_relu = b.select(
        b.icmp_signed("==", actv, ir.Constant(i64, TANH)),
        derivative(b, TANH, sums, a, one, zero),
        derivative(b, RELU, sums, a, one, zero),
    )
    return b.select(
        b.icmp_signed("==", actv, ir.Constant(i64, SIGMOID)), derivative(b, SIGMOID, sums, a, one, zero), tanh_or_relu
    )


@intrinsic
def backward(typingctx, W, wo, A, ao, D, do, DP, dpo, r, cp, alpha, act):
    """The hidden delta and the update of hidden units ``act`` (a code):
    DP[dpo+i] = (W[i] . D[do:do+cp]) * act'(A[ao+i]) with the old weights,
    then W[i] -= (alpha * A[ao+i]) * D, for each row i < r of the (r, cp)
    block at W[wo:] (rows in groups of GROUP, their dot products reduced
    together)."""
    dt = check_floats(W, A, D, DP)
    ip = types.intp
    return types.void(W, ip, A, ip, D, ip, DP, ip, ip, ip, dt, ip), _backward_codegen(True)


@intrinsic
def delta(typingctx, W, wo, A, ao, D, do, DP, dpo, r, cp, act):
    """``backward``'s hidden delta alone (no update): the public per-layer kernel."""
    check_floats(W, A, D, DP)
    ip = types.intp
    return types.void(W, ip, A, ip, D, ip, DP, ip, ip, ip, ip), _backward_codegen(False)
