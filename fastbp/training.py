"""train(): the one training loop every backend shares.

Epochs of batched per-sample SGD (``backend.sgd_epoch``), the loss history,
the reference's ``[INFO] epoch=N, loss=...`` lines, a progress bar with ETA in
a terminal, a NaN/divergence stop that keeps the last finite weights, timing,
and evaluation on the test split.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .backends import auto_choice, get_backend, normalize_name
from .datasets import Dataset, get_dataset
from .errors import TrainingDivergedError
from .network import NeuralNetwork
from .validation import check_alpha, check_epochs, check_layers


class ProgressBar:
    """A one-line progress bar with ETA on a terminal stream."""

    def __init__(self, total: int, stream=None, width: int = 30, label: str = "train"):
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.label = label
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, loss: float | None = None, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        frac = min(done / self.total, 1.0)
        filled = int(self.width * frac)
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        loss_s = "" if loss is None else f" loss={loss:.5g}"
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
            f" {elapsed:6.1f}s ETA {_fmt_eta(eta)}{loss_s}   "
        )
        self.stream.flush()

    def clear(self) -> None:
        """Erase the bar's line so a message can take its place."""
        self.stream.write("\r\033[K")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _is_display_epoch(epoch: int, display_update: int) -> bool:
    return epoch == 1 or (display_update > 0 and epoch % display_update == 0)


def run_epochs(
    net: NeuralNetwork,
    X1,
    Y,
    epochs: int,
    *,
    display_update: int = 100,
    verbose: bool = True,
    progress: bool | None = None,
    loss_every: int = 1,
    out=None,
    callback: Callable[[int, float], None] | None = None,
):
    """Train ``net`` in place for ``epochs`` epochs on backend arrays
    ``X1`` (bias column included) and ``Y``.

    The loss is computed after epoch 1, every ``loss_every`` epochs, on every
    display epoch and after the last; each check also looks for NaN/inf in the
    loss and the weights. On divergence the weights of the last finite check
    are restored and TrainingDivergedError says at which epoch.

    Returns ``(loss_epochs, losses)``: two NumPy arrays.
    """
    be = net.backend_impl
    out = sys.stdout if out is None else out
    if progress is None:
        progress = verbose and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    bar = ProgressBar(epochs) if progress and epochs > 0 else None
    display_update = int(display_update) if display_update else 0
    loss_every = max(int(loss_every), 1)
    epochs_seen: list[int] = []
    losses: list[float] = []
    good = be.copy_weights(net._W)
    good_epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            be.sgd_epoch(net._W, X1, Y, net.alpha)
            display = verbose and _is_display_epoch(epoch, display_update)
            if epoch == 1 or epoch % loss_every == 0 or display or epoch == epochs:
                loss = be.loss(net._W, X1, Y)
                if not math.isfinite(loss) or not be.all_finite(net._W):
                    net._W = good
                    raise TrainingDivergedError(
                        f"training diverged at epoch {epoch}: the loss became {loss} "
                        f"(alpha={net.alpha} may be too large); the network keeps the weights "
                        f"of epoch {good_epoch}, the last with a finite loss",
                        epoch=epoch,
                        last_finite_epoch=good_epoch,
                    )
                good = be.copy_weights(net._W)
                good_epoch = epoch
                epochs_seen.append(epoch)
                losses.append(loss)
                if display:
                    if bar is not None:
                        bar.clear()
                    print(f"[INFO] epoch={epoch}, loss={loss:.7f}", file=out, flush=True)
                if callback is not None:
                    callback(epoch, loss)
            if bar is not None:
                bar.update(epoch, losses[-1] if losses else None)
    finally:
        if bar is not None:
            bar.update(min(epochs, good_epoch if good_epoch else epochs), losses[-1] if losses else None, force=True)
            bar.close()
    return np.array(epochs_seen, dtype=np.int64), np.array(losses, dtype=np.float64)


