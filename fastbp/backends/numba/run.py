"""How the numba backend runs its compiled training kernels: on this thread, or on several.

A training call takes one of four forms (``backend.NumbaBackend.plan``):
``run_one`` (``kernels.train`` on the calling thread), ``run_helper``
(``train`` here, the recorded epochs' losses on a helper thread: the same
compiled ``train`` in its helper role), ``run_team`` (one network's steps split over T
threads: ``team.train_team``), ``run_many`` (K networks in groups, a group
per thread). The compiled kernels release the GIL, so the threads are Python
threads of three pools. Every form gives the same weights and losses, bit
for bit.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ..base import Params
from . import kernels, team
from .layout import aligned_zeros
from .rows import EVERY_ROW, LISTED_ROWS
from .sync import SYNC_ABORT, SYNC_DONE, SYNC_HELPER
from .units import units_form

#: a thread of a team that has not started after this many seconds aborts the call
START_TIMEOUT = 10.0
#: the first layer runs over every row when the inputs of consecutive
#: samples (the first ROWS_SAMPLE of a call) are nonzero together at least
#: this often (the rows either of two samples' inputs touch; ``first_rows``):
#: the lists' index loads cost about 15% of an epoch on inputs without
#: zeros, so they pay only where they leave out more than 15% of the rows (no
#: benchmark forces either path; ``benchmarks/bench_mnist.py`` runs the
#: lists, ``benchmarks/bench_scaling.py``'s random inputs every row)
EVERY_ROW_FRACTION = 0.85
#: ``first_rows`` looks at this many samples: enough to see the inputs'
#: zeros, few enough to cost little beside a call that has that many
ROWS_SAMPLE = 256
#: a first layer of fewer rows (inputs and bias) runs over every row whatever
#: its zeros: the lists' upkeep costs what they save there (layers [n, 8, 1],
#: inputs half zeros, 256 samples, 300 epochs, listed / every-row time,
#: medians of 7 interleaved rounds, two runs, 2-core VM, 2026-12-06: n = 2
#: 1.07 and 0.99, 4 0.98 and 1.06; n = 8 1.05 and 0.95, 16 0.94 both, 32 0.93
#: and 0.91: the lists pay from about 8 inputs), and a small network then
#: needs one kernel form only, the smaller one to compile (a first 2-2-1
#: ``fit`` on mostly-zero inputs: 4.7-4.9 CPU s against 5.3-6.0 with lists)
LIST_MIN_ROWS = 8

_pool: ThreadPoolExecutor | None = None  # networks of a many-network call
_team_pool: ThreadPoolExecutor | None = None  # the threads of one network (one call at a time)
_helper_pool: ThreadPoolExecutor | None = None  # loss helpers
#: held by the one team call running at a time
team_lock = threading.Lock()
_pool_lock = threading.Lock()


def cores() -> int:
    """Every core numba may use (``NUMBA_NUM_THREADS``, by default the CPU count)."""
    return max(1, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def executor(which: str, workers: int = 0) -> ThreadPoolExecutor:
    """The pool for networks, team threads (at least ``workers`` of them) or loss helpers."""
    global _pool, _team_pool, _helper_pool
    with _pool_lock:
        if which == "team":
            if _team_pool is None or _team_pool._max_workers < workers:
                if _team_pool is not None:
                    _team_pool.shutdown(wait=False)
                _team_pool = ThreadPoolExecutor(max_workers=max(workers, cores()), thread_name_prefix="fastbp-team")
            return _team_pool
        if which == "helper":
            if _helper_pool is None:
                _helper_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fastbp-loss")
            return _helper_pool
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="fastbp-numba")
        return _pool


def first_rows(X1) -> np.ndarray:
    """The ``rows`` argument of the training kernels for inputs X1: the
    lists of nonzero inputs, or every row when the first layer has fewer
    than LIST_MIN_ROWS rows or two consecutive samples leave at most 1 -
    EVERY_ROW_FRACTION of its rows zero (then the lists cost more than they
    save). Both give the same weights (the rows left out add zeros)."""
    if X1.shape[1] < LIST_MIN_ROWS:
        return EVERY_ROW
    nz = X1[:ROWS_SAMPLE] != 0
    if nz.shape[0] < 2:
        return LISTED_ROWS
    both = np.count_nonzero(nz[:-1] | nz[1:])
    return EVERY_ROW if both >= EVERY_ROW_FRACTION * (nz.size - nz.shape[1]) else LISTED_ROWS


def _map(fn, parts) -> None:
    """Runs ``fn(part)`` for every part, on the pool's threads (the compiled
    kernels release the GIL), and waits for all of them."""
    if len(parts) == 1:
        fn(parts[0])
        return
    pool = executor("networks")
    for f in [pool.submit(fn, p) for p in parts]:
        f.result()


def unit_args(P: Params) -> tuple:
    """The training kernels' ``meta`` (the shape and the unit codes) and
    ``units`` (``units.units_form``) for P's networks."""
    return P.impl.layout.meta_for(P.activation, P.output), units_form(P.activation, P.output)


def one_call(P: Params, X1, Y, alphas, epochs, record, losses, rows):
    """``kernels.train`` and its arguments for a call of all of P's networks
    on one thread, their losses inline."""
    imp = P.impl
    lay = imp.layout
    meta, units = unit_args(P)
    args = (imp.slab, meta, X1, Y, alphas, imp.scratch, epochs, record, losses, imp.sync, lay.no_snap, rows, units)
    return kernels.train, args


