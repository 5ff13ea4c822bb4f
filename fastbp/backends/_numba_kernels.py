"""The compiled kernels of the numba backend (imported lazily by numba_backend).

Importing this module defines the ``@njit`` functions but compiles nothing:
Numba compiles each one on its first call, or loads it from its on-disk cache
(``cache=True``: ``__pycache__`` next to this file, or ``NUMBA_CACHE_DIR``).

Per-sample SGD epoch
--------------------
``train`` runs many epochs of every sample of a batch in order, for any
number of layers and K networks one after the other, in ONE compiled call,
and computes each network's reference loss after the epochs asked for
(``_loss``), or hands a snapshot of the weights to ``loss_helper`` running on
another thread. ``train_team`` is the same training for one network run by
T threads at once, each step split between them (section "one network on
several threads"). All release the GIL (``nogil``): the backend runs groups
of networks, loss helpers and teams on Python threads.
Nothing is allocated per sample and no array view is made per sample (a
Numba view costs an atomic reference-count pair): each network's weights are
ONE flat buffer (a row of ``slab``) and its activations and deltas another
(a row of ``scratch``), addressed by element offsets from ``meta``.

Layout (set up by ``numba_backend._Layout``): layer l is row-major ``(r,
cp)`` at offset ``meta[l, 0]``, its ``c`` output columns zero-padded to
``cp``, a whole number of 256-bit vectors (of 64-byte cache lines for
layers of 64 columns or more, so threads splitting their columns write
disjoint lines); each layer starts on a cache line and each network's
buffers take a multiple of 128 bytes, so networks trained by different
threads never share a cache line (sharing one cost a 2-core run of 8
networks a third of its throughput). Padded weights and delta lanes stay
zero; padded activation lanes hold sigmoids of whatever is there and are
never read.

Per sample (the tutorial's step), with the explicit-vector kernels below:
``vec_forward_split`` for layers 1.. (the outputs of a layer held in vector
registers while the loop runs over its inputs), ``vec_sigmoid``, the output
delta, then for l = L-1 .. 1 ``vec_backward``: per row i of W[l] the hidden
delta ``(W[i] . d) * a_i * (1 - a_i)`` from the old weights (four rows' dot
products reduced together) and the update ``W[i] -= (alpha a_i) d`` in the
same pass. The first layer's update of sample n is fused with its forward
product for sample n+1 (``vec_update_forward_rows``): every first-layer
weight is loaded and stored once per sample, not twice, and only the rows
where sample n's or sample n+1's input is nonzero are touched (a row of a
zero input gets an update by zero and adds a zero to the product; section
"per-sample SGD"). Inputs with few zeros run over every row instead.

Tried and dropped before these kernels (digits, 2-core EPYC, interleaved
A/B in one process), with Numba source loops: padding widths to 8 with fixed
8-wide loops (gathers: 2-4x slower); hand-written 4-column chunks (not
vectorised: Numba runs LLVM without the SLP vectoriser); widths as
compile-time constants (0.6-0.7x); skipping zero inputs of layer 0 (0.97-
1.03x then; with these kernels it is kept); indexing one flat buffer with
signed offsets in Numba source (the negative-index wraparound then costs a
select per access and nothing vectorises).

Fast-math and the sigmoid
-------------------------
The training kernels (``train``, ``train_team``, ``loss_helper`` and what
they inline) are compiled without fast-math flags: Numba's fast-math pass
puts its flags on every floating-point instruction of a function, the
vector kernels' too, and with ``reassoc``/``contract`` LLVM may round the
same weight update differently in two functions, which would break the
bit-for-bit equalities (one call or one call per sample, one thread or a
team). The per-layer kernels at the end use every LLVM fast-math flag except
``nnan`` and ``ninf`` (IEEE infinities and NaNs keep their meaning, so a
diverging network still shows NaN/inf); ``error_model="numpy"`` removes the
division-by-zero branch everywhere.

The sigmoid ``1 / (1 + exp(-z))`` (``vec_sigmoid``, the only sigmoid of this
backend: the epoch and the batched ``forward``/``predict``/``loss`` use it)
has its own exp, since libm's is a scalar call (without SVML it was half the
cost of a digits epoch): Cody-Waite reduction ``x = -z = k ln2 + r``, ``e^r =
(R + r) / (R - r)`` with fdlibm's ``R = 2 + r^2 P(r^2)`` on ``|r| <= ln2/2``
(``P`` of degree 4, error < 2**-59), so the sigmoid is ``(R - r) / ((R - r) +
2^k (R + r))`` with one division, and ``2^k`` built from the bits of the
round-to-nearest shifter ``t = x log2(e) + 1.5 * 2**52``. Within 4 ulp of
``scipy.special.expit`` (tested). ``x`` is clamped to [-708, 708], so no
finite input overflows: ``z = +-1000`` gives exactly 1 and 3.3e-308 (expit:
1 and 0), never NaN/inf; NaN stays NaN. float32 activations are computed
through the float64 sigmoid (then rounded once).
"""

from __future__ import annotations

import math
import platform
import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

#: Fast-math flags of the arithmetic kernels: all but no-NaNs / no-infs.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_OPTS = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True, boundscheck=False)
#: The training kernels: no fast-math flags (Numba's fast-math pass would put
#: them on the vector kernels' instructions too, and LLVM could then round
#: the same weight differently in two kernels)
_EXACT = dict(cache=True, error_model="numpy", nogil=True, boundscheck=False)


# ------------------------------------------------------------ sigmoid constants
_LOG2E = 1.4426950408889634
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: t = y + S rounds y to an integer in t's low bits
_LN2HI = 6.93147180369123816490e-01  # Cody-Waite split of ln 2 (fdlibm)
_LN2LO = 1.90821492927058770002e-10
_EXPC = tuple(1.0 / math.factorial(i) for i in range(14))
_XMAX = 708.0  # e^708 and e^-708 are normal float64s


# ======================================================= explicit vectors
# Numba compiles with LLVM's loop vectoriser on and its SLP (straight-line)
# vectoriser off (numba#8852: SLP miscompilations), so code that keeps many
# outputs of a layer in vector registers across a loop cannot be written as
# plain Numba source. These functions are Numba ``@intrinsic``s: at compile
# time they emit that LLVM IR directly (256-bit vectors, ``llvm.fma``), inline
# in the calling ``@njit`` function, and are cached with it (``cache=True``).
#
# Layout (set up by ``numba_backend``): one network's weights are one flat
# buffer; layer l is row-major ``(r, cp)`` at element offset ``woff``, its
# ``c`` columns zero-padded to ``cp``, a multiple of ``lanes(dtype)`` (4 float64 /
# 8 float32 per 256-bit vector), each layer 64-byte aligned. Activations and
# deltas are rows of another flat buffer (padded delta lanes are zero; padded
# activation lanes are never read).
# Every offset below counts elements from the start of an array's data.
#
# - ``vec_forward_split(W, wo, A, ao, O, oo, r, cn, ld)``: ``O[oo:oo+cn] =
#   A[ao:ao+r] @ W`` for the (r, cn) block of W at ``wo`` whose rows are
#   ``ld`` elements apart (a whole layer: cn = ld = cp; a thread's slice of
#   its columns: cn < ld), the output lanes held in registers while the loop
#   runs over the r inputs (panels of at most ``PANEL`` vectors, so nothing
#   spills), even and odd inputs summed apart (the hidden layers).
# - ``vec_forward_rows(W, wo, A, ao, O, oo, I, io, m, cn, ld)``: the same
#   product over the m rows listed in ``I[io:]`` (the first layer, its
#   nonzero inputs), summed in list order; a bool ``I`` stands for rows
#   0 .. m-1 (every row, no index loads).
# - ``vec_update_forward_rows(W, wo, P, po, D, do, A, ao, O, oo, I, io, m, cn,
#   ld, alpha)``: the first layer's update for one sample, ``W[i] -= (alpha
#   P[po+i]) D[do:]``, fused with the forward product of the NEXT sample's
#   input ``A[ao:]`` through the updated rows (each weight loaded and stored
#   once per sample), over the listed rows; ``vec_update_rows``: the update
#   alone (a batch's last sample).
# - ``vec_backward(W, wo, A, ao, D, do, DP, dpo, r, cp, alpha)``: for each row i,
#   the hidden delta ``DP[dpo+i] = (W[i] . D) * a_i * (1 - a_i)`` with the
#   weights before the update, then the update ``W[i] -= (alpha * a_i) * D``.
# - ``vec_sigmoid``: the sigmoid over whole vectors; ``out_delta``: the
#   output delta, scalar.
#
# The update of a weight is the same FMA in all of them (``w + (-(alpha a_i))
# * d_j``) and the first layer's forward sums in input order in both of its
# kernels, so a batch in one call gives bit for bit the weights of one call
# per sample (rows of zero inputs, listed or not, change no value: up to the
# sign of a zero). Padded weights stay zero (their deltas are zero). The
# training kernels that inline them have no fast-math flags, so their sums
# run in the order written.

