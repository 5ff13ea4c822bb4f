"""Which training kernel trains a workload on this GPU: each candidate
checked against the NumPy backend, timed on the caller's data, the fastest
chosen. Pure Python and NumPy (no CuPy): the decision logic runs over
``Candidate`` objects, which the cuda backend builds from its kernels and
the GPU-free tests from stand-ins.

For one workload (widths, dtype, units, number of networks) every kernel
that serves the shape is a candidate (``LABELS``). ``evaluate`` takes one
through:

1. ``compile``; an exception refuses it ("does not compile");
2. the check (``check``): ``check_problem``, a problem of the workload's
   shape (every layer; CHECK_K networks with their own alphas, CHECK_N
   samples, CHECK_EPOCHS epochs, the loss after each), trained twice from
   the same weights; refused if a run raises, if the two runs differ in a
   single bit (a race), or if the result is not the NumPy backend's to
   CHECK_TOL;
3. the timing (``time_per_epoch``): the caller's first ``Limits.rows``
   rows, K networks, the loss of every epoch as the training loop records
   it; a warm-up outside the timing, a synchronize inside every timed
   call, the median of ``Limits.rounds`` calls.

``run_isolated`` runs the evaluations in a child process
(``python -m fastbp.backends.cuda.tune``) with a time limit on every stage:
a kernel that hangs, or takes the process down (a fault on the GPU leaves a
CUDA context unusable), is refused with the reason, and a fresh child goes
on with the other candidates; the caller's process and its GPU context are
never at risk. ``decide`` runs the whole decision: the candidates in the
child, numba timed the same way in this process, the choice (``choose``),
and the entry that ``record.store`` keeps on disk.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import DTypeLike

from ...errors import FastbpError
from ..base import Backend

#: The cuda training kernels, in the order they are tried: the persistent
#: kernels ("regs": weights in registers, "block": in shared memory, "grid":
#: one network over many blocks with the last layer in every block, and
#: "grid-slices": without it), then the batched kernels one sample at a
#: time ("step": every shape and every unit).
LABELS = ("regs", "block", "grid", "grid-slices", "step")


class KernelCheckError(FastbpError, RuntimeError):
    """No cuda kernel passed its check against the NumPy backend for a
    workload, or a kernel forced with ``CudaBackend(kernel=...)`` failed it.
    The message names the kernels and why each was refused."""


# ------------------------------------------------------------------ the check
#: The check's problem: networks (each its own alpha), samples, epochs.
CHECK_K, CHECK_N, CHECK_EPOCHS = 2, 64, 3
#: The largest difference from the NumPy backend a kernel may show: per
#: layer, max |dW| / max |W|; for the losses, relative. A correct kernel
#: differs only in the order of its sums (float64 about 1e-15 after 10
#: digits epochs; float32 about 1e-6).
CHECK_TOL = {"float64": 1e-10, "float32": 1e-4}


def check_problem(
    dims: Sequence[int], dtype: DTypeLike, units: Sequence[str] = ("sigmoid", "sigmoid")
) -> dict[str, Any]:
    """The check's problem for widths ``dims`` (with bias units): CHECK_K
    networks with the alphas 0.3 and 0.7 (a tenth of them for other units
    than the sigmoids, and scaled by 64 / d[0] for inputs wider than 64),
    CHECK_N random samples with their bias column, CHECK_EPOCHS epochs, the
    loss recorded after each; one-hot targets for a softmax output; host
    arrays of ``dtype``."""
    dt = np.dtype(dtype)
    d = [int(x) for x in dims]
    rs = np.random.RandomState(12345)
    L = len(d) - 1
    W = [(rs.randn(CHECK_K, d[l], d[l + 1]) / np.sqrt(d[l])).astype(dt) for l in range(L)]
    X1 = np.hstack([rs.rand(CHECK_N, d[0] - 1), np.ones((CHECK_N, 1))]).astype(dt)
    if units[1] == "softmax":
        Y = np.eye(d[L], dtype=dt)[rs.randint(0, d[L], CHECK_N)]
    else:
        Y = (rs.rand(CHECK_N, d[L]) > 0.5).astype(dt)
    alphas = np.linspace(0.3, 0.7, CHECK_K) * min(1.0, 64 / d[0])
    if tuple(units) != ("sigmoid", "sigmoid"):
        alphas = alphas / 10  # relu and softmax networks take smaller steps
    record = np.arange(1, CHECK_EPOCHS + 1, dtype=np.int64)
    return dict(W=W, X1=X1, Y=Y, alphas=alphas, epochs=CHECK_EPOCHS, record=record, units=tuple(units))


def reference(problem: dict[str, Any]) -> tuple[list[np.ndarray], np.ndarray]:
    """The NumPy backend's weights and losses for ``problem`` (its training seam)."""
    from ..numpy_backend import NumpyBackend

    nb = NumpyBackend()
    dt = problem["W"][0].dtype
    P = nb.params(problem["W"], dt).with_units(*problem.get("units", ("sigmoid", "sigmoid")))
    losses = nb.train(
        P, problem["X1"], problem["Y"], np.asarray(problem["alphas"], np.float64), problem["epochs"], problem["record"]
    )
    return nb.params_to_host(P), np.asarray(losses, np.float64)


