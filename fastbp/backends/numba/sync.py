"""Synchronisation of the numba backend's threads: atomics, spin waits, barriers.

Threads that share one network wait for each other on int64 counters
(``wait``: the chain's counters, ``barrier``) and hand weight snapshots to
the loss helper through int64 flags. Numba has no atomics in source, so these
``@intrinsic``s emit LLVM's atomic instructions directly (sequentially
consistent add, acquire loads, release stores), plus the spin-wait hint (x86
``pause``, ARM ``yield``) and ``sched_yield`` for a long wait. Each flag sits
on its own cache line of the ``sync`` array (indices below are int64
elements).
"""

from __future__ import annotations

import platform
import sys

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .codegen import EXACT, element_ptr

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
#: the loss helper waiting for a snapshot: it waits most of an epoch, so it
#: yields rarely; its cost is in ``python -m benchmarks.loss_every``
SPIN_YIELD = 256
#: the same in a team's barrier wait (``meta[L, 3]``; a negative value spins
#: without the hint): a partner waiting for this core gets it after a
#: microsecond or so; in rounds where other processes held a core, 32 spins
#: gave 0.82x of one thread, 256 spins 0.73x, 2,048 0.29x, no hint 0.82x
#: (``python -m benchmarks.wide_threads``)
TEAM_SPIN = 32


def _check_sync(arr):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1 and arr.layout == "C"):
        raise TypeError("fastbp sync arrays are 1-D C-contiguous int64")


@intrinsic
def atomic_add(typingctx, arr, idx, val):
    """arr[idx] += val atomically (sequentially consistent); returns the old value."""
    _check_sync(arr)
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        p = element_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("add", p, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def atomic_load(typingctx, arr, idx):
    """arr[idx] with acquire ordering."""
    _check_sync(arr)
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, sig, args):
        p = element_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(p, "acquire", 8)

    return sig, codegen


@intrinsic
def atomic_store(typingctx, arr, idx, val):
    """arr[idx] = val with release ordering."""
    _check_sync(arr)
    sig = types.void(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        p = element_ptr(context, builder, sig.args[0], args[0], args[1])
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


@njit(inline="always", **EXACT)
def wait(sync, flags, i, target, spin):
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


@njit(inline="always", **EXACT)
def barrier(sync, target, spin):
    """Arrives at a barrier and waits until ``target`` arrivals have been
    counted (this thread's b-th barrier of T threads: target b * T)."""
    atomic_add(sync, SYNC_COUNT, 1)
    return wait(sync, sync, SYNC_COUNT, target, spin)