#: bytes per vector (AVX2 ymm; LLVM splits or joins them for other targets)
VEC_BYTES = 32
#: at most this many vectors of outputs are held in registers at once
PANEL = 6
#: the first layer's update kernels keep the delta's vectors of a panel of at
#: most this many vectors in registers for the whole row loop (a wider panel
#: reads them from memory at each row: beside 6 accumulators they spilled)
HOLD_D = 5


def lanes(dtype) -> int:
    """Elements per vector for a NumPy dtype (4 float64, 8 float32)."""
    return VEC_BYTES // np.dtype(dtype).itemsize


class _Emit:
    """IR helpers for one intrinsic call: vectors of the arrays' float type."""

    def __init__(self, context, builder, fltty):
        self.b = builder
        self.f = context.get_value_type(fltty)
        self.size = 8 if fltty == types.float64 else 4
        self.V = VEC_BYTES // self.size
        self.vty = ir.VectorType(self.f, self.V)
        self.i64 = ir.IntType(64)
        fn = ir.FunctionType(self.vty, [self.vty] * 3)
        self._fma = cgutils.get_or_insert_function(builder.module, fn, f"llvm.fma.v{self.V}f{8 * self.size}")
        self.zero = ir.Constant(self.vty, None)

    def const(self, n):
        return ir.Constant(self.i64, n)

    def ptr(self, context, aryty, ary, off):
        """Pointer to element ``off`` of a C-contiguous array."""
        data = context.make_array(aryty)(context, self.b, ary).data
        return self.b.gep(data, [off])

    def operands(self, context, sig, args):
        """Pointers for the (array, element offset) argument pairs, in order,
        and the other (scalar) arguments, in order."""
        ptrs, rest, k = [], [], 0
        while k < len(args):
            if isinstance(sig.args[k], types.Array):
                ptrs.append(self.ptr(context, sig.args[k], args[k], args[k + 1]))
                k += 2
            else:
                rest.append(args[k])
                k += 1
        return ptrs, rest

    def at(self, p, n):
        return self.b.gep(p, [n])

    def load(self, p):
        return self.b.load(self.b.bitcast(p, self.vty.as_pointer()), align=self.size)

    def store(self, v, p):
        self.b.store(v, self.b.bitcast(p, self.vty.as_pointer()), align=self.size)

    def fma(self, a, x, y):
        return self.b.call(self._fma, [a, x, y])

    def splat(self, s):
        b = self.b
        v = b.insert_element(ir.Constant(self.vty, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), self.V), [0] * self.V)
        return b.shuffle_vector(v, ir.Constant(self.vty, ir.Undefined), mask)

    def _fold4(self, v):
        """A vector's lanes folded to 4 by adding halves (lanes j and j+n)."""
        b, n = self.b, self.V
        while n > 4:
            n //= 2
            v = b.fadd(self.pick(v, v, range(n)), self.pick(v, v, range(n, 2 * n)))
        return v

    def pick(self, x, y, idx):
        idx = list(idx)
        return self.b.shuffle_vector(x, y, ir.Constant(ir.VectorType(ir.IntType(32), len(idx)), idx))

    def reduce4(self, vs):
        """The lane sums of 1 to 4 vectors, always in the order
        ((x0 + x2) + (x1 + x3)) after folding to 4 lanes: a scalar for one
        vector, else a 4-lane vector whose lane k is the sum of vs[k]."""
        b = self.b
        xs = [self._fold4(v) for v in vs]
        if len(xs) == 1:
            x = xs[0]
            h = b.fadd(self.pick(x, x, [0, 1]), self.pick(x, x, [2, 3]))
            return b.fadd(
                b.extract_element(h, ir.Constant(ir.IntType(32), 0)),
                b.extract_element(h, ir.Constant(ir.IntType(32), 1)),
            )
        while len(xs) < 4:
            xs.append(ir.Constant(xs[0].type, None))
        x0, x1, x2, x3 = xs
        s01 = b.fadd(self.pick(x0, x1, [0, 4, 1, 5]), self.pick(x0, x1, [2, 6, 3, 7]))
        s23 = b.fadd(self.pick(x2, x3, [0, 4, 1, 5]), self.pick(x2, x3, [2, 6, 3, 7]))
        return b.fadd(self.pick(s01, s23, [0, 1, 4, 5]), self.pick(s01, s23, [2, 3, 6, 7]))

    def panels(self, nvec, body):
        """Splits ``nvec`` vectors into near-equal panels of at most PANEL and
        calls ``body(first_vector, nv)`` for each, nv a Python int (the panel's
        code is specialised by a switch on its width)."""
        b = self.b
        npan = b.udiv(b.add(nvec, self.const(PANEL - 1)), self.const(PANEL))
        div = b.select(b.icmp_unsigned("==", npan, self.const(0)), self.const(1), npan)  # nvec = 0: no panel
        base = b.udiv(nvec, div)
        extra = b.urem(nvec, div)
        with cgutils.for_range(b, npan) as lp:
            p = lp.index
            bigger = b.icmp_unsigned("<", p, extra)
            nv = b.add(base, b.zext(bigger, self.i64))
            start = b.add(b.mul(p, base), b.select(bigger, p, extra))
            done = b.append_basic_block("panel.done")
            sw = b.switch(nv, done)
            for k in range(1, PANEL + 1):
                blk = b.append_basic_block(f"panel.{k}")
                sw.add_case(self.const(k), blk)
                b.position_at_end(blk)
                body(start, k)
                b.branch(done)
            b.position_at_end(done)


def _check(*arrays):
    dt = arrays[0].dtype
    for a in arrays:
        if (
            not isinstance(a, types.Array)
            or a.layout != "C"
            or a.dtype != dt
            or dt not in (types.float32, types.float64)
        ):
            raise TypeError("fastbp simd kernels take C-contiguous float32/float64 arrays of one dtype")
    return dt


def _forward_codegen(chain=False):
    """``vec_forward_split``: the even and the odd inputs summed in two sets
    of accumulators, added at the end; ``chain``: ``vec_forward_chain``, the
    two sets started from and left in Q unless ``first`` / ``last``."""

    def codegen(context, builder, sig, args):
        dt = sig.args[0].dtype
        e = _Emit(context, builder, dt)
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
    _check(W, A, O)
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
    _check(W, A, Q, O)
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
    _check(W, A, O)
    every = _check_rows(I)
    ip = types.intp
    sig = types.void(W, ip, A, ip, O, ip, I, ip, ip, ip, ip)

    def codegen(context, builder, sig, args):
        dt = sig.args[0].dtype
        e = _Emit(context, builder, dt)
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
        e = _Emit(context, builder, dt)
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
    dt = _check(W, P, D, A, O)
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
    dt = _check(W, P, D)
    every = _check_rows(I)
    ip = types.intp
    sig = types.void(W, ip, P, ip, D, ip, I, ip, ip, ip, ip, dt)
    return sig, _update_forward_codegen(every, False)


def _backward_codegen(act="sigmoid"):
    """``vec_backward``: the hidden delta with the derivative of ``act`` on
    the activation value fused in, and the update."""
    G = 4  # rows per group: their four dot products are reduced together

    def derivative(b, sums, a, one, zero):
        """sums * act'(a), in the order the NumPy backend writes it."""
        if act == "sigmoid":
            return b.fmul(b.fmul(sums, a), b.fsub(one, a))
        if act == "tanh":
            return b.fmul(sums, b.fsub(one, b.fmul(a, a)))
        return b.select(b.fcmp_ordered(">", a, zero), sums, zero)  # relu: 1 where a > 0

    def codegen(context, builder, sig, args):
        dt = sig.args[0].dtype
        e = _Emit(context, builder, dt)
        ptrs, (rv, cpv, alv) = e.operands(context, sig, args)
        w0, a0, d0 = ptrs[:3]
        dp0 = ptrs[3]
        acc = [cgutils.alloca_once(builder, e.vty) for _ in range(G)]
        nvec = builder.udiv(cpv, e.const(e.V))
        nalpha = builder.fneg(alv)  # (-alpha) * a == -(alpha * a) exactly

        def rows(first, n):
            """Delta and update of rows first .. first+n-1 (n a Python int)."""
            ai = [builder.load(e.at(a0, builder.add(first, e.const(k)))) for k in range(n)]
            g = [e.splat(builder.fmul(nalpha, x)) for x in ai]
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
                    e.store(e.fma(g[k], d, w), pw)
            sums = e.reduce4([builder.load(acc[k]) for k in range(n)])
            if n == G:  # the four deltas as one 4-lane store (a later vector load can forward from it)
                v4 = ir.VectorType(e.f, G)
                a4 = builder.load(builder.bitcast(e.at(a0, first), v4.as_pointer()), align=e.size)
                dp = derivative(builder, sums, a4, ir.Constant(v4, [1.0] * G), ir.Constant(v4, None))
                builder.store(dp, builder.bitcast(e.at(dp0, first), v4.as_pointer()), align=e.size)
            else:
                dp = derivative(builder, sums, ai[0], ir.Constant(e.f, 1.0), ir.Constant(e.f, 0.0))
                builder.store(dp, e.at(dp0, first))

        ngroups = builder.udiv(rv, e.const(G))
        with cgutils.for_range(builder, ngroups) as lg:
            rows(builder.mul(lg.index, e.const(G)), G)
        with cgutils.for_range(builder, builder.urem(rv, e.const(G))) as lr:
            rows(builder.add(builder.mul(ngroups, e.const(G)), lr.index), 1)
        return context.get_dummy_value()

    return codegen


