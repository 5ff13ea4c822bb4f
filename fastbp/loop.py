"""The training loop: every run of fastbp, for one network or many, goes through ``run``.

``run`` trains the K networks of a backend ``Params`` for a number of epochs
by calling the backend's training seam (``Backend.train``) in chunks of
epochs. Each chunk is one call that returns the reference loss of every
network at the epochs the loop asks for (computed inside the call). Chunks
are sized from the measured time per epoch so that each takes about
``CHUNK_SECONDS``: the progress bar, Ctrl-C and the divergence check respond
within that time, while a fast epoch (XOR's is about a microsecond) costs no
Python round trip of its own.

Per network the loop records the loss at epoch 1, every ``loss_every``-th
epoch, every display epoch and the last; prints the reference's
``[INFO] epoch=N, loss=...`` lines (one network, ``display_update``); and
stops a network whose loss or weights become NaN or infinite, restoring the
weights of its last finite check (the others go on). Ctrl-C stops at the end
of the current chunk (a second Ctrl-C at once), keeping the weights of the
last completed epoch, and raises ``TrainingInterrupted``.

The loop knows nothing of a backend's internals: it sees ``Params``, the
seam and ``copy_params``/``params``/``params_to_host``; the networks' units
travel in the ``Params`` (every ``Params`` it makes keeps them).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .backends.base import Backend, Params

#: A chunk of epochs (one call of the training seam) takes about this long.
CHUNK_SECONDS = 0.25
#: Chunks grow at most this much from one to the next (the first is one epoch).
CHUNK_GROWTH = 16


@dataclass
class Run:
    """What ``run`` did. Networks are numbered as in the ``Params`` given."""

    #: The networks still training at the end (positions in ``active``), in the backend's layout.
    params: Params
    #: ``active[i]``: the network at position i of ``params``.
    active: list[int]
    #: Networks that diverged, each with the weights of its last finite check (K = 1 Params).
    stopped: dict[int, Params]
    #: Per network: the (epochs, losses) NumPy arrays filed after each chunk (``history``).
    filed: list[list[tuple[np.ndarray, np.ndarray]]]
    #: Per diverged network: the epoch whose loss or weights were not finite.
    diverged_at: dict[int, int] = field(default_factory=dict)
    #: Epochs completed by the networks that did not diverge.
    epochs_done: int = 0
    interrupted: bool = False
    #: Seconds spent training (chunks only) and compiling before it.
    train_seconds: float = 0.0
    compile_seconds: float = 0.0

    def history(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Network k's recorded epochs (int64) and losses (float64), NumPy arrays."""
        chunks = self.filed[k]
        if len(chunks) != 1:  # joined once, on first use
            epochs = np.concatenate([np.zeros(0, np.int64), *(c[0] for c in chunks)])
            self.filed[k] = chunks = [(epochs, np.concatenate([np.zeros(0), *(c[1] for c in chunks)]))]
        return chunks[0]

    def file(self, k: int, epochs: np.ndarray, losses: np.ndarray) -> None:
        """Appends a chunk's recorded epochs and losses of network k."""
        self.filed[k].append((epochs, losses))

    def network_params(self, be: Backend, k: int) -> Params:
        """Network k alone (K = 1), in the backend's layout."""
        if k in self.stopped:
            return self.stopped[k]
        if len(self.active) == 1:
            return self.params
        i = self.active.index(k)
        return be.params([w[i : i + 1] for w in be.params_to_host(self.params)], self.params.dtype).with_units(
            self.params.activation, self.params.output
        )

    def last_finite_epoch(self, k: int) -> int:
        epochs = self.history(k)[0]
        return int(epochs[-1]) if len(epochs) else 0


class ProgressBar:
    """A one-line progress bar with an ETA from the measured epochs, on a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30, label: str = "train"):
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.label = label
        self.start = time.perf_counter()

    def update(self, done: int, seconds_per_epoch: float, loss: float | None = None) -> None:
        frac = min(done / self.total, 1.0)
        filled = int(self.width * frac)
        elapsed = time.perf_counter() - self.start
        eta = (self.total - done) * seconds_per_epoch
        loss_s = "" if loss is None else f" loss={loss:.5g}"
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
            f" {elapsed:6.1f}s ETA {format_eta(eta)}{loss_s}   "
        )
        self.stream.flush()

    def clear(self) -> None:
        """Erase the bar's line so a message can take its place."""
        self.stream.write("\r\033[K")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def show_progress(progress: bool | None, verbose: bool) -> bool:
    """``progress`` as given, or (None) a bar when verbose and stderr is a terminal."""
    if progress is None:
        return verbose and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return bool(progress)


@contextmanager
def _ctrl_c():
    """While active, the first Ctrl-C only sets ``state["stop"]`` (the loop
    stops at the end of the chunk); a second one raises KeyboardInterrupt.
    Installed only in the main thread and over Python's default handler."""
    state = {"stop": False}
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield state
        return

    def handler(signum, frame):
        if state["stop"]:
            raise KeyboardInterrupt
        state["stop"] = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _schedule(first: int, last: int, epochs: int, loss_every: int, display_update: int) -> np.ndarray:
    """Epochs in [first, last] whose loss is recorded (see the module docstring)."""
    e = np.arange(first, last + 1, dtype=np.int64)
    keep = (e == 1) | (e == epochs) | (e % loss_every == 0)
    if display_update > 0:
        keep |= e % display_update == 0
    return e[keep]


