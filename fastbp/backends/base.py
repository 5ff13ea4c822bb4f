"""The kernel contract every backend implements, and the one composition of a
training seam from per-layer kernels.

Weights are a list of 2-D arrays on the backend's device, one per layer, bias
rows included: ``W[l]`` has shape ``(layers[l] + 1, layers[l+1] + 1)`` for the
hidden layers and ``(layers[-2] + 1, layers[-1])`` for the last (each hidden
layer has one extra, learned unit that feeds the next layer's bias row).
Activations and deltas are 2-D: one row per sample.

A backend implements two parts, both required (``Backend``'s abstract
methods):

* **the training seam**, what the training loop (fastbp.loop) calls:
  ``params`` / ``copy_params`` / ``params_to_host`` (K >= 1 networks of one
  shape in the backend's own layout, ``Params``; the weights stay in it
  between calls), ``train`` (the K networks for MANY epochs in one call, each
  with its own alpha, the losses of the epochs asked for computed inside the
  call: a Python round trip costs tens of microseconds, an XOR epoch one),
  ``loss_many``, ``predict``, and ``compile`` (compile or load what ``train``
  runs, so that it is not timed with the training);
* **the per-layer kernels**, the library's public kernels and the readable
  statement of what the fused code computes: ``forward`` (the unit fused into
  the product's pass), ``output_delta``, ``hidden_delta`` (the activation's
  derivative fused into the back-product) and ``update`` (in place).

``ComposedSeam`` composes the training seam from the per-layer kernels, one
sample at a time: the NumPy backend is exactly that, and the cuda backend's
per-sample path uses it. Built on the contract for every backend:
``sgd_epoch``/``sgd_epoch_many`` (batched per-sample SGD: a whole batch of
per-sample steps in one call, the same weights as one call per sample),
``sgd_step`` and ``loss``.

Units (``ACTIVATIONS``, ``OUTPUTS``). Every hidden unit, the extra bias unit
of each hidden layer included, applies the hidden activation: "sigmoid"
``1 / (1 + exp(-z))``, "tanh", or "relu" ``max(z, 0)``; its derivative is
taken on the activation value ``a``, as the tutorial does: ``a (1 - a)``,
``1 - a**2``, ``a > 0`` (1 or 0). The output units are "sigmoid", "linear"
(``a = z``) or "softmax" (``a = exp(z - max z) / sum exp(z - max z)`` over
the outputs of a sample). The loss follows the output: sigmoid and linear
outputs use the tutorial's ``0.5 * sum((a - y) ** 2)``, with output deltas
``(a - y) a (1 - a)`` and ``a - y``; softmax uses the summed cross-entropy
``-sum(y * log softmax(z))`` (``softmax_cross_entropy``, from the logits by
log-sum-exp: large logits neither overflow nor give log 0), whose output
delta is ``a - y`` for target rows that sum to 1 (class probabilities, e.g.
one-hot; the boundary checks it). A backend lists the units it implements in
``activations`` and ``outputs``; the boundary refuses the others with
``UnsupportedError``.

Backends trust their inputs: validation happens once, at the boundary
(fastbp.spec and fastbp.validation), never inside a training call; only the
public one-epoch kernels check their arguments (``check_stack``, O(layers)).
Everything above this contract (NeuralNetwork, the training loop, the CLI,
the benchmarks) is backend-agnostic and never imports numba or cupy.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np

#: The floating-point dtypes every backend supports.
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: ``record`` of a training call that records no loss.
NO_RECORD = np.zeros(0, dtype=np.int64)

#: Hidden-unit activations, the tutorial's first.
ACTIVATIONS = ("sigmoid", "tanh", "relu")
#: Output units, the tutorial's first; the loss follows the output (see LOSSES).
OUTPUTS = ("sigmoid", "softmax", "linear")
#: The loss of each output.
LOSSES = {
    "sigmoid": "0.5 * sum of squared errors",
    "linear": "0.5 * sum of squared errors",
    "softmax": "summed cross-entropy",
}


class Params:
    """K networks of one shape in a backend's own layout: the training state.

    ``Backend.params`` builds the layout, ``with_units`` sets the units;
    ``Backend.copy_params`` keeps them.

    Parameters
    ----------
    W : list
        Layer l of every network per entry: a backend array of shape ``(K,
        rows, cols)`` that the kernels read and ``Backend.train`` updates in
        place (on the numba backend a view into its packed buffer).
    dtype : numpy.dtype or str
        The weights' dtype.
    impl : object
        The backend's private state (numba: the packed buffers), None
        elsewhere.
    activation : str
        The networks' hidden units (one of ``ACTIVATIONS``, checked at the
        boundary); ``Backend.train`` and ``Backend.loss_many`` read them.
    output : str
        The networks' output units (one of ``OUTPUTS``).
    """

    __slots__ = ("W", "activation", "dtype", "impl", "output")

    def __init__(
        self, W: list, dtype: Any, impl: Any = None, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> None:
        self.W = W
        self.dtype = np.dtype(dtype)
        self.impl = impl
        self.activation = activation
        self.output = output

    def with_units(self, activation: str, output: str) -> Params:
        """Set the networks' hidden activation and output units.

        Parameters
        ----------
        activation : str
            The hidden units.
        output : str
            The output units.

        Returns
        -------
        Params
            This object.
        """
        self.activation, self.output = activation, output
        return self

    @property
    def units(self) -> dict[str, str]:
        """``{"activation": ..., "output": ...}``: the keyword arguments of the per-layer kernels."""
        return {"activation": self.activation, "output": self.output}

    @property
    def K(self) -> int:
        """Number of networks."""
        return int(self.W[0].shape[0])

    @property
    def dims(self) -> tuple[int, ...]:
        """Widths with the bias units: ``(rows of W[0], cols of W[0], ..., cols of W[-1])``."""
        return (int(self.W[0].shape[1]), *(int(w.shape[2]) for w in self.W))

    def network(self, k: int) -> list:
        """One network's weights.

        Parameters
        ----------
        k : int
            The network.

        Returns
        -------
        list
            2-D backend arrays (views), one per layer.
        """
        return [w[k] for w in self.W]


def softmax_cross_entropy(Z: Any, Y: Any, axis: Any = None) -> Any:
    """The summed cross-entropy of softmax outputs from their logits ``Z``
    (rows of samples; the last axis the outputs): ``sum(Y * (m + log(sum(exp(Z
    - m))) - Z))`` with ``m`` each row's largest logit, so that large logits
    neither overflow nor give log 0. Summed in float64 over ``axis`` (None:
    everything). Works on any array type with NumPy's ufuncs (NumPy, CuPy)."""
    m = Z.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(Z - m).sum(axis=-1, keepdims=True))
    return (Y * (lse - Z)).sum(axis=axis, dtype=np.float64)


