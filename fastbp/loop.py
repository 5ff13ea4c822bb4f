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
of the current chunk (a second Ctrl-C at once where the backend is
``interruptible``), keeping the weights of the last completed epoch, and raises ``TrainingInterrupted``; during the
compilation before the first epoch it lets the compilation end and starts
no epoch (a compiler interrupted halfway can be left unusable).

``ctrl_c`` is how the main thread answers Ctrl-C (SIGINT) while fastbp
runs, for the loop and for its callers: at once (while loading data), at
the end of a chunk (training), or not until the block ends (compiling,
handing over a result, writing a file), so that a Ctrl-C at any moment
neither loses a completed epoch nor leaves weights that match no epoch.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .backends.base import Backend, Params

#: A chunk of epochs (one call of the training seam) takes about this long.
CHUNK_SECONDS = 0.25
#: Chunks grow at most this much from one to the next (the first is one epoch).
CHUNK_GROWTH = 16
#: Outside a terminal the progress is a line of its own at most this often
#: (one a chunk of epochs: an epoch longer than this gives a line an epoch).
PLAIN_SECONDS = 10.0


@dataclass
class Run:
    """What ``run`` did. Networks are numbered as in the ``Params`` given.

    Attributes
    ----------
    params : Params
        The networks still training at the end (positions in ``active``), in
        the backend's layout.
    active : list of int
        ``active[i]``: the network at position i of ``params``.
    stopped : dict of int to Params
        Networks that diverged, each with the weights of its last finite
        check (K = 1 Params).
    filed : list of list of tuple
        Per network: the (epochs, losses) NumPy arrays filed after each
        chunk (``history`` joins them).
    diverged_at : dict of int to int
        Per diverged network: the epoch whose loss or weights were not finite.
    epochs_done : int
        Epochs completed by the networks that did not diverge.
    interrupted : bool
        Whether Ctrl-C stopped the run.
    train_seconds : float
        Seconds spent training (chunks only).
    compile_seconds : float
        Seconds spent compiling before training.
    """

    params: Params
    active: list[int]
    stopped: dict[int, Params]
    filed: list[list[tuple[np.ndarray, np.ndarray]]]
    diverged_at: dict[int, int] = field(default_factory=dict)
    epochs_done: int = 0
    interrupted: bool = False
    train_seconds: float = 0.0
    compile_seconds: float = 0.0

    def history(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """A network's recorded epochs and losses.

        Parameters
        ----------
        k : int
            The network.

        Returns
        -------
        epochs : numpy.ndarray
            The recorded epochs (int64).
        losses : numpy.ndarray
            The loss after each (float64).
        """
        chunks = self.filed[k]
        if len(chunks) != 1:  # joined once, on first use
            epochs = np.concatenate([np.zeros(0, np.int64), *(c[0] for c in chunks)])
            self.filed[k] = chunks = [(epochs, np.concatenate([np.zeros(0), *(c[1] for c in chunks)]))]
        return chunks[0]

    def file(self, k: int, epochs: np.ndarray, losses: np.ndarray) -> None:
        """Append a chunk's recorded epochs and losses of a network.

        Parameters
        ----------
        k : int
            The network.
        epochs : numpy.ndarray
            The chunk's recorded epochs.
        losses : numpy.ndarray
            The loss after each.
        """
        self.filed[k].append((epochs, losses))

    def network_params(self, be: Backend, k: int) -> Params:
        """One network alone, in the backend's layout.

        Parameters
        ----------
        be : Backend
            The backend that trained it.
        k : int
            The network.

        Returns
        -------
        Params
            Its weights (K = 1), with the run's units.
        """
        if k in self.stopped:
            return self.stopped[k]
        if len(self.active) == 1:
            return self.params
        i = self.active.index(k)
        return be.params([w[i : i + 1] for w in be.params_to_host(self.params)], self.params.dtype).with_units(
            self.params.activation, self.params.output
        )

    def last_finite_epoch(self, k: int) -> int:
        """The last recorded epoch of network ``k`` (0: none), whose loss and weights were finite.

        Parameters
        ----------
        k : int
            The network.

        Returns
        -------
        int
            The epoch.
        """
        epochs = self.history(k)[0]
        return int(epochs[-1]) if len(epochs) else 0


class ProgressBar:
    """Progress with an ETA from the measured epochs: a one-line bar redrawn
    after each chunk of epochs (on a terminal), or with ``plain`` a line of
    its own at most every PLAIN_SECONDS (a log or a pipe)."""

    def __init__(
        self, total: int, stream: TextIO | None = None, width: int = 30, label: str = "train", plain: bool = False
    ):
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.label = label
        self.plain = plain
        self.start = time.perf_counter()
        self.shown = self.start

    def update(self, done: int, seconds_per_epoch: float, loss: float | None = None) -> None:
        now = time.perf_counter()
        if self.plain and now - self.shown < PLAIN_SECONDS:
            return
        self.shown = now
        elapsed = now - self.start
        eta = (self.total - done) * seconds_per_epoch
        loss_s = "" if loss is None else f" loss={loss:.5g}"
        if self.plain:
            self.stream.write(
                f"{self.label}: epoch {done}/{self.total}, {elapsed:.0f} s, ETA {format_eta(eta)}{loss_s}\n"
            )
        else:
            filled = int(self.width * min(done / self.total, 1.0))
            self.stream.write(
                f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
                f" {elapsed:6.1f}s ETA {format_eta(eta)}{loss_s}   "
            )
        self.stream.flush()

    def clear(self) -> None:
        """Erase the bar's line so a message can take its place."""
        if not self.plain:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def close(self) -> None:
        if not self.plain:
            self.stream.write("\n")
            self.stream.flush()


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def show_progress(progress: bool | None, verbose: bool) -> str | None:
    """How a run shows its progress: ``progress`` True a bar, False none;
    None (the default) when ``verbose``, a bar where stderr is a terminal
    and plain lines elsewhere ("bar", "lines" or None)."""
    if progress is None:
        if not verbose:
            return None
        return "bar" if hasattr(sys.stderr, "isatty") and sys.stderr.isatty() else "lines"
    return "bar" if progress else None


class CtrlC:
    """A ``ctrl_c`` block: ``pressed`` counts the Ctrl-Cs since it began
    (always 0 where fastbp does not handle SIGINT: another thread than the
    main one, or a handler of the caller's); ``armed`` (a "stop" block) lets
    the second Ctrl-C raise."""

    __slots__ = ("armed", "base", "kind")

    def __init__(self, kind: str, base: int | None):
        self.kind, self.base, self.armed = kind, base, False

    @property
    def pressed(self) -> int:
        return 0 if self.base is None else _sigint.presses - self.base


class _Sigint:
    """The process's Ctrl-C state while fastbp's handler is installed."""

    def __init__(self) -> None:
        self.presses = 0
        self.raised = False  # a KeyboardInterrupt is on its way up: the next Ctrl-Cs only count
        self.blocks: list[CtrlC] = []
        self.keep = False  # SIGINT ignored once the outermost block ends
        self.hook = sys.unraisablehook  # the one ``_unraisable`` stands in front of


_sigint = _Sigint()


def _on_sigint(signum: int, frame: Any) -> None:
    state = _sigint
    state.presses += 1
    if state.raised or not state.blocks:
        return
    top = state.blocks[-1]
    if top.kind == "raise" or (top.kind == "stop" and top.armed and top.pressed >= 2):
        state.raised, top.armed = True, False
        raise KeyboardInterrupt


@contextmanager
def ctrl_c(kind: str, keep: bool = False) -> Iterator[CtrlC]:
    """How Ctrl-C (SIGINT) is answered while the block runs, in the main thread:

    * "raise": KeyboardInterrupt at once (loading data: nothing to keep
      yet);
    * "stop": the first Ctrl-C only counts (``pressed``: the training loop
      stops at the end of its chunk), a second one raises KeyboardInterrupt
      while the block is ``armed`` (inside a training call of a backend that
      is ``interruptible``, whose weights the loop can restore), else counts;
      a Ctrl-C held by the "hold" blocks right around it counts as pressed
      in it;
    * "hold": Ctrl-C only counts, for the caller to act on when the block
      ends (handing over a result, writing a file).

    Blocks nest, the innermost decides. Once a KeyboardInterrupt has been
    raised, later Ctrl-Cs only count until the outermost block ends, so that
    the code it unwinds through runs whole. The outermost block installs
    fastbp's handler over Python's default one and puts the default back when
    it ends (``keep``: Ctrl-C is ignored from then on, for a program that is
    about to exit with the status it chose: Python's own shutdown would let
    a Ctrl-C kill it). Where another handler is installed, or outside the
    main thread, nothing changes and ``pressed`` stays 0.
    """
    if threading.current_thread() is not threading.main_thread():
        yield CtrlC(kind, None)
        return
    if not _sigint.blocks:  # the outermost block (the inner ones find fastbp's handler installed)
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield CtrlC(kind, None)
            return
        signal.signal(signal.SIGINT, _on_sigint)
        _sigint.hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    base = _sigint.presses
    if kind == "stop":  # the Ctrl-Cs held since the holds around it began stop it too
        for outer in reversed(_sigint.blocks):
            if outer.kind != "hold" or outer.base is None:
                break
            base = outer.base
    block = CtrlC(kind, base)
    _sigint.blocks.append(block)
    try:
        yield block
    finally:
        _sigint.blocks.pop()
        _sigint.keep = _sigint.keep or keep
        if not _sigint.blocks:
            _sigint.raised = False
            signal.signal(signal.SIGINT, signal.SIG_IGN if _sigint.keep else signal.default_int_handler)
            sys.unraisablehook = _sigint.hook


def _unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook`` while fastbp handles Ctrl-C: a KeyboardInterrupt
    raised inside a callback (numba's compiler calls Python from LLVM), where
    it cannot propagate, is not printed: the Ctrl-C was counted, and the
    blocks act on the count."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        _sigint.hook(unraisable)


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
    progress: bool | str | None = False,
    label: str = "train",
) -> Run:
    """Train the networks of ``P`` in place for ``epochs`` epochs on backend
    arrays ``X1`` (bias column included) and ``Y``, network k with
    ``alphas[k]`` (inputs already validated). ``display_update`` > 0 prints the
    reference's ``[INFO]`` lines to ``out`` (one network only). ``progress``:
    "bar" (or True), "lines" (plain lines, ``ProgressBar``) or none.

    Returns a ``Run``. On Ctrl-C it raises ``TrainingInterrupted`` carrying the
    ``Run`` so far (``interrupted`` set): the networks hold the weights of
    the last completed epoch (``epochs_done``; 0 when Ctrl-C came before the
    first epoch completed).
    """
    from .errors import TrainingInterrupted

    K = P.K
    alphas = np.asarray(alphas, dtype=np.float64)
    out = sys.stdout if out is None else out
    display = display_update if K == 1 else 0
    res = Run(params=P, active=list(range(K)), stopped={}, filed=[[] for _ in range(K)])
    note = be.compile_note(P, X1, Y) if display or progress else None
    if note:
        print(note, file=sys.stderr, flush=True)
    bar = ProgressBar(epochs, label=label, plain=progress == "lines") if progress and epochs > 0 else None
    done, chunk, per_epoch = 0, 1, float("nan")
    t_start = time.perf_counter()
    try:
        with ctrl_c("stop") as ctrl:
            try:  # not cut short by Ctrl-C (numba's compiler interrupted halfway stays broken): it ends, no epoch starts
                be.compile(P, X1, Y)
            finally:
                res.compile_seconds = time.perf_counter() - t_start
                t_start = time.perf_counter()
            while done < epochs and res.active and not ctrl.pressed:
                n = min(chunk, epochs - done)
                wanted = _schedule(done + 1, done + n, epochs, loss_every, display)
                record = wanted if len(wanted) and wanted[-1] == done + n else np.append(wanted, done + n)
                n_wanted = len(wanted)  # record[:n_wanted] is wanted
                snapshot = be.copy_params(res.params)
                t = time.perf_counter()
                try:  # a second Ctrl-C stops an interruptible call at once; its weights go back to `snapshot`
                    ctrl.armed = be.interruptible
                    losses = be.train(res.params, X1, Y, alphas[res.active], n, record - done)
                    ctrl.armed = False
                except KeyboardInterrupt:
                    ctrl.armed = False
                    res.params = snapshot
                    raise
                elapsed = time.perf_counter() - t
                per_epoch = elapsed / n
                first = _take(be, res, snapshot, X1, Y, alphas, done, record, n_wanted, losses)
                del snapshot  # freed before the next chunk copies the weights
                done += n
                res.epochs_done = done
                if display:
                    _print_lines(*first, display, out, bar)
                if bar is not None:
                    last = [res.filed[k][-1][1] for k in res.active]  # this chunk's losses
                    bar.update(done, per_epoch, last[0][-1] if len(last) == 1 and len(last[0]) else None)
                chunk = max(1, min(chunk * CHUNK_GROWTH, int(CHUNK_SECONDS / max(per_epoch, 1e-9))))
            res.interrupted = ctrl.pressed > 0
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        res.train_seconds = time.perf_counter() - t_start
        if bar is not None:
            bar.close()
    if res.interrupted:
        when = f"after epoch {res.epochs_done} of" if res.epochs_done else "before the first epoch of"
        raise TrainingInterrupted(f"training interrupted {when} {epochs}", res)
    return res


def _take(
    be: Backend,
    res: Run,
    snapshot: Params,
    X1: Any,
    Y: Any,
    alphas: np.ndarray,
    done: int,
    record: np.ndarray,
    n_wanted: int,
    losses: np.ndarray,
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


def _print_lines(epochs: np.ndarray, losses: np.ndarray, display: int, out: TextIO, bar: ProgressBar | None) -> None:
    """The reference's ``[INFO] epoch=N, loss=L`` lines of a chunk's filed
    epochs and losses (NumPy arrays; only the display epochs are formatted)."""
    show = (epochs == 1) | (epochs % display == 0)
    lines = [f"[INFO] epoch={e}, loss={loss:.7f}" for e, loss in zip(epochs[show].tolist(), losses[show].tolist())]
    if lines:
        if bar is not None:
            bar.clear()
        out.write("\n".join(lines) + "\n")
        out.flush()