@intrinsic
def vec_backward(typingctx, W, wo, A, ao, D, do, DP, dpo, r, cp, alpha):
    """DP[dpo+i] = (W[i] . D[do:do+cp]) * a_i * (1 - a_i) with the old
    weights, then W[i] -= (alpha * a_i) * D, for each row i < r."""
    dt = _check(W, A, D, DP)
    ip = types.intp
    return types.void(W, ip, A, ip, D, ip, DP, ip, ip, ip, dt), _backward_codegen()


@intrinsic
def vec_backward_tanh(typingctx, W, wo, A, ao, D, do, DP, dpo, r, cp, alpha):
    """vec_backward for tanh units: DP[dpo+i] = (W[i] . D) * (1 - a_i**2)."""
    dt = _check(W, A, D, DP)
    ip = types.intp
    return types.void(W, ip, A, ip, D, ip, DP, ip, ip, ip, dt), _backward_codegen("tanh")


@intrinsic
def vec_backward_relu(typingctx, W, wo, A, ao, D, do, DP, dpo, r, cp, alpha):
    """vec_backward for relu units: DP[dpo+i] = (W[i] . D) where a_i > 0, else 0."""
    dt = _check(W, A, D, DP)
    ip = types.intp
    return types.void(W, ip, A, ip, D, ip, DP, ip, ip, ip, dt), _backward_codegen("relu")


class _Wide:
    """float64 vector helpers of the exp-based units (float32 lanes are
    widened to float64 and rounded back once)."""

    def __init__(self, b, V):
        self.b, self.V = b, V
        self.dty = ir.VectorType(ir.DoubleType(), V)
        self.ity = ir.VectorType(ir.IntType(64), V)
        fn = ir.FunctionType(self.dty, [self.dty] * 3)
        self._fma = cgutils.get_or_insert_function(b.module, fn, f"llvm.fma.v{V}f64")

    def k(self, x):
        return ir.Constant(self.dty, [x] * self.V)

    def ik(self, x):
        return ir.Constant(self.ity, [x] * self.V)

    def mad(self, x, y, z):
        return self.b.call(self._fma, [x, y, z])

    def clamp(self, x, lo, hi):
        """x clamped to [lo, hi]; NaN stays NaN."""
        b = self.b
        x = b.select(b.fcmp_ordered("<", x, self.k(lo)), self.k(lo), x)
        return b.select(b.fcmp_ordered(">", x, self.k(hi)), self.k(hi), x)

    def reduce(self, x):
        """(r, t): ``x = k ln2 + r`` with ``|r| <= ln2/2`` (Cody-Waite), ``t``
        the round-to-nearest shifter whose low bits hold k."""
        b = self.b
        t = self.mad(x, self.k(_LOG2E), self.k(_SHIFT))
        kf = b.fsub(t, self.k(_SHIFT))
        r = self.mad(b.fneg(kf), self.k(_LN2HI), x)
        r = self.mad(b.fneg(kf), self.k(_LN2LO), r)
        return r, t

    def two_k(self, t):
        """``2**k`` from the shifter's bits."""
        b = self.b
        bits = b.add(b.shl(b.bitcast(t, self.ity), self.ik(52)), self.ik(1023 << 52))
        return b.bitcast(bits, self.dty)

    def poly(self, r, c):
        """``sum c[i] r**i`` over the 14 coefficients ``c``, by Estrin's
        scheme: a dependency chain of 4 multiply-adds instead of Horner's 13."""
        r2 = self.b.fmul(r, r)
        r4 = self.b.fmul(r2, r2)
        r8 = self.b.fmul(r4, r4)
        q = [self.mad(self.k(c[i + 1]), r, self.k(c[i])) for i in range(0, 14, 2)]  # c_i + c_(i+1) r
        s0 = self.mad(q[1], r2, q[0])
        s1 = self.mad(q[3], r2, q[2])
        s2 = self.mad(q[5], r2, q[4])
        u0 = self.mad(s1, r4, s0)
        u1 = self.mad(q[6], r4, s2)
        return self.mad(u1, r8, u0)


#: tanh z is 1.0 in float64 from |z| = 19.1 on: 2|z| is clamped here (e**44 is finite)
_TANH_XMAX = 44.0


#: fdlibm's e_exp.c: ``R(r) = r (e**r + 1) / (e**r - 1) = 2 + r**2 P(r**2)``
#: on ``|r| <= ln2/2`` to within 2**-59 (Remez), ``P`` of degree 4
_RC = (
    1.66666666666666019037e-01,
    -2.77777777770155933842e-03,
    6.61375632143793436117e-05,
    -1.65339022054652515390e-06,
    4.13813679705723846039e-08,
)


def _rational_R(w, r2):
    """fdlibm's ``R = 2 + r**2 P(r**2)`` (``_RC``, Horner's rule in r**2),
    with which ``e**r = (R + r) / (R - r)``; ``r2`` is r**2 (the same for -r)."""
    p = w.k(_RC[4])
    for c in _RC[3::-1]:
        p = w.mad(p, r2, w.k(c))
    return w.mad(r2, p, w.k(2.0))


def _sigmoid_wide(w, z):
    """1 / (1 + exp(-z)) of a float64 vector: with ``-z = k ln2 + r`` and
    ``e**r = (R + r) / (R - r)`` (``_RC``), ``(R - r) / ((R - r) + 2**k (R + r))``,
    the sigmoid's own division the only one."""
    b = w.b
    z = w.clamp(z, -_XMAX, _XMAX)
    t = w.mad(z, w.k(-_LOG2E), w.k(_SHIFT))  # k of -z in t's low bits
    kf = b.fsub(t, w.k(_SHIFT))
    q = w.mad(kf, w.k(_LN2HI), z)  # q = -r
    q = w.mad(kf, w.k(_LN2LO), q)
    R = _rational_R(w, b.fmul(q, q))
    num = b.fadd(R, q)  # R - r
    return b.fdiv(num, w.mad(w.two_k(t), b.fsub(R, q), num))


def _tanh_wide(w, z):
    """tanh z of a float64 vector: ``m / (m + 2)`` with ``m = expm1(2|z|)``,
    ``2|z| = k ln2 + r`` and ``e**r - 1 = 2r / (R - r)`` (``_RC``), so
    ``(2**k 2r + (2**k - 1)(R - r)) / (2**k 2r + (2**k + 1)(R - r))``: one
    division, no cancellation for small |z| (k = 0 gives r / R), the sign
    of z put back; NaN stays NaN."""
    b = w.b
    zi = b.bitcast(z, w.ity)
    sign = b.and_(zi, w.ik(1 << 63))
    az = b.bitcast(b.and_(zi, w.ik((1 << 63) - 1)), w.dty)
    x = b.fadd(az, az)
    x = b.select(b.fcmp_ordered(">", x, w.k(_TANH_XMAX)), w.k(_TANH_XMAX), x)
    r, t = w.reduce(x)
    d = b.fsub(_rational_R(w, b.fmul(r, r)), r)  # R - r
    s = w.two_k(t)
    u = b.fmul(b.fadd(r, r), s)  # 2**k 2r, exact
    y = b.fdiv(w.mad(b.fsub(s, w.k(1.0)), d, u), w.mad(b.fadd(s, w.k(1.0)), d, u))
    return b.bitcast(b.or_(b.bitcast(y, w.ity), sign), w.dty)


def _exp_wide(w, z):
    """exp z of a float64 vector, z clamped to [-708, 708] (within 2 ulp of NumPy's exp)."""
    r, t = w.reduce(w.clamp(z, -_XMAX, _XMAX))
    return w.b.fmul(w.poly(r, _EXPC), w.two_k(t))


