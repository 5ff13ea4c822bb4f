"""LLVM IR helpers for the numba backend's ``@intrinsic`` kernels.

Numba compiles with LLVM's loop vectoriser on and its SLP (straight-line)
vectoriser off (numba#8852: SLP miscompilations), so code that keeps many
outputs of a layer in vector registers across a loop cannot be written as
plain Numba source. The backend's inner loops are therefore Numba
``@intrinsic``s (``products``, ``units``, ``sync``): at compile time they emit
LLVM IR directly (256-bit vectors, ``llvm.fma``), inline in the calling
``@njit`` function, and are cached with it (``cache``). This module holds
what they share: the vector width, the compile options of the ``@njit``
functions, the argument checks and ``Emit``, the IR builder of one intrinsic
call.

Conventions of every intrinsic: arrays are C-contiguous, of one float dtype;
an array argument is followed by an element offset (every offset counts
elements from the start of the array's data), so one flat buffer holds many
rows without a Numba array view per row (a view costs an atomic
reference-count pair).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils

#: bytes per vector (AVX2 ymm; LLVM splits or joins them for other targets)
VEC_BYTES = 32
#: at most this many vectors of outputs are held in registers at once: with
#: the loaded weights and the splatted input, 6 accumulators fit AVX2's 16
#: registers without spills; panels of 2-5 and 9-10 vectors ran the digits
#: epoch at 0.93-1.03x (the epoch: ``python -m benchmarks.units_speed``)
PANEL = 6

#: The options of the compiled functions: no bounds checks, NumPy's error
#: model (no division-by-zero branch), the GIL released (the backend runs
#: groups of networks, loss helpers and teams on Python threads), and no
#: fast-math flags: Numba's fast-math pass puts its flags on
#: every floating-point instruction of a function, the intrinsics' too, and
#: with ``reassoc``/``contract`` LLVM may round the same weight update
#: differently in two functions, which would break the bit-for-bit equalities
#: of the training forms (one call or one per sample, one thread or a team).
#: The entry points Python calls are cached on disk (``cache.compiled``).
EXACT = dict(error_model="numpy", nogil=True, boundscheck=False)


def lanes(dtype) -> int:
    """Elements per vector for a NumPy dtype (4 float64, 8 float32)."""
    return VEC_BYTES // np.dtype(dtype).itemsize


def element_ptr(context, builder, aryty, ary, off):
    """Pointer to element ``off`` of a C-contiguous array."""
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.gep(data, [off])


def check_floats(*arrays):
    """The arrays' common dtype; a TypeError (at compile time) unless they
    are C-contiguous float32 or float64 arrays of one dtype."""
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


class Emit:
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

    def operands(self, context, sig, args):
        """Pointers for the (array, element offset) argument pairs, in order,
        and the other (scalar) arguments, in order."""
        ptrs, rest, k = [], [], 0
        while k < len(args):
            if isinstance(sig.args[k], types.Array):
                ptrs.append(element_ptr(context, self.b, sig.args[k], args[k], args[k + 1]))
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
