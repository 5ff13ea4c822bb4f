"""The loss inside the numba backend's training calls, and the loss helper thread.

The loss of a recorded epoch is the reference loss of the weights after that
epoch: ``0.5 * sum((forward(X) - Y) ** 2)`` for sigmoid and linear outputs,
the summed cross-entropy from the logits for softmax outputs, summed in
float64 in blocks of LOSS_BLOCK samples (each block's sum in sample order, the
block sums in order), NaN when the sum or any weight is not finite. The
blocks give the same bits whichever threads compute them (a team splits the
pass by blocks: ``team``). Each sample's forward pass is the training's, the
first layer over the sample's nonzero inputs (``rows``). A network's scratch
row 0 (unused by training) holds the softmax's exponentials.

The loss helper runs on a second thread beside a one-network ``train``
call (the same compiled function in its helper role): ``train`` copies the
weights after a recorded epoch into a free snapshot slot
(``kernels.hand_off``) and goes on training; the helper takes it
(``next_snapshot``) and computes its loss. When both slots are busy ``train`` computes
the loss itself, so training never waits for the helper.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .codegen import EXACT, Emit, check_floats, element_ptr
from .sync import (
    SPIN_YIELD,
    SYNC_ABORT,
    SYNC_DONE,
    SYNC_SLOT,
    atomic_load,
    cpu_relax,
    os_yield,
)
from .units import SIGMOID, SOFTMAX, vec_exp, vec_sigmoid

#: the loss sums the squared errors of this many samples at a time, then the
#: block sums in order: the same bits whether one thread or several compute
#: it (a unit of work small enough to share a pass between a team's threads)
LOSS_BLOCK = 256


@njit(inline="always", **EXACT)
def sample_loss(S, ao, spare, Y, n, ny, out):
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


@njit(inline="always", **EXACT)
def finish(total, out):
    """The loss from the summed sample terms: the squared errors halved."""
    return total if out == SOFTMAX else 0.5 * total


@intrinsic
def zero_sum(typingctx, W, i0, i1):
    """0.0 (float64) when W[i0:i1] is finite, else NaN: the sum of w * 0, in
    whole vectors then the elements left over (its value is 0 or NaN
    whatever the order)."""
    dt = check_floats(W)
    sig = types.float64(W, types.intp, types.intp)

    def codegen(context, b, sig, args):
        e = Emit(context, b, dt)
        w0 = element_ptr(context, b, sig.args[0], args[0], args[1])
        n = b.sub(args[2], args[1])
        acc = cgutils.alloca_once_value(b, e.zero)
        nvec = b.udiv(n, e.const(e.V))
        with cgutils.for_range(b, nvec) as lv:
            x = e.load(e.at(w0, b.mul(lv.index, e.const(e.V))))
            b.store(b.fadd(b.load(acc), b.fmul(x, e.zero)), acc)
        v = b.load(acc)
        s = cgutils.alloca_once_value(b, ir.Constant(e.f, 0.0))
        for k in range(e.V):
            b.store(b.fadd(b.load(s), b.extract_element(v, ir.Constant(ir.IntType(32), k))), s)
        with cgutils.for_range(b, b.urem(n, e.const(e.V))) as lt:
            x = b.load(e.at(w0, b.add(b.mul(nvec, e.const(e.V)), lt.index)))
            b.store(b.fadd(b.load(s), b.fmul(x, ir.Constant(e.f, 0.0))), s)
        out = b.load(s)
        return out if e.size == 8 else b.fpext(out, ir.DoubleType())

    return sig, codegen


@njit(inline="always", **EXACT)
def loss_value(total, Wn, out):
    """The loss of one network from its summed loss terms (``kernels.sweep``,
    block sums added in order): ``finish(total)``, or NaN when the sum or
    any weight is not finite."""
    if not (np.isfinite(total) and zero_sum(Wn, 0, Wn.shape[0]) == 0.0):
        return np.nan
    return finish(total, out)


@njit(inline="always", **EXACT)
def next_snapshot(sync):
    """The loss helper's wait for work (``kernels.train``'s helper role):
    (slot, record) of a snapshot ``train`` has published, or (-1, 0) once
    ``train`` is done and both slots are empty, or (-2, 0) when the call is
    aborted. Spins with the pause hint, yielding the core every SPIN_YIELD
    spins."""
    spins = 0
    while True:
        done: bool = atomic_load(sync, SYNC_DONE) != 0  # read before the slots: a slot filled before DONE is seen below
        for s in range(2):
            v = atomic_load(sync, SYNC_SLOT + 8 * s)
            if v > 0:
                return s, v - 1
        if done:
            return -1, 0
        cpu_relax()
        spins += 1
        if spins >= SPIN_YIELD:
            if atomic_load(sync, SYNC_ABORT) != 0:
                return -2, 0
            os_yield()
            spins = 0


@njit(inline="always", **EXACT)
def team_loss(part, nblocks, T, out):
    """The loss of a team's pass from the block sums in order (as
    ``loss_value``'s caller adds them) and the T finiteness checks."""
    total = 0.0
    for b in range(nblocks):
        total += part[b]
    fin = 0.0
    for t in range(T):
        fin += part[nblocks + t]
    if not (np.isfinite(total) and fin == 0.0):
        return np.nan
    return finish(total, out)
