"""The units of the numba backend: their codes, their vector code, their derivatives.

One table (``UNIT_CODES``): the hidden activations and the outputs are
codes in the last row of a network's ``meta`` (``layout``), which the
kernels branch on once per layer call, never per element (``apply_unit``,
``output_units``, ``products.backward``), so one compiled training kernel
serves every combination. The tutorial's sigmoid hidden and output units
(the default) have a kernel of their own (``units_form``): there the codes
are constants, Numba drops the branches of the other units before typing,
and the kernel, holding the sigmoid's code alone, compiles in about 30%
less time; the arithmetic is the same, so both kernels give the same bits.

The exp-based units have their own exp, since libm's is a scalar call
(without SVML it was half the cost of a digits epoch). The sigmoid ``1 / (1 +
exp(-z))``: Cody-Waite reduction ``-z = k ln2 + r``, ``e^r = (R + r) / (R -
r)`` with fdlibm's ``R = 2 + r^2 P(r^2)`` on ``|r| <= ln2/2`` (``P`` of degree
4, error < 2**-59), so the sigmoid is ``(R - r) / ((R - r) + 2^k (R + r))``
with one division, and ``2^k`` built from the bits of the round-to-nearest
shifter ``t = x log2(e) + 1.5 * 2**52``. Within 4 ulp of
``scipy.special.expit`` (tested). The argument is clamped to [-708, 708], so
no finite input overflows: ``z = +-1000`` gives exactly 1 and 3.3e-308
(expit: 1 and 0), never NaN/inf; NaN stays NaN. float32 activations are
computed through the float64 unit (then rounded once). tanh and exp: see
``_tanh_wide`` and ``_exp_wide``.

The derivatives are taken on the activation value ``a``, as the tutorial
does (``derivative``); ``products.backward`` fuses them into the hidden
delta. The output units and their deltas: ``output_units``.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .codegen import EXACT, Emit, check_floats

#: unit codes: hidden activations ...
SIGMOID, TANH, RELU = 0, 1, 2
#: ... and outputs (SIGMOID too)
LINEAR, SOFTMAX = 3, 4
UNIT_CODES = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "linear": LINEAR, "softmax": SOFTMAX}


def units_form(activation: str, output: str) -> int | None:
    """The training kernels' ``units`` argument for a network's units: None
    for sigmoid hidden and output units (their codes compiled in as
    constants), else 0 (the codes read from ``meta`` at run time)."""
    return None if activation == output == "sigmoid" else 0


_LOG2E = 1.4426950408889634
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: t = y + S rounds y to an integer in t's low bits
_LN2HI = 6.93147180369123816490e-01  # Cody-Waite split of ln 2 (fdlibm)
_LN2LO = 1.90821492927058770002e-10
_EXPC = tuple(1.0 / math.factorial(i) for i in range(14))
_XMAX = 708.0  # e^708 and e^-708 are normal float64s
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
    """exp z of a float64 vector, z clamped to [-708, 708]: the degree-13
    Taylor polynomial of e^r by Estrin's scheme (within 2 ulp of NumPy's exp)."""
    r, t = w.reduce(w.clamp(z, -_XMAX, _XMAX))
    return w.b.fmul(w.poly(r, _EXPC), w.two_k(t))


def derivative(b, act, sums, a, one, zero):
    """``sums * act'(a)``, the derivative of hidden unit ``act`` (a code)
    taken on the activation value ``a``, in the order the NumPy backend
    writes it: sigmoid ``a (1 - a)``, tanh ``1 - a**2``, relu 1 where ``a >
    0`` else 0. Scalars or vectors alike."""
    if act == SIGMOID:
        return b.fmul(b.fmul(sums, a), b.fsub(one, a))
    if act == TANH:
        return b.fmul(sums, b.fsub(one, b.fmul(a, a)))
    return b.select(b.fcmp_ordered(">", a, zero), sums, zero)


def _elementwise(name, unit, doc):
    """The intrinsic ``name(Z, zo, n)``: ``Z[zo:zo+n] = unit(Z[zo:zo+n])`` in
    place, in whole vectors (the lanes up to the next multiple of ``lanes``
    are computed too: padding that nothing reads); ``unit`` None is relu."""

    def typer(typingctx, Z, zo, n):
        dt = check_floats(Z)
        sig = types.void(Z, types.intp, types.intp)

        def codegen(context, b, sig, args):
            e = Emit(context, b, dt)
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


def _delta_intrinsic(name, formula, doc):
    """The intrinsic ``name(A, ao, Y, yo, D, do, n)``: ``D[do+j] =
    formula(A[ao+j], Y[yo+j])`` for j < n, scalar, in the arrays' dtype,
    left to right and without fast-math flags: every kernel that computes an
    output delta gets the same bits."""

    def typer(typingctx, A, ao, Y, yo, D, do, n):
        dt = check_floats(A, Y, D)
        ip = types.intp
        sig = types.void(A, ip, Y, ip, D, ip, ip)

        def codegen(context, builder, sig, args):
            e = Emit(context, builder, dt)
            (a0, y0, d0), (nv,) = e.operands(context, sig, args)
            with cgutils.for_range(builder, nv) as lj:
                j = lj.index
                a = builder.load(e.at(a0, j))
                builder.store(formula(builder, a, builder.load(e.at(y0, j)), e.f), e.at(d0, j))
            return context.get_dummy_value()

        return sig, codegen

    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = doc
    return intrinsic(typer)


out_delta = _delta_intrinsic(
    "out_delta",
    lambda b, a, y, f: b.fmul(b.fmul(b.fsub(a, y), a), b.fsub(ir.Constant(f, 1.0), a)),
    """D[do+j] = (A[ao+j] - Y[yo+j]) * A[ao+j] * (1 - A[ao+j]): the delta of sigmoid outputs.""",
)
out_diff = _delta_intrinsic(
    "out_diff",
    lambda b, a, y, f: b.fsub(a, y),
    """D[do+j] = A[ao+j] - Y[yo+j]: the output delta of linear units (squared
    error) and of softmax units (cross-entropy).""",
)


@njit(inline="always", **EXACT)
def apply_unit(S, so, n, code):
    """An elementwise unit on S[so:so+n], in place, in whole vectors
    (LINEAR and SOFTMAX: nothing, ``output_units`` handles the softmax)."""
    if code == SIGMOID:
        vec_sigmoid(S, so, n)
    elif code == TANH:
        vec_tanh(S, so, n)
    elif code == RELU:
        vec_relu(S, so, n)


@njit(inline="always", **EXACT)
def softmax(S, so, n):
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


@njit(inline="always", **EXACT)
def output_units(S, ao, Y, yo, D, do, n, out):
    """The output units of one sample from its products S[ao:ao+n] (in
    place) and their delta into D[do:do+n], in one pass: sigmoid ``(a - y)
    a (1 - a)``; linear ``a - y``; softmax ``a - y`` (with the cross-entropy)."""
    if out == SIGMOID:
        vec_sigmoid(S, ao, n)
        out_delta(S, ao, Y, yo, D, do, n)
    else:
        if out == SOFTMAX:
            softmax(S, ao, n)
        out_diff(S, ao, Y, yo, D, do, n)
