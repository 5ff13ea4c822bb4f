"""NumbaBackend: many epochs of per-sample SGD in ONE compiled call, on one thread or several.

A ``Params`` of this backend packs its K networks into one flat, aligned
buffer (``layout``); the weights stay packed between training calls and
``Params.W`` are views into it. ``train`` trusts its inputs (the boundary
validated them) and picks the form of the call (``plan``; ``run`` runs it);
in automatic mode it times the forms that use threads against one thread per
network shape (``Tuner``).

Compilation is lazy: importing this module or constructing ``NumbaBackend``
compiles nothing; each kernel is compiled (or loaded from the on-disk cache,
``cache``) before its first call. In automatic mode a network that a thread
team would train, whose team kernel is neither compiled nor cached, starts
on one thread (a kernel that compiles in about a third of the time) while the
team's kernel compiles in another process, at the same time as this one's
compiles, and switches to the team once it is there (``_team_ready``): the
same bits either way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np

from ..base import ACTIVATIONS, NO_RECORD, OUTPUTS, Backend, Params, softmax_cross_entropy, weight_dims
from . import cache, layers, run
from .layout import Packed, layout
from .units import units_form

#: the automatic mode splits each step of one network over every core from
#: this many multiply-adds per step and per meeting of the team's step
#: (``Layout.team_barriers``): 64-32-16-10 (6 k) ran at 0.87x / 0.78x one
#: thread float64 / float32, 128-64-10 (19 k) 1.42x / 1.24x on near cores but
#: 0.69x float32 on far ones (a hand-off 150-500 ns instead of 40-70),
#: 256-128-10 (70 k) 1.69x / 1.50x (``python -m benchmarks.wide_threads
#: --sizes --rounds 12``, 2-core EPYC VM): a threshold above 19 k
TEAM_MIN_MACS = 50_000
#: a call with fewer multiply-adds than this runs on one thread whatever the
#: setting: waking the threads and copying the weights to and from their own
#: buffers costs 0.4-1.5 ms a call for 784-300-100-10 (a team of 2 ran at
#: 0.85-1.02x one thread in calls of 100 MNIST steps, 57 M; 0.85-1.51x at
#: 200; ``python -m benchmarks.wide_threads --samples N --min-call 0 --rounds 20``)
TEAM_MIN_CALL_MACS = 60_000_000
#: automatic mode times calls of at least this many multiply-adds to choose
#: between threads and one thread (``Tuner``): a few milliseconds of work, timed
#: well enough to choose by, and below TEAM_MIN_CALL_MACS, so every call that
#: may run a team is timed (``python -m benchmarks.wide_threads``)
TUNE_MIN_MACS = 50_000_000
#: a call hands its losses to a helper thread when they add up to at least
#: this many multiply-adds: the helper costs about 40-80 us a call to start
#: and to wait for (XOR, one loss an epoch, 0.38 us each inline: the helper
#: 79 us slower than no loss at 256 epochs, inline 104 us; 64 epochs: 84
#: against 31; ``python -m benchmarks.loss_every``, ``benchmarks.tutorial_speed``)
HELPER_MIN_MACS = 1_000_000
#: ... counting this many more for each sample's forward pass: its fixed
#: cost (units, row list, sum) in multiply-adds, XOR's 95 ns a sample at the
#: loss pass's 10 G multiply-adds/s on digits (0.40 ms for 1,347 x 2,876,
#: ``python -m benchmarks.units_speed --loss``)
LOSS_SAMPLE_MACS = 1_000
#: ``loss_many`` computes the networks' losses in chunks whose activations
#: take about this many bytes: the stacked BLAS product of a chunk stays a
#: few large calls while its activations stay a small part of the memory
LOSS_CHUNK_BYTES = 64_000_000

_F64 = np.dtype(np.float64)
#: the losses of a call of one network that records none: (0, 1), nothing to write
_NO_LOSS = np.empty((1, 0))
#: the kernels compiled (or loaded) in this process: (kernel, weights'
#: dtype, Numba types of X1 and Y, rows' dtype, ``units.units_form``);
#: ``NumbaBackend._ready``
_compiled: set = set()
#: the kinds of arrays ``compile_note`` has spoken of in this process
_noted: set = set()
#: kernels compiling in the background: ``_compiled``'s key -> the
#: ``_Elsewhere`` process or ``_Thread`` (``is_alive``, ``ok``, ``join``, ``stop``)
_later: dict = {}


class Tuner:
    """Picks the faster of two ways to run a shape's training calls (they
    give the same bits) from the measured seconds per step, each option's
    best of its last KEEP calls: each is tried first, then the faster is kept
    and the other tried again after 8, 16, 32, ... calls (the machine's load
    changes: on a busy machine threads that wait for each other every step
    lose to one thread). A rival is first tried only once the shape's timed
    training has taken as long as a compile on this machine
    (``may_compile``): rent until the rent paid equals the price, the
    ski-rental rule, never more than twice the better choice's cost; a short
    run neither stops several seconds to compile a kernel it may never use
    nor spends its calls trying one that is compiled (one thread's kernel
    is, after a first run on an empty cache: ``NumbaBackend._team_ready``)."""

    #: calls remembered per option: one slow call among them does not flip the choice
    KEEP = 3

    def __init__(self):
        self.rates: dict = {}  # option -> seconds per step of its last KEEP calls
        self.calls = 0
        self.next_probe = 8
        self.wait = 8
        self.spent = 0.0  # seconds of the timed calls
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

    def record(self, option, seconds_per_step: float, seconds: float = 0.0) -> None:
        with self.lock:
            self.rates[option] = [*self.rates.get(option, [])[1 - self.KEEP :], seconds_per_step]
            self.spent += seconds

    def may_compile(self, compile_seconds: float) -> bool:
        """Whether an uncompiled rival may be compiled and tried now: once
        the timed calls have taken ``compile_seconds``, what a compile costs."""
        return self.spent >= compile_seconds


class NumbaBackend(Backend):
    """@njit kernels on the CPU; ``train`` runs many epochs of K networks in
    one compiled call.

    ``threads`` (None: automatic) is how many threads a training call may
    use (``plan``). Many networks are spread over them, a group per thread.
    One network's per-sample steps are split over them (``team``);
    automatically on every core once a step has TEAM_MIN_MACS multiply-adds
    per meeting of the threads in a step, one thread below that, and a network
    trained on one thread has the losses of densely recorded epochs
    computed on a second thread. Automatic mode times these against one
    thread per network shape and keeps the faster (``Tuner``). Calls of
    fewer than TEAM_MIN_CALL_MACS multiply-adds run on one thread. Neither
    the weights nor the losses depend on the number of threads (bit for
    bit)."""

    name = "numba"
    activations = ACTIVATIONS
    outputs = OUTPUTS
    interruptible = False  # a call's loss helper must see the call end (run.run_helper)

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    @property
    def options(self) -> dict[str, Any]:
        return {} if self.threads is None else {"threads": self.threads}

    def with_threads(self, threads: int | None) -> NumbaBackend:
        return self if threads == self.threads else NumbaBackend(threads)

    # ------------------------------------------------------------ data
    def asarray(self, host: Any, dtype: Any) -> np.ndarray:
        return np.array(host, dtype=np.dtype(dtype), order="C", copy=True)

    def to_numpy(self, dev: Any) -> np.ndarray:
        return np.array(dev, copy=True)

    def info(self) -> dict:
        layer: str
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region has run in this process
            layer = "not started"
        return {
            "name": self.name,
            "numba": numba.__version__,
            "numpy": np.__version__,
            "threads": run.cores() if self.threads is None else self.threads,
            "threads_setting": "auto" if self.threads is None else self.threads,
            "threading_layer": layer,
            "cpu_count": os.cpu_count(),
            "cpu": _host_cpu_name(),
        }

    # ------------------------------------------------- per-layer kernels
    def forward(
        self, W: Sequence[np.ndarray], X1: np.ndarray, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> list[np.ndarray]:
        return layers.forward(W, X1, activation, output)

    def output_delta(self, AL: np.ndarray, Y: np.ndarray, *, output: str = "sigmoid") -> np.ndarray:
        return layers.output_delta(AL, Y, output)

    def hidden_delta(
        self, D_next: np.ndarray, W_l: np.ndarray, A_l: np.ndarray, *, activation: str = "sigmoid"
    ) -> np.ndarray:
        return layers.hidden_delta(D_next, W_l, A_l, activation)

    def update(self, W_l: np.ndarray, A_l: np.ndarray, D: np.ndarray, alpha: float) -> None:
        layers.update(W_l, A_l, D, alpha)

    def predict(
        self, W: Sequence[np.ndarray], X1: np.ndarray, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> np.ndarray:
        return self.forward(W, X1, activation=activation, output=output)[-1]

    # ------------------------------------------------- the training seam
    def params(self, weights: Sequence[np.ndarray], dtype: Any) -> Params:
        dtype = np.dtype(dtype)
        lay = layout((int(weights[0].shape[1]), *(int(w.shape[2]) for w in weights)), dtype)
        slab, scratch, views = lay.buffers(int(weights[0].shape[0]))
        for v, w in zip(views, weights):
            v[...] = w
        return Params(views, dtype, Packed(lay, slab, scratch))

    def params_to_host(self, P: Params) -> list[np.ndarray]:
        return [np.array(w, copy=True) for w in P.W]

    def copy_params(self, P: Params) -> Params:
        imp = P.impl
        slab, scratch, views = imp.layout.buffers(P.K)
        slab[...] = imp.slab
        packed = Packed(imp.layout, slab, scratch)
        packed.rows = imp.rows
        return Params(views, P.dtype, packed, **P.units)

    def train(
        self, P: Params, X1: np.ndarray, Y: np.ndarray, alphas: np.ndarray, epochs: int, record: np.ndarray = NO_RECORD
    ) -> np.ndarray:
        if alphas.dtype != _F64:
            alphas = alphas.astype(_F64)
        imp = P.impl
        lay = imp.layout
        R = len(record)
        if R == 0 and X1.shape[0] * epochs * lay.macs < TEAM_MIN_CALL_MACS and len(imp.slab) == 1:
            # a short call of one network (fit_partial): straight to the kernel, its first layer
            # in the form of the network's last call (the same bits either way; no other compile)
            run.run_one(P, X1, Y, alphas, epochs, record, _NO_LOSS, imp.rows)
            return _NO_LOSS
        K = P.K
        losses = np.full((K, R), np.nan) if R else np.empty((K, 0))
        how = self.plan(P, X1.shape[0], epochs, R)
        steps = X1.shape[0] * epochs
        rows = imp.rows = run.first_rows(X1)
        tuned = self.threads is None and how[0] in ("team", "helper") and steps * lay.macs >= TUNE_MIN_MACS
        if tuned:  # automatic mode: the faster of threads and one thread, as measured
            tuner = lay.tuners.setdefault(how[0], Tuner())
            # a team's rival: one thread as the plan would run it (its losses on the helper where that pays)
            alone = self._one_network_alone(P, X1.shape[0], epochs, R) if how[0] == "team" else ("one", 1)
            first, how = how, tuner.pick(how, alone)
            if how != first and how not in tuner.rates and not tuner.may_compile(cache.compile_seconds()):
                how = first  # the rival's first try waits: the training so far has cost less than a compile
            if how[0] == "team" and not self._team_ready(P, X1, Y, rows):
                how = alone  # while the team's kernel compiles
            self._ready(P, X1, Y, _kernel(how[0]), rows)  # the rival's first try compiles it: not timed
            t0 = time.perf_counter()
        elif how[0] == "team" and self.threads is None and not self._team_ready(P, X1, Y, rows):
            how = self._one_network_alone(P, X1.shape[0], epochs, R)
        mode, T = how
        if mode == "one":
            run.run_one(P, X1, Y, alphas, epochs, record, losses, rows)
        elif mode == "helper":
            run.run_helper(P, X1, Y, alphas, epochs, record, losses, rows)
        elif mode == "team":
            run.run_team(P, X1, Y, alphas, epochs, record, losses, T, rows)
        else:
            run.run_many(P, X1, Y, alphas, epochs, record, losses, T, rows)
        if tuned:
            seconds = time.perf_counter() - t0
            tuner.record(how, seconds / steps, seconds)
        return losses.T

    def plan(self, P: Params, n_samples: int, epochs: int, n_record: int) -> tuple[str, int]:
        """How a training call runs: ("one", 1) on this thread; ("helper", 2)
        with the losses on a second thread; ("team", T) one network's steps
        split over T threads; ("many", T) K networks in T groups."""
        lay = P.impl.layout
        cores = run.cores()
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
            and run.cores() > 1
            and n_record >= 2
            and 2 * n_record >= epochs
            and n_record * n_samples * (lay.forward_macs + LOSS_SAMPLE_MACS) >= HELPER_MIN_MACS
        ):
            return "helper", 2
        return "one", 1

    def compile(self, P: Params, X1: np.ndarray, Y: np.ndarray) -> None:
        """Compiles (or loads from the cache) the kernel the first training
        call of these arrays runs: ``train`` (one thread, the loss helper,
        many networks: one compiled function) or ``train_team``; in automatic
        mode a team's kernel that is neither compiled nor cached compiles in
        the background while the first calls run ``train`` (``_team_ready``),
        and a team's rival, one thread, is compiled when the tuner first
        tries it, not here. Once per process for each kind of arrays (then it
        costs a set look-up)."""
        rows = run.first_rows(X1)
        first = self._kernels(P, X1)[0]
        if first == "team" and self.threads is None and not self._team_ready(P, X1, Y, rows):
            return
        self._ready(P, X1, Y, first, rows)

    def finish_compiles(self) -> None:
        """Waits for the thread teams' kernels compiling in the background
        (in another process: they are then in the cache, loaded when used)."""
        finish_compiles()

    def _team_ready(self, P, X1, Y, rows) -> bool:
        """Whether a team's kernel for these arrays is compiled here, cached,
        or just compiled by its background process. If none, starts its
        compile in the background, once, then compiles the one-thread kernel
        and ``predict``'s here, so that the two compiles run at the same time
        (Numba compiles one function at a time in a process): in another
        process, which leaves the kernel in the cache (``_Elsewhere``), or on
        a thread where that cannot serve (no cache folder, no interpreter
        path, or that process failed or could not start). The process waits
        for it at exit (``finish_compiles``), so the next one finds it cached."""
        if self._ready(P, X1, Y, "team", rows, check=True):
            return True
        key = self._key("team", P, X1, Y, rows)
        job = _later.get(key)
        if job is not None and not job.is_alive():
            if job.ok():
                return True  # in the cache now: the call loads it
            job = None  # the other process failed: compiled on a thread instead
        if job is None:
            fn, args = self._sample_call(P, X1, Y, "team", rows)
            sig = tuple(fn.typeof_pyval(a) for a in args)
            if key not in _later and cache.saves(fn) and sys.executable:
                with contextlib.suppress(OSError):  # else no process could start (fork or exec failed)
                    job = _Elsewhere(fn, sig)
            _later[key] = job or _Thread(fn, sig, key)
            self._ready(P, X1, Y, "one", rows)
            self.predict([w[0] for w in P.W], X1[:1], **P.units)
        return False

    def compile_note(self, P: Params, X1: np.ndarray, Y: np.ndarray) -> str | None:
        """What a training run of these arrays will compile, when some
        kernel it may run is neither compiled in this process nor in the
        cache (a compile takes several seconds), else None; once per process
        for each kind of arrays."""
        rows = run.first_rows(X1)
        key = (P.dtype, numba.typeof(X1), numba.typeof(Y), rows.dtype, units_form(P.activation, P.output))
        kernels = self._kernels(P, X1)
        if key in _noted or all(self._ready(P, X1, Y, k, rows, check=True) for k in kernels):
            return None
        _noted.add(key)
        note = f"compiling the numba kernels for {P.dtype.name} {P.activation}/{P.output}: first use on this machine, "
        if kernels[0] == "team" and self.threads is None and not self._ready(P, X1, Y, "team", rows, check=True):
            return note + "cached afterwards; training starts on one thread while the thread team's kernel compiles"
        return note + "cached afterwards"

    def _kernels(self, P, X1) -> list[str]:
        """The kernels a training run of one network of P's shape on X1 may
        run ("team": ``train_team``, "one": ``train``), its first call's
        first."""
        if P.K > 1:
            return ["one"]
        first = _kernel(self.plan(P, X1.shape[0], 1000, 1000)[0])
        return [first, "one"] if first == "team" and self.threads is None else [first]

    def _ready(self, P, X1, Y, kernel: str, rows, check: bool = False) -> bool:
        """Compiles (or loads) ``kernel`` ("one" or "team") for a call of
        P's networks on these arrays, once per process; with ``check``
        nothing is compiled: whether it is compiled in this process or
        cached."""
        key = self._key(kernel, P, X1, Y, rows)
        if key in _compiled:
            return True
        fn, args = self._sample_call(P, X1, Y, kernel, rows)
        if check:
            return cache.holds(fn, args)
        _compile(fn, tuple(fn.typeof_pyval(a) for a in args), key)
        return True

    def _sample_call(self, P, X1, Y, kernel: str, rows) -> tuple:
        """``kernel``'s compiled function and the arguments of a one-sample
        call like those of P's networks on these arrays (their types are
        what a compile or the cache is asked about)."""
        one, alphas, losses = np.ones(1, np.int64), np.ones(1), np.ones((1, 1))
        if kernel == "team":
            T = max(2, self.threads or run.cores())
            fn, team_args = run.team_call(P, X1[:1], Y[:1], alphas, 1, one, losses, T, rows)
            return fn, team_args(0)
        return run.one_call(P, X1[:1], Y[:1], alphas, 1, one, losses, rows)

    @staticmethod
    def _key(kernel: str, P, X1, Y, rows) -> tuple:
        """``_compiled``'s key of a kernel for a call of P's networks on these arrays."""
        return (kernel, P.dtype, numba.typeof(X1), numba.typeof(Y), rows.dtype, units_form(P.activation, P.output))

    def loss_many(self, P: Params, X1: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Every network's loss with one stacked BLAS product per layer (the
        first layer's shared by all networks) and the compiled units, in
        chunks of networks whose activations take about LOSS_CHUNK_BYTES;
        the softmax's cross-entropy from the logits (log-sum-exp)."""
        K = P.K
        width = max(w.shape[2] for w in P.W)
        chunk = max(1, int(LOSS_CHUNK_BYTES // max(1, X1.shape[0] * width * P.dtype.itemsize)))
        out = np.empty(K)
        last = len(P.W) - 1
        softmax = P.output == "softmax"
        for k0 in range(0, K, chunk):
            A = X1
            for l, w in enumerate(P.W):
                unit = P.activation if l < last else ("linear" if softmax else P.output)
                A = layers.unit_of_product(A, w[k0 : k0 + chunk], unit)
            if softmax:
                with np.errstate(invalid="ignore", over="ignore"):  # a diverged network's NaN shows below
                    out[k0 : k0 + chunk] = softmax_cross_entropy(A, Y, axis=(1, 2))
            else:
                out[k0 : k0 + chunk] = 0.5 * ((A - Y) ** 2).sum(axis=(1, 2))
        finite = np.array([all(np.isfinite(w[k]).all() for w in P.W) for k in range(K)])
        out[~finite] = np.nan
        return out

    def contiguous(self, a: Any, dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=dtype)

    def bytes_needed(self, layers: Sequence[int], K: int, dtype: Any, n_samples: int = 0) -> int:
        """The packed layout's count: each network's padded weights and
        scratch twice (the loop's copy); for one network, the larger of a
        team's buffers (the weights before the call, the threads' shares, the
        held layers on every thread) and the loss helper's snapshots; the
        samples; a whole-set ``predict`` (the training's losses are computed
        in its kernels)."""
        dims = weight_dims(layers)
        lay = layout(tuple(dims), np.dtype(dtype))
        n = int(n_samples)
        H = lay.held_from()
        held = lay.stride - lay.parts[H][0] if H < lay.L else 0
        team = 2 * lay.stride + (self.threads or run.cores()) * (held + dims[0] * 64 // lay.dtype.itemsize)
        one = max(team, 2 * lay.stride + lay.scratch) if K == 1 else 0
        predict = n * (sum(dims) + 8 * len(dims))
        return lay.dtype.itemsize * (2 * K * (lay.stride + lay.scratch) + one + n * (dims[0] + dims[-1]) + predict)


def _compile(fn, sig, key) -> None:
    """Compiles (or loads) ``fn`` for ``sig`` and counts it compiled (``_compiled``)."""
    t0 = time.perf_counter()
    fn.compile(sig)
    cache.record_compile(time.perf_counter() - t0)  # what a tuner's uncompiled rival would cost
    _compiled.add(key)


def child_env() -> dict[str, str]:
    """The environment of a Python process that compiles kernels for this
    one: this one's, with this copy of fastbp first on ``PYTHONPATH`` (the
    cache holds kernels per copy and its sources) and its cache folder."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache.folder()))
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


class _Thread(threading.Thread):
    """A kernel compiling on a background thread of this process."""

    def __init__(self, fn, sig, key):
        super().__init__(target=_compile, args=(fn, sig, key), name="fastbp-compile", daemon=True)
        self.start()

    def ok(self) -> bool:
        return True

    def stop(self) -> None:
        """Nothing: a daemon thread ends with the process."""


class _Elsewhere:
    """A kernel compiling in another Python process (``python -m
    fastbp.backends.numba.elsewhere``), at the same time as this process's
    own compiles, into the same cache folder; this process loads it from
    there once the other has ended (``ok``). The other process runs in a
    session of its own (a Ctrl-C at the terminal stops this one's training,
    not the compile); ``stop`` ends it."""

    def __init__(self, fn, sig):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastbp.backends.numba.elsewhere"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=child_env(),
            start_new_session=True,
        )
        assert self.proc.stdin is not None
        with self.proc.stdin as pipe:
            pipe.write(pickle.dumps((fn.py_func.__module__, fn.py_func.__name__, sig)))

    def is_alive(self) -> bool:
        return self.proc.poll() is None

    def ok(self) -> bool:
        return self.proc.poll() == 0

    def join(self) -> None:
        self.proc.wait()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def finish_compiles() -> None:
    """Waits for the kernels compiling in the background (``NumbaBackend.finish_compiles``)."""
    for job in list(_later.values()):
        job.join()


def _at_exit() -> None:
    """At exit, waits for the kernels compiling in the background, saying
    so on stderr, so that the next process finds them cached; Ctrl-C skips
    the wait (they then compile again in a later process)."""
    try:
        if any(job.is_alive() for job in _later.values()):
            print(
                "fastbp: finishing the numba thread team's kernel for the next run (Ctrl-C skips it)", file=sys.stderr
            )
            finish_compiles()
    except KeyboardInterrupt:
        for job in _later.values():
            job.stop()


atexit.register(_at_exit)


def _kernel(mode: str) -> str:
    """The compiled kernel of a form of call: "team" for a team, "one"
    (``train``) for the others."""
    return "team" if mode == "team" else "one"


def _host_cpu_name():
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_name()
    except Exception:  # pragma: no cover
        return None
