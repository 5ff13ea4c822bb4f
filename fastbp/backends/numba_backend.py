"""Numba CPU backend: many epochs of per-sample SGD in ONE compiled call.

The compiled kernels live in ``_numba_kernels`` (read its docstring for the
loop orders, the fused hidden-delta/update pass and the vectorised sigmoid).
A ``Params`` of this backend packs its K networks into one flat, aligned
buffer (``_Layout``); the weights stay packed between training calls and
``Params.W`` are views into it. ``train`` trusts its inputs (the boundary
validated them); the public per-layer kernels check shapes, O(1) per call,
since their compiled loops run without bounds checks.

Compilation is lazy: importing this module or constructing ``NumbaBackend``
imports numba but compiles nothing; each kernel is compiled (or loaded from
Numba's on-disk cache, ``cache=True``) on its first call.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import threading
import time
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    import numba
except ImportError as exc:  # pragma: no cover - exercised where numba is absent
    raise ImportError(f"numba is not installed ({exc})") from exc

from .base import ACTIVATIONS, NO_RECORD, OUTPUTS, Backend, Params

_kernels = None


def _k():
    """The compiled-kernels module, imported on first use."""
    global _kernels
    if _kernels is None:
        from . import _numba_kernels

        _kernels = _numba_kernels
    return _kernels


# ------------------------------------------------- per-layer kernel checks
def _require(ok: bool, message: str) -> None:
    """The public per-layer kernels run compiled loops without bounds checks:
    their shapes are checked first (O(1)), with a message naming the argument."""
    if not ok:
        raise ValueError(message)


def _c2(arr: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=dtype)


def _unit_of_product(A, w, unit: str = "sigmoid"):
    """unit(A @ w) as a new C-contiguous array, A (..., N, r) and w (..., r,
    c) with the same stacking dimensions or none on one side: the BLAS
    product into a buffer with room for one more 256-bit vector, then the
    compiled vector unit over whole vectors, or the softmax of each row (the
    same units as in the training epoch)."""
    shape = (w.shape[:-2] or A.shape[:-2]) + (A.shape[-2], w.shape[-1])  # (np.broadcast_shapes: 4 us)
    n = math.prod(shape)
    buf = np.empty(n + 8, A.dtype)  # 8 >= elements per vector (4 float64, 8 float32)
    Z = buf[:n].reshape(shape)
    np.matmul(A, w, out=Z)
    k = _k()
    if unit == "sigmoid":
        k.sigmoid_padded(buf, n)
    elif unit == "softmax":
        k.softmax_rows(Z.reshape(-1, shape[-1]), np.empty(shape[-1] + 8, A.dtype))
    elif unit != "linear":
        k.unit_padded(buf, n, k.UNIT_CODES[unit])
    return Z


def _check_units(activation: str, output: str) -> None:
    """The per-layer kernels' unit names (they run compiled code, which
    would take an unknown code for the last one)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid choices are {', '.join(map(repr, ACTIVATIONS))}")
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; valid choices are {', '.join(map(repr, OUTPUTS))}")


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _aligned_zeros(n, dtype, align=128):
    """``n`` zeros whose data starts on an ``align``-byte boundary."""
    size = n * dtype.itemsize
    buf = np.zeros(size + align, np.uint8)
    start = (-buf.ctypes.data) % align
    return buf[start : start + size].view(dtype)


#: a team holds the last layers whole on every thread when they have at most
#: this fraction of the weights, and chains the ones before (``_Layout.held_from``)
HELD_FRACTION = 0.25
#: a layer this wide (columns) or wider has its rows padded to whole cache
#: lines, not just vectors: threads that split its columns at line
#: boundaries then never write the same line
WIDE_ROW = 64


@functools.lru_cache(maxsize=64)
def _layout(dims, dtype):
    """The (cached) _Layout of one network shape and dtype."""
    return _Layout(dims, dtype)


