"""NeuralNetwork: the reference tutorial's API over any fastbp backend.

A script written for the tutorial runs with only its import changed::

    from fastbp import NeuralNetwork
    nn = NeuralNetwork([2, 2, 1], alpha=0.5)
    nn.fit(X, y, epochs=20000)
    nn.predict(X)

Beyond the reference, keyword-only: ``backend=`` ("auto", "numpy", "numba",
"cuda"), ``dtype=`` (float64 default, or float32), ``seed=``, and the units:
``activation=`` of the hidden layers ("sigmoid", the tutorial's, "tanh",
"relu") and ``output=`` ("sigmoid", the tutorial's, "softmax" with the
cross-entropy loss, "linear"). The weights live on the backend in its own
layout between calls (``W`` converts them to NumPy arrays on read); ``fit``
runs the training loop (fastbp.loop).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import zipfile
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._typing import BackendLike, PathLike
from .backends import normalize_name
from .backends.base import Backend, Params
from .errors import (
    BackendUnavailableError,
    NetworkFileError,
    TrainingDivergedError,
    TrainingInterrupted,
    UnsupportedError,
)
from .loop import Run, ctrl_c, run, show_progress
from .paths import replace_file, text_start, unwritable, write_failure
from .spec import NetworkSpec, network_spec
from .validation import (
    check_alpha,
    check_distributions,
    check_epochs,
    check_int,
    check_matrix,
    check_memory,
    check_seed,
)

_FILE_FORMAT = "fastbp-network"
#: Files of networks with the tutorial's units are version 1 (readable by
#: every fastbp); other units make a file version 2, which a reader that
#: knows only the tutorial's units refuses instead of misreading.
_FILE_VERSION = 1
_FILE_VERSION_UNITS = 2
#: The attributes ``NeuralNetwork`` sets itself (``_setup``): a pickle or a
#: copy rebuilds them; any others (a subclass's) travel as they are.
_OWN_STATE = frozenset({"spec", "_alpha", "_alphas", "seed", "_params", "_sample_buf"})


def init_weights(layers: list[int], seed: int | None = None, activation: str = "sigmoid") -> list[np.ndarray]:
    """The initial weights (float64, host).

    The reference's, ``W[i] = randn(rows, cols) / sqrt(layers[i])``, for
    sigmoid and tanh hidden units; He's scaling for relu units, ``W[i] =
    randn(rows, cols) * sqrt(2 / layers[i])`` (every layer: the same draws
    times sqrt(2)), which keeps the variance of the products from shrinking
    layer by layer when half of the units are zero. Drawn in layer order from
    the legacy generator: ``RandomState(seed)`` when a seed is given, else the
    global ``np.random`` state (so ``np.random.seed(s)`` before construction
    reproduces the tutorial's seeded runs).
    """
    rng = np.random if seed is None else np.random.RandomState(seed)
    if activation == "relu":
        return [rng.randn(r, c) * np.sqrt(2.0 / layers[i]) for i, (r, c) in enumerate(weight_shapes(layers))]
    return [rng.randn(r, c) / np.sqrt(layers[i]) for i, (r, c) in enumerate(weight_shapes(layers))]


def weight_shapes(layers: list[int]) -> list[tuple[int, int]]:
    """Shapes of the weight matrices, bias rows and extra hidden units included."""
    shapes = [(layers[i] + 1, layers[i + 1] + 1) for i in range(len(layers) - 2)]
    shapes.append((layers[-2] + 1, layers[-1]))
    return shapes


def check_weights(weights: Any, layers: Sequence[int]) -> list[np.ndarray]:
    """User-given weights for ``layers``: a list of finite float arrays of
    the shapes ``weight_shapes(layers)``; errors name the argument."""
    shapes = weight_shapes(list(layers))
    if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__") or len(weights) != len(shapes):
        n = len(weights) if hasattr(weights, "__len__") else type(weights).__name__
        raise ValueError(f"weights must be a list of {len(shapes)} arrays for layers {list(layers)}, got {n}")
    out = []
    for i, (w, shape) in enumerate(zip(weights, shapes)):
        w = check_matrix(w, f"weights[{i}]")
        if w.shape != shape:
            raise ValueError(f"weights[{i}] must have shape {shape} for layers {list(layers)}, got {w.shape}")
        out.append(w)
    return out


def add_bias(X: np.ndarray) -> np.ndarray:
    """``[X | 1]``: the bias column appended last. Not a copy where ``X`` is
    the leading columns of a C-contiguous array whose last column is all
    ones (``fastbp.datasets``' MNIST arrays): that array is ``[X | 1]``."""
    base = X.base
    if (
        isinstance(base, np.ndarray)
        and base.shape == (X.shape[0], X.shape[1] + 1)
        and base.dtype == X.dtype
        and base.flags.c_contiguous
        and X.strides == base.strides
        and X.ctypes.data == base.ctypes.data
        and (base[:, -1] == 1).all()
    ):
        return base
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


@functools.cache
def _pickled_backend(rebuild: Callable[..., Backend], args: tuple, options: tuple) -> Backend:
    """The backend of an unpickled network from its description
    (``Backend.__reduce__``: a function and its arguments, the options as
    sorted items), built once per process and description: the networks of a
    pickled sweep share one backend object, as they did when pickled, and a
    GPU backend compiles and verifies its kernels once."""
    try:
        return rebuild(*args, dict(options))
    except BackendUnavailableError as exc:
        raise BackendUnavailableError(
            f"cannot unpickle this network here: {exc}. The pickle holds the weights and names the backend that "
            "trained them; to use a network on the CPU, move it before pickling (net = net.to('numba')), or save "
            "it (net.save(path)) and load it with NeuralNetwork.load(path, backend='numba')"
        ) from exc


def _unpickle_network(
    cls: type[NeuralNetwork],
    backend: tuple,
    layers: Sequence[int],
    activation: str,
    output: str,
    dtype: str,
    note: str,
    alpha: float,
    seed: int | None,
    weights: list[np.ndarray],
) -> NeuralNetwork:
    """A network from ``NeuralNetwork.__reduce__``'s description."""
    rebuild, *args, options = backend
    spec = NetworkSpec(
        tuple(layers), activation, output, np.dtype(dtype), _pickled_backend(rebuild, tuple(args), options), note
    )
    net = cls.__new__(cls)
    net._setup(spec, alpha, seed, weights)
    return net


class NeuralNetwork:
    """A fully connected network trained by exact per-sample SGD.

    Parameters
    ----------
    layers : sequence of int
        Layer widths, input first, e.g. ``[64, 32, 16, 10]``.
    alpha : float
        Learning rate (positive, finite).
    backend : str or Backend, keyword-only
        "auto" (default: the fastest usable), "numpy", "numba", "cuda"/"cupy",
        or a backend object with its options (``fastbp.get_backend``).
    dtype : str or numpy.dtype, keyword-only
        "float64" (default) or "float32".
    seed : int or None, keyword-only
        Seed for ``np.random.RandomState``; None draws from the global
        ``np.random`` state, as the tutorial does.
    weights : list of arrays, keyword-only
        Initial weights instead of random ones (shapes as ``W``).
    activation : str, keyword-only
        The hidden units: "sigmoid" (default, the tutorial's), "tanh" or
        "relu". Every hidden unit applies it, the extra bias unit included.
        relu networks start from He-scaled weights
        (``fastbp.network.init_weights``).
    output : str, keyword-only
        The output units and with them the loss: "sigmoid" (default, the
        tutorial's) and "linear" with ``0.5 * sum((a - y) ** 2)``, "softmax"
        with the summed cross-entropy ``-sum(y * log a)`` (targets are class
        probabilities: one-hot rows, or rows that sum to 1).
    threads : int or None, keyword-only
        CPU threads a training call may use (numba backend; the others
        ignore it). None (default): the backend decides (numba: every core
        for a wide network, one for a small one).

    Raises
    ------
    ValueError, TypeError
        An argument out of range or of the wrong type (the message names it).
    BackendUnavailableError
        The backend named cannot run here.
    UnsupportedError
        The backend does not implement the units.
    InsufficientMemoryError
        The weights need more memory than is available.
    """

    def __init__(
        self,
        layers: Sequence[int],
        alpha: float = 0.1,
        *,
        backend: BackendLike = "auto",
        dtype: DTypeLike = "float64",
        seed: int | None = None,
        weights: Sequence[ArrayLike] | None = None,
        activation: str = "sigmoid",
        output: str = "sigmoid",
        threads: int | None = None,
    ) -> None:
        spec = network_spec(layers, activation=activation, output=output, dtype=dtype, backend=backend, threads=threads)
        seed = check_seed(seed)
        check_memory(spec.backend, spec.layers, spec.dtype)
        host = init_weights(list(spec.layers), seed, spec.activation) if weights is None else None
        self._setup(spec, alpha, seed, host if host is not None else check_weights(weights, spec.layers))

    @classmethod
    def from_spec(
        cls, spec: NetworkSpec, alpha: float, *, seed: int | None = None, weights: Sequence[np.ndarray] | None = None
    ) -> NeuralNetwork:
        """A network of a checked spec, without checking the spec again (the
        memory it needs is checked: that depends on the moment).

        Parameters
        ----------
        spec : NetworkSpec
            The network's shape, units, dtype and backend, from
            ``fastbp.spec.network_spec``.
        alpha : float
            The learning rate (positive, finite).
        seed : int or None
            The seed of the initial weights when ``weights`` is None.
        weights : sequence of numpy.ndarray or None
            Host arrays of the shapes ``weight_shapes(spec.layers)`` (as
            fastbp produces them), or None for the initial weights of ``seed``.

        Returns
        -------
        NeuralNetwork
            The network, of the class this is called on.

        Raises
        ------
        InsufficientMemoryError
            The weights need more memory than is available.
        """
        check_memory(spec.backend, spec.layers, spec.dtype)
        net = cls.__new__(cls)
        host = init_weights(list(spec.layers), seed, spec.activation) if weights is None else list(weights)
        net._setup(spec, alpha, seed, host)
        return net

    def _setup(self, spec: NetworkSpec, alpha: float, seed: int | None, host: list[np.ndarray]) -> None:
        self.spec = spec
        self.alpha = alpha
        self.seed = seed
        self._params = self._new_params(host)
        self._sample_buf: tuple | None = None

    def _new_params(self, host: list[np.ndarray]) -> Params:
        """This network's weights ``host`` (2-D, one per layer) in the backend's layout."""
        spec = self.spec
        return spec.backend.params([w[None] for w in host], spec.dtype).with_units(spec.activation, spec.output)

    # ------------------------------------------------------------ properties
    @property
    def alpha(self) -> float:
        """The learning rate."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = check_alpha(value)
        self._alphas = np.array([self._alpha])

    @property
    def layers(self) -> list[int]:
        """The layer widths, input first."""
        return list(self.spec.layers)

    @property
    def dtype(self) -> np.dtype:
        """The weights' dtype (float64 or float32)."""
        return self.spec.dtype

    @property
    def activation(self) -> str:
        """The hidden units' activation: "sigmoid", "tanh" or "relu"."""
        return self.spec.activation

    @property
    def output(self) -> str:
        """The output units: "sigmoid", "softmax" or "linear"."""
        return self.spec.output

    @property
    def threads(self) -> int | None:
        """The CPU threads a training call may use (None: the backend decides)."""
        return self.spec.threads

    @property
    def loss_name(self) -> str:
        """What ``calculate_loss`` computes, in words."""
        return self.spec.loss_name

    @property
    def tutorial_units(self) -> bool:
        """True for the tutorial's sigmoid hidden and output units."""
        return self.spec.tutorial_units

    @property
    def backend(self) -> str:
        """Name of the backend this network runs on."""
        return self.spec.backend.name

    @property
    def backend_impl(self) -> Backend:
        """The backend object (kernel contract, with its options) this network runs on."""
        return self.spec.backend

    @property
    def W(self) -> list[np.ndarray]:
        """The weights as NumPy arrays (copies), one per layer, bias rows included."""
        return [w[0] for w in self.spec.backend.params_to_host(self._params)]

    @W.setter
    def W(self, weights: Sequence[ArrayLike]) -> None:
        self._params = self._new_params(check_weights(weights, self.spec.layers))

    def __repr__(self) -> str:
        units = "" if self.tutorial_units else f" ({self.activation}, {self.output} output)"
        return "NeuralNetwork: {}{}".format("-".join(str(n) for n in self.layers), units)

    # ------------------------------------------------- pickling and copies
    def __reduce__(self) -> tuple[Any, ...]:
        """A network pickles as its description: layers, units, dtype, the
        backend as its class and options, alpha, seed and the weights as
        NumPy arrays. Loading rebuilds the backend's layout, buffers and
        compiled state (a cuda network loads onto the GPU; where the backend
        cannot run, the error says how to move the network to the CPU).
        Attributes a subclass adds travel as they are."""
        spec = self.spec
        rebuild, (*args, options) = spec.backend.__reduce__()
        backend = (rebuild, *args, tuple(sorted(options.items())))
        extra = {k: v for k, v in self.__dict__.items() if k not in _OWN_STATE}
        return (
            _unpickle_network,
            (
                type(self),
                backend,
                spec.layers,
                spec.activation,
                spec.output,
                spec.dtype.name,
                spec.backend_note,
                self.alpha,
                self.seed,
                self.W,
            ),
            extra or None,
        )

    def __copy__(self) -> NeuralNetwork:
        """An independent network (``copy.copy`` and ``copy.deepcopy``): the
        same spec (immutable) and settings, its own copy of the weights on
        the same backend."""
        return self._copy(lambda v: v)

    def __deepcopy__(self, memo: dict[int, Any]) -> NeuralNetwork:
        return self._copy(lambda v: copy.deepcopy(v, memo))

    def _copy(self, copy_extra: Callable[[Any], Any]) -> NeuralNetwork:
        net = type(self).__new__(type(self))
        net.__dict__.update({k: copy_extra(v) for k, v in self.__dict__.items() if k not in _OWN_STATE})
        net.spec, net.alpha, net.seed = self.spec, self.alpha, self.seed
        net._params = self.spec.backend.copy_params(self._params)
        net._sample_buf = None
        return net

    # ------------------------------------------------------------ input prep
    def _features(self, X: ArrayLike, name: str, allow_bias: bool, add: bool = True) -> np.ndarray:
        """X as a float array with the bias column (2-D)."""
        arr = check_matrix(X, name, promote_1d=True, dtype=self.dtype)
        n = self.layers[0]
        if arr.shape[1] == n and add:
            return add_bias(arr)
        if arr.shape[1] == n + 1 and allow_bias:
            return arr
        expect = f"{n}" + (f" (or {n + 1} with the bias column)" if allow_bias else "")
        raise ValueError(f"{name} has {arr.shape[1]} features but layers[0] = {n}: expected {expect} columns")

    def _targets(self, y: ArrayLike, name: str, rows: int) -> np.ndarray:
        arr = np.asarray(y)
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        out = self.layers[-1]
        if rows == 1 and arr.ndim in (1, 2) and arr.size > 1 and arr.shape[-1] != out:
            what = f"{arr.size} values" if arr.ndim == 1 else f"shape {arr.shape}"
            hint = f" ({name}.reshape(1, -1))" if arr.size == out else ""
            raise ValueError(
                f"{name} has {what} but layers[-1] = {out}: one sample's target is one row of "
                f"{out} value{'s' if out > 1 else ''}{hint}"
            )
        if arr.ndim == 1:
            arr = arr.reshape(1, -1) if (rows == 1 and arr.shape[0] == out) else arr.reshape(-1, 1)
        Y = check_matrix(arr, name, dtype=self.dtype)
        if Y.shape[1] != out:
            raise ValueError(
                f"{name} has {Y.shape[1]} columns but layers[-1] = {out}: targets must be {out} wide"
                + (" (one-hot encode class labels, e.g. with fastbp.datasets.one_hot)" if Y.shape[1] == 1 else "")
            )
        if Y.shape[0] != rows:
            raise ValueError(f"X has {rows} rows but {name} has {Y.shape[0]}: they must match")
        if self.output == "softmax":
            check_distributions(Y, name)
        return Y

    def prepare(self, X: ArrayLike, y: ArrayLike, names: tuple[str, str] = ("X", "y")) -> tuple[Any, Any]:
        """Samples and targets checked and moved to the backend.

        Parameters
        ----------
        X : array_like
            The samples, one per row, without the bias column.
        y : array_like
            Their targets, ``layers[-1]`` wide (a 1-D array for one output).
        names : tuple of str
            The names errors give ``X`` and ``y``.

        Returns
        -------
        tuple
            The samples with the bias column appended, and the targets:
            backend arrays of the network's dtype.

        Raises
        ------
        ValueError, TypeError
            ``X`` or ``y`` of the wrong shape or type, or not finite.
        """
        X1 = self._features(X, names[0], allow_bias=False)
        Y = self._targets(y, names[1], X1.shape[0])
        be = self.spec.backend
        return be.contiguous(X1, self.dtype), be.contiguous(Y, self.dtype)

    def device_data(self, X: np.ndarray, Y: np.ndarray) -> tuple[Any, Any]:
        """Samples and targets checked already moved to the backend, unchecked.

        Parameters
        ----------
        X : numpy.ndarray
            The samples (a ``fastbp.datasets.Dataset``'s), without the bias
            column.
        Y : numpy.ndarray
            Their targets, ``layers[-1]`` wide.

        Returns
        -------
        tuple
            The samples with the bias column appended, and the targets:
            backend arrays of the network's dtype.
        """
        be = self.spec.backend
        return be.contiguous(add_bias(np.asarray(X)), self.dtype), be.contiguous(Y, self.dtype)

    # -------------------------------------------------------- reference API
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        epochs: int = 1000,
        displayUpdate: int = 100,
        *,
        verbose: bool = True,
        progress: bool | None = None,
        loss_every: int = 1,
        out: TextIO | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample SGD over the samples, in order, for some epochs.

        Ctrl-C stops at the end of a chunk of epochs (about a quarter of a
        second; a second Ctrl-C at once on the backends that are
        ``Backend.interruptible``: numpy, cuda).

        Parameters
        ----------
        X : array_like
            The samples, one per row, without the bias column.
        y : array_like
            Their targets, ``layers[-1]`` wide (a 1-D array for one output;
            rows of class probabilities for softmax outputs).
        epochs : int
            The number of passes over the samples (0 or more).
        displayUpdate : int
            Print ``[INFO] epoch=N, loss=...`` on epoch 1 and every
            ``displayUpdate``-th epoch (0: never) when ``verbose``.
        verbose : bool
            Print the loss lines (and a progress bar on a terminal).
        progress : bool or None
            Show a progress bar with the time left; None: on a terminal when
            ``verbose``.
        loss_every : int
            Record the loss every ``loss_every``-th epoch (and after epoch 1,
            every printed epoch and the last).
        out : text file or None
            Where the loss lines go (None: ``sys.stdout``).

        Returns
        -------
        epochs : numpy.ndarray
            The epochs whose loss was recorded.
        losses : numpy.ndarray
            The loss after each of them.

        Raises
        ------
        TrainingDivergedError
            The loss or the weights became NaN or infinite; the network keeps
            the weights of the last finite check.
        TrainingInterrupted
            Ctrl-C; the network keeps the last completed epoch (its initial
            weights when none completed).
        InsufficientMemoryError
            Before training, when it needs more memory than is available.
        ValueError, TypeError
            An argument out of range or of the wrong shape or type.
        """
        epochs = check_epochs(epochs)
        display = check_int(displayUpdate, "displayUpdate", 0)
        loss_every = check_int(loss_every, "loss_every", 1)
        X1, Y = self.prepare(X, y)
        check_memory(self.spec.backend, self.layers, self.dtype, 1, X1.shape[0])
        r = self.fit_arrays(
            X1,
            Y,
            epochs,
            display_update=display if verbose else 0,
            loss_every=loss_every,
            progress=show_progress(progress, verbose),
            out=out,
        )
        return r.history(0)

    def fit_arrays(
        self,
        X1: Any,
        Y: Any,
        epochs: int,
        *,
        display_update: int = 0,
        loss_every: int = 1,
        progress: bool | str | None = False,
        out: TextIO | None = None,
        label: str = "train",
    ) -> Run:
        """``fit`` on backend arrays, with arguments checked already.

        Parameters
        ----------
        X1 : backend array
            The samples with the bias column, from ``prepare`` or
            ``device_data``.
        Y : backend array
            Their targets, from the same call.
        epochs : int
            The number of passes over the samples.
        display_update : int
            Print the loss on epoch 1 and every ``display_update``-th epoch
            (0: never).
        loss_every : int
            Record the loss every ``loss_every``-th epoch.
        progress : bool or str or None
            Show a progress bar ("lines": one line per update).
        out : text file or None
            Where the loss lines go (None: ``sys.stdout``).
        label : str
            The progress bar's label.

        Returns
        -------
        Run
            The training loop's record: epochs done, loss history, timings.

        Raises
        ------
        TrainingDivergedError, TrainingInterrupted
            As ``fit``; a Ctrl-C after the last epoch, while the weights are
            handed over, raises TrainingInterrupted too (the network has
            every epoch).
        """
        be = self.spec.backend
        with ctrl_c("hold") as held:  # the weights of a completed epoch reach the network whatever Ctrl-C does
            try:
                r = run(
                    be,
                    self._params,
                    X1,
                    Y,
                    self._alphas,
                    epochs,
                    loss_every=loss_every,
                    display_update=display_update,
                    out=out,
                    progress=progress,
                    label=label,
                )
            except TrainingInterrupted as exc:
                self._params = exc.run.network_params(be, 0)
                raise
            self._params = r.network_params(be, 0)
        if held.pressed:
            r.interrupted = True
            raise TrainingInterrupted(f"training interrupted after epoch {r.epochs_done} of {epochs}", r)
        if 0 in r.diverged_at:
            epoch, good = r.diverged_at[0], r.last_finite_epoch(0)
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}: the loss or the weights became NaN or infinite "
                f"(alpha={self.alpha} may be too large); the network keeps the weights of epoch {good}, "
                "the last with a finite loss",
                epoch=epoch,
                last_finite_epoch=good,
                run=r,
            )
        return r

    def fit_partial(self, x: ArrayLike, y: ArrayLike) -> None:
        """One per-sample SGD step on one sample.

        Parameters
        ----------
        x : array_like
            The sample, with or without the bias column (1-D or one row).
        y : array_like
            Its target: a number for one output, else ``layers[-1]`` numbers.

        Raises
        ------
        ValueError, TypeError
            ``x`` or ``y`` of the wrong shape or type, or not finite.
        """
        one = self._one_sample(x, y)
        if one is not None:
            self.spec.backend.train(self._params, one[0], one[1], self._alphas, 1)
            return
        x1 = self._features(x, "x", allow_bias=True)
        if x1.shape[0] != 1:
            raise ValueError(f"x must be one sample, got {x1.shape[0]} rows (use fit for many)")
        Y = self._targets(y, "y", 1)
        be = self.spec.backend
        be.train(self._params, be.asarray(x1, self.dtype), be.asarray(Y, self.dtype), self._alphas, 1)

    def _one_sample(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """(x1, Y) for ``fit_partial`` in buffers reused from call to call,
        when x and y come in the common forms and the backend keeps its data
        on the host: x a NumPy array of ``layers[0]`` numbers (or
        ``layers[0] + 1`` with the bias column), 1-D or one row; y a number (one output) or a NumPy array of ``layers[-1]``
        numbers, 1-D or one row. None otherwise, and when a value is not
        finite: the checked path then handles the call (and names the
        argument in its error)."""
        n, out = self.layers[0], self.layers[-1]
        if type(x) is not np.ndarray or x.dtype.kind not in "biuf" or self.spec.output == "softmax":
            return None  # (softmax targets take the checked path, which checks they are class probabilities)
        width = x.shape[-1] if 1 <= x.ndim <= 2 else 0
        if (width != n and width != n + 1) or (x.ndim == 2 and x.shape[0] != 1):
            return None
        ty = type(y)
        scalar = ty is float or ty is int or isinstance(y, (np.floating, np.integer))
        if scalar:
            if out != 1:
                return None
        elif (
            ty is not np.ndarray
            or y.dtype.kind not in "biuf"
            or (y.shape != (out,) and y.shape != (1, out) and (out != 1 or y.ndim))
        ):
            return None
        buf = self._sample_buf
        if buf is None:
            if self.spec.backend.on_device:
                return None
            xy = np.zeros(n + 1 + out, self.dtype)
            xy[n] = 1.0
            x1, Y = xy[: n + 1].reshape(1, n + 1), xy[n + 1 :].reshape(1, out)
            buf = self._sample_buf = (xy, xy[:n], xy[: n + 1], xy[n + 1 :], x1, Y)
        xy, xv, x1v, yv, x1, Y = buf
        if width == n:
            xv[...] = x
            xy[n] = 1.0
        else:  # the bias column given
            x1v[...] = x
        if scalar:
            xy[n + 1] = y
        else:
            yv[...] = y
        if not (all(map(math.isfinite, xy.tolist())) if len(xy) <= 32 else np.isfinite(xy).all()):
            return None  # the checked path says which argument
        return x1, Y

    def predict(self, X: ArrayLike, addBias: bool = True) -> NDArray[np.floating[Any]]:
        """The output activations of the samples.

        Parameters
        ----------
        X : array_like
            The samples, one per row (a 1-D array: one sample).
        addBias : bool
            Append the bias column (False: ``X`` carries it already).

        Returns
        -------
        numpy.ndarray
            One row of ``layers[-1]`` outputs per sample, of the network's dtype.
        """
        X1 = self._features(X, "X", allow_bias=not addBias, add=addBias)
        be = self.spec.backend
        return be.to_numpy(be.predict(self._params.network(0), be.asarray(X1, self.dtype), **self._params.units))

    def calculate_loss(self, X: ArrayLike, targets: ArrayLike) -> float:
        """The loss of the output units, summed over the samples.

        The reference's ``0.5 * sum((predict(X) - targets) ** 2)`` for
        sigmoid and linear outputs, ``-sum(targets * log predict(X))`` for
        softmax (computed from the logits).

        Parameters
        ----------
        X : array_like
            The samples, with or without the bias column.
        targets : array_like
            Their targets, ``layers[-1]`` wide.

        Returns
        -------
        float
            The summed loss.
        """
        X1 = self._features(X, "X", allow_bias=True)
        Y = self._targets(targets, "targets", X1.shape[0])
        be = self.spec.backend
        return be.loss(
            self._params.network(0),
            be.asarray(X1, self.dtype),
            be.asarray(Y, self.dtype),
            **self._params.units,
        )

    # --------------------------------------------------------------- extras
    def to(self, backend: BackendLike | None = None, dtype: DTypeLike | None = None) -> NeuralNetwork:
        """A copy of this network on another backend and/or dtype.

        Parameters
        ----------
        backend : str or Backend or None
            The backend of the copy (None: this network's).
        dtype : str or numpy.dtype or None
            The dtype of the copy (None: this network's).

        Returns
        -------
        NeuralNetwork
            The copy, with the same weights, units and settings.
        """
        return NeuralNetwork(
            self.layers,
            self.alpha,
            backend=self.backend_impl if backend is None else backend,
            dtype=self.dtype if dtype is None else dtype,
            seed=self.seed,
            weights=self.W,
            activation=self.activation,
            output=self.output,
            threads=self.threads,
        )

    def save(self, path: PathLike) -> None:
        """Save layers, alpha, dtype, units and weights to an .npz file.

        The file is written beside ``path`` and renamed over it when complete,
        so a failed save (disk full, no permission, Ctrl-C) leaves any previous
        file at ``path`` as it was; it gets the permissions the user's umask
        gives.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write.

        Raises
        ------
        NetworkFileError
            Naming ``path`` and the reason (its folder missing, a directory in
            the way, no permission, disk full).
        """
        path = os.fspath(path)
        meta = {
            "format": _FILE_FORMAT,
            "version": _FILE_VERSION if self.tutorial_units else _FILE_VERSION_UNITS,
            "layers": self.layers,
            "alpha": self.alpha,
            "dtype": self.dtype.name,
            "activation": self.activation,
            "output": self.output,
        }
        arrays = {f"W{i}": w for i, w in enumerate(self.W)}
        problem = unwritable(path)
        if problem is None:
            try:
                replace_file(path, lambda f: np.savez(f, meta=np.array(json.dumps(meta)), **arrays))  # type: ignore[arg-type]
                return
            except OSError as exc:
                problem = write_failure(path, exc)
        raise NetworkFileError(f"cannot save the network to {path!r}: {problem}")

    @classmethod
    def load(cls, path: PathLike, *, backend: BackendLike = "auto") -> NeuralNetwork:
        """A network saved by ``save``.

        A file that records no units holds the tutorial's (sigmoid hidden and
        output units).

        Parameters
        ----------
        path : str or os.PathLike
            The .npz file.
        backend : str or Backend
            The backend the network runs on ("auto": the fastest usable).

        Returns
        -------
        NeuralNetwork
            The network, of the class this is called on, with the file's
            weights and settings.

        Raises
        ------
        NetworkFileError
            Naming the path and what is wrong, for a missing, unreadable,
            corrupt or foreign file.
        UnsupportedError
            ``backend`` does not implement the file's units.
        """
        where = os.fspath(path)
        if not isinstance(backend, Backend):
            normalize_name(backend)  # an unknown name is the caller's mistake, not the file's
        meta, arrays = _read_network_file(where)
        if not isinstance(meta, dict) or meta.get("format") != _FILE_FORMAT:
            raise NetworkFileError(f"{where!r} is not a fastbp network file (its 'meta' entry is not fastbp's)")
        if meta.get("version") not in (_FILE_VERSION, _FILE_VERSION_UNITS):
            raise NetworkFileError(
                f"{where!r} has file version {meta.get('version')!r}; this fastbp reads versions "
                f"{_FILE_VERSION} and {_FILE_VERSION_UNITS}"
            )
        try:
            layers = meta["layers"]
            n = len(layers) - 1
            weights = [arrays[f"W{i}"] for i in range(n)]
            net = cls(
                layers,
                meta["alpha"],
                backend=backend,
                dtype=meta["dtype"],
                weights=weights,
                activation=meta.get("activation", "sigmoid"),
                output=meta.get("output", "sigmoid"),
            )
        except UnsupportedError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise NetworkFileError(f"{where!r} is a damaged fastbp network file: {_short(exc)}") from None
        if len(arrays) != n:
            raise NetworkFileError(f"{where!r} holds {len(arrays)} weight arrays, expected {n} for layers {layers}")
        return net


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _read_network_file(where: str) -> tuple[Any, dict[str, np.ndarray]]:
    """(meta, weight arrays) of a network file, or NetworkFileError."""
    if not os.path.exists(where):
        raise NetworkFileError(f"{where!r}: no such file")
    if os.path.isdir(where):
        raise NetworkFileError(f"{where!r} is a directory, not a fastbp network file")
    try:
        with open(where, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise NetworkFileError(f"{where!r} cannot be read: {exc.strerror or _short(exc)}") from None
    if not head.startswith((b"PK", b"\x93NUMPY")):
        text = text_start(head)
        what = (
            "it is empty"
            if not head
            else f"it is a text file starting {text!r}"
            if text is not None
            else "its first bytes are not those of an .npz file"
        )
        raise NetworkFileError(
            f"{where!r} is not a fastbp network file ({what}): networks are the .npz files that "
            "NeuralNetwork.save and `fastbp train --save` write"
        )
    try:
        data = np.load(where, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise NetworkFileError(f"{where!r} holds a single array (.npy), not a fastbp network file (.npz from save)")
        with data as f:
            files = set(f.files)
            if "meta" not in files:
                raise NetworkFileError(f"{where!r} is not a fastbp network file (no 'meta' entry)")
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in files if k != "meta"}
    except NetworkFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise NetworkFileError(f"{where!r} is not a readable fastbp network file: {_short(exc)}") from None
    return meta, arrays