def team_call(P: Params, X1, Y, alphas, epochs, record, losses, T: int, rows):
    """``team.train_team`` and a function of the thread index giving its
    arguments for a call of P's one network on T threads."""
    imp = P.impl
    lay = imp.layout
    sh, pr, own, part, links = lay.team_buffers(T, X1.shape[0])
    held = lay.held_from()
    meta, units = unit_args(P)
    head = (imp.slab, meta, X1, Y, alphas, sh, pr, own, epochs, record, losses, part, imp.sync, links)

    def args(t):
        return (*head, t, T, held, rows, units)

    return team.train_team, args


def run_one(P: Params, X1, Y, alphas, epochs, record, losses, rows) -> None:
    """One network's compiled ``train`` on this thread, its losses inline."""
    kernel, args = one_call(P, X1, Y, alphas, epochs, record, losses, rows)
    kernel(*args)


def run_many(P: Params, X1, Y, alphas, epochs, record, losses, groups: int, rows=None) -> None:
    """K networks, one compiled ``train`` call per group of networks, the
    groups on the pool's threads."""
    rows = first_rows(X1) if rows is None else rows
    imp = P.impl
    lay = imp.layout
    meta, units = unit_args(P)
    fn = kernels.train
    K = P.K
    bounds = np.linspace(0, K, min(K, groups) + 1).astype(int)
    _map(
        lambda ab: fn(
            imp.slab[ab[0] : ab[1]],
            meta,
            X1,
            Y,
            alphas[ab[0] : ab[1]],
            imp.scratch[ab[0] : ab[1]],
            epochs,
            record,
            losses[ab[0] : ab[1]],
            imp.sync,
            lay.no_snap,
            rows,
            units,
        ),
        list(itertools.pairwise(bounds)),
    )


def run_helper(P: Params, X1, Y, alphas, epochs, record, losses, rows=None) -> None:
    """One network: ``train`` on this thread, the recorded epochs' losses
    computed on a helper thread from snapshots of the weights (``train``
    computes a loss itself when the helper is behind). The helper always
    ends: ``train`` marks itself done when it returns (and a ``finally``
    here does too); a helper that never started is cancelled and its work
    done here."""
    rows = first_rows(X1) if rows is None else rows
    imp = P.impl
    lay = imp.layout
    meta, units = unit_args(P)
    kernel = kernels.train
    if imp.helper is None:
        snap = aligned_zeros(2 * lay.stride, lay.dtype).reshape(2, lay.stride)
        imp.helper = (snap, aligned_zeros(lay.scratch, lay.dtype).reshape(1, lay.scratch))
    snap, hscratch = imp.helper
    helper = (snap, meta, X1, Y, alphas, hscratch, kernels.HELPER, record, losses, imp.sync, snap, rows, units)
    sync = imp.sync
    sync[:] = 0
    sync[SYNC_HELPER] = 1
    fut = executor("helper").submit(kernel, *helper)
    try:
        kernel(imp.slab, meta, X1, Y, alphas, imp.scratch, epochs, record, losses, sync, snap, rows, units)
    finally:
        sync[SYNC_DONE] = 1
        if fut.cancel():  # never started: the slots it left are emptied here
            kernel(*helper)
        else:
            fut.result()
        sync[SYNC_HELPER] = 0


def run_team(P: Params, X1, Y, alphas, epochs, record, losses, T: int, rows=None) -> None:
    """One network, each step split over T threads (``team.train_team``) of
    the team pool. One team call runs at a time (a second caller meanwhile
    trains on its own thread: the same weights, bit for bit). This thread
    watches the team: a thread that raised or did not start within
    START_TIMEOUT, or Ctrl-C here, sets the abort flag, every team thread
    leaves at its next wait, the weights go back to what they were before
    the call, and the call raises."""
    rows = first_rows(X1) if rows is None else rows
    imp = P.impl
    if not team_lock.acquire(blocking=False):
        run_one(P, X1, Y, alphas, epochs, record, losses, rows)
        return
    try:
        kernel, args = team_call(P, X1, Y, alphas, epochs, record, losses, T, rows)
        sync = imp.sync
        sync[:] = 0
        before = imp.slab.copy()

        def member(t):
            return kernel(*args(t))

        pool = executor("team", T)
        futs = [pool.submit(member, t) for t in range(T)]
        try:
            _watch(futs, sync)
        except BaseException:
            imp.slab[...] = before  # the network as it was before the call
            raise
    finally:
        team_lock.release()


def _watch(futs, sync) -> None:
    """Waits for a team's threads; aborts the team (see ``run_team``) and
    raises when one failed or did not start."""
    t0 = time.monotonic()
    problem = None
    try:
        while True:
            done, pending = futures.wait(futs, timeout=0.5, return_when=futures.FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                problem = failed[0].exception()
                break
            if not pending:
                break
            if time.monotonic() - t0 > START_TIMEOUT and any(not f.running() and not f.done() for f in pending):
                problem = RuntimeError(f"a training thread did not start within {START_TIMEOUT:g} s")
                break
    except BaseException:
        sync[SYNC_ABORT] = 1
        _settle(futs)
        raise
    if problem is not None:
        sync[SYNC_ABORT] = 1
        _settle(futs)
        raise RuntimeError(f"numba: the threads training one network were stopped: {problem}") from problem
    if any(f.result() != 0 for f in futs):
        raise RuntimeError("numba: the threads training one network were aborted")


def _settle(futs) -> None:
    """Cancels the team threads that have not started and waits for the rest
    (they leave at their next wait once the abort flag is set)."""
    for f in futs:
        f.cancel()
    futures.wait(futs)