class _Layout:
    """Where one network's weights and scratch live in the flat per-network
    buffers of the compiled epoch (see the "explicit vectors" section of
    ``_numba_kernels``): layer l row-major ``(r, cp)`` at ``meta[l, 0]``, its
    c columns zero-padded to ``cp`` (a whole number of vectors), each layer
    64-byte aligned; each network's weights and scratch take a multiple of
    128 bytes (two cache lines), so networks trained by different threads
    never share a line. ``meta`` (the kernels' description of the shape) has
    one more row: ``(wp, stride, line vectors, barrier spins, hidden unit,
    output unit)``, the last two the tutorial's sigmoids here (``meta_for``
    gives other units' codes)."""

    def __init__(self, dims, dtype):
        dtype = np.dtype(dtype)
        V = _k().lanes(dtype)
        line, pair = 64 // dtype.itemsize, 128 // dtype.itemsize
        L = len(dims) - 1
        self.parts = []  # (offset, r, c, cp) per layer, Python ints
        off = 0
        for l in range(L):
            r, c = int(dims[l]), int(dims[l + 1])
            cp = _round_up(c, line if c >= WIDE_ROW else V)
            self.parts.append((off, r, c, cp))
            off = _round_up(off + r * cp, line)
        self.L = L
        self.stride = _round_up(off, pair)
        self.wp = _round_up(int(max(dims)), line)
        k = _k()
        rows = [(*p, 0, 0) for p in self.parts]
        self.meta = np.array([*rows, (self.wp, self.stride, k.LINE_VECS, k.TEAM_SPIN, k.SIGMOID, k.SIGMOID)], np.int64)
        self._metas = {("sigmoid", "sigmoid"): self.meta}
        self.scratch = _round_up(2 * (L + 1) * self.wp, pair)
        self.pair = pair
        self.dtype = dtype
        #: multiply-adds of one per-sample step (forward, hidden deltas, update)
        self.macs = 2 * sum(r * c for _, r, c, _ in self.parts) + sum(r * c for _, r, c, _ in self.parts[1:])
        #: multiply-adds of one sample's forward pass (the loss)
        self.forward_macs = sum(r * c for _, r, c, _ in self.parts)
        self.no_snap = np.zeros((2, 1), dtype)
        #: per kind of choice ("team", "helper"): the faster of it and one thread
        self.tuners = {"team": _Tuner(), "helper": _Tuner()}
        self._own: dict[tuple[int, int], np.ndarray] = {}  # the team threads' own weights (``team_buffers``)

    def meta_for(self, activation: str, output: str) -> np.ndarray:
        """``meta`` with the codes of the hidden and output units in its last row."""
        m = self._metas.get((activation, output))
        if m is None:
            k = _k()
            m = self.meta.copy()
            m[-1, 4:6] = k.UNIT_CODES[activation], k.UNIT_CODES[output]
            self._metas[activation, output] = m
        return m

    def buffers(self, K):
        """Zeroed (K, stride) weights and (K, scratch) scratch, both 128-byte
        aligned, from one allocation, and the views of the weights: views[l]
        is layer l of every network, (K, r, c), the padding left out."""
        both = _aligned_zeros(K * (self.stride + self.scratch), self.dtype)
        n = K * self.stride
        slab = both[:n].reshape(K, self.stride)
        views = [slab[:, off : off + r * cp].reshape(K, r, cp)[:, :, :c] for off, r, c, cp in self.parts]
        return slab, both[n:].reshape(K, self.scratch), views

    def held_from(self) -> int:
        """The first layer a team holds whole on every thread (``train_team``'s
        ``rep_from``; layers 1 .. before it are chained, split by rows): the
        smallest l >= 2 whose layers l .. L-1 have at most HELD_FRACTION of
        the weights, else L (none held). 784-300-100-10 and 256-256-256-10:
        2; 256-256-256-256-10: 3."""
        sizes = [r * cp for _, r, _, cp in self.parts]
        for l in range(2, self.L):
            if sum(sizes[l:]) <= HELD_FRACTION * sum(sizes):
                return l
        return self.L

    def team_barriers(self) -> int:
        """Meetings of a team's threads per step (at least 1): a chain per
        chained layer, a barrier per chained layer's delta but layer 1's."""
        return max(1, 2 * self.held_from() - 3)

    def team_buffers(self, T, N):
        """Scratch of a ``train_team`` call of T threads on N samples (one
        team call runs at a time): zeroed shared rows, each thread's private
        rows, the loss blocks' sums, the chains' flags (one a cache line);
        each thread's own weights (its share of the first layer and of the
        chained layers and a copy of the held layers), made once per team size. Rows
        of each thread TEAM_GAP bytes apart."""
        k = _k()
        L, wp, pair = self.L, self.wp, self.pair
        gap = k.TEAM_GAP // self.dtype.itemsize
        sh = _aligned_zeros(_round_up((2 * L + 3) * wp, pair), self.dtype)
        prow = _round_up((3 * L + 4) * wp + gap, pair)
        pr = _aligned_zeros(T * prow, self.dtype).reshape(T, prow)
        H = max(2, min(self.held_from(), L)) if L >= 2 else 1  # as train_team reads rep_from
        own = self._own.get((T, H))
        if own is None:  # kept: a call fills what it reads (zeroing 2 MB on MNIST took about a millisecond)
            unit = k.LINE_VECS * k.lanes(self.dtype)

            def most(n):  # the most of n rows or columns a thread gets (shares of whole lines)
                return min(n, -(-n // unit // T) * unit)

            _, r0, _, cp0 = self.parts[0]
            cols = most(cp0)
            sizes = [r0 * (cols + unit)]  # its first-layer block (a line more a row where 4096 bytes apart)
            sizes += [(cols if l == 1 else most(r)) * cp for l, (_, r, _, cp) in enumerate(self.parts) if 1 <= l < H]
            sizes.append(self.stride - (self.parts[H][0] if H < L else self.stride))  # the held layers
            orow = sum(_round_up(n, pair) + gap for n in sizes)
            own = self._own[T, H] = _aligned_zeros(T * orow, self.dtype).reshape(T, orow)
        part = np.zeros(-(-N // k.LOSS_BLOCK) + T)
        links = _aligned_zeros(8 * T, np.dtype(np.int64))
        return sh, pr, own, part, links


class _Tuner:
    """Picks the faster of two ways to run a shape's training calls (they
    give the same bits) from the measured seconds per step, each option's
    best of its last 3 calls: each is tried first, then the faster is kept
    and the other tried again after 8, 16, 32, ... calls (the machine's load
    changes: on a busy machine threads that wait for each other every step
    lose to one thread)."""

    KEEP = 3

    def __init__(self):
        self.rates: dict = {}  # option -> seconds per step of its last KEEP calls
        self.calls = 0
        self.next_probe = 8
        self.wait = 8
        self.lock = threading.Lock()

    def rate(self, option) -> float:
        return min(self.rates[option])

    def pick(self, first, second):
        with self.lock:
            self.calls += 1
            for option in (first, second):
                if option not in self.rates:
                    return option
            best, other = (first, second) if self.rate(first) <= self.rate(second) else (second, first)
            if self.calls >= self.next_probe:
                self.wait *= 2
                self.next_probe = self.calls + self.wait
                return other
            return best

    def record(self, option, seconds_per_step: float) -> None:
        with self.lock:
            self.rates[option] = [*self.rates.get(option, [])[1 - self.KEEP :], seconds_per_step]


class _Packed:
    """The numba backend's private state of a ``Params``: the layout, the
    packed weights and scratch of its K networks, and (made on first use)
    the sync flags, snapshots and scratch of a loss helper thread."""

    __slots__ = ("helper", "layout", "scratch", "slab", "sync")

    def __init__(self, layout, slab, scratch):
        self.layout, self.slab, self.scratch = layout, slab, scratch
        self.sync = _sync_array()
        self.helper = None  # (snap, scratch) of the loss helper


def _sync_array():
    """A zeroed int64 array of the kernels' sync flags, 128-byte aligned."""
    return _aligned_zeros(_k().SYNC_LEN, np.dtype(np.int64))


# ------------------------------------------------------------- threads
#: the automatic mode splits each step of one network over every core from
#: this many multiply-adds per step and per meeting of the team's step
#: (``_Layout.team_barriers``). Measured on the 2-core VM (python -m
#: benchmarks.wide_threads --sizes --rounds 12, float64 / float32, rounds
#: with both cores free, nearly all on near cores): 64-32-16-10, 6 k, 0.87x /
#: 0.78x one thread; 128-64-10, 19 k, 1.42x / 1.24x; 256-128-10, 70 k, 1.69x
#: / 1.50x. Small steps lose the most when the two threads' cores are far
#: apart (a hand-off then takes 150-500 ns instead of 40-70: 128-64-10 ran
#: at 0.69x float32 in such a run), hence a threshold above 19 k
TEAM_MIN_MACS = 50_000
#: a call with fewer multiply-adds than this runs on one thread whatever the
#: setting: waking the threads and copying the weights to and from their own
#: buffers costs a fixed time a call, 0.4-1.5 ms on the 2-core VM for
#: 784-300-100-10 (python -m benchmarks.wide_threads --samples N --min-call 0,
#: 20 rounds: a team of 2 ran at 0.85-1.02x one thread in calls of 100 MNIST
#: steps, 57 M; 0.85-1.51x at 200; 784-256-128-10 on random inputs 1.04x at
#: 64 steps, 32 M, 1.68x at 128)
TEAM_MIN_CALL_MACS = 60_000_000
#: automatic mode times calls of at least this many multiply-adds to choose
#: between threads and one thread (``_Tuner``)
TUNE_MIN_MACS = 50_000_000
#: a thread of a team that has not started after this many seconds aborts the call
START_TIMEOUT = 10.0
#: a call hands its losses to a helper thread when they add up to at least
#: this many multiply-adds, counting LOSS_SAMPLE_MACS more for each sample's
#: forward pass (its fixed cost): the helper costs about 40-80 us a call to
#: start and to wait for. Measured on the 2-core VM (XOR, one loss an epoch,
#: 0.38 us each inline): the helper 79 us slower than no loss at 256 epochs,
#: inline 104 us; 64 epochs: 84 against 31
HELPER_MIN_MACS = 1_000_000
LOSS_SAMPLE_MACS = 1_000

#: the first layer runs over every row when the inputs of consecutive
#: samples (the first ROWS_SAMPLE of a call) are nonzero together at least
#: this often (the rows either of two samples' inputs touch; ``_first_rows``)
EVERY_ROW_FRACTION = 0.85
ROWS_SAMPLE = 256
#: the kernels' ``rows`` argument: every row of the first layer / the rows
#: of the nonzero inputs (lists built in the call)
_EVERY_ROW = np.zeros(0, np.bool_)
_LISTED_ROWS = np.zeros(0, np.int32)

_F64 = np.dtype(np.float64)
#: the losses of a call of one network that records none: (0, 1), nothing to write
_NO_LOSS = np.empty((1, 0))

_pool: ThreadPoolExecutor | None = None  # networks of a many-network call
_team_pool: ThreadPoolExecutor | None = None  # the threads of one network (one call at a time)
_helper_pool: ThreadPoolExecutor | None = None  # loss helpers
_team_lock = threading.Lock()
_pool_lock = threading.Lock()
#: what ``NumbaBackend.compile`` has compiled in this process: (weights'
#: dtype, Numba types of X1 and Y, form of the call)
_compiled: set = set()


def _threads() -> int:
    """Every core numba may use (``NUMBA_NUM_THREADS``, by default the CPU count)."""
    return max(1, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def _executor(which: str, workers: int = 0) -> ThreadPoolExecutor:
    """The pool for networks, team threads (at least ``workers`` of them) or loss helpers."""
    global _pool, _team_pool, _helper_pool
    with _pool_lock:
        if which == "team":
            if _team_pool is None or _team_pool._max_workers < workers:
                if _team_pool is not None:
                    _team_pool.shutdown(wait=False)
                _team_pool = ThreadPoolExecutor(max_workers=max(workers, _threads()), thread_name_prefix="fastbp-team")
            return _team_pool
        if which == "helper":
            if _helper_pool is None:
                _helper_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fastbp-loss")
            return _helper_pool
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="fastbp-numba")
        return _pool


def _first_rows(X1) -> np.ndarray:
    """The ``rows`` argument of the training kernels for inputs X1: the
    lists of nonzero inputs, or every row when two consecutive samples
    leave at most 1 - EVERY_ROW_FRACTION of the first layer's rows zero
    (then the lists cost more than they save: about 15% on inputs without
    zeros). Both give the same weights (the rows left out add zeros)."""
    nz = X1[:ROWS_SAMPLE] != 0
    if nz.shape[0] < 2:
        return _LISTED_ROWS
    both = np.count_nonzero(nz[:-1] | nz[1:])
    return _EVERY_ROW if both >= EVERY_ROW_FRACTION * (nz.size - nz.shape[1]) else _LISTED_ROWS


def _map(fn, parts) -> None:
    """Runs ``fn(part)`` for every part, on the pool's threads (the compiled
    kernels release the GIL), and waits for all of them."""
    if len(parts) == 1:
        fn(parts[0])
        return
    pool = _executor("networks")
    for f in [pool.submit(fn, p) for p in parts]:
        f.result()


def _train_one(imp, meta, X1, Y, alphas, epochs, record, losses, rows) -> None:
    """One network's compiled ``train`` on this thread, its losses inline."""
    (_kernels or _k()).train(
        imp.slab, meta, X1, Y, alphas, imp.scratch, epochs, record, losses, imp.sync, imp.layout.no_snap, rows
    )


def _train_many(P: Params, X1, Y, alphas, epochs, record, losses, groups: int, rows=None) -> None:
    """K networks, one compiled ``train`` call per group of networks, the
    groups on the pool's threads."""
    rows = _first_rows(X1) if rows is None else rows
    imp = P.impl
    lay = imp.layout
    meta = lay.meta_for(P.activation, P.output)
    fn = _k().train
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
        ),
        list(itertools.pairwise(bounds)),
    )


def _train_with_helper(P: Params, X1, Y, alphas, epochs, record, losses, rows=None) -> None:
    """One network: ``train`` on this thread, the recorded epochs' losses
    computed on a helper thread from snapshots of the weights (``train``
    computes a loss itself when the helper is behind). The helper always
    ends: ``train`` marks itself done when it returns (and a ``finally``
    here does too); a helper that never started is cancelled and its work
    done here."""
    k = _k()
    rows = _first_rows(X1) if rows is None else rows
    imp = P.impl
    lay = imp.layout
    meta = lay.meta_for(P.activation, P.output)
    if imp.helper is None:
        snap = _aligned_zeros(2 * lay.stride, lay.dtype).reshape(2, lay.stride)
        imp.helper = (snap, _aligned_zeros(lay.scratch, lay.dtype))
    snap, hscratch = imp.helper
    sync = imp.sync
    sync[:] = 0
    sync[k.SYNC_HELPER] = 1
    fut = _executor("helper").submit(k.loss_helper, snap, meta, X1, Y, hscratch, losses, sync)
    try:
        k.train(imp.slab, meta, X1, Y, alphas, imp.scratch, epochs, record, losses, sync, snap, rows)
    finally:
        sync[k.SYNC_DONE] = 1
        if fut.cancel():  # never started: the slots it left are emptied here
            k.loss_helper(snap, meta, X1, Y, hscratch, losses, sync)
        else:
            fut.result()
        sync[k.SYNC_HELPER] = 0


def _train_team(P: Params, X1, Y, alphas, epochs, record, losses, T: int, rows=None) -> None:
    """One network, each step split over T threads (``train_team``) of the
    team pool. One team call runs at a time (a second caller meanwhile
    trains on its own thread: the same weights, bit for bit). This thread
    watches the team: a thread that raised or did not start within
    START_TIMEOUT, or Ctrl-C here, sets the abort flag, every team thread
    leaves at its next wait, the weights go back to what they were
    before the call, and the call raises."""
    k = _k()
    rows = _first_rows(X1) if rows is None else rows
    imp = P.impl
    lay = imp.layout
    meta = lay.meta_for(P.activation, P.output)
    if not _team_lock.acquire(blocking=False):
        _train_one(imp, meta, X1, Y, alphas, epochs, record, losses, rows)
        return
    try:
        sh, pr, own, part, links = lay.team_buffers(T, X1.shape[0])
        sync = imp.sync
        sync[:] = 0
        before = imp.slab.copy()
        held = lay.held_from()

        def member(t):
            return k.train_team(
                imp.slab, meta, X1, Y, alphas, sh, pr, own, epochs, record, losses, part, sync, links, t, T, held, rows
            )

        pool = _executor("team", T)
        futs = [pool.submit(member, t) for t in range(T)]
        try:
            _watch(futs, sync)
        except BaseException:
            imp.slab[...] = before  # the network as it was before the call
            raise
    finally:
        _team_lock.release()


def _watch(futs, sync) -> None:
    """Waits for a team's threads; aborts the team (see ``_train_team``) and
    raises when one failed or did not start."""
    k = _k()
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
        sync[k.SYNC_ABORT] = 1
        _settle(futs)
        raise
    if problem is not None:
        sync[k.SYNC_ABORT] = 1
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


class NumbaBackend(Backend):
    """@njit kernels on the CPU; ``train`` runs many epochs of K networks in
    one compiled call.

    ``threads`` (None: automatic) is how many threads a training call may
    use (``plan``). Many networks are spread over them, a group per thread.
    One network's per-sample steps are split over them (``train_team``);
    automatically on every core once a step has TEAM_MIN_MACS multiply-adds
    per meeting of the threads in a step, one thread below that, and a network
    trained on one thread has the losses of densely recorded epochs
    computed on a second thread. Automatic mode times these against one
    thread per network shape and keeps the faster (``_Tuner``). Calls of
    fewer than TEAM_MIN_CALL_MACS multiply-adds run on one thread. Neither
    the weights nor the losses depend on the number of threads (bit for
    bit)."""

    name = "numba"
    activations = ACTIVATIONS
    outputs = OUTPUTS

    def __init__(self, threads: int | None = None):
        self.threads = threads

    @property
    def options(self):
        return {} if self.threads is None else {"threads": self.threads}

    def with_threads(self, threads):
        return self if threads == self.threads else NumbaBackend(threads)

    # ------------------------------------------------------------ data
    def asarray(self, host, dtype):
        return np.array(host, dtype=np.dtype(dtype), order="C", copy=True)

    def to_numpy(self, dev):
        return np.array(dev, copy=True)

    def info(self):
        layer: str
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region has run in this process
            layer = "not started"
        return {
            "name": self.name,
            "numba": numba.__version__,
            "numpy": np.__version__,
            "threads": _threads() if self.threads is None else self.threads,
            "threads_setting": "auto" if self.threads is None else self.threads,
            "threading_layer": layer,
            "cpu_count": os.cpu_count(),
            "cpu": _host_cpu_name(),
        }

    # ------------------------------------------------- per-layer kernels
    def forward(self, W, X1, *, activation="sigmoid", output="sigmoid"):
        _check_units(activation, output)
        if X1.dtype != W[0].dtype:
            raise TypeError(f"X1 has dtype {X1.dtype} but the weights have dtype {W[0].dtype}")
        A = [X1]
        L = len(W)
        for l, w in enumerate(W):
            _require(
                A[-1].shape[1] == w.shape[0], f"W[{l}] has {w.shape[0]} rows but its input has {A[-1].shape[1]} columns"
            )
            A.append(_unit_of_product(A[-1], w, activation if l < L - 1 else output))
        return A

    def output_delta(self, AL, Y, *, output="sigmoid"):
        _check_units("sigmoid", output)
        _require(AL.shape == Y.shape, f"Y has shape {Y.shape} but AL has shape {AL.shape}")
        if output != "sigmoid":
            return np.subtract(AL, Y, dtype=AL.dtype)  # a - y: linear and softmax (cross-entropy) outputs
        D = np.empty(AL.shape, AL.dtype)
        _k().output_delta(_c2(AL, AL.dtype), _c2(Y, AL.dtype), D, AL.dtype.type(1))
        return D

    def hidden_delta(self, D_next, W_l, A_l, *, activation="sigmoid"):
        _check_units(activation, "sigmoid")
        dt = W_l.dtype
        _require(D_next.shape[1] == W_l.shape[1], f"D_next has shape {D_next.shape} but W_l has shape {W_l.shape}")
        _require(
            A_l.shape == (D_next.shape[0], W_l.shape[0]),
            f"A_l has shape {A_l.shape}, expected ({D_next.shape[0]}, {W_l.shape[0]}) from D_next and W_l",
        )
        D = np.empty(A_l.shape, dt)
        k = _k()
        k.hidden_delta(_c2(D_next, dt), _c2(W_l, dt), _c2(A_l, dt), D, dt.type(1), k.UNIT_CODES[activation])
        return D

    def update(self, W_l, A_l, D, alpha):
        dt = W_l.dtype
        _require(
            A_l.shape[0] == D.shape[0] and A_l.shape[1] == W_l.shape[0] and D.shape[1] == W_l.shape[1],
            f"A_l {A_l.shape} and D {D.shape} do not match W_l {W_l.shape}: A_l.T @ D must have W_l's shape",
        )
        w = W_l if W_l.flags.c_contiguous else np.ascontiguousarray(W_l)
        _k().update(w, _c2(A_l, dt), _c2(D, dt), dt.type(alpha), np.empty(W_l.shape[1], dt))
        if w is not W_l:
            W_l[...] = w

    def predict(self, W, X1, *, activation="sigmoid", output="sigmoid"):
        return self.forward(W, X1, activation=activation, output=output)[-1]

    # ------------------------------------------------- the training seam
    def params(self, weights, dtype):
        dtype = np.dtype(dtype)
        lay = _layout((int(weights[0].shape[1]), *(int(w.shape[2]) for w in weights)), dtype)
        slab, scratch, views = lay.buffers(int(weights[0].shape[0]))
        for v, w in zip(views, weights):
            v[...] = w
        return Params(views, dtype, _Packed(lay, slab, scratch))

    def params_to_host(self, P):
        return [np.array(w, copy=True) for w in P.W]

    def copy_params(self, P):
        imp = P.impl
        slab, scratch, views = imp.layout.buffers(P.K)
        slab[...] = imp.slab
        return Params(views, P.dtype, _Packed(imp.layout, slab, scratch), **P.units)

    def train(self, P, X1, Y, alphas, epochs, record=NO_RECORD):
        if alphas.dtype != _F64:
            alphas = alphas.astype(_F64)
        imp = P.impl
        lay = imp.layout
        meta = lay.meta_for(P.activation, P.output)
        R = len(record)
        if R == 0 and X1.shape[0] * epochs * lay.macs < TEAM_MIN_CALL_MACS and len(imp.slab) == 1:
            # a short call of one network (fit_partial): straight to the kernel
            _train_one(imp, meta, X1, Y, alphas, epochs, record, _NO_LOSS, _LISTED_ROWS)
            return _NO_LOSS
        K = P.K
        losses = np.full((K, R), np.nan) if R else np.empty((K, 0))
        how = self.plan(P, X1.shape[0], epochs, R)
        steps = X1.shape[0] * epochs
        tuned = self.threads is None and how[0] in ("team", "helper") and steps * lay.macs >= TUNE_MIN_MACS
        if tuned:  # automatic mode: the faster of threads and one thread, as measured
            tuner = lay.tuners[how[0]]
            # a team's rival: one thread as the plan would run it (its losses on the helper where that pays)
            alone = self._one_network_alone(P, X1.shape[0], epochs, R) if how[0] == "team" else ("one", 1)
            how = tuner.pick(how, alone)
            t0 = time.perf_counter()
        mode, T = how
        rows = _first_rows(X1)
        if mode == "one":
            _train_one(imp, meta, X1, Y, alphas, epochs, record, losses, rows)
        elif mode == "helper":
            _train_with_helper(P, X1, Y, alphas, epochs, record, losses, rows)
        elif mode == "team":
            _train_team(P, X1, Y, alphas, epochs, record, losses, T, rows)
        else:
            _train_many(P, X1, Y, alphas, epochs, record, losses, T, rows)
        if tuned:
            tuner.record(how, (time.perf_counter() - t0) / steps)
        return losses.T

    def plan(self, P, n_samples: int, epochs: int, n_record: int) -> tuple[str, int]:
        """How a training call runs: ("one", 1) on this thread; ("helper", 2)
        with the losses on a second thread; ("team", T) one network's steps
        split over T threads; ("many", T) K networks in T groups."""
        lay = P.impl.layout
        cores = _threads()
        T = self.threads if self.threads is not None else cores
        if P.K > 1:
            return ("many", min(T, P.K)) if T > 1 else ("one", 1)
        if lay.L == 1 and P.output == "softmax":
            T = 1  # a single softmax layer is not split: each thread would hold a share of the outputs it sums over
        if self.threads is None and lay.macs < TEAM_MIN_MACS * lay.team_barriers():
            T = 1
        if T > 1 and n_samples * epochs * lay.macs >= TEAM_MIN_CALL_MACS:
            return "team", T
        return self._one_network_alone(P, n_samples, epochs, n_record)

    def _one_network_alone(self, P, n_samples: int, epochs: int, n_record: int) -> tuple[str, int]:
        """One network's steps on one thread: ("helper", 2) in automatic mode
        with a second core when at least every other epoch's loss is recorded
        and the losses add up to HELPER_MIN_MACS, else ("one", 1)."""
        lay = P.impl.layout
        if (
            self.threads is None
            and _threads() > 1
            and n_record >= 2
            and 2 * n_record >= epochs
            and n_record * n_samples * (lay.forward_macs + LOSS_SAMPLE_MACS) >= HELPER_MIN_MACS
        ):
            return "helper", 2
        return "one", 1

    def compile(self, P, X1, Y):
        """Compiles (or loads from the cache) what a training call of these
        arrays runs: ``train``, and the team's and the helper's functions when
        one network of this shape would use them (automatic mode times a team
        against one thread with the helper); once per process for each
        kind of arrays and form (then it costs a dictionary look-up)."""
        mode, T = self.plan(P, X1.shape[0], 1000, 1000) if P.K == 1 else ("many", 1)
        rows = _first_rows(X1)
        key = (P.dtype, numba.typeof(X1), numba.typeof(Y), mode, rows.dtype)
        if key in _compiled:
            return
        P1 = self.params([w[:1] for w in P.W], P.dtype).with_units(P.activation, P.output)
        x, y = X1[:1], Y[:1]
        meta = P1.impl.layout.meta_for(P1.activation, P1.output)
        one = np.ones(1, np.int64)
        _train_one(P1.impl, meta, x, y, np.ones(1), 1, one, np.ones((1, 1)), rows)
        if mode == "team":
            _train_team(P1, x, y, np.ones(1), 1, one, np.full((1, 1), np.nan), T, rows)
        if mode == "helper" or (mode == "team" and self._one_network_alone(P, X1.shape[0], 1000, 1000)[0] == "helper"):
            _train_with_helper(P1, x, y, np.ones(1), 2, np.arange(1, 3, dtype=np.int64), np.full((1, 2), np.nan), rows)
        _compiled.add(key)

    def loss_many(self, P, X1, Y):
        """Every network's loss with one stacked BLAS product per layer (the
        first layer's shared by all networks) and the compiled units, in
        chunks of networks that keep the activations to about 64 MB; the
        softmax's cross-entropy from the logits (log-sum-exp)."""
        K = P.K
        width = max(w.shape[2] for w in P.W)
        chunk = max(1, int(64e6 // max(1, X1.shape[0] * width * P.dtype.itemsize)))
        out = np.empty(K)
        last = len(P.W) - 1
        softmax = P.output == "softmax"
        for k0 in range(0, K, chunk):
            A = X1
            for l, w in enumerate(P.W):
                unit = P.activation if l < last else ("linear" if softmax else P.output)
                A = _unit_of_product(A, w[k0 : k0 + chunk], unit)
            if softmax:
                with np.errstate(invalid="ignore", over="ignore"):  # a diverged network's NaN shows below
                    m = A.max(axis=-1, keepdims=True)
                    lse = m + np.log(np.exp(A - m).sum(axis=-1, keepdims=True))
                    out[k0 : k0 + chunk] = (Y * (lse - A)).sum(axis=(1, 2))
            else:
                out[k0 : k0 + chunk] = 0.5 * ((A - Y) ** 2).sum(axis=(1, 2))
        finite = np.array([all(np.isfinite(w[k]).all() for w in P.W) for k in range(K)])
        out[~finite] = np.nan
        return out

    def contiguous(self, a, dtype):
        return np.ascontiguousarray(a, dtype=dtype)

    def wrap_params(self, Ws):
        return self.params(Ws, Ws[0].dtype)


def _host_cpu_name():
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_name()
    except Exception:  # pragma: no cover
        return None
