"""``train`` and ``train_many``: data in, results out.

Both resolve the data set and the backend once, validate every argument, and
run the one training loop (fastbp.loop): ``train`` for one network (through
``NeuralNetwork``), ``train_many`` for K networks at once (all of them in one
loop locally, or in chunks on Dask workers, fastbp.distributed).
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._typing import BackendLike, DataLike, PathLike
from .backends.base import LOSSES, Backend
from .datasets import Dataset, get_dataset
from .errors import TrainingDivergedError, TrainingInterrupted
from .loop import Run, ctrl_c, run, show_progress
from .network import NeuralNetwork, add_bias, init_weights
from .spec import NetworkSpec, network_spec
from .validation import (
    check_alpha,
    check_distributions,
    check_epochs,
    check_int,
    check_layers,
    check_memory,
    check_seed,
)


class TrainingWarning(RuntimeWarning):
    """A trained network probably failed: its test accuracy is near chance,
    its loss did not fall, its relu units died or its outputs saturated.
    The message names the likely cause and a remedy."""


class SaturationWarning(TrainingWarning):
    """The output units of a trained network sit at 0 or 1 on the wrong side
    and the loss stopped moving: the learning rate is probably too large."""


@dataclass
class TrainResult:
    """What ``train`` returns: the trained network and how the run went.

    Attributes
    ----------
    network : NeuralNetwork
        The trained network.
    dataset : str
        The data set's name.
    backend : str
        The backend's name.
    backend_note : str
        Why this backend ("chosen by the caller", or what "auto" weighed).
    dtype : str
        "float64" or "float32".
    layers : list of int
        The layer widths, input first.
    alpha : float
        The learning rate.
    epochs : int
        The epochs run (fewer than asked when ``interrupted``).
    seed : int
        The seed of the initial weights.
    loss_epochs : numpy.ndarray
        The epochs whose loss was recorded.
    loss_history : numpy.ndarray
        The loss after each of them.
    wall_time : float
        Seconds of training (compiling not included).
    compile_time : float
        Seconds spent before training compiling (or loading from a cache)
        the backend's kernels.
    samples_per_second : float
        Samples trained per second of ``wall_time``.
    n_train : int
        The number of training samples.
    accuracy : float or None
        The test accuracy (None without a labelled test split).
    test_outputs : numpy.ndarray or None
        The network's outputs on the test split.
    interrupted : bool
        Whether Ctrl-C stopped the training.
    warnings : list of str
        The texts of the ``TrainingWarning`` the run gave (cause and remedy).
    evaluation : Evaluation or None
        The predictions on the test split and the classification report.
    activation : str
        The hidden units.
    output : str
        The output units.
    """

    network: NeuralNetwork
    dataset: str
    backend: str
    backend_note: str
    dtype: str
    layers: list[int]
    alpha: float
    epochs: int
    seed: int
    loss_epochs: np.ndarray
    loss_history: np.ndarray
    wall_time: float
    compile_time: float
    samples_per_second: float
    n_train: int
    accuracy: float | None = None
    test_outputs: np.ndarray | None = None
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = field(default=None, repr=False)
    activation: str = "sigmoid"
    output: str = "sigmoid"

    @property
    def report(self) -> str | None:
        """scikit-learn's classification report on the test split (None without one)."""
        return None if self.evaluation is None else self.evaluation.report

    @property
    def report_dict(self) -> dict | None:
        """The classification report as a dict (``output_dict=True``)."""
        return None if self.evaluation is None else self.evaluation.report_dict

    @property
    def final_loss(self) -> float:
        """The last recorded loss (NaN when none was recorded)."""
        return float(self.loss_history[-1]) if len(self.loss_history) else float("nan")

    def summary(self) -> str:
        """The run in two or three lines: settings, loss, speed, accuracy.

        Returns
        -------
        str
            The text ``str(result)`` gives too.
        """
        lines = [
            f"{self.network!r} on {self.dataset!r}: backend={self.backend} dtype={self.dtype} "
            f"activation={self.activation} output={self.output} alpha={self.alpha} epochs={self.epochs} seed={self.seed}"
            + (" (interrupted)" if self.interrupted else ""),
            f"final loss {self.final_loss:.7f}; trained in {self.wall_time:.3f} s "
            f"({self.samples_per_second:,.0f} samples/s), compile/load {self.compile_time:.2f} s",
        ]
        if self.accuracy is not None:
            lines.append(f"test accuracy {self.accuracy:.4f}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot_loss(self, path: PathLike) -> None:
        """Save the loss curve as a picture (needs matplotlib: the plot extra).

        Parameters
        ----------
        path : str or os.PathLike
            The picture's file; its suffix (.png, .svg, ...) gives the format.

        Raises
        ------
        ImportError
            matplotlib is not installed.
        """
        plot_loss(self, path)


def plot_loss(result: TrainResult, path: PathLike) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "fastbp[plot]"') from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(result.loss_epochs, result.loss_history)
    ax.set_title(f"Training loss: {result.network!r}, {result.dataset}, backend {result.backend}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({LOSSES[result.output]})")
    if len(result.loss_history) and np.all(result.loss_history > 0):
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class Evaluation:
    """A network's predictions on a labelled test split: the accuracy at once,
    scikit-learn's classification report when first asked for (it costs more
    than training XOR does).

    Parameters
    ----------
    truth : numpy.ndarray
        The test split's class labels.
    pred : numpy.ndarray
        The predicted class labels.
    classes : numpy.ndarray
        The class of each output.
    outputs : numpy.ndarray
        The network's outputs on the test split.

    Attributes
    ----------
    accuracy : float
        The share of correct predictions.
    """

    def __init__(self, truth: np.ndarray, pred: np.ndarray, classes: np.ndarray, outputs: np.ndarray):
        self.truth, self.pred, self.classes, self.outputs = truth, pred, classes, outputs
        self.accuracy = float(np.mean(pred == truth))
        self._dict: dict | None = None

    def _report(self, output_dict: bool) -> Any:
        from sklearn.metrics import classification_report

        labels = list(self.classes)
        names = [str(c) for c in labels]
        return classification_report(
            self.truth, self.pred, labels=labels, target_names=names, zero_division=0, output_dict=output_dict
        )

    @functools.cached_property
    def report(self) -> str:
        """scikit-learn's classification report."""
        return self._report(False)

    @functools.cached_property
    def report_dict(self) -> dict:
        """The classification report as a dict (``output_dict=True``)."""
        return self._report(True)


def evaluate(net: NeuralNetwork, data: Dataset) -> Evaluation | None:
    """The network's Evaluation on the data set's test split, or None without one."""
    if data.X_test is None or data.labels_test is None:
        return None
    P = net.predict(data.X_test)
    pred_idx = (P[:, 0] >= 0.5).astype(int) if P.shape[1] == 1 else P.argmax(axis=1)
    classes = np.asarray(data.classes if data.classes is not None else np.arange(max(P.shape[1], 2)))
    return Evaluation(np.asarray(data.labels_test), classes[pred_idx], classes, P)


def _accuracy(net: NeuralNetwork, data: Dataset) -> float | None:
    ev = evaluate(net, data)
    return None if ev is None else ev.accuracy


class Diagnosis(NamedTuple):
    """Why a trained network probably failed, and what to do.

    Attributes
    ----------
    text : str
        The warning's text: cause and remedy.
    kind : type
        The warning's class (``TrainingWarning`` or ``SaturationWarning``).
    note : str
        A few words for a table's note.
    """

    text: str
    kind: type[TrainingWarning]
    note: str


def diagnose(
    net: NeuralNetwork,
    X: np.ndarray,
    Y: np.ndarray,
    losses: ArrayLike,
    accuracy: float | None = None,
    chance: float | None = None,
    rate: float | None = None,
) -> Diagnosis | None:
    """Why a trained network probably failed, and what to do, or None for a
    run that looks healthy.

    ``losses``: its recorded (finite) losses; ``accuracy`` on a labelled test
    split and ``chance`` there (the most frequent class's share), when there
    is one; ``rate``: the data set's learning rate for the network's units.
    Looked at: a test accuracy within a tenth of the way from chance to 1; a
    loss that did not fall (the last recorded one not below the first); and
    then, on the first 4,096 training samples ``X``, ``Y``: dead relu units
    (half of a hidden layer's units zero on every sample) and saturated
    outputs (more than 5% of the output units at 0 or 1 on the wrong side
    while the loss stopped moving over the second half of the record).
    """
    losses = np.asarray(losses, dtype=float)
    if len(losses) < 2:
        return None
    first, last = float(losses[0]), float(losses[-1])
    half = losses[len(losses) // 2 :]
    flat = np.ptp(half) <= 1e-6 * max(abs(last), 1e-300)
    near = accuracy is not None and chance is not None and accuracy <= chance + (1.0 - chance) / 10
    rose = last >= first
    if not (near or rose or (flat and net.output != "linear")):
        return None
    be = net.backend_impl
    X1 = be.asarray(add_bias(np.asarray(X[:4096], dtype=np.float64)), net.dtype)
    A = be.forward([be.asarray(w, net.dtype) for w in net.W], X1, activation=net.activation, output=net.output)
    causes, notes, kind = [], ["near chance"] if near else [], TrainingWarning
    if net.activation == "relu":
        for l, H in enumerate(A[1:-1], 1):
            dead = int(np.count_nonzero(~be.to_numpy(H).any(axis=0)))
            if 2 * dead >= H.shape[1]:
                causes.append(f"{dead} of the {H.shape[1]} relu units of hidden layer {l} are dead (0 on every sample)")
                notes.append(f"{dead}/{H.shape[1]} relu units dead in layer {l}")
    if flat and net.output != "linear":
        P = be.to_numpy(A[-1])
        stuck = (np.minimum(P, 1.0 - P) < 1e-6) & (np.abs(P - np.asarray(Y[:4096])) > 0.5)
        if stuck.mean() > 0.05:
            causes.append(
                f"the output units saturated: {stuck.mean():.0%} of the outputs on the training data sit at 0 or 1 "
                f"on the wrong side and the loss stopped moving at {last:.6g}"
            )
            kind = SaturationWarning
            notes.append("outputs saturated")
    if rose:
        causes.append(
            f"the loss rose from {first:.6g} to {last:.6g}" if last > first else f"the loss stayed at {last:.6g}"
        )
        notes.append("loss did not fall")
    if not near and not causes:
        return None
    text = "; ".join(causes)
    if near:
        text = (
            f"test accuracy {accuracy:.3g} is near chance ({chance:.3g}: always answering the most frequent class)"
            + (f": {text}" if text else f" though the loss fell from {first:.6g} to {last:.6g}")
        )
    other = "" if rate is None or rate == net.alpha else f" (the data set's rate for these units is {rate:g})"
    if causes:
        text += f"; alpha={net.alpha:g} is probably too large, try a smaller one{other}"
    else:
        text += f"; train longer, try another alpha{other} or more hidden units"
    return Diagnosis(text, kind, ", ".join(notes))


def _chance(data: Dataset) -> float | None:
    """The test accuracy of always answering the test split's most frequent class."""
    if data.labels_test is None or len(data.labels_test) == 0:
        return None
    return float(np.unique(np.asarray(data.labels_test), return_counts=True)[1].max() / len(data.labels_test))


def default_alpha(ds: Dataset, activation: str, output: str) -> float:
    """The learning rate a run gets when none is given: the data set's (the
    tutorial's, for sigmoid units) for the tutorial's units; with other
    units, the data set's ``alpha_units`` where it has one, else 0.01 (a
    softmax or relu network's gradients do not shrink as a saturating
    sigmoid's do, and the tutorial's rates make them diverge)."""
    if activation == "sigmoid" and output == "sigmoid":
        return ds.alpha
    return ds.alpha_units if ds.alpha_units is not None else 0.01


def resolve_run(
    data: DataLike,
    layers: Sequence[int] | None,
    epochs: int | None,
    split_seed: int | None,
    data_dir: PathLike | None = None,
) -> tuple[Dataset, list[int], int]:
    """(Dataset, layers, epochs) for a run: the data set's defaults where the
    caller gave None, and layers checked against the data's widths."""
    split_seed = check_seed(split_seed, "split_seed")
    ds = get_dataset(data, seed_split=split_seed, data_dir=data_dir)
    if layers is None:
        layers = ds.layers if ds.layers is not None else [ds.n_features, max(ds.n_features // 2, 2), ds.n_outputs]
    layers = check_layers(layers)
    if ds.labels_test is not None:
        n_classes = len(ds.classes) if ds.classes is not None else max(ds.n_outputs, 2)
        if n_classes != max(ds.n_outputs, 2):
            raise ValueError(
                f"the data set {ds.name!r} names {n_classes} classes for {ds.n_outputs} output(s): "
                "classification needs one output per class (or one output for two classes), at least two classes"
            )
    if layers[0] != ds.n_features:
        raise ValueError(f"layers[0] = {layers[0]} but the data has {ds.n_features} features")
    if layers[-1] != ds.n_outputs:
        raise ValueError(f"layers[-1] = {layers[-1]} but the targets are {ds.n_outputs} wide")
    return ds, layers, check_epochs(ds.epochs if epochs is None else epochs)


def _data_argument(
    data: DataLike, X: ArrayLike | None, y: ArrayLike | None, X_test: ArrayLike | None, y_test: ArrayLike | None
) -> Any:
    """``data``, or the arrays given as ``X=``/``y=`` (and ``X_test=``/``y_test=``)."""
    if X is None and y is None:
        if X_test is not None or y_test is not None:
            raise ValueError("X_test and y_test need X and y")
        return data
    if X is None or y is None:
        raise ValueError("X and y must be given together")
    return (X, y) if X_test is None and y_test is None else (X, y, X_test, y_test)


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1)[0] % (2**31))


def train(
    data: DataLike = "digits",
    layers: Sequence[int] | None = None,
    *,
    X: ArrayLike | None = None,
    y: ArrayLike | None = None,
    X_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    backend: BackendLike = "auto",
    epochs: int | None = None,
    alpha: float | None = None,
    dtype: DTypeLike = "float64",
    seed: int | None = None,
    split_seed: int | None = 0,
    data_dir: PathLike | None = None,
    display_update: int = 100,
    verbose: bool = True,
    progress: bool | None = None,
    loss_every: int = 1,
    out: TextIO | None = None,
    activation: str = "sigmoid",
    output: str = "sigmoid",
    threads: int | None = None,
) -> TrainResult:
    """Train a network with exact per-sample SGD and evaluate it.

    Defaults reproduce the reference: "xor" is 2-2-1, alpha 0.5, 20,000
    epochs; "digits" is 64-32-16-10, alpha 0.1, 1,000 epochs, split 75/25.
    A run that ends near chance accuracy or whose loss did not fall warns
    (``TrainingWarning``: cause and remedy), the text also in the result's
    ``warnings``.

    Parameters
    ----------
    data : str or Dataset or path or tuple
        A data set name ("xor", "digits", "mnist", "fashion-mnist"), a
        ``fastbp.datasets.Dataset``, an .npz file's path, or arrays
        ``(X, y)`` / ``(X, y, X_test, y_test)``.
    layers : sequence of int or None
        The layer widths, input first (None: the data set's).
    X, y : array_like or None
        Training samples and targets instead of ``data`` (labels for
        classification, or target rows).
    X_test, y_test : array_like or None
        A test split for ``X`` and ``y``.
    backend : str or Backend
        "auto" (the fastest usable), "numpy", "numba", "cuda", or a backend
        object with its options.
    epochs : int or None
        Passes over the training samples (None: the data set's).
    alpha : float or None
        The learning rate. None: the data set's for the tutorial's units;
        with other units, the data set's rate for them, else 0.01.
    dtype : str or numpy.dtype
        "float64" or "float32".
    seed : int or None
        Seeds the initial weights (None: a fresh seed, recorded in the
        result).
    split_seed : int or None
        Fixes the digits train/test split.
    data_dir : str or os.PathLike or None
        Where to look for the MNIST files first.
    display_update : int
        Print ``[INFO] epoch=N, loss=...`` every N epochs (0: never).
    verbose : bool
        Print the start line, the loss lines and the timings.
    progress : bool or None
        True a progress bar, False none, None a bar on a terminal and a plain
        line at most every 10 s elsewhere (when ``verbose``).
    loss_every : int
        Record the loss every N epochs (and after epoch 1, every printed epoch
        and the last).
    out : text file or None
        Where the printed lines go (None: ``sys.stdout``).
    activation : str
        The hidden units: "sigmoid", "tanh" or "relu" (``NeuralNetwork``).
    output : str
        The output units and with them the loss: "sigmoid", "softmax" or
        "linear".
    threads : int or None
        CPU threads the training may use (numba backend; None: the backend
        decides).

    Returns
    -------
    TrainResult
        The trained network, its loss history, timings and test accuracy.

    Raises
    ------
    TrainingDivergedError
        The loss became NaN or infinite; its result attribute is the
        partial result, whose network keeps its last finite weights.
    TrainingInterrupted
        Ctrl-C once training has begun (KeyboardInterrupt while the data
        loads); its result attribute is the partial result, whose network keeps
        its last completed epoch.
    InsufficientMemoryError
        Before training, when the network and the data need more memory
        than is available.
    DataFileError
        A data file missing, unreadable or malformed.
    ValueError, TypeError
        An argument out of range or of the wrong type (the message names it).
    """
    with ctrl_c("raise"):  # loading data, building the network: a Ctrl-C stops at once
        data = _data_argument(data, X, y, X_test, y_test)
        ds, layers, epochs = resolve_run(data, layers, epochs, split_seed, data_dir)
        spec = network_spec(layers, activation=activation, output=output, dtype=dtype, backend=backend, threads=threads)
        rate = default_alpha(ds, spec.activation, spec.output)
        alpha = check_alpha(rate if alpha is None else alpha)
        seed = _fresh_seed() if seed is None else check_seed(seed)
        display_update = check_int(display_update, "display_update", 0)
        loss_every = check_int(loss_every, "loss_every", 1)
        if spec.output == "softmax":
            check_distributions(np.asarray(ds.Y_train), "the training targets")
        check_memory(spec.backend, layers, spec.dtype, 1, len(ds.X_train))
        out = sys.stdout if out is None else out
        net = NeuralNetwork.from_spec(spec, alpha, seed=seed)
        be, activation, output, dtype = spec.backend, spec.activation, spec.output, spec.dtype
        X1, Y = net.device_data(ds.X_train, ds.Y_train)
        if verbose:
            print(
                f"[INFO] {net!r}, backend={be.name} ({spec.backend_note}), dtype={dtype.name}, "
                f"activation={activation}, output={output} (loss: {spec.loss_name}), alpha={alpha}, "
                f"epochs={epochs}, seed={seed}, {len(ds.X_train)} training samples",
                file=out,
                flush=True,
            )

    def result(r: Run, interrupted: bool = False) -> TrainResult:
        ev = evaluate(net, ds)
        n, done = len(ds.X_train), r.epochs_done
        wall = r.train_seconds
        res = TrainResult(
            network=net,
            dataset=ds.name,
            backend=be.name,
            backend_note=spec.backend_note,
            dtype=dtype.name,
            layers=layers,
            alpha=alpha,
            epochs=done,
            seed=seed,
            loss_epochs=r.history(0)[0],
            loss_history=r.history(0)[1],
            wall_time=wall,
            compile_time=r.compile_seconds,
            samples_per_second=done * n / wall if wall > 0 else float("nan"),
            n_train=n,
            accuracy=None if ev is None else ev.accuracy,
            evaluation=ev,
            test_outputs=None if ev is None else ev.outputs,
            interrupted=interrupted,
            activation=activation,
            output=output,
        )
        return res

    stopped: TrainingInterrupted | None = None
    with ctrl_c("hold") as held:  # the result is built whole whatever Ctrl-C does, then raised with
        try:
            r = net.fit_arrays(
                X1,
                Y,
                epochs,
                display_update=display_update if verbose else 0,
                loss_every=loss_every,
                progress=show_progress(progress, verbose),
                out=out,
            )
        except TrainingInterrupted as exc:
            r, stopped = exc.run, exc
        except TrainingDivergedError as exc:
            exc.result = result(cast(Run, exc.run))
            if rate < alpha:
                exc.args = (f"{exc}; the data set's rate for these units is {rate:g}",)
            raise
        res = result(r, interrupted=stopped is not None)
        if stopped is None:
            found = diagnose(net, ds.X_train, ds.Y_train, res.loss_history, res.accuracy, _chance(ds), rate)
            if found is not None:
                res.warnings.append(found.text)
                warnings.warn(found.text, found.kind, stacklevel=2)
            if verbose:
                print(
                    f"[INFO] trained in {res.wall_time:.3f} s ({res.samples_per_second:,.0f} samples/s; "
                    f"compile/load {res.compile_time:.2f} s before)",
                    file=out,
                    flush=True,
                )
    return _handed_over(res, stopped, held.pressed, r.epochs_done, epochs, r)


def _handed_over(
    res: Any, stopped: TrainingInterrupted | None, pressed: int, done: int, epochs: int, run: Run | dict | None
) -> Any:
    """``res``, or (Ctrl-C) ``stopped`` raised with it as its ``result``: the
    loop's TrainingInterrupted, or one for a Ctrl-C held after the last epoch
    (``pressed``)."""
    if stopped is None and pressed:
        stopped = TrainingInterrupted(f"training interrupted after epoch {done} of {epochs}", run)
        res.interrupted = True
    if stopped is not None:
        stopped.result = res
        raise stopped
    return res


# ------------------------------------------------------------ many networks
@dataclass
class NetworkResult:
    """One network of a sweep.

    Attributes
    ----------
    index : int
        Its position among the sweep's networks.
    alpha : float
        Its learning rate.
    seed : int
        The seed of its initial weights.
    network : NeuralNetwork
        The trained network.
    loss_epochs : numpy.ndarray
        The epochs whose loss was recorded.
    loss_history : numpy.ndarray
        The loss after each of them.
    accuracy : float or None
        The test accuracy (None without a labelled test split).
    diverged_at : int or None
        The epoch at which its loss or weights became NaN or infinite (it
        keeps the weights of the last finite epoch); None when they did not.
    diagnosis : Diagnosis or None
        Why it probably failed and what to do; None when it looks healthy,
        diverged or was interrupted.
    """

    index: int
    alpha: float
    seed: int
    network: NeuralNetwork
    loss_epochs: np.ndarray
    loss_history: np.ndarray
    accuracy: float | None
    diverged_at: int | None = None
    diagnosis: Diagnosis | None = None

    @property
    def final_loss(self) -> float:
        """The last recorded loss (NaN when none was recorded)."""
        return float(self.loss_history[-1]) if len(self.loss_history) else float("nan")


@dataclass
class SweepResult:
    """What ``train_many`` returns: one result per network, in input order.

    Attributes
    ----------
    results : list of NetworkResult
        One per network, in input order.
    dataset : str
        The data set's name.
    backend : str
        The backend's name.
    dtype : str
        "float64" or "float32".
    layers : list of int
        The layer widths, input first.
    epochs : int
        The epochs run (fewer than asked when ``interrupted``).
    wall_time : float
        Seconds of training (compiling not included; on Dask, the whole call).
    compile_time : float
        Seconds spent before training compiling (or loading) the kernels.
    n_train : int
        The number of training samples.
    distributed : bool
        Whether the networks trained on Dask.
    interrupted : bool
        Whether Ctrl-C stopped the training.
    activation : str
        The hidden units.
    output : str
        The output units.
    """

    results: list[NetworkResult]
    dataset: str
    backend: str
    dtype: str
    layers: list[int]
    epochs: int
    wall_time: float
    compile_time: float
    n_train: int
    distributed: bool = False
    interrupted: bool = False
    activation: str = "sigmoid"
    output: str = "sigmoid"

    @property
    def network_samples_per_second(self) -> float:
        """Samples trained per second, summed over the networks."""
        return len(self.results) * self.epochs * self.n_train / self.wall_time if self.wall_time > 0 else float("nan")

    def ranked(self) -> list[NetworkResult]:
        """The results best first.

        Returns
        -------
        list of NetworkResult
            Highest test accuracy first, then lowest final loss.
        """

        def key(r: NetworkResult) -> tuple[float, float, int]:
            acc = -1.0 if r.accuracy is None else r.accuracy
            loss = r.final_loss if math.isfinite(r.final_loss) else float("inf")
            return (-acc, loss, r.index)

        return sorted(self.results, key=key)

    def best(self) -> NetworkResult:
        """The best network's result.

        Returns
        -------
        NetworkResult
            The first of ``ranked``.
        """
        return self.ranked()[0]

    def table(self, limit: int | None = None) -> str:
        """A markdown table of the networks, best first.

        Parameters
        ----------
        limit : int or None
            At most this many rows (None or 0: all).

        Returns
        -------
        str
            The table: rank, alpha, seed, final loss, test accuracy, note.
        """
        rows = self.ranked()[: limit or None]
        lines = ["| rank | alpha | seed | final loss | test accuracy | note |", "|---:|---:|---:|---:|---:|---|"]
        for i, r in enumerate(rows, 1):
            acc = "-" if r.accuracy is None else f"{r.accuracy:.4f}"
            note = f"diverged at epoch {r.diverged_at}" if r.diverged_at is not None else ""
            note = note or (r.diagnosis.note if r.diagnosis is not None else "")
            lines.append(f"| {i} | {r.alpha:g} | {r.seed} | {r.final_loss:.6g} | {acc} | {note} |")
        return "\n".join(lines)

    def summary(self) -> str:
        """The sweep in one line: networks, settings, time and speed.

        Returns
        -------
        str
            The line.
        """
        return (
            f"{len(self.results)} networks {'-'.join(map(str, self.layers))} on {self.dataset!r}, backend={self.backend}, "
            f"dtype={self.dtype}, activation={self.activation}, output={self.output}, {self.epochs} epochs"
            + (" (interrupted)" if self.interrupted else "")
            + ": "
            f"{self.wall_time:.3f} s, {self.network_samples_per_second:,.0f} network-samples/s "
            f"(compile/load {self.compile_time:.2f} s before)"
        )


def _as_list(values: Any, name: str) -> list:
    if values is None:
        return []
    if isinstance(values, (int, float, np.integer, np.floating)):
        return [values]
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a number or a list of numbers, got {values!r}")
    try:
        return list(values)
    except TypeError:
        raise TypeError(f"{name} must be a number or a list of numbers, got {values!r}") from None


def plan(alphas: Any, seeds: Any, grid: bool = True) -> list[tuple[float | None, int]]:
    """The (alpha, seed) of every network: the grid of both lists, or (grid=False) zipped.
    ``alphas`` None stands for one rate to be chosen later (the data set's)."""
    alphas = [None] if alphas is None else [check_alpha(a, "alphas") for a in _as_list(alphas, "alphas")]
    seeds = [check_seed(s, "seeds") for s in _as_list(seeds, "seeds")]
    if not alphas:
        raise ValueError("alphas is empty: give at least one learning rate")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    if grid:
        return list(itertools.product(alphas, seeds))
    if len(alphas) == 1:
        alphas = alphas * len(seeds)
    if len(seeds) == 1:
        seeds = seeds * len(alphas)
    if len(alphas) != len(seeds):
        raise ValueError(f"with grid=False, alphas ({len(alphas)}) and seeds ({len(seeds)}) must have the same length")
    return list(zip(alphas, seeds))


def train_block(
    spec: NetworkSpec,
    pairs: Sequence[tuple[float, int]],
    X_train: np.ndarray,
    Y_train: np.ndarray,
    epochs: int,
    loss_every: int,
    progress: bool | str | None = False,
) -> dict:
    """Train the networks ``pairs`` [(alpha, seed), ...] of ``spec`` together
    in one training loop; the unit of work of a sweep (locally: all networks;
    on Dask: one chunk per task, ``spec`` and its backend object pickled with
    their options). Returns host-side results: per network its weights, loss
    history and divergence epoch, and the run's timings."""
    be = spec.backend
    check_memory(be, spec.layers, spec.dtype, len(pairs), len(X_train))
    inits = [init_weights(list(spec.layers), seed, spec.activation) for _, seed in pairs]
    P = be.params([np.stack([w[l] for w in inits]) for l in range(len(spec.layers) - 1)], spec.dtype).with_units(
        spec.activation, spec.output
    )
    del inits  # the stacked copy lives on in P
    X1 = be.asarray(add_bias(np.asarray(X_train, dtype=np.float64)), spec.dtype)
    Y = be.asarray(np.asarray(Y_train, dtype=np.float64), spec.dtype)
    alphas = np.array([a for a, _ in pairs])
    try:
        r = run(be, P, X1, Y, alphas, epochs, loss_every=loss_every, progress=progress, label="sweep")
    except TrainingInterrupted as exc:
        exc.run = _block_results(be, exc.run, pairs)
        raise
    return _block_results(be, r, pairs)


def _block_results(be: Backend, r: Run, specs: Sequence[tuple[float, int]]) -> dict:
    host = be.params_to_host(r.params)
    weights = {k: [w[i] for w in host] for i, k in enumerate(r.active)}
    for k, Pk in r.stopped.items():
        weights[k] = [w[0] for w in be.params_to_host(Pk)]
    return {
        "networks": [
            {
                "alpha": a,
                "seed": s,
                "weights": weights[k],
                "loss_epochs": r.history(k)[0],
                "loss_history": r.history(k)[1],
                "diverged_at": r.diverged_at.get(k),
            }
            for k, (a, s) in enumerate(specs)
        ],
        "epochs": r.epochs_done,
        "train_seconds": r.train_seconds,
        "compile_seconds": r.compile_seconds,
        "interrupted": r.interrupted,
    }


def train_many(
    data: DataLike = "digits",
    layers: Sequence[int] | None = None,
    *,
    X: ArrayLike | None = None,
    y: ArrayLike | None = None,
    X_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    alphas: float | Sequence[float] | None = None,
    seeds: int | Sequence[int] = (0,),
    grid: bool = True,
    backend: BackendLike = "auto",
    epochs: int | None = None,
    dtype: DTypeLike = "float64",
    split_seed: int | None = 0,
    data_dir: PathLike | None = None,
    loss_every: int = 1,
    client: Any = None,
    chunk_size: int | None = None,
    retries: int = 2,
    verbose: bool = False,
    progress: bool | None = None,
    out: TextIO | None = None,
    activation: str = "sigmoid",
    output: str = "sigmoid",
    threads: int | None = None,
) -> SweepResult:
    """Train K networks of the same ``layers`` on the same data at once.

    The networks are every (alpha, seed) pair of ``alphas`` x ``seeds``
    (``grid=False`` zips them instead). Network k's weights equal those of
    ``NeuralNetwork(layers, alpha_k, seed=seed_k, backend=backend,
    activation=activation, output=output).fit(...)``.
    A network whose loss becomes NaN/inf stops there, keeping its last finite
    weights (its result's ``NetworkResult.diverged_at`` says when); the
    others go on. A network that probably failed otherwise has its
    ``NetworkResult.diagnosis``, in the table's note.

    Parameters
    ----------
    data : str or Dataset or path or tuple
        As for ``train``.
    layers : sequence of int or None
        The layer widths, input first (None: the data set's).
    X, y : array_like or None
        Training samples and targets instead of ``data``.
    X_test, y_test : array_like or None
        A test split for ``X`` and ``y``.
    alphas : float or sequence of float or None
        The learning rates (None: the one ``train`` would choose).
    seeds : int or sequence of int
        The seeds of the initial weights.
    grid : bool
        Train every (alpha, seed) pair; False zips the two lists (a list of
        one goes with every item of the other).
    backend : str or Backend
        As for ``train``.
    epochs : int or None
        Passes over the training samples (None: the data set's).
    dtype : str or numpy.dtype
        "float64" or "float32".
    split_seed : int or None
        Fixes the digits train/test split.
    data_dir : str or os.PathLike or None
        Where to look for the MNIST files first.
    loss_every : int
        Record each network's loss every N epochs.
    client : dask.distributed.Client or None
        Train on Dask: the networks are split in chunks, each trained in one
        training loop on a worker; a chunk whose worker is lost is run again,
        and the results come back in order, none lost or duplicated. The
        workers rebuild the backend resolved here, with its options, from its
        pickled description.
    chunk_size : int or None
        Networks per chunk on Dask (None: one chunk per worker).
    retries : int
        How many more times Dask runs a chunk that raised an error.
    verbose : bool
        Print a start line.
    progress : bool or None
        As for ``train``.
    out : text file or None
        Where the start line goes (None: ``sys.stdout``).
    activation : str
        The hidden units: "sigmoid", "tanh" or "relu".
    output : str
        The output units: "sigmoid", "softmax" or "linear".
    threads : int or None
        CPU threads the training may use (numba backend; None: the backend
        decides).

    Returns
    -------
    SweepResult
        One result per network, in input order.

    Raises
    ------
    TrainingInterrupted
        Ctrl-C; its result attribute is the partial ``SweepResult``.
    InsufficientMemoryError
        Before training, when the networks and the data need more memory
        than is available.
    DataFileError
        A data file missing, unreadable or malformed.
    ValueError, TypeError
        An argument out of range or of the wrong type (the message names it).
    """
    with ctrl_c("raise"):  # loading data: a Ctrl-C stops at once
        data = _data_argument(data, X, y, X_test, y_test)
        ds, layers, epochs = resolve_run(data, layers, epochs, split_seed, data_dir)
        planned = plan(alphas, seeds, grid)
        loss_every = check_int(loss_every, "loss_every", 1)
        spec = network_spec(
            layers,
            activation=activation,
            output=output,
            dtype=dtype,
            backend=backend,
            threads=threads,
            n_networks=len(planned),
        )
        rate = default_alpha(ds, spec.activation, spec.output)
        pairs = [(rate if a is None else a, s) for a, s in planned]
        if spec.output == "softmax":
            check_distributions(np.asarray(ds.Y_train), "the training targets")
        out = sys.stdout if out is None else out
        be = spec.backend
        if verbose:
            where = "" if client is None else " on Dask"
            print(f"[INFO] training {len(pairs)} networks {spec.shape_text()} on backend={be.name}{where}", file=out)
    chance = _chance(ds)

    def result(blocks: list[dict], wall: float | None = None) -> SweepResult:
        nets = [n for b in blocks for n in b["networks"]]
        interrupted = any(b["interrupted"] for b in blocks)
        results = []
        for k, r in enumerate(nets):
            net = NeuralNetwork.from_spec(spec, r["alpha"], seed=r["seed"], weights=r["weights"])
            accuracy = _accuracy(net, ds)
            said = interrupted or r["diverged_at"] is not None  # nothing more to diagnose
            results.append(
                NetworkResult(
                    index=k,
                    alpha=r["alpha"],
                    seed=r["seed"],
                    network=net,
                    loss_epochs=r["loss_epochs"],
                    loss_history=r["loss_history"],
                    accuracy=accuracy,
                    diverged_at=r["diverged_at"],
                    diagnosis=None
                    if said
                    else diagnose(net, ds.X_train, ds.Y_train, r["loss_history"], accuracy, chance, rate),
                )
            )
        return SweepResult(
            results=results,
            dataset=ds.name,
            backend=be.name,
            dtype=spec.dtype.name,
            layers=layers,
            epochs=min(b["epochs"] for b in blocks),
            wall_time=blocks[0]["train_seconds"] if wall is None else wall,
            compile_time=max(b["compile_seconds"] for b in blocks),
            n_train=len(ds.X_train),
            distributed=wall is not None,
            interrupted=interrupted,
            activation=spec.activation,
            output=spec.output,
        )

    work = (spec, pairs, ds.X_train, ds.Y_train, epochs, loss_every)
    stopped: TrainingInterrupted | None = None
    with ctrl_c("hold") as held:  # the results are built whole whatever Ctrl-C does, then raised with
        wall = None
        if client is None:
            try:
                blocks = [train_block(*work, progress=show_progress(progress, verbose))]
            except TrainingInterrupted as exc:
                blocks, stopped = [exc.run], exc
        else:
            from .distributed import run_chunks

            with ctrl_c("raise"):  # waiting for the cluster: a Ctrl-C stops at once
                t0 = time.perf_counter()
                blocks = run_chunks(client, train_block, *work, chunk_size=chunk_size, retries=retries)
                wall = time.perf_counter() - t0
        res = result(blocks, wall)
    return _handed_over(res, stopped, held.pressed, res.epochs, epochs, None)