@dataclass
class TrainResult:
    """What ``train`` returns: the trained network and how the run went."""

    network: NeuralNetwork
    dataset: str
    backend: str
    backend_note: str
    dtype: str
    layers: list[int]
    alpha: float
    epochs: int
    seed: int | None
    loss_epochs: np.ndarray
    loss_history: np.ndarray
    wall_time: float
    samples_per_second: float
    n_train: int
    accuracy: float | None = None
    report: str | None = None
    report_dict: dict | None = None
    test_outputs: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return float(self.loss_history[-1]) if len(self.loss_history) else float("nan")

    def summary(self) -> str:
        lines = [
            f"{self.network!r} on {self.dataset!r}: backend={self.backend} dtype={self.dtype} "
            f"alpha={self.alpha} epochs={self.epochs} seed={self.seed}",
            f"final loss {self.final_loss:.7f}; {self.wall_time:.3f} s, {self.samples_per_second:,.0f} samples/s",
        ]
        if self.accuracy is not None:
            lines.append(f"test accuracy {self.accuracy:.4f}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot_loss(self, path) -> None:
        """Save the loss curve as a picture (needs matplotlib: the plot extra)."""
        plot_loss(self, path)


def plot_loss(result: TrainResult, path) -> None:
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
    ax.set_ylabel("loss (0.5 * sum of squared errors)")
    if len(result.loss_history) and np.all(result.loss_history > 0):
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate(net: NeuralNetwork, data: Dataset):
    """(accuracy, report text, report dict, outputs) on the test split, or Nones."""
    if data.X_test is None or data.labels_test is None:
        return None, None, None, None
    from sklearn.metrics import classification_report

    P = net.predict(data.X_test)
    if P.shape[1] == 1:
        pred_idx = (P[:, 0] >= 0.5).astype(int)
    else:
        pred_idx = P.argmax(axis=1)
    classes = data.classes if data.classes is not None else np.arange(max(P.shape[1], 2))
    pred = np.asarray(classes)[pred_idx]
    truth = np.asarray(data.labels_test)
    acc = float(np.mean(pred == truth))
    names = [str(c) for c in classes]
    labels = list(classes)
    report = classification_report(truth, pred, labels=labels, target_names=names, zero_division=0)
    rdict = classification_report(truth, pred, labels=labels, target_names=names, zero_division=0, output_dict=True)
    return acc, report, rdict, P


def resolve_run(data, layers, epochs, split_seed):
    """(Dataset, layers, epochs) for a run: the data set's defaults where the
    caller gave None, and layers checked against the data's widths."""
    ds = get_dataset(data, seed_split=split_seed) if isinstance(data, str) else get_dataset(data)
    if layers is None:
        layers = ds.layers if ds.layers is not None else [ds.n_features, max(ds.n_features // 2, 2), ds.n_outputs]
    layers = check_layers(layers)
    if layers[0] != ds.n_features:
        raise ValueError(f"layers[0] = {layers[0]} but the data has {ds.n_features} features")
    if layers[-1] != ds.n_outputs:
        raise ValueError(f"layers[-1] = {layers[-1]} but the targets are {ds.n_outputs} wide")
    return ds, layers, check_epochs(ds.epochs if epochs is None else epochs)


def train(
    data="digits",
    layers=None,
    *,
    X=None,
    y=None,
    X_test=None,
    y_test=None,
    backend="auto",
    epochs=None,
    alpha=None,
    dtype="float64",
    seed=None,
    split_seed: int | None = 0,
    display_update: int = 100,
    verbose: bool = True,
    progress: bool | None = None,
    loss_every: int = 1,
    out=None,
) -> TrainResult:
    """Train a network with exact per-sample SGD and evaluate it.

    ``data`` is "xor", "digits", a ``fastbp.datasets.Dataset``, an .npz path
    or a tuple ``(X, y)``/``(X, y, X_test, y_test)``; or pass ``X=``/``y=``.
    Defaults reproduce the reference: "xor" is 2-2-1, alpha 0.5, 20,000
    epochs; "digits" is 64-32-16-10, alpha 0.1, 1,000 epochs, split 75/25.
    ``seed`` seeds the initial weights (None draws a fresh seed, recorded in
    the result); ``split_seed`` fixes the digits split.
    """
    if X is not None or y is not None:
        if X is None or y is None:
            raise ValueError("X and y must be given together")
        data = (X, y) if X_test is None and y_test is None else (X, y, X_test, y_test)
    ds, layers, epochs = resolve_run(data, layers, epochs, split_seed)
    alpha = check_alpha(ds.alpha if alpha is None else alpha)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31))
    out = sys.stdout if out is None else out

    if normalize_name(backend) == "auto":
        name, note = auto_choice(layers)
    else:
        name, note = normalize_name(backend), "chosen by the caller"
    get_backend(name)  # raises BackendUnavailableError with its reason
    net = NeuralNetwork(layers, alpha, backend=name, dtype=dtype, seed=seed)
    if verbose:
        print(
            f"[INFO] {net!r}, backend={name} ({note}), dtype={net.dtype.name}, "
            f"alpha={alpha}, epochs={epochs}, seed={seed}, {len(ds.X_train)} training samples",
            file=out,
            flush=True,
        )
    X1, Y = net.prepare(ds.X_train, ds.Y_train, names=("X", "y"))
    t0 = time.perf_counter()
    try:
        loss_epochs, losses = run_epochs(
            net,
            X1,
            Y,
            epochs,
            display_update=display_update,
            verbose=verbose,
            progress=progress,
            loss_every=loss_every,
            out=out,
        )
    except TrainingDivergedError as exc:
        exc.network = net
        raise
    net.backend_impl.synchronize()
    wall = time.perf_counter() - t0
    n = len(ds.X_train)
    acc, report, rdict, P = evaluate(net, ds)
    result = TrainResult(
        network=net,
        dataset=ds.name,
        backend=name,
        backend_note=note,
        dtype=net.dtype.name,
        layers=layers,
        alpha=alpha,
        epochs=epochs,
        seed=seed,
        loss_epochs=loss_epochs,
        loss_history=losses,
        wall_time=wall,
        samples_per_second=(epochs * n / wall) if wall > 0 else float("nan"),
        n_train=n,
        accuracy=acc,
        report=report,
        report_dict=rdict,
        test_outputs=P,
    )
    if verbose:
        print(f"[INFO] trained in {wall:.3f} s ({result.samples_per_second:,.0f} samples/s)", file=out, flush=True)
    return result