def disagreement(
    got: Sequence[np.ndarray],
    got_losses: np.ndarray,
    ref: Sequence[np.ndarray],
    ref_losses: np.ndarray,
    dtype: DTypeLike,
) -> str | None:
    """None when ``got`` (weights, losses) is the reference's to CHECK_TOL,
    else what differs."""
    tol = CHECK_TOL[np.dtype(dtype).name]
    for l, (g, r) in enumerate(zip(got, ref)):
        g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
        if g.shape != r.shape:
            return f"W[{l}] has shape {g.shape}, not {r.shape}"
        scale = float(np.max(np.abs(r)))
        err = float(np.max(np.abs(g - r))) / scale if np.isfinite(g).all() else float("inf")
        if not err <= tol:
            return f"W[{l}] differs by {err:.3g} of max|W| (tolerance {tol:g})"
    got_losses = np.asarray(got_losses, np.float64)
    ref_losses = np.asarray(ref_losses, np.float64)
    if got_losses.shape != ref_losses.shape:
        return f"the losses have shape {got_losses.shape}, not {ref_losses.shape}"
    finite = bool(np.isfinite(got_losses).all())
    err = float(np.max(np.abs(got_losses - ref_losses) / np.abs(ref_losses))) if finite else float("inf")
    if not err <= tol:
        return f"the recorded losses differ by {err:.3g} (relative; tolerance {tol:g})"
    return None


def _same_bits(a: tuple[list[np.ndarray], np.ndarray], b: tuple[list[np.ndarray], np.ndarray]) -> bool:
    arrays_a, arrays_b = [*a[0], np.asarray(a[1])], [*b[0], np.asarray(b[1])]
    return all(x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in zip(arrays_a, arrays_b))


# ---------------------------------------------------------------- candidates
class Candidate(Protocol):
    """One way of training a workload, as the tuner sees it."""

    label: str
    #: what it runs (kernel name, launch shape), for the record
    plan: str

    def compile(self) -> None:
        """Compiles (or loads) what ``check_run`` and ``timed_run`` run."""

    def check_run(self, problem: dict[str, Any]) -> tuple[list[np.ndarray], np.ndarray]:
        """Trains ``problem``'s networks (a copy of its weights) as the
        training seam does; returns the host weights and the losses."""
        ...

    def timed_run(self, epochs: int, rows: int) -> float:
        """Seconds (synchronized) of one training call of ``epochs`` epochs
        over the first ``rows`` rows of the caller's data, from the same
        weights every time, the loss recorded after every epoch."""
        ...


@dataclass(frozen=True)
class Timing:
    """The caller's data for the timing: K networks of widths ``dims``
    (``timing_weights``) trained on the host rows ``X1``, ``Y``."""

    dims: tuple[int, ...]
    dtype: str
    units: tuple[str, str]
    K: int
    X1: np.ndarray
    Y: np.ndarray


def timing_weights(dims: Sequence[int], K: int, dtype: DTypeLike) -> list[np.ndarray]:
    """K networks of widths ``dims``, the tutorial's initialisation (seeded):
    the weights the timing trains."""
    rs = np.random.RandomState(2024)
    return [(rs.randn(K, dims[l], dims[l + 1]) / np.sqrt(dims[l])).astype(dtype) for l in range(len(dims) - 1)]