def weight_dims(layers: Sequence[int]) -> list[int]:
    """The widths the weights chain, bias units included: ``W[l]`` is
    ``dims[l] x dims[l + 1]`` (``layers[l] + 1`` for every layer but the last)."""
    return [int(n) + 1 for n in layers[:-1]] + [int(layers[-1])]


def host_bytes_available() -> tuple[int, str] | None:
    """(bytes, where from) the host can give now without swapping: Linux's
    MemAvailable (/proc/meminfo); None elsewhere (no check)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rebuild(module: str, qualname: str, options: dict[str, Any]) -> Backend:
    """A backend from its description (``Backend.__reduce__``): its class,
    imported (so an unusable backend raises BackendUnavailableError, which
    says what is missing), built with the same options."""
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls(**options)  # type: ignore[operator]


class Backend(abc.ABC):
    """One implementation of the fastbp kernels: the training seam and the
    per-layer kernels (see the module docstring), both required.

    A backend object carries its options (``options``: the keyword arguments
    it was built with, e.g. numba's threads); it pickles as its class and
    options, and is rebuilt from them in another process.
    """

    #: Registry name ("numpy", "numba", "cuda").
    name: str = "abstract"
    #: True when arrays live off the host (device memory).
    on_device: bool = False
    #: True when ``train`` may be left at any point by a KeyboardInterrupt
    #: (a second Ctrl-C; the training loop then puts back its copy of the
    #: weights). A backend whose call starts work that must end with it
    #: (threads waiting on each other) says False: Ctrl-C then waits for the call.
    interruptible: bool = True
    #: The hidden activations and output units this backend implements.
    activations: tuple[str, ...] = ACTIVATIONS
    outputs: tuple[str, ...] = OUTPUTS

    def unsupported(self, activation: str = "sigmoid", output: str = "sigmoid") -> str | None:
        """Whether this backend implements some units.

        Parameters
        ----------
        activation : str
            The hidden units.
        output : str
            The output units.

        Returns
        -------
        str or None
            None when it implements both, else a sentence saying which it
            does not.
        """
        missing = []
        if activation not in self.activations:
            missing.append(f"activation={activation!r} (it has {', '.join(self.activations)})")
        if output not in self.outputs:
            missing.append(f"output={output!r} (it has {', '.join(self.outputs)})")
        if not missing:
            return None
        return f"backend {self.name!r} does not implement " + " or ".join(missing)

    # --------------------------------------------------- options, identity
    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments this backend was built with (none here)."""
        return {}

    def with_threads(self, threads: int | None) -> Backend:
        """This backend with training calls on at most some CPU threads.

        Parameters
        ----------
        threads : int or None
            The most CPU threads (None: the backend's own choice).

        Returns
        -------
        Backend
            A backend object with that option; backends that run no CPU
            threads of their own return themselves.
        """
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self).__module__, type(self).__qualname__, self.options))

    def __copy__(self) -> Backend:
        return self

    def __deepcopy__(self, memo: dict) -> Backend:
        """The same object: a backend holds its options and what it compiled
        (rebuilding a cuda backend compiles and checks its kernels again), so
        copies of networks and estimators share it."""
        return self

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"<fastbp backend {self.name!r}{' (' + opts + ')' if opts else ''}>"

    # ------------------------------------------------------------------ data
    @abc.abstractmethod
    def asarray(self, host: Any, dtype: Any) -> Any:
        """A C-contiguous copy of an array on this backend.

        Parameters
        ----------
        host : array_like
            The array (host or backend).
        dtype : numpy.dtype or str
            The copy's dtype.

        Returns
        -------
        backend array
            The copy.
        """

    @abc.abstractmethod
    def to_numpy(self, dev: Any) -> np.ndarray:
        """A NumPy copy of a backend array (the only device-to-host transfer).

        Parameters
        ----------
        dev : backend array
            The array.

        Returns
        -------
        numpy.ndarray
            The copy.
        """

    def contiguous(self, a: Any, dtype: Any) -> Any:
        """An array as a C-contiguous backend array (no copy when it is one).

        Parameters
        ----------
        a : array_like
            The array (host or backend).
        dtype : numpy.dtype or str
            The dtype.

        Returns
        -------
        backend array
            ``a`` itself, or a C-contiguous copy of ``dtype``.
        """
        return self.asarray(a, dtype)

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on the CPU)."""
        return None

    def info(self) -> dict:
        """Versions and hardware this backend runs on, for ``fastbp info``.

        Returns
        -------
        dict
            Names to values, "name" first.
        """
        return {"name": self.name}

    # ------------------------------------------------------ the training seam
    @abc.abstractmethod
    def params(self, weights: Sequence[np.ndarray], dtype: Any) -> Params:
        """K networks in this backend's layout from host weights.

        Parameters
        ----------
        weights : sequence of numpy.ndarray
            Per layer, the K networks' weights ``(K, rows, cols)`` (copied).
        dtype : numpy.dtype or str
            The dtype of the layout.

        Returns
        -------
        Params
            The networks, with the tutorial's units (``Params.with_units``
            sets others).
        """

    @abc.abstractmethod
    def copy_params(self, P: Params) -> Params:
        """An independent copy of the networks (same layout, same units).

        Parameters
        ----------
        P : Params
            The networks.

        Returns
        -------
        Params
            The copy.
        """

    @abc.abstractmethod
    def params_to_host(self, P: Params) -> list[np.ndarray]:
        """Host copies of the networks' weights.

        Parameters
        ----------
        P : Params
            The networks.

        Returns
        -------
        list of numpy.ndarray
            ``(K, rows, cols)`` per layer.
        """

    @abc.abstractmethod
    def train(
        self, P: Params, X1: Any, Y: Any, alphas: np.ndarray, epochs: int, record: np.ndarray = NO_RECORD
    ) -> np.ndarray:
        """Train K networks in place by per-sample SGD, the samples in order.

        Parameters
        ----------
        P : Params
            The networks, with their units.
        X1 : backend array
            The samples, bias column included.
        Y : backend array
            Their targets.
        alphas : numpy.ndarray
            Network k's learning rate ``alphas[k]``.
        epochs : int
            The number of epochs.
        record : numpy.ndarray
            Sorted, distinct epochs (1-based, within this call) after which
            each network's loss is computed.

        Returns
        -------
        numpy.ndarray
            float64 ``(len(record), K)``: the losses; an entry is NaN when the
            loss or any of that network's weights is NaN or infinite, and such
            a network is not trained further in this call.
        """

    @abc.abstractmethod
    def loss_many(self, P: Params, X1: Any, Y: Any) -> np.ndarray:
        """Each network's loss (that of its output) over the whole set.

        Parameters
        ----------
        P : Params
            The networks.
        X1 : backend array
            The samples, bias column included.
        Y : backend array
            Their targets.

        Returns
        -------
        numpy.ndarray
            float64, length K; NaN where the loss or a weight is not finite.
        """

    @abc.abstractmethod
    def predict(self, W: Sequence[Any], X1: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> Any:
        """Whole-set forward pass of one network.

        Parameters
        ----------
        W : sequence of backend arrays
            The network's weights, one 2-D array per layer.
        X1 : backend array
            The samples, bias column included.
        activation : str
            The hidden units.
        output : str
            The output units.

        Returns
        -------
        backend array
            The output activations, one row per sample.
        """

    @abc.abstractmethod
    def compile(self, P: Params, X1: Any, Y: Any) -> None:
        """Compile (or load from a cache) whatever ``train`` runs for ``P``
        and this data, so that it is not timed with the training.

        Parameters
        ----------
        P : Params
            The networks.
        X1 : backend array
            The samples, bias column included.
        Y : backend array
            Their targets.
        """

    def compile_note(self, P: Params, X1: Any, Y: Any) -> str | None:
        """A line saying what ``compile`` and the training run will compile, when that takes long.

        The training loop shows it before it starts (verbose runs only).

        Parameters
        ----------
        P : Params
            The networks.
        X1 : backend array
            The samples, bias column included.
        Y : backend array
            Their targets.

        Returns
        -------
        str or None
            The line when compiling takes more than about a second (nothing
            cached for this work yet), else None.
        """
        return None

    def finish_compiles(self) -> None:
        """Wait for the kernels this backend compiles in the background, if any.

        A backend may compile a faster kernel while the training runs on a
        cheaper one (the numba backend's thread team); ``fastbp warmup``
        waits here so that everything is compiled and cached when it ends.
        """
        return None

    # ------------------------------------------------------ per-layer kernels
    @abc.abstractmethod
    def forward(self, W: Sequence[Any], X1: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> list:
        """Batched forward pass, the activation fused into the product's pass.

        Parameters
        ----------
        W : sequence of backend arrays
            One network's weights, one 2-D array per layer.
        X1 : backend array
            The samples, bias column included.
        activation : str
            The hidden units.
        output : str
            The output units (softmax over each row).

        Returns
        -------
        list of backend arrays
            ``[A0, A1, ..., AL]`` with ``A0 = X1``, ``A[l+1] = act(A[l] @
            W[l])`` for the hidden layers and ``AL = out(A[L-1] @ W[L-1])``.
        """

    @abc.abstractmethod
    def output_delta(self, AL: Any, Y: Any, *, output: str = "sigmoid") -> Any:
        """The output delta.

        Parameters
        ----------
        AL : backend array
            The output activations.
        Y : backend array
            The targets.
        output : str
            The output units.

        Returns
        -------
        backend array
            ``(AL - Y) * AL * (1 - AL)`` for sigmoid outputs, ``AL - Y`` for
            linear and for softmax (with cross-entropy).
        """

    @abc.abstractmethod
    def hidden_delta(self, D_next: Any, W_l: Any, A_l: Any, *, activation: str = "sigmoid") -> Any:
        """A hidden layer's delta, the derivative fused into the product's pass.

        Parameters
        ----------
        D_next : backend array
            The next layer's delta.
        W_l : backend array
            The weights between the two layers.
        A_l : backend array
            This layer's activations.
        activation : str
            The hidden units.

        Returns
        -------
        backend array
            ``(D_next @ W_l.T) * act'(A_l)``, the derivative taken on the
            activation value.
        """

    @abc.abstractmethod
    def update(self, W_l: Any, A_l: Any, D: Any, alpha: float) -> None:
        """``W_l -= alpha * A_l.T @ D``, in place.

        Parameters
        ----------
        W_l : backend array
            The weights, updated in place.
        A_l : backend array
            The activations that feed them.
        D : backend array
            The delta of the layer they feed.
        alpha : float
            The learning rate.
        """

    # ----------------------------------------------------------------- memory
    def bytes_needed(self, layers: Sequence[int], K: int, dtype: Any, n_samples: int = 0) -> int:
        """About the most bytes that training networks allocates on this backend's device.

        The networks' weights twice (the training loop keeps a copy of them
        from one chunk of epochs to the next), the samples with their bias
        column and their targets, and a whole-set forward pass of one network
        (the loss's, and ``predict``'s: every layer's activations, and the
        widest layer's product before its unit). A backend with another
        layout counts its own.

        Parameters
        ----------
        layers : sequence of int
            The layer widths, input first.
        K : int
            The number of networks.
        dtype : numpy.dtype or str
            Their dtype.
        n_samples : int
            The number of training samples.

        Returns
        -------
        int
            The bytes.
        """
        item = np.dtype(dtype).itemsize
        dims = weight_dims(layers)
        weights = sum(dims[l] * dims[l + 1] for l in range(len(dims) - 1))
        return item * (2 * K * weights + n_samples * (dims[0] + dims[-1] + sum(dims) + max(dims)))

    def bytes_available(self) -> tuple[int, str] | None:
        """The memory this backend's device can give now.

        Returns
        -------
        tuple of (int, str) or None
            The bytes and where the figure comes from, or None where that is
            not known; on the host, the memory Linux says it can give without
            swapping.
        """
        return host_bytes_available()

    # ---------------------------------------- built on the contract, for all
    def loss(self, W: Sequence[Any], X1: Any, Y: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> float:
        """The loss of one network's output over the whole set (summed, not averaged).

        Parameters
        ----------
        W : sequence of backend arrays
            The network's weights, one 2-D array per layer.
        X1 : backend array
            The samples, bias column included.
        Y : backend array
            Their targets.
        activation : str
            The hidden units.
        output : str
            The output units.

        Returns
        -------
        float
            ``0.5 * sum((predict(X1) - Y) ** 2)`` for sigmoid and linear
            outputs (the reference's), ``softmax_cross_entropy`` of the logits
            for softmax.
        """
        if output == "softmax":
            return float(softmax_cross_entropy(self.predict(W, X1, activation=activation, output="linear"), Y))
        P = self.predict(W, X1, activation=activation, output=output)
        return float(0.5 * ((P - Y) ** 2).sum(dtype=np.float64))

    def sgd_step(
        self, W: Sequence[Any], x1: Any, y: Any, alpha: float, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> None:
        """One per-sample SGD step in place (the reference's ``NeuralNetwork.fit_partial``).

        All deltas use the weights as they were before this step's update.

        Parameters
        ----------
        W : sequence of backend arrays
            The network's weights, one 2-D array per layer, updated in place.
        x1 : backend array
            One row ``(1, layers[0] + 1)``, the bias column included.
        y : backend array
            Its target, one row ``(1, layers[-1])``.
        alpha : float
            The learning rate.
        activation : str
            The hidden units.
        output : str
            The output units.
        """
        self.sgd_epoch(W, x1, y, alpha, activation=activation, output=output)

    def sgd_epoch(
        self, W: Sequence[Any], X1: Any, Y: Any, alpha: float, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> None:
        """Batched per-sample SGD: one step per row, in order, in place, in one call.

        The same weights as one ``sgd_step`` per sample.

        Parameters
        ----------
        W : sequence of backend arrays
            The network's weights, one 2-D array per layer, updated in place.
        X1 : backend array
            The samples, bias column included.
        Y : backend array
            Their targets.
        alpha : float
            The learning rate.
        activation : str
            The hidden units.
        output : str
            The output units.

        Raises
        ------
        ValueError, TypeError
            Arrays of the wrong shape, dtype or writability (the message
            names the argument).
        UnsupportedError
            This backend does not implement the units.
        """
        check_stack(W, X1, Y, [alpha], stacked=False)
        self.sgd_epoch_many([w[None] for w in W], X1, Y, [alpha], activation=activation, output=output)

    def sgd_epoch_many(
        self,
        Ws: Sequence[Any],
        X1: Any,
        Y: Any,
        alphas: Any,
        *,
        activation: str = "sigmoid",
        output: str = "sigmoid",
    ) -> None:
        """``sgd_epoch`` for K networks at once, each with its own alpha, in place.

        Network k's weights equal those of training it alone.

        Parameters
        ----------
        Ws : sequence of backend arrays
            The networks' weights stacked per layer, ``Ws[l]`` of shape ``(K,
            rows, cols)``, updated in place.
        X1 : backend array
            The samples, bias column included.
        Y : backend array
            Their targets.
        alphas : array_like
            Network k's learning rate ``alphas[k]``.
        activation : str
            The hidden units.
        output : str
            The output units.

        Raises
        ------
        ValueError, TypeError
            Arrays of the wrong shape, dtype or writability, or not one alpha
            per network (the message names the argument).
        UnsupportedError
            This backend does not implement the units.
        """
        dt = check_stack(Ws, X1, Y, alphas)
        require_units(self, activation, output)
        if X1.shape[0] == 0:
            return
        P = self.wrap_params(list(Ws)).with_units(activation, output)
        X1, Y = self.contiguous(X1, dt), self.contiguous(Y, dt)
        self.train(P, X1, Y, np.asarray(alphas, dtype=np.float64).reshape(-1), 1)
        for w, p in zip(Ws, P.W):  # back into the caller's arrays where the layout copied them
            if p is not w:
                w[...] = p

    def wrap_params(self, Ws: list) -> Params:
        """Params over caller-owned stacked weights (``sgd_epoch_many``).

        Parameters
        ----------
        Ws : list of backend arrays
            The stacked weights, ``(K, rows, cols)`` per layer.

        Returns
        -------
        Params
            Over the same arrays where the backend's layout allows, else over
            a copy that ``sgd_epoch_many`` writes back.
        """
        return self.params(Ws, Ws[0].dtype)


class ComposedSeam(Backend):
    """The training seam composed from the per-layer kernels, one sample at a
    time: ``train`` runs ``sgd_step`` (forward, output delta, hidden deltas
    with the weights before the update, updates) for every sample, epoch and
    network, and ``loss_many`` the whole-set ``loss`` of each network. The
    NumPy backend is this composition; the cuda backend's per-sample path
    runs it. Weights are plain backend arrays ``(K, rows, cols)``."""

    def params(self, weights: Sequence[np.ndarray], dtype: Any) -> Params:
        return Params([self.asarray(w, dtype) for w in weights], dtype)

    def copy_params(self, P: Params) -> Params:
        return Params([w.copy() for w in P.W], P.dtype, **P.units)

    def params_to_host(self, P: Params) -> list[np.ndarray]:
        return [self.to_numpy(w) for w in P.W]

    def wrap_params(self, Ws: list) -> Params:
        return Params(Ws, Ws[0].dtype)

    def compile(self, P: Params, X1: Any, Y: Any) -> None:
        return None

    def predict(self, W: Sequence[Any], X1: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> Any:
        return self.forward(W, X1, activation=activation, output=output)[-1]

    def sgd_step(
        self, W: Sequence[Any], x1: Any, y: Any, alpha: float, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> None:
        A = self.forward(W, x1, activation=activation, output=output)
        L = len(W)
        d = self.output_delta(A[L], y, output=output)
        for l in range(L - 1, 0, -1):
            d_prev = self.hidden_delta(d, W[l], A[l], activation=activation)  # with W[l] before its update
            self.update(W[l], A[l], d, alpha)
            d = d_prev
        self.update(W[0], A[0], d, alpha)

    def train(
        self, P: Params, X1: Any, Y: Any, alphas: np.ndarray, epochs: int, record: np.ndarray = NO_RECORD
    ) -> np.ndarray:
        out = np.full((len(record), P.K), np.nan)
        active = np.arange(P.K)
        r = 0
        with np.errstate(invalid="ignore", over="ignore"):  # a diverging network shows as NaN in ``out``
            for epoch in range(1, epochs + 1):
                if len(active) == 0:
                    break
                for k in active:
                    W, a = P.network(int(k)), float(alphas[k])
                    for i in range(X1.shape[0]):
                        self.sgd_step(W, X1[i : i + 1], Y[i : i + 1], a, activation=P.activation, output=P.output)
                if r < len(record) and record[r] == epoch:
                    losses = self.loss_many(P, X1, Y)
                    out[r, active] = losses[active]
                    active = active[np.isfinite(losses[active])]
                    r += 1
        return out

    def loss_many(self, P: Params, X1: Any, Y: Any) -> np.ndarray:
        out = np.empty(P.K)
        for k in range(P.K):
            W = P.network(k)
            finite = all(bool(np.isfinite(self.to_numpy(w)).all()) for w in W)
            out[k] = self.loss(W, X1, Y, activation=P.activation, output=P.output) if finite else np.nan
        return out


def require_units(be: Backend, activation: Any, output: Any) -> None:
    """Raises UnsupportedError, naming what is missing, unless backend ``be``
    implements ``activation`` hidden units and ``output`` units (the check of
    the public one-epoch kernels; the boundary checks with
    ``fastbp.backends.check_supported``, whose message names alternatives)."""
    why = be.unsupported(activation, output)
    if why is not None:
        from ..errors import UnsupportedError

        raise UnsupportedError(why)


def check_stack(W: Sequence[Any], X1: Any, Y: Any, alphas: Any, stacked: bool = True) -> np.dtype:
    """Checks the arguments of the public one-epoch kernels (O(layers)):
    weights of one supported dtype, chained shapes, writable; ``X1`` and
    ``Y`` of the weights' dtype and matching shapes; one alpha per network.
    Returns the dtype; the errors name the argument."""
    name = "Ws" if stacked else "W"
    if isinstance(W, np.ndarray) or not isinstance(W, Sequence) or len(W) == 0:
        raise TypeError(f"{name} must be a non-empty list of weight arrays, one per layer, got {type(W).__name__}")
    ndim = 3 if stacked else 2
    dtype = getattr(W[0], "dtype", None)
    if dtype is None or np.dtype(dtype) not in SUPPORTED_DTYPES:
        raise TypeError(f"{name}[0] has dtype {dtype}; the kernels need float32 or float64 arrays")
    for l, w in enumerate(W):
        if getattr(w, "dtype", None) != dtype:
            raise TypeError(
                f"{name}[{l}] has dtype {getattr(w, 'dtype', None)} but {name}[0] has dtype {dtype}; use one dtype"
            )
        if w.ndim != ndim or 0 in w.shape:
            what = "(K, rows, cols)" if stacked else "(rows, cols)"
            raise ValueError(f"{name}[{l}] must be a non-empty {ndim}-D array {what}, got shape {w.shape}")
        flags = getattr(w, "flags", None)
        if flags is not None and not flags.writeable:
            raise ValueError(f"{name}[{l}] is read-only; weights are updated in place")
        if l > 0 and w.shape[-2] != W[l - 1].shape[-1]:
            raise ValueError(
                f"{name}[{l}] has shape {w.shape} but {name}[{l - 1}] has shape {W[l - 1].shape}: "
                f"{name}[{l}] needs {W[l - 1].shape[-1]} rows"
            )
        if stacked and w.shape[0] != W[0].shape[0]:
            raise ValueError(f"{name}[{l}] stacks {w.shape[0]} networks but {name}[0] stacks {W[0].shape[0]}")
    for arg, a, width in (("X1", X1, W[0].shape[-2]), ("Y", Y, W[-1].shape[-1])):
        if getattr(a, "dtype", None) != dtype:
            raise TypeError(f"{arg} has dtype {getattr(a, 'dtype', None)} but the weights have dtype {dtype}")
        if a.ndim != 2:
            raise ValueError(f"{arg} must be 2-D (one row per sample), got shape {a.shape}")
        if a.shape[1] != width:
            raise ValueError(f"{arg} has shape {a.shape} but the weights need {width} columns")
    if Y.shape[0] != X1.shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows but X1 has {X1.shape[0]}")
    a = np.asarray(alphas)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"alphas must be real numbers, got {alphas!r}")
    K = W[0].shape[0] if stacked else 1
    if a.size != K:
        raise ValueError(f"alphas has {a.size} values but {name} stacks {K} networks")
    return np.dtype(dtype)