def run(
    be: Backend,
    P: Params,
    X1: Any,
    Y: Any,
    alphas: np.ndarray,
    epochs: int,
    *,
    loss_every: int = 1,
    display_update: int = 0,
    out: TextIO | None = None,
    progress: bool = False,
    label: str = "train",
) -> Run:
    """Train the networks of ``P`` in place for ``epochs`` epochs on backend
    arrays ``X1`` (bias column included) and ``Y``, network k with
    ``alphas[k]`` (inputs already validated). ``display_update`` > 0 prints the
    reference's ``[INFO]`` lines to ``out`` (one network only).

    Returns a ``Run``. On Ctrl-C it raises ``TrainingInterrupted`` carrying the
    ``Run`` so far (``interrupted`` set): the networks hold the weights of
    the last completed epoch.
    """
    from .errors import TrainingInterrupted

    K = P.K
    alphas = np.asarray(alphas, dtype=np.float64)
    out = sys.stdout if out is None else out
    display = display_update if K == 1 else 0
    res = Run(params=P, active=list(range(K)), stopped={}, filed=[[] for _ in range(K)])
    t0 = time.perf_counter()
    be.compile(P, X1, Y)
    res.compile_seconds = time.perf_counter() - t0
    bar = ProgressBar(epochs, label=label) if progress and epochs > 0 else None
    done, chunk, per_epoch = 0, 1, float("nan")
    t_start = time.perf_counter()
    try:
        with _ctrl_c() as ctrl:
            while done < epochs and res.active and not ctrl["stop"]:
                n = min(chunk, epochs - done)
                wanted = _schedule(done + 1, done + n, epochs, loss_every, display)
                record = wanted if len(wanted) and wanted[-1] == done + n else np.append(wanted, done + n)
                n_wanted = len(wanted)  # record[:n_wanted] is wanted
                snapshot = be.copy_params(res.params)
                t = time.perf_counter()
                try:
                    losses = be.train(res.params, X1, Y, alphas[res.active], n, record - done)
                except KeyboardInterrupt:
                    res.params = snapshot
                    raise
                elapsed = time.perf_counter() - t
                per_epoch = elapsed / n
                first = _take(be, res, snapshot, X1, Y, alphas, done, record, n_wanted, losses)
                done += n
                res.epochs_done = done
                if display:
                    _print_lines(*first, display, out, bar)
                if bar is not None:
                    last = [res.filed[k][-1][1] for k in res.active]  # this chunk's losses
                    bar.update(done, per_epoch, last[0][-1] if len(last) == 1 and len(last[0]) else None)
                chunk = max(1, min(chunk * CHUNK_GROWTH, int(CHUNK_SECONDS / max(per_epoch, 1e-9))))
            res.interrupted = ctrl["stop"] and done < epochs
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        res.train_seconds = time.perf_counter() - t_start
        if bar is not None:
            bar.close()
    if res.interrupted:
        raise TrainingInterrupted(f"training interrupted after epoch {res.epochs_done} of {epochs}", res)
    return res


def _take(
    be, res: Run, snapshot: Params, X1, Y, alphas, done: int, record, n_wanted: int, losses
) -> tuple[np.ndarray, np.ndarray]:
    """Files a chunk's losses (those of the first ``n_wanted`` epochs of
    ``record``, the ones asked for); stops (and restores) the networks that
    diverged. Returns what was filed for the chunk's first network (its
    epochs and losses, for the ``[INFO]`` lines)."""
    bad = []
    first: tuple[np.ndarray, np.ndarray] = (record[:0], losses[:0, 0])
    for i, k in enumerate(res.active):
        col = losses[:, i]
        nonfinite = np.flatnonzero(~np.isfinite(col))
        upto = int(nonfinite[0]) if len(nonfinite) else len(col)
        m = min(upto, n_wanted)
        res.file(k, record[:m], col[:m])
        if i == 0:
            first = record[:m], col[:m]
        if upto < len(col):
            res.diverged_at[k] = int(record[upto])
            good = int(record[upto - 1]) if upto > 0 else done
            bad.append((i, k, good))
    if not bad:
        return first
    host = be.params_to_host(snapshot)
    for i, k, good in bad:
        Pk = be.params([w[i : i + 1] for w in host], snapshot.dtype).with_units(snapshot.activation, snapshot.output)
        if good > done:
            be.train(Pk, X1, Y, alphas[k : k + 1], good - done)
        res.stopped[k] = Pk
    keep = [i for i in range(len(res.active)) if i not in {b[0] for b in bad}]
    if keep and len(keep) < len(res.active):
        now = be.params_to_host(res.params)
        res.params = be.params([w[keep] for w in now], res.params.dtype).with_units(
            res.params.activation, res.params.output
        )
    res.active = [res.active[i] for i in keep]
    return first


def _print_lines(epochs, losses, display: int, out: TextIO, bar: ProgressBar | None) -> None:
    """The reference's ``[INFO] epoch=N, loss=L`` lines of a chunk's filed
    epochs and losses (NumPy arrays; only the display epochs are formatted)."""
    show = (epochs == 1) | (epochs % display == 0)
    lines = [f"[INFO] epoch={e}, loss={loss:.7f}" for e, loss in zip(epochs[show].tolist(), losses[show].tolist())]
    if lines:
        if bar is not None:
            bar.clear()
        out.write("\n".join(lines) + "\n")
        out.flush()