class SeamCandidate:
    """A candidate that trains through a backend's seam: ``train(P, X1, Y,
    alphas, epochs, record)`` (``Backend.train``, or the cuda backend's
    ``train_with`` a given plan); ``timing`` None: checked only."""

    def __init__(
        self,
        label: str,
        be: Backend,
        train: Callable[..., Any],
        timing: Timing | None,
        *,
        plan: str = "",
        compile: Callable[[], None] | None = None,
    ) -> None:
        self.label, self.plan, self.be, self._train, self.timing = label, plan or label, be, train, timing
        self._compile = compile
        self._data: tuple | None = None

    def compile(self) -> None:
        if self._compile is not None:
            self._compile()

    def check_run(self, problem: dict[str, Any]) -> tuple[list[np.ndarray], np.ndarray]:
        be, dt = self.be, problem["W"][0].dtype
        P = be.params(problem["W"], dt).with_units(*problem["units"])
        X1, Y = be.asarray(problem["X1"], dt), be.asarray(problem["Y"], dt)
        alphas = np.asarray(problem["alphas"], np.float64)
        losses = self._train(P, X1, Y, alphas, problem["epochs"], problem["record"])
        return be.params_to_host(P), np.array(losses, np.float64)

    def timed_run(self, epochs: int, rows: int) -> float:
        be, t = self.be, self.timing
        if t is None:
            raise ValueError(f"candidate {self.label!r} has no timing data")
        if self._data is None:
            P0 = be.params(timing_weights(t.dims, t.K, t.dtype), t.dtype).with_units(*t.units)
            self._data = (P0, be.asarray(t.X1, t.dtype), be.asarray(t.Y, t.dtype), np.linspace(0.005, 0.02, t.K))
        P0, X1, Y, alphas = self._data
        P = be.copy_params(P0)
        X1, Y = be.contiguous(X1[:rows], t.dtype), be.contiguous(Y[:rows], t.dtype)
        record = np.arange(1, epochs + 1, dtype=np.int64)
        be.synchronize()
        t0 = time.perf_counter()
        self._train(P, X1, Y, alphas, epochs, record)
        be.synchronize()
        return time.perf_counter() - t0


# ------------------------------------------------------------ one candidate
@dataclass(frozen=True)
class Limits:
    """Time limits of a decision, and how the timing runs."""

    #: the child's start: Python, CuPy, the GPU's context, the batched kernels (NVRTC on a machine's first use)
    start_s: float = 120.0
    #: NVRTC of one shape-compiled kernel (its loops unrolled for the shape)
    compile_s: float = 300.0
    #: the check: two runs of a small problem, well under a second for every kernel that works
    check_s: float = 60.0
    #: the timing stage of one candidate (about ``rounds`` + 3 calls of ``call_s`` each)
    time_s: float = 60.0
    #: an epoch over the timed rows estimated longer than this is not timed in full (the estimate is kept)
    epoch_s: float = 1.0
    #: seconds of one timed call, about (epochs per call are chosen for it)
    call_s: float = 0.02
    #: timed calls per candidate (their median counts)
    rounds: int = 5
    #: rows of the caller's data the timing trains on
    rows: int = 1024

    def of(self, stage: str) -> float:
        return float(getattr(self, f"{stage}_s"))


@dataclass
class Outcome:
    """One candidate's result: "passed" (and its time) or "refused" (and why)."""

    label: str
    status: str
    reason: str = ""
    us_per_sample: float | None = None  # per network-sample
    plan: str = ""

    def describe(self) -> str:
        if self.status != "passed":
            return f"{self.label}: {self.status}: {self.reason}"
        t = "not timed" if self.us_per_sample is None else f"{self.us_per_sample:.4g} us a network-sample"
        return f"{self.label}: {t}" + (f" ({self.reason})" if self.reason else "")