def _elementwise(name, unit, doc):
    """The intrinsic ``name(Z, zo, n)``: ``Z[zo:zo+n] = unit(Z[zo:zo+n])`` in
    place, in whole vectors (the lanes up to the next multiple of ``lanes``
    are computed too: padding that nothing reads); ``unit`` None is relu."""

    def typer(typingctx, Z, zo, n):
        dt = _check(Z)
        sig = types.void(Z, types.intp, types.intp)

        def codegen(context, b, sig, args):
            e = _Emit(context, b, dt)
            (z0,), (nv,) = e.operands(context, sig, args)
            V = e.V
            w = _Wide(b, V)
            nvec = b.udiv(b.add(nv, e.const(V - 1)), e.const(V))
            with cgutils.for_range(b, nvec) as lv:
                p = e.at(z0, b.mul(lv.index, e.const(V)))
                z = e.load(p)
                if unit is None:  # relu, in the arrays' type: z < 0 -> 0 (NaN stays NaN)
                    y = b.select(b.fcmp_ordered("<", z, e.zero), e.zero, z)
                else:
                    y = unit(w, z if e.size == 8 else b.fpext(z, w.dty))
                    if e.size == 4:
                        y = b.fptrunc(y, e.vty)
                e.store(y, p)
            return context.get_dummy_value()

        return sig, codegen

    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = doc
    return intrinsic(typer)


vec_sigmoid = _elementwise(
    "vec_sigmoid",
    _sigmoid_wide,
    """Z[zo:zo+n] = 1 / (1 + exp(-Z[zo:zo+n])) in place: Cody-Waite
    reduction, fdlibm's rational form of exp, 2**k from the shifter's bits
    (module docstring, ``_sigmoid_wide``), in float64.""",
)
vec_tanh = _elementwise("vec_tanh", _tanh_wide, """Z[zo:zo+n] = tanh(Z[zo:zo+n]) in place (``_tanh_wide``).""")
vec_relu = _elementwise("vec_relu", None, """Z[zo:zo+n] = max(Z[zo:zo+n], 0) in place (NaN stays NaN).""")
vec_exp = _elementwise("vec_exp", _exp_wide, """Z[zo:zo+n] = exp(Z[zo:zo+n]) in place (``_exp_wide``).""")


@intrinsic
def out_delta(typingctx, A, ao, Y, yo, D, do, n):
    """D[do+j] = (A[ao+j] - Y[yo+j]) * A[ao+j] * (1 - A[ao+j]) for j < n, in
    the arrays' dtype, left to right and without fast-math flags: every
    kernel that computes an output delta gets the same bits."""
    dt = _check(A, Y, D)
    ip = types.intp
    sig = types.void(A, ip, Y, ip, D, ip, ip)

    def codegen(context, builder, sig, args):
        e = _Emit(context, builder, dt)
        (a0, y0, d0), (nv,) = e.operands(context, sig, args)
        one = ir.Constant(e.f, 1.0)
        with cgutils.for_range(builder, nv) as lj:
            j = lj.index
            o = builder.load(e.at(a0, j))
            d = builder.fmul(builder.fmul(builder.fsub(o, builder.load(e.at(y0, j))), o), builder.fsub(one, o))
            builder.store(d, e.at(d0, j))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def out_diff(typingctx, A, ao, Y, yo, D, do, n):
    """D[do+j] = A[ao+j] - Y[yo+j] for j < n: the output delta of linear
    units (squared error) and of softmax units (cross-entropy)."""
    dt = _check(A, Y, D)
    ip = types.intp
    sig = types.void(A, ip, Y, ip, D, ip, ip)

    def codegen(context, builder, sig, args):
        e = _Emit(context, builder, dt)
        (a0, y0, d0), (nv,) = e.operands(context, sig, args)
        with cgutils.for_range(builder, nv) as lj:
            j = lj.index
            builder.store(builder.fsub(builder.load(e.at(a0, j)), builder.load(e.at(y0, j))), e.at(d0, j))
        return context.get_dummy_value()

    return sig, codegen


# ============================================================ atomics
# Threads that share one network wait for each other on int64 counters
# (``_wait``: the chain's counters, ``_barrier``) and hand weight snapshots
# to the loss helper through int64 flags. Numba has no atomics in source, so these emit LLVM's atomic
# instructions directly (sequentially consistent add, acquire loads, release
# stores), plus the spin-wait hint (x86 ``pause``, ARM ``yield``) and
# ``sched_yield`` for a long wait. Each flag sits on its own cache line of
# the ``sync`` array (indices below are int64 elements).

#: barrier arrivals; barrier number b of T threads is passed when it reaches b * T
SYNC_COUNT = 0
#: nonzero: every thread leaves at its next wait (a failed launch, Ctrl-C)
SYNC_ABORT = 8
#: the loss helper's two snapshot slots: 0 free, r + 1 holds the weights after record[r]
SYNC_SLOT = 16  # and 24
#: the training thread has finished (the helper empties the slots and returns)
SYNC_DONE = 32
#: the helper found a NaN loss: the training thread stops the network
SYNC_STOP = 40
#: nonzero: ``train`` hands snapshots to a loss helper
SYNC_HELPER = 48
#: length of a sync array
SYNC_LEN = 64
#: spin-wait hints between two ``sched_yield`` calls (and abort checks) of
#: the loss helper waiting for a snapshot (it waits most of an epoch)
SPIN_YIELD = 256
#: the same in a team's barrier wait (``meta[L, 3]``; a negative value spins
#: without the hint): a partner waiting for this core gets it after a
#: microsecond or so. On the 2-core VM, in rounds where other processes held
#: a core, 32 spins gave 0.82x of one thread, 256 spins 0.73x
TEAM_SPIN = 32


def _elem_ptr(context, builder, aryty, ary, idx):
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.gep(data, [idx])


def _check_sync(arr):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1 and arr.layout == "C"):
        raise TypeError("fastbp sync arrays are 1-D C-contiguous int64")


@intrinsic
def atomic_add(typingctx, arr, idx, val):
    """arr[idx] += val atomically (sequentially consistent); returns the old value."""
    _check_sync(arr)
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("add", p, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def atomic_load(typingctx, arr, idx):
    """arr[idx] with acquire ordering."""
    _check_sync(arr)
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, sig, args):
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(p, "acquire", 8)

    return sig, codegen