def check(c: Candidate, problem: dict[str, Any], ref: list[np.ndarray], ref_losses: np.ndarray) -> str | None:
    """None when ``c`` passes the check on ``problem`` (two runs, the same
    bits, the reference's result to CHECK_TOL), else why not. Exceptions of
    the runs propagate."""
    first = c.check_run(problem)
    second = c.check_run(problem)
    if not _same_bits(first, second):
        return "its two runs of the check differ (a race, or uninitialised memory)"
    why = disagreement(*first, ref, ref_losses, problem["W"][0].dtype)
    if why is not None:
        shape = "-".join(str(w.shape[-2]) for w in problem["W"]) + f"-{problem['W'][-1].shape[-1]}"
        return (
            f"disagrees with the NumPy backend on {CHECK_K} networks of {shape} x {CHECK_N} samples x "
            f"{CHECK_EPOCHS} epochs: {why}"
        )
    return None


def time_per_epoch(c: Candidate, rows: int, limits: Limits, networks: int = 1) -> tuple[float, str]:
    """(seconds per epoch over ``rows`` rows, note). Two calls on a few rows
    first (the warm-up, and an estimate; up to 64 rows, fewer for many
    networks); where the estimate of a full epoch exceeds ``limits.epoch_s``
    it is returned as it is (the note says so); else the epochs per call are
    set for ``limits.call_s``, one more warm-up call, and the median of
    ``limits.rounds`` timed calls."""
    probe = max(1, min(rows, 64, 8192 // max(1, networks)))
    c.timed_run(1, probe)
    estimate = c.timed_run(1, probe) * rows / probe
    if estimate > limits.epoch_s:
        return estimate, f"estimated from {probe} rows: an epoch of {rows} takes more than {limits.epoch_s:g} s"
    epochs = max(1, min(50, round(limits.call_s / max(estimate, 1e-9))))
    c.timed_run(epochs, rows)
    times = [c.timed_run(epochs, rows) for _ in range(limits.rounds)]
    return statistics.median(times) / epochs, ""


def evaluate(
    c: Candidate,
    problem: dict[str, Any],
    ref: list[np.ndarray],
    ref_losses: np.ndarray,
    K: int,
    rows: int,
    limits: Limits,
    stage: Callable[[str], None] = lambda s: None,
) -> Outcome:
    """``c`` through compile, check and timing (K networks, ``rows`` rows);
    ``stage(name)`` is called as each stage starts."""

    def refused(why: str) -> Outcome:
        return Outcome(c.label, "refused", why, plan=c.plan)

    stage("compile")
    try:
        c.compile()
    except Exception as exc:
        return refused(f"does not compile: {type(exc).__name__}: {exc}")
    stage("check")
    try:
        why = check(c, problem, ref, ref_losses)
    except Exception as exc:
        return refused(f"raised {type(exc).__name__}: {exc}")
    if why is not None:
        return refused(why)
    stage("time")
    try:
        seconds, note = time_per_epoch(c, rows, limits, K)
    except Exception as exc:
        return refused(f"raised {type(exc).__name__} while timed: {exc}")
    return Outcome(c.label, "passed", note, seconds / (K * rows) * 1e6, c.plan)


def choose(outcomes: Sequence[Outcome]) -> Outcome | None:
    """The fastest candidate that passed, or None."""
    passed = [o for o in outcomes if o.status == "passed" and o.us_per_sample is not None]
    return min(passed, key=lambda o: o.us_per_sample or 0.0, default=None)


# ---------------------------------------------------- in a child process
@dataclass
class Job:
    """What the child process needs: the workload, the check's problem and
    its reference, the timing rows, and ``factory`` ("module:function",
    called in the child as ``factory(job, label)`` to build a Candidate)."""

    problem: dict[str, Any]
    ref: list[np.ndarray]
    ref_losses: np.ndarray
    timing: Timing
    factory: str
    options: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # sys.path entries the factory's module needs
    limits: Limits = field(default_factory=Limits)

    def save(self, folder: Path) -> None:
        p, t = self.problem, self.timing
        arrays = {f"W{l}": w for l, w in enumerate(p["W"])}
        arrays.update({f"R{l}": w for l, w in enumerate(self.ref)})
        arrays.update(
            X1c=p["X1"], Yc=p["Y"], alphas=np.asarray(p["alphas"]), record=p["record"], ref_losses=self.ref_losses
        )
        arrays.update(X1=t.X1, Y=t.Y)
        np.savez(folder / "job.npz", **arrays)
        meta = dict(
            L=len(p["W"]),
            epochs=int(p["epochs"]),
            units=list(p["units"]),
            timing=dict(dims=list(t.dims), dtype=t.dtype, units=list(t.units), K=t.K),
            factory=self.factory,
            options=self.options,
            path=self.path,
            limits=asdict(self.limits),
        )
        (folder / "job.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> Job:
        meta = json.loads((folder / "job.json").read_text())
        with np.load(folder / "job.npz") as z:
            a = {k: z[k] for k in z.files}
        L = meta["L"]
        problem = dict(
            W=[a[f"W{l}"] for l in range(L)],
            X1=a["X1c"],
            Y=a["Yc"],
            alphas=a["alphas"],
            epochs=meta["epochs"],
            record=a["record"],
            units=tuple(meta["units"]),
        )
        tm = meta["timing"]
        timing = Timing(tuple(tm["dims"]), tm["dtype"], tuple(tm["units"]), int(tm["K"]), a["X1"], a["Y"])
        return cls(
            problem,
            [a[f"R{l}"] for l in range(L)],
            a["ref_losses"],
            timing,
            meta["factory"],
            meta["options"],
            meta["path"],
            Limits(**meta["limits"]),
        )


_MARK = "FASTBP-TUNE "


def _child(folder: str, labels: list[str]) -> int:
    """The child: evaluates ``labels`` in order, one JSON line per stage and
    per outcome on stdout; exits with status 3 after a candidate raised (its
    GPU context may be unusable: the parent starts a fresh child)."""
    job = Job.load(Path(folder))
    sys.path[:0] = job.path
    module, _, name = job.factory.partition(":")
    factory = getattr(importlib.import_module(module), name)

    def say(**msg: Any) -> None:
        print(_MARK + json.dumps(msg), flush=True)

    for label in labels:
        o = _evaluate_in_child(job, factory, label, say)
        say(label=label, outcome=asdict(o))
        if o.status == "refused" and o.reason.startswith(("raised", "does not compile", "cannot be set up")):
            return 3
    return 0


def _evaluate_in_child(
    job: Job, factory: Callable[[Job, str], Candidate], label: str, say: Callable[..., None]
) -> Outcome:
    say(label=label, stage="compile")
    try:
        c = factory(job, label)
    except Exception as exc:
        return Outcome(label, "refused", f"cannot be set up: {type(exc).__name__}: {exc}")
    n, K = int(job.timing.X1.shape[0]), job.timing.K
    return evaluate(c, job.problem, job.ref, job.ref_losses, K, n, job.limits, lambda s: say(label=label, stage=s))


def _reader(stream: Any, q: queue.Queue, tail: list[str] | None) -> None:
    for line in stream:
        if line.startswith(_MARK):
            q.put(json.loads(line[len(_MARK) :]))
        elif tail is not None:
            tail.append(line.rstrip())
            del tail[:-20]
    q.put(None)


def _pythonpath() -> str:
    """PYTHONPATH for the child: the folder this fastbp is imported from
    first, so that the child imports the same code (also when the caller put
    a source checkout on sys.path itself)."""
    here = str(Path(__file__).resolve().parents[3])
    return os.pathsep.join([here, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)])


def run_isolated(
    job: Job, labels: Sequence[str], progress: Callable[[Outcome], None] = lambda o: None
) -> list[Outcome]:
    """Evaluates ``labels`` (in order) in child processes, each stage under
    its time limit (``job.limits``): a child that passes one is killed and
    the candidate refused; a child that dies refuses the candidate it was
    evaluating; a fresh child goes on with the rest."""
    limits = job.limits
    outcomes: dict[str, Outcome] = {}
    pending = list(labels)
    with tempfile.TemporaryDirectory(prefix="fastbp-tune-") as tmp:
        job.save(Path(tmp))
        while pending:
            cmd = [sys.executable, "-m", "fastbp.backends.cuda.tune", tmp, ",".join(pending)]
            env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=_pythonpath())
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            q: queue.Queue = queue.Queue()
            tail: list[str] = []
            readers = [
                threading.Thread(target=_reader, args=(proc.stdout, q, None), daemon=True),
                threading.Thread(target=_reader, args=(proc.stderr, queue.Queue(), tail), daemon=True),
            ]
            for r in readers:
                r.start()
            current, stage, heard = None, "start", False
            deadline = time.monotonic() + limits.start_s
            try:
                while True:
                    try:
                        msg = q.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        proc.kill()
                        why = f"exceeded the time limit of {limits.of(stage):g} s in its {stage} stage (stopped)"
                        if current is None:  # the child did not start
                            for label in (x for x in pending if x not in outcomes):
                                outcomes[label] = Outcome(label, "refused", f"the tuning process {why}")
                        else:
                            outcomes[current] = Outcome(current, "refused", why)
                            progress(outcomes[current])
                        break
                    if msg is None:  # the child's output ended
                        rc = proc.wait()
                        for r in readers:
                            r.join(timeout=5)
                        text = " | ".join(tail[-5:])
                        if current is not None and current not in outcomes:
                            outcomes[current] = Outcome(
                                current, "refused", f"the process evaluating it died (exit status {rc}): {text}"
                            )
                            progress(outcomes[current])
                        elif not heard and rc != 0:  # it failed before its first stage
                            for label in pending:
                                outcomes[label] = Outcome(
                                    label, "refused", f"the tuning process failed (exit status {rc}): {text}"
                                )
                        break
                    heard = True
                    label = msg["label"]
                    if "outcome" in msg:
                        outcomes[label] = Outcome(**msg["outcome"])
                        progress(outcomes[label])
                        current, stage = None, "start"
                        deadline = time.monotonic() + limits.start_s
                    else:
                        current, stage = label, msg["stage"]
                        deadline = time.monotonic() + limits.of(stage)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            pending = [label for label in pending if label not in outcomes]
    return [outcomes[label] for label in labels]


# ------------------------------------------------------------ the decision
def decide(
    job: Job,
    labels: Sequence[str],
    not_serving: dict[str, str],
    numba: Candidate | None,
    progress: Callable[[str], None] = lambda line: None,
    here: Sequence[Candidate] = (),
) -> dict[str, Any]:
    """The decision for ``job``'s workload: ``labels`` evaluated in child
    processes and the candidates ``here`` in this process (those that
    cannot hang), ``numba`` (a candidate over the numba backend, or None
    where it is unusable) timed the same way in this process, the fastest
    cuda kernel chosen. ``not_serving`` maps the kernels that do not serve
    the shape to why. Returns the entry for ``record.store``: ``{"date",
    "chosen", "kernels": {label: Outcome fields}, "numba": {"us_per_sample",
    "note"} or None, "rows", "K"}``. Raises KernelCheckError when no kernel
    passed."""
    outcomes = run_isolated(job, labels, lambda o: progress(f"  {o.describe()}")) if labels else []
    t = job.timing
    rows = int(t.X1.shape[0])
    for c in here:
        outcomes.append(evaluate(c, job.problem, job.ref, job.ref_losses, t.K, rows, job.limits))
        progress(f"  {outcomes[-1].describe()}")
    best = choose(outcomes)
    if best is None:
        raise KernelCheckError(
            "no cuda kernel passed its check for this workload: "
            + "; ".join(o.describe() for o in outcomes)
            + '. The numba backend trains it: backend="numba"'
        )
    numba_row = None
    if numba is not None:
        seconds, note = time_per_epoch(numba, rows, job.limits, t.K)
        numba_row = {"us_per_sample": seconds / (t.K * rows) * 1e6, "note": note}
        progress(f"  numba (this machine's CPU): {numba_row['us_per_sample']:.4g} us a network-sample")
    kernels = {o.label: asdict(o) for o in outcomes}
    kernels.update({k: asdict(Outcome(k, NOT_SERVING, why)) for k, why in not_serving.items()})
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "chosen": best.label,
        "kernels": kernels,
        "numba": numba_row,
        "rows": rows,
        "K": t.K,
    }


#: The status of a kernel that does not serve a workload, in a record's entry.
NOT_SERVING = "does not serve the workload"


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2].split(",")))