@intrinsic
def atomic_store(typingctx, arr, idx, val):
    """arr[idx] = val with release ordering."""
    _check_sync(arr)
    sig = types.void(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        p = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        builder.store_atomic(args[2], p, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


_MACHINE = platform.machine().lower()


@intrinsic
def cpu_relax(typingctx):
    """The spin-wait hint: ``pause`` on x86, ``yield`` on ARM, nothing elsewhere."""
    sig = types.void()

    def codegen(context, builder, sig, args):
        void = ir.FunctionType(ir.VoidType(), [])
        if _MACHINE in ("x86_64", "amd64", "i386", "i686"):
            builder.call(cgutils.get_or_insert_function(builder.module, void, "llvm.x86.sse2.pause"), [])
        elif _MACHINE in ("aarch64", "arm64"):
            builder.asm(void, "yield", "", [], True)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def os_yield(typingctx):
    """``sched_yield()`` (POSIX; nothing on Windows): lets another runnable
    thread have this core during a long wait."""
    sig = types.void()

    def codegen(context, builder, sig, args):
        if not sys.platform.startswith("win"):
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
            builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", **_EXACT)
def _wait(sync, flags, i, target, spin):
    """Waits until the counter ``flags[i]`` reaches ``target``. Spins with
    the pause hint (none for a negative ``spin``), yielding the core every
    ``|spin|`` spins; returns False when the team is aborted (``sync``)."""
    spins = 0
    hint = spin > 0
    every = spin if hint else -spin
    while atomic_load(flags, i) < target:
        if hint:
            cpu_relax()
        spins += 1
        if spins >= every:
            if atomic_load(sync, SYNC_ABORT) != 0:
                return False
            os_yield()
            spins = 0
    return True


@njit(inline="always", **_EXACT)
def _barrier(sync, target, spin):
    """Arrives at a barrier and waits until ``target`` arrivals have been
    counted (this thread's b-th barrier of T threads: target b * T)."""
    atomic_add(sync, SYNC_COUNT, 1)
    return _wait(sync, sync, SYNC_COUNT, target, spin)


# ------------------------------------------------ per-sample SGD, any depth
# ``meta`` describes one network shape (numba_backend._Layout): row l < L is
# (woff, r, c, cp) of layer l (offset of its (r, cp) block in a network's flat
# weights Wn, rows, used and padded columns); row L is (wp, stride, unit,
# spin): wp elements per activation or delta row (a whole number of cache
# lines, at least the widest layer), stride the elements of one network's
# weights, and for ``train_team`` the vectors of a cache line (threads split
# layers in such units) and the spins of a barrier wait between yields.
# Columns 4 and 5 of row L are the codes of the hidden and output units
# (UNIT_CODES); the kernels branch on them once per layer (``_unit``,
# ``_backward``, ``_output``), never per element, so one compiled function
# serves every combination.
# A network's scratch S holds activation row l at l * wp and delta row l at
# (L + 1 + l) * wp (row 0 unused: the first layer reads X directly; the loss
# pass uses it for the softmax's exponentials).
#
# Zero inputs. For a first-layer row i whose input x_i is 0, the forward
# term x_i W[i] and the update -alpha x_i d are zero, so the first layer
# runs over lists of rows (``_rows``): sample n's update fused with sample
# n+1's product over the inputs nonzero in either sample, each sum in input
# order. Leaving a zero row out changes no value, only possibly the sign of
# a zero (w + (-0) = w; acc + 0 * w = acc for finite w), so every form of a
# call (one call or one per sample, one thread or a team, one network or
# K) gives the same weights; a non-finite weight in a row training never
# touches is still found by the loss pass, which checks every weight
# (``_zero_sum``). The lists of a call's samples are built in its first
# epoch and kept (up to LIST_MAX elements of X; beyond, each is built when
# used); the loss pass keeps its own (one sample's nonzero inputs). Digits
# has 49% zero pixels (the lists of two samples hold 64% of the rows),
# MNIST 81% (29%). Inputs with few zeros (``numba_backend._first_rows``)
# pass a bool ``rows`` instead: every row, no lists, no index loads (a
# separate compiled version; the index loads cost about 15% on inputs
# without zeros).

#: the loss sums the squared errors of this many samples at a time, then the
#: block sums in order: the same bits whether one thread or several compute it
LOSS_BLOCK = 256
#: vectors per cache line: threads sharing a layer split it in whole lines
LINE_VECS = 2
#: bytes between two team threads' own weights (``train_team``): the
#: hardware prefetchers running off the end of one thread's block would
#: otherwise take lines the other thread is writing
TEAM_GAP = 1024


#: unit codes: hidden activations ...
SIGMOID, TANH, RELU = 0, 1, 2
#: ... and outputs (SIGMOID too)
LINEAR, SOFTMAX = 3, 4
UNIT_CODES = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "linear": LINEAR, "softmax": SOFTMAX}


@njit(inline="always", **_EXACT)
def _unit(S, so, n, code):
    """An elementwise unit on S[so:so+n], in place, in whole vectors
    (LINEAR and SOFTMAX: nothing, ``_output`` handles the softmax)."""
    if code == SIGMOID:
        vec_sigmoid(S, so, n)
    elif code == TANH:
        vec_tanh(S, so, n)
    elif code == RELU:
        vec_relu(S, so, n)


@njit(inline="always", **_EXACT)
def _backward(W, wo, A, ao, D, do, DP, dpo, r, cp, alpha, act):
    """``vec_backward`` with the derivative of the hidden units ``act``."""
    if act == SIGMOID:
        vec_backward(W, wo, A, ao, D, do, DP, dpo, r, cp, alpha)
    elif act == TANH:
        vec_backward_tanh(W, wo, A, ao, D, do, DP, dpo, r, cp, alpha)
    else:
        vec_backward_relu(W, wo, A, ao, D, do, DP, dpo, r, cp, alpha)


@njit(inline="always", **_EXACT)
def _softmax(S, so, n):
    """S[so:so+n] = its softmax, in place: the largest value subtracted, the
    exponentials in whole vectors (``vec_exp``: the lanes up to the next
    whole vector are overwritten), their sum in float64, in order."""
    m = S[so]
    for j in range(1, n):
        m = max(m, S[so + j])
    for j in range(n):
        S[so + j] -= m
    vec_exp(S, so, n)
    t = 0.0
    for j in range(n):
        t += S[so + j]
    for j in range(n):
        S[so + j] = S[so + j] / t


@njit(inline="always", **_EXACT)
def _output(S, ao, Y, yo, D, do, n, out):
    """The output units of one sample from its products S[ao:ao+n] (in
    place) and their delta into D[do:do+n], in one pass: sigmoid ``(a - y)
    a (1 - a)``; linear ``a - y``; softmax ``a - y`` (with the cross-entropy)."""
    if out == SIGMOID:
        vec_sigmoid(S, ao, n)
        out_delta(S, ao, Y, yo, D, do, n)
    else:
        if out == SOFTMAX:
            _softmax(S, ao, n)
        out_diff(S, ao, Y, yo, D, do, n)


@njit(inline="always", **_EXACT)
def _sample_loss(S, ao, spare, Y, n, ny, out):
    """One sample's loss from its output products S[ao:ao+ny], in float64:
    the squared error (sigmoid units applied in place first), or for softmax
    the cross-entropy from the logits, ``sum y_j (m + log sum exp(z - m) -
    z_j)`` with m the largest logit (S[spare:] holds the exponentials)."""
    s = 0.0
    if out == SOFTMAX:
        m = S[ao]
        for j in range(1, ny):
            m = max(m, S[ao + j])
        for j in range(ny):
            S[spare + j] = S[ao + j] - m
        vec_exp(S, spare, ny)
        t = 0.0
        for j in range(ny):
            t += S[spare + j]
        lse = float(m) + math.log(t)
        for j in range(ny):
            s += float(Y[n, j]) * (lse - float(S[ao + j]))
        return s
    if out == SIGMOID:
        vec_sigmoid(S, ao, ny)
    for j in range(ny):
        e = float(S[ao + j]) - float(Y[n, j])
        s += e * e
    return s


@njit(inline="always", **_EXACT)
def _finish(total, out):
    """The loss from the summed sample terms: the squared errors halved."""
    return total if out == SOFTMAX else 0.5 * total


#: a call keeps the lists of the nonzero inputs of its samples (``_rows``)
#: from epoch to epoch when X has at most this many elements (their int32
#: indices then take at most 4 bytes per element of X); a larger X has each
#: list built when it is used
LIST_MAX = 1 << 21


@njit(**_EXACT)
def _nonzero(X, a, b, I, io):
    """Lists in ``I[io:]`` (ascending) the inputs i where X[a, i] or X[b, i]
    is nonzero (b = a: one sample's) and returns how many (branch-free)."""
    m = 0
    for i in range(X.shape[1]):
        I[io + m] = i
        m += (X[a, i] != 0) | (X[b, i] != 0)
    return m


@njit(inline="always", **_EXACT)
def _lists(X, n):
    """Storage for ``n`` lists of nonzero inputs of X's rows: ``(I, ptr)``,
    list j at ``I[ptr[j]:ptr[j + 1]]`` (``_rows``), or, when X is larger
    than LIST_MAX, one list's room and an empty ``ptr``."""
    nx = X.shape[1]
    if X.shape[0] * nx > LIST_MAX:
        return np.empty(nx, np.int32), np.empty(0, np.int64)
    return np.empty(n * nx, np.int32), np.zeros(n + 1, np.int64)


def _train_lists(X, n, rows):
    """The first layer's row lists of a training call (``_lists(X, n)``),
    or, for ``rows`` of dtype bool (every row: inputs with few zeros),
    ``rows`` itself and an empty ``ptr``. Compiled code only."""
    raise NotImplementedError


@overload(_train_lists, inline="always")
def _train_lists_impl(X, n, rows):
    if rows.dtype == types.boolean:
        return lambda X, n, rows: (rows, np.empty(0, np.int64))
    return lambda X, n, rows: _lists(X, n)


def _rows(X, I, ptr, j, a, b, build):
    """``(offset, count)`` in I of list j: the inputs where sample a's or
    b's is nonzero (the rows of the first layer that sample a's update and
    sample b's product touch). Built when ``build`` (list j - 1 built
    before it) and kept; with an empty ``ptr``, built at I[0:] every time;
    for a bool ``I`` (every row) ``(0, X.shape[1])``. Compiled code only."""
    raise NotImplementedError


@overload(_rows, inline="always")
def _rows_impl(X, I, ptr, j, a, b, build):
    if I.dtype == types.boolean:
        return lambda X, I, ptr, j, a, b, build: (0, X.shape[1])

    def listed(X, I, ptr, j, a, b, build):
        if ptr.shape[0] == 0:
            return 0, _nonzero(X, a, b, I, 0)
        if build:
            ptr[j + 1] = ptr[j] + _nonzero(X, a, b, I, ptr[j])
        return ptr[j], ptr[j + 1] - ptr[j]

    return listed


@njit(inline="always", **_EXACT)
def _epoch(Wn, meta, X, Y, alpha, S, I, ptr, build):
    """Per-sample SGD over every row of X, in order, for one network. The
    first layer runs over the rows of the nonzero inputs only: list 0
    (sample 0's) for the first product, list n + 1 (those of samples n and
    n + 1) for sample n's update fused with sample n + 1's product, list N
    for the last sample's update (``_rows``; ``build``: the first epoch of
    the call builds the lists it keeps); over every row for a bool ``I``."""
    L = meta.shape[0] - 1
    wp, act, out = meta[L, 0], meta[L, 4], meta[L, 5]
    act0 = act if L > 1 else LINEAR  # the first layer's units (a single layer's are the output's)
    N, nx = X.shape
    ny = Y.shape[1]
    dl = (L + 1) * wp
    w0, c0, cp0 = meta[0, 0], meta[0, 2], meta[0, 3]
    io, m = _rows(X, I, ptr, 0, 0, 0, build)
    vec_forward_rows(Wn, w0, X, 0, S, wp, I, io, m, cp0, cp0)
    _unit(S, wp, c0, act0)
    for n in range(N):
        for l in range(1, L):
            cp = meta[l, 3]
            vec_forward_split(Wn, meta[l, 0], S, l * wp, S, (l + 1) * wp, meta[l, 1], cp, cp)
            if l < L - 1:
                _unit(S, (l + 1) * wp, meta[l, 2], act)
        _output(S, L * wp, Y, n * ny, S, dl + L * wp, ny, out)
        for l in range(L - 1, 0, -1):
            _backward(
                Wn, meta[l, 0], S, l * wp, S, dl + (l + 1) * wp, S, dl + l * wp, meta[l, 1], meta[l, 3], alpha, act
            )
        if n + 1 < N:
            # this sample's first-layer update fused with the next sample's
            # first-layer product (each first-layer weight touched once)
            io, m = _rows(X, I, ptr, n + 1, n, n + 1, build)
            vec_update_forward_rows(Wn, w0, X, n * nx, S, dl + wp, X, (n + 1) * nx, S, wp, I, io, m, cp0, cp0, alpha)
            _unit(S, wp, c0, act0)
        else:
            io, m = _rows(X, I, ptr, N, n, n, build)
            vec_update_rows(Wn, w0, X, n * nx, S, dl + wp, I, io, m, cp0, cp0, alpha)


@njit(**_EXACT)
def _block_sum(Wn, meta, X, Y, S, so, b, I, ptr, build):
    """The loss terms (``_sample_loss``) of the samples of loss block ``b``,
    summed in float64 in sample order (the forward pass of each sample as in
    training, the first layer over the sample's nonzero inputs, list n of
    ``(I, ptr)``, whose lists start at the block's first sample; activation
    rows at ``S[so + l * wp]``, one more row after them for the softmax)."""
    L = meta.shape[0] - 1
    wp, act, out = meta[L, 0], meta[L, 4], meta[L, 5]
    act0 = act if L > 1 else LINEAR
    N, nx = X.shape
    ny = Y.shape[1]
    w0, c0, cp0 = meta[0, 0], meta[0, 2], meta[0, 3]
    total = 0.0
    for n in range(b * LOSS_BLOCK, min(N, (b + 1) * LOSS_BLOCK)):
        io, m = _rows(X, I, ptr, n, n, n, build)
        vec_forward_rows(Wn, w0, X, n * nx, S, so + wp, I, io, m, cp0, cp0)
        _unit(S, so + wp, c0, act0)
        for l in range(1, L):
            cp = meta[l, 3]
            vec_forward_split(Wn, meta[l, 0], S, so + l * wp, S, so + (l + 1) * wp, meta[l, 1], cp, cp)
            if l < L - 1:
                _unit(S, so + (l + 1) * wp, meta[l, 2], act)
        total += _sample_loss(S, so + L * wp, so + (L + 1) * wp, Y, n, ny, out)
    return total


@njit(**_OPTS)
def _zero_sum(Wn, i0, i1):
    """0.0 when Wn[i0:i1] is finite, else NaN (sum of w * 0)."""
    s = 0.0
    for i in range(i0, i1):
        s += Wn[i] * 0.0
    return s


@njit(**_EXACT)
def _loss(Wn, meta, X, Y, S, I, ptr, build):
    """The loss of one network: the reference's ``0.5 * sum((forward(X) -
    Y) ** 2)``, or the summed cross-entropy of softmax outputs (block sums
    added in order), or NaN when the loss or any weight is not finite. Uses
    S's activation rows and delta row 0 (``_epoch`` starts afresh) and the
    lists of each sample's nonzero inputs in ``(I, ptr)`` (``_lists(X,
    N)``; ``build``: the first loss of a call builds them)."""
    total = 0.0
    for b in range((X.shape[0] + LOSS_BLOCK - 1) // LOSS_BLOCK):
        total += _block_sum(Wn, meta, X, Y, S, 0, b, I, ptr, build)
    if not (np.isfinite(total) and _zero_sum(Wn, 0, Wn.shape[0]) == 0.0):
        return np.nan
    return _finish(total, meta[meta.shape[0] - 1, 5])


@njit(inline="always", **_EXACT)
def _hand_off(Wn, snap, sync, r):
    """Copies the weights into a free snapshot slot for the loss helper and
    publishes record ``r`` there; False when both slots are busy."""
    for s in range(2):
        if atomic_load(sync, SYNC_SLOT + 8 * s) == 0:
            dst = snap[s]
            for i in range(Wn.shape[0]):
                dst[i] = Wn[i]
            atomic_store(sync, SYNC_SLOT + 8 * s, r + 1)
            return True
    return False


@njit(**_EXACT)
def train(slab, meta, X, Y, alphas, scratch, epochs, record, losses, sync, snap, rows):
    """``epochs`` epochs of per-sample SGD for each network k (row k of slab
    and scratch, alpha ``alphas[k]`` cast to the weights' dtype), one network
    after the other; after epoch ``record[r]`` network k's loss goes to
    ``losses[k, r]``. A network whose loss is NaN (diverged) stops; the
    caller fills ``losses`` with NaN beforehand. The first layer's rows:
    ``rows`` of dtype int32, the lists of nonzero inputs (``_rows``, built
    in the first epoch and loss and kept for the call); of dtype bool, every
    row (inputs with few zeros: no lists).

    With ``sync[SYNC_HELPER]`` set (one network), the weights after a
    recorded epoch are copied into a free slot of ``snap`` for the loss
    helper thread (``loss_helper``) and training goes straight on; the loss
    is computed here only when both slots are still busy."""
    R = record.shape[0]
    helper = sync[SYNC_HELPER] != 0
    N = X.shape[0]
    I, ptr = _train_lists(X, N + 1, rows)
    LI, lptr = _lists(X, N if R > 0 else 0)
    lbuild = True
    for k in range(slab.shape[0]):
        Wn, S = slab[k], scratch[k]
        alpha = slab.dtype.type(alphas[k])
        r = 0
        for e in range(1, epochs + 1):
            _epoch(Wn, meta, X, Y, alpha, S, I, ptr, e == 1 and k == 0)
            if r < R and record[r] == e:
                if not (helper and _hand_off(Wn, snap, sync, r)):
                    losses[k, r] = _loss(Wn, meta, X, Y, S, LI, lptr, lbuild)
                    lbuild = False
                    if np.isnan(losses[k, r]):
                        break
                r += 1
            if helper and atomic_load(sync, SYNC_STOP) != 0:
                break
    if helper:
        atomic_store(sync, SYNC_DONE, 1)


@njit(**_EXACT)
def loss_helper(snap, meta, X, Y, S, losses, sync):
    """The loss helper of a one-network ``train`` call, run on another
    thread: computes the loss of each snapshot ``train`` publishes into
    ``losses[0, r]``, frees the slot, and returns 0 once ``train`` is done
    and both slots are empty (-1 when aborted). A NaN loss sets SYNC_STOP."""
    LI, lptr = _lists(X, X.shape[0])
    build = True
    spins = 0
    while True:
        done: bool = atomic_load(sync, SYNC_DONE) != 0  # read before the slots: a slot filled before DONE is seen below
        busy = False
        for s in range(2):
            v = atomic_load(sync, SYNC_SLOT + 8 * s)
            if v > 0:
                x = _loss(snap[s], meta, X, Y, S, LI, lptr, build)
                build = False
                losses[0, v - 1] = x
                if np.isnan(x):
                    atomic_store(sync, SYNC_STOP, 1)
                atomic_store(sync, SYNC_SLOT + 8 * s, 0)
                busy = True
        if busy:
            spins = 0
            continue
        if done:
            return 0
        cpu_relax()
        spins += 1
        if spins >= SPIN_YIELD:
            if atomic_load(sync, SYNC_ABORT) != 0:
                return -1
            os_yield()
            spins = 0


# ------------------------------------------- one network on several threads
# ``train_team`` is run by T threads at once (thread ``tid``), all on the one
# network of ``slab``. Thread t owns whole cache lines of columns of the
# first layer W[0] (``_share``) and the same rows of W[1], so the first
# layer's update needs only the deltas this thread computed. The layers
# after the first are chained up to ``rep_from`` H (chosen by the backend:
# the layers from H on are small) and held from there:
#
# Chained layer l (1 <= l < H): thread t owns a block of its rows (layer 1:
# those of its first-layer columns; others: whole lines of rows, ``_share``).
# Its forward product is computed link by link in thread order: thread t
# sums its rows of W[l] times its inputs into the even- and odd-row
# accumulators started from thread t - 1's sums (``vec_forward_chain``), so
# the product has the bits of one thread's ``vec_forward_split`` over every
# row. The chain goes group by group of at most PANEL vectors of columns and
# thread t starts a group as soon as thread t - 1 has left it (``links``: a
# counter per thread, on its own cache line): the threads work on the
# product at the same time, a group apart. The last thread writes the
# product to sh; every thread copies it whole and applies the units. Back
# down, thread t computes its rows' delta and update; the delta of a chained
# layer l >= 2 is gathered whole through sh (one barrier) for layer l - 1.
#
# Held layers (l >= H): every thread computes them whole on its own copy
# (their forward products, the output delta, their deltas and updates, with
# the same arithmetic: the copies stay equal). 784-300-100-10 chains layer 1
# and holds 100-10: per sample only the chain's sums (two rows), the product
# (one row) and the counters go from core to core; no weights, and no
# activations of the first layer. A single layer splits its output units.
#
# Each thread trains its weights (its first-layer columns, its rows of the
# chained layers, its copy of the held layers) in its own row of ``own``,
# apart from the other threads' by TEAM_GAP bytes, and puts them back into
# the slab before a loss pass and at the end (the held layers: thread 0). In
# place, the hardware prefetchers streaming past the end of a thread's
# columns in each row take lines the other thread is writing: two threads
# updating their halves of every row of a 784 x 304 float64 block took
# 1.3-1.5x as long as each on a block of its own (no synchronisation at
# all). A first-layer block whose rows would be a multiple of 4096 bytes
# apart gets a line more per row (stores and loads 4096 bytes apart alias:
# 1024-1024-10 ran at 0.7x one thread). Every weight gets the same
# arithmetic in the same order as in ``train``, so the weights are bit for
# bit those of one thread.
#
# Shared scratch ``sh``: layer 1's activations at wp, chained layer l's
# product at (l + 1) wp, the chains' sums at (L + 1) wp and (L + 2) wp, the
# gathered delta of chained layer l at (L + 2 + l) wp (a single layer's
# output delta at (L + 3) wp). Private scratch ``pr[t]``: activation row l
# at l * wp (l >= 2), delta row l at (L + 1 + l) * wp, a loss pass's rows
# from (2 L + 2) wp.


@njit(inline="always", **_EXACT)
def _share(nvec, tid, T, unit):
    """Vectors [v0, v1) of a layer's ``nvec`` that thread tid owns: the
    layer split in units of ``unit`` vectors (a cache line) as evenly as
    they go."""
    units = (nvec + unit - 1) // unit
    v0 = min(nvec, (units * tid // T) * unit)
    v1 = min(nvec, (units * (tid + 1) // T) * unit)
    return v0, v1


@njit(**_EXACT)
def train_team(
    slab, meta, X, Y, alphas, sh, pr, own, epochs, record, losses, part, sync, links, tid, T, rep_from, rows
):
    """Thread ``tid`` of T training the one network of ``slab`` together
    (see above; ``own``, ``links``: zeroed, from ``team_buffers``; layers
    ``rep_from`` .. L-1 held, 1 .. rep_from-1 chained); losses as in
    ``train`` (thread 0 writes them; the loss pass is split by blocks of
    samples). ``part`` holds the loss blocks' sums and T finiteness checks.
    Returns 0, or -1 when the team was aborted."""
    L = meta.shape[0] - 1
    wp, unit, spin, act, out = meta[L, 0], meta[L, 2], meta[L, 3], meta[L, 4], meta[L, 5]
    act0 = act if L > 1 else out  # a single layer splits the output units (elementwise ones only)
    H = max(2, min(rep_from, L)) if L >= 2 else 1  # layers 1 .. H-1 chained, H .. L-1 held
    Wn = slab[0]
    P = pr[tid]
    V = 32 // slab.itemsize
    alpha = slab.dtype.type(alphas[0])
    N, nx = X.shape
    ny = Y.shape[1]
    nR = record.shape[0]
    nblocks = (N + LOSS_BLOCK - 1) // LOSS_BLOCK
    w0, c0, cp0 = meta[0, 0], meta[0, 2], meta[0, 3]
    v0, v1 = _share(cp0 // V, tid, T, unit)
    col0, ncol0 = v0 * V, (v1 - v0) * V
    dsh = L + 2  # shared delta row l (l >= 2, and a single layer's) at (dsh + l) * wp
    dpr = L + 1  # private delta row l at (dpr + l) * wp
    q = (L + 1) * wp  # the chains' even and odd sums: rows L + 1 and L + 2 of sh
    first, last = (1 if tid == 0 else 0), (1 if tid == T - 1 else 0)
    # this thread's weights, trained in its own row M of ``own`` (apart from
    # the other threads' by TEAM_GAP bytes) and put back into the slab before
    # a loss pass and at the end: its columns of the first layer (at M[0:],
    # rows ld0 apart), its rows of each chained layer l (rows rs[l] .. rs[l] +
    # rn[l] - 1, at M[om[l]:]; layer 1's: those of its first-layer columns),
    # a copy of the held layers (at M[oh:])
    r0 = meta[0, 1]
    M = own[tid]
    gap = TEAM_GAP // slab.itemsize
    line = unit * V
    ld0 = ncol0 + (line if (ncol0 * slab.itemsize) % 4096 == 0 else 0)
    rs = np.zeros(L + 1, np.int64)
    rn = np.zeros(L + 1, np.int64)
    om = np.zeros(L + 1, np.int64)
    blocks = np.zeros((L + 1, 3), np.int64)  # contiguous copies: slab offset, length, offset in M
    o = ((r0 * ld0 + line - 1) // line) * line + gap
    for l in range(1, H):
        if l == 1:
            rs[l] = col0
            rn[l] = max(0, min(col0 + ncol0, meta[1, 1]) - col0)
        else:
            u0, u1 = _share((meta[l, 1] + V - 1) // V, tid, T, unit)
            rs[l] = u0 * V
            rn[l] = max(0, min(u1 * V, meta[l, 1]) - u0 * V)
        om[l] = o
        blocks[l - 1, 0], blocks[l - 1, 1], blocks[l - 1, 2] = meta[l, 0] + rs[l] * meta[l, 3], rn[l] * meta[l, 3], o
        o += ((rn[l] * meta[l, 3] + line - 1) // line) * line + gap
    oh = o
    base = meta[H, 0] if H < L else meta[L, 1]  # the held layers' offset in the slab
    blocks[L, 0], blocks[L, 1], blocks[L, 2] = base, meta[L, 1] - base, oh
    spots = np.array((w0 + col0, cp0, r0, ncol0, ld0))
    _take(Wn, M, spots, blocks, tid, False)
    # layer 1's activations and the delta the first layer's update reads
    a1 = wp
    D1, d1 = (P, (dpr + 1) * wp) if L >= 2 else (sh, (dsh + 1) * wp)
    I, ptr = _train_lists(X, N + 1, rows)  # the first layer's rows, as in ``train``
    LI, lptr = _lists(X, N if nR > 0 else 0)
    lbuild = True
    nbar = 0
    tick = 0  # groups of chained products this thread has finished
    r = 0
    for e in range(1, epochs + 1):
        build = e == 1
        if ncol0 > 0:
            io, m = _rows(X, I, ptr, 0, 0, 0, build)
            vec_forward_rows(M, 0, X, 0, sh, a1 + col0, I, io, m, ncol0, ld0)
            _unit(sh, a1 + col0, ncol0, act0)
        for n in range(N):
            if L == 1:
                cnt = min(c0, col0 + ncol0) - col0
                if cnt > 0:
                    if out == SIGMOID:
                        out_delta(sh, a1 + col0, Y, n * ny + col0, sh, (dsh + 1) * wp + col0, cnt)
                    else:
                        out_diff(sh, a1 + col0, Y, n * ny + col0, sh, (dsh + 1) * wp + col0, cnt)
            else:
                # the chained layers' products, each into row l + 1 of sh, link by link
                # in thread order, group by group of columns (thread t + 1 starts a
                # group as soon as thread t has left it; links[8 t]: the groups thread
                # t has left), then copied whole to this thread's P
                for l in range(1, H):
                    cp = meta[l, 3]
                    nv = cp // V
                    G = (nv + PANEL - 1) // PANEL
                    A, ao = (sh, a1 + rs[l]) if l == 1 else (P, l * wp + rs[l])
                    for g in range(G):
                        u0, u1 = _share(nv, g, G, unit)
                        if tid > 0 and not _wait(sync, links, 8 * (tid - 1), tick + g + 1, spin):
                            return -1
                        if u1 > u0:
                            c = u0 * V
                            o = (l + 1) * wp + c
                            vec_forward_chain(
                                M, om[l] + c, A, ao, sh, q + c, sh, o, rn[l], (u1 - u0) * V, cp, wp, first, last
                            )
                        atomic_store(links, 8 * tid, tick + g + 1)
                    tick += G
                    if not _wait(sync, links, 8 * (T - 1), tick, spin):
                        return -1
                    for i in range(cp):
                        P[(l + 1) * wp + i] = sh[(l + 1) * wp + i]
                    if l < L - 1:
                        _unit(P, (l + 1) * wp, meta[l, 2], act)
                # the held layers, whole, on this thread's copy
                for l in range(H, L):
                    cp = meta[l, 3]
                    vec_forward_split(M, oh + meta[l, 0] - base, P, l * wp, P, (l + 1) * wp, meta[l, 1], cp, cp)
                    if l < L - 1:
                        _unit(P, (l + 1) * wp, meta[l, 2], act)
                _output(P, L * wp, Y, n * ny, P, (dpr + L) * wp, ny, out)
                for l in range(L - 1, H - 1, -1):
                    cp = meta[l, 3]
                    dn, dl = (dpr + l + 1) * wp, (dpr + l) * wp
                    _backward(M, oh + meta[l, 0] - base, P, l * wp, P, dn, P, dl, meta[l, 1], cp, alpha, act)
                # the chained layers, top down: this thread's rows; layer l >= 2's
                # delta gathered whole through sh (one barrier) for layer l - 1
                for l in range(H - 1, 0, -1):
                    ds = (dsh + l) * wp
                    A, ao = (sh, a1 + rs[1]) if l == 1 else (P, l * wp + rs[l])
                    DP, dpo = (P, d1 + rs[1]) if l == 1 else (sh, ds + rs[l])
                    if rn[l] > 0:
                        _backward(M, om[l], A, ao, P, (dpr + l + 1) * wp, DP, dpo, rn[l], meta[l, 3], alpha, act)
                    if l > 1:
                        nbar += 1
                        if not _barrier(sync, nbar * T, spin):
                            return -1
                        for i in range(meta[l, 1]):
                            P[(dpr + l) * wp + i] = sh[ds + i]
            # the first layer: this thread's columns, fused with the next sample's product
            if ncol0 > 0:
                if n + 1 < N:
                    io, m = _rows(X, I, ptr, n + 1, n, n + 1, build)
                    vec_update_forward_rows(
                        M,
                        0,
                        X,
                        n * nx,
                        D1,
                        d1 + col0,
                        X,
                        (n + 1) * nx,
                        sh,
                        a1 + col0,
                        I,
                        io,
                        m,
                        ncol0,
                        ld0,
                        alpha,
                    )
                    _unit(sh, a1 + col0, ncol0, act0)
                else:
                    io, m = _rows(X, I, ptr, N, n, n, build)
                    vec_update_rows(M, 0, X, n * nx, D1, d1 + col0, I, io, m, ncol0, ld0, alpha)
        if r < nR and record[r] == e:
            _take(Wn, M, spots, blocks, tid, True)
            nbar += 1
            if not _barrier(sync, nbar * T, spin):
                return -1
            for b in range(nblocks * tid // T, nblocks * (tid + 1) // T):
                part[b] = _block_sum(Wn, meta, X, Y, P, (2 * L + 2) * wp, b, LI, lptr, lbuild)
            lbuild = False
            stride = Wn.shape[0]
            part[nblocks + tid] = _zero_sum(Wn, stride * tid // T, stride * (tid + 1) // T)
            nbar += 1
            if not _barrier(sync, nbar * T, spin):
                return -1
            loss = _team_loss(part, nblocks, T, out)
            if tid == 0:
                losses[0, r] = loss
            r += 1
            nbar += 1  # every thread has read ``part`` before the next loss pass writes it
            if not _barrier(sync, nbar * T, spin):
                return -1
            if np.isnan(loss):
                break
    _take(Wn, M, spots, blocks, tid, True)
    return 0


@njit(**_EXACT)
def _take(Wn, M, spots, blocks, tid, back):
    """Copies a team thread's weights (see ``train_team``) from the slab into
    its row M of ``own``, or (``back``) from M into the slab (the held
    layers, the last row of ``blocks``, by thread 0 only). ``spots``: (wo,
    ld, r, n, mld): the (r, n) block at Wn[wo:] (rows ``ld`` apart) at M[0:]
    (rows ``mld`` apart); each row (w, k, o) of ``blocks``: Wn[w:w+k] at
    M[o:o+k]. Slices, not loops of elements: twice as fast here."""
    wo, ld, r, n, mld = spots
    nb = blocks.shape[0]
    if back:
        for i in range(r):
            Wn[wo + i * ld : wo + i * ld + n] = M[i * mld : i * mld + n]
        for j in range(nb):
            w, k, o = blocks[j, 0], blocks[j, 1], blocks[j, 2]
            if j < nb - 1 or tid == 0:
                Wn[w : w + k] = M[o : o + k]
    else:
        for i in range(r):
            M[i * mld : i * mld + n] = Wn[wo + i * ld : wo + i * ld + n]
        for j in range(nb):
            w, k, o = blocks[j, 0], blocks[j, 1], blocks[j, 2]
            M[o : o + k] = Wn[w : w + k]


@njit(**_EXACT)
def _team_loss(part, nblocks, T, out):
    """The loss from the block sums in order (as ``_loss`` adds them) and
    the T finiteness checks."""
    total = 0.0
    for b in range(nblocks):
        total += part[b]
    fin = 0.0
    for t in range(T):
        fin += part[nblocks + t]
    if not (np.isfinite(total) and fin == 0.0):
        return np.nan
    return _finish(total, out)


# ------------------------------------------------------ single kernels
@njit(**_OPTS)
def sigmoid_padded(buf, n):
    """buf[:n] = 1 / (1 + exp(-buf[:n])) in place (buf 1-D, C-contiguous,
    with room for one more whole vector after n: those lanes are computed
    and left as they come out)."""
    vec_sigmoid(buf, 0, n)


@njit(**_EXACT)
def unit_padded(buf, n, code):
    """The elementwise unit ``code`` on buf[:n] in place (as ``sigmoid_padded``;
    LINEAR: nothing)."""
    _unit(buf, 0, n, code)


@njit(**_EXACT)
def softmax_rows(Z, row):
    """Each row of the 2-D C-contiguous ``Z`` replaced by its softmax (as in
    training), through ``row``, a 1-D buffer of at least Z's width rounded up
    to a whole vector."""
    N, c = Z.shape
    for n in range(N):
        for j in range(c):
            row[j] = Z[n, j]
        _softmax(row, 0, c)
        for j in range(c):
            Z[n, j] = row[j]


@njit(**_OPTS)
def output_delta(AL, Y, D, one):
    """D = (AL - Y) * AL * (1 - AL)."""
    for n in range(AL.shape[0]):
        for j in range(AL.shape[1]):
            o = AL[n, j]
            D[n, j] = (o - Y[n, j]) * o * (one - o)


@njit(inline="always", **_OPTS)
def _dot_row(W, i, dn):
    s = W[i, 0] * dn[0]
    for j in range(1, W.shape[1]):
        s += W[i, j] * dn[j]
    return s


@njit(**_OPTS)
def hidden_delta(D_next, W, A, D, one, act):
    """D = (D_next @ W.T) * act'(A), the derivative (on the activation value:
    sigmoid A (1 - A), tanh 1 - A**2, relu A > 0) fused into the dot; one
    loop per unit, chosen once per call."""
    r = W.shape[0]
    zero = one - one
    for n in range(D_next.shape[0]):
        dn = D_next[n]
        if act == SIGMOID:
            for i in range(r):
                ai = A[n, i]
                D[n, i] = _dot_row(W, i, dn) * ai * (one - ai)
        elif act == TANH:
            for i in range(r):
                ai = A[n, i]
                D[n, i] = _dot_row(W, i, dn) * (one - ai * ai)
        else:
            for i in range(r):
                D[n, i] = _dot_row(W, i, dn) if A[n, i] > zero else zero


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
