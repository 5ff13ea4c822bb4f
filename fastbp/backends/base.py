"""The kernel contract every backend implements.

Weights are a list of 2-D arrays on the backend's device, one per layer, bias
rows included: ``W[l]`` has shape ``(layers[l] + 1, layers[l+1] + 1)`` for the
hidden layers and ``(layers[-2] + 1, layers[-1])`` for the last (each hidden
layer has one extra, learned unit that feeds the next layer's bias row).
Activations and deltas are 2-D: one row per sample.

Two levels:

* the per-layer kernels (``forward``, ``output_delta``, ``hidden_delta``,
  ``update``, ``predict``, ``loss``): public, composable, the readable
  statement of what the fused code computes; ``activation`` (hidden units)
  and ``output`` (output units) are keyword arguments with the tutorial's
  defaults, "sigmoid" and "sigmoid";
* the training seam, ``train``: K >= 1 stacked networks of one shape
  (``Params``, in the backend's own layout) trained for many epochs in ONE
  call, each with its own alpha, returning each network's reference loss at
  the epochs asked for, computed inside the call. ``sgd_epoch`` and
  ``sgd_epoch_many`` are one-epoch cases of it. The networks' activation and
  output travel in the ``Params``.

Units (``ACTIVATIONS``, ``OUTPUTS``). Every hidden unit, the extra bias unit
of each hidden layer included, applies the hidden activation: "sigmoid"
``1 / (1 + exp(-z))``, "tanh", or "relu" ``max(z, 0)``; its derivative is
taken on the activation value ``a``, as the tutorial does: ``a (1 - a)``,
``1 - a**2``, ``a > 0`` (1 or 0). The output units are "sigmoid", "linear"
(``a = z``) or "softmax" (``a = exp(z - max z) / sum exp(z - max z)`` over
the outputs of a sample). The loss follows the output: sigmoid and linear
outputs use the tutorial's ``0.5 * sum((a - y) ** 2)``, with output deltas
``(a - y) a (1 - a)`` and ``a - y``; softmax uses the summed cross-entropy
``-sum(y * log softmax(z))``, computed from the logits by log-sum-exp (large
logits neither overflow nor give log 0), whose output delta is ``a - y``
for target rows that sum to 1 (class probabilities, e.g. one-hot; the
boundary checks it). A backend lists the units it implements in
``activations`` and ``outputs``; the boundary refuses the others with
``UnsupportedError``.

The defaults here compose the per-layer kernels (the NumPy backend uses them);
fast backends replace ``train`` with one compiled call. Backends trust their
inputs: validation happens once, at the boundary (``NeuralNetwork``,
``train``, ``train_many``), never inside a training call.

Everything above this contract (NeuralNetwork, the training loop, the CLI,
the benchmarks) is backend-agnostic and never imports numba or cupy.
"""

from __future__ import annotations

import abc
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

    ``W[l]`` is layer l of every network, a backend array of shape ``(K,
    rows, cols)`` that the kernels read and ``train`` updates in place (on
    the numba backend a view into its packed buffer). ``impl`` is the
    backend's private state (numba: the packed buffers), None elsewhere.
    ``activation`` and ``output`` are the networks' hidden and output units
    (names from ``ACTIVATIONS`` and ``OUTPUTS``, checked at the boundary):
    ``train`` and ``loss_many`` read them. ``Backend.params`` builds the
    layout, ``with_units`` sets the units; ``copy_params`` keeps them.
    """

    __slots__ = ("W", "activation", "dtype", "impl", "output")

    def __init__(self, W: list, dtype, impl: Any = None, *, activation: str = "sigmoid", output: str = "sigmoid"):
        self.W = W
        self.dtype = np.dtype(dtype)
        self.impl = impl
        self.activation = activation
        self.output = output

    def with_units(self, activation: str, output: str) -> Params:
        """Sets the networks' hidden activation and output units; returns ``self``."""
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
        """Network k's weights: 2-D backend arrays (views), one per layer."""
        return [w[k] for w in self.W]


class Backend(abc.ABC):
    """One implementation of the fastbp kernels.

    Subclasses set ``name`` and implement the abstract methods; the training
    seam (``train``) and the per-sample step have defaults composed from the
    per-layer kernels.
    """

    #: Registry name ("numpy", "numba", "cuda").
    name: str = "abstract"
    #: True when arrays live off the host (device memory).
    on_device: bool = False
    #: The hidden activations and output units this backend implements (the
    #: tutorial's alone unless a backend lists more).
    activations: tuple[str, ...] = ("sigmoid",)
    outputs: tuple[str, ...] = ("sigmoid",)

    def unsupported(self, activation: str = "sigmoid", output: str = "sigmoid") -> str | None:
        """None when this backend implements ``activation`` hidden units and
        ``output`` units, else a sentence saying which it does not."""
        missing = []
        if activation not in self.activations:
            missing.append(f"activation={activation!r} (it has {', '.join(self.activations)})")
        if output not in self.outputs:
            missing.append(f"output={output!r} (it has {', '.join(self.outputs)})")
        if not missing:
            return None
        return f"backend {self.name!r} does not implement " + " or ".join(missing)

    # ------------------------------------------------------------------ data
    @abc.abstractmethod
    def asarray(self, host: Any, dtype: Any) -> Any:
        """A C-contiguous copy of ``host`` on this backend, of ``dtype``."""

    @abc.abstractmethod
    def to_numpy(self, dev: Any) -> np.ndarray:
        """A NumPy copy of a backend array (the only device-to-host transfer)."""

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on the CPU)."""
        return None

    def info(self) -> dict:
        """Versions and hardware this backend runs on, for ``fastbp info``."""
        return {"name": self.name}

    def with_threads(self, threads: int | None) -> Backend:
        """This backend with training calls on at most ``threads`` CPU
        threads (None: the backend's own choice). Backends that run no CPU
        threads of their own return themselves."""
        return self

    # ------------------------------------------------------ per-layer kernels
    @abc.abstractmethod
    def forward(self, W: Sequence[Any], X1: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> list:
        """Batched forward pass: ``[A0, A1, ..., AL]`` with ``A0 = X1``,
        ``A[l+1] = act(A[l] @ W[l])`` for the hidden layers and ``AL =
        out(A[L-1] @ W[L-1])`` (the activation fused into the product's pass;
        softmax over each row)."""

    @abc.abstractmethod
    def output_delta(self, AL: Any, Y: Any, *, output: str = "sigmoid") -> Any:
        """The output delta: ``(AL - Y) * AL * (1 - AL)`` for sigmoid outputs,
        ``AL - Y`` for linear and for softmax (with cross-entropy)."""

    @abc.abstractmethod
    def hidden_delta(self, D_next: Any, W_l: Any, A_l: Any, *, activation: str = "sigmoid") -> Any:
        """``(D_next @ W_l.T) * act'(A_l)``, the derivative (taken on the
        activation value) fused into the pass that produces the product."""

    @abc.abstractmethod
    def update(self, W_l: Any, A_l: Any, D: Any, alpha: float) -> None:
        """``W_l -= alpha * A_l.T @ D``, in place."""

    def predict(self, W: Sequence[Any], X1: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> Any:
        """Whole-set forward pass; returns the output activations."""
        return self.forward(W, X1, **units(activation=activation, output=output))[-1]

    def loss(self, W: Sequence[Any], X1: Any, Y: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> float:
        """The loss of the output over the whole set (summed, not averaged):
        ``0.5 * sum((predict(X1) - Y) ** 2)`` for sigmoid and linear outputs
        (the reference's), ``-sum(Y * log softmax(Z))`` for softmax, from the
        logits ``Z`` by log-sum-exp: ``sum(Y * (m + log(sum(exp(Z - m))) -
        Z))`` with ``m`` each row's largest logit (no overflow, no log 0)."""
        if output == "softmax":
            Z = self.predict(W, X1, activation=activation, output="linear")
            m = Z.max(axis=1, keepdims=True)
            lse = m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True))
            return float((Y * (lse - Z)).sum())
        P = self.predict(W, X1, **units(activation=activation, output=output))
        return float(0.5 * ((P - Y) ** 2).sum())

    def sgd_step(
        self, W: Sequence[Any], x1: Any, y: Any, alpha: float, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> None:
        """One per-sample SGD step (the reference's ``fit_partial``) in place,
        composed from the kernels above.

        ``x1`` is one row ``(1, layers[0] + 1)`` with the bias column, ``y``
        one row ``(1, layers[-1])``. All deltas use the weights as they were
        before this step's update.
        """
        A = self.forward(W, x1, **units(activation=activation, output=output))
        L = len(W)
        D = [None] * (L + 1)
        D[L] = self.output_delta(A[L], y, **units(output=output))
        for l in range(L - 1, 0, -1):
            D[l] = self.hidden_delta(D[l + 1], W[l], A[l], **units(activation=activation))
        for l in range(L):
            self.update(W[l], A[l], D[l + 1], alpha)

    # ------------------------------------------------------ the training seam
    def params(self, weights: Sequence[np.ndarray], dtype) -> Params:
        """K networks in this backend's layout from host weights: a list over
        layers of arrays of shape ``(K, rows, cols)`` (copied), with the
        tutorial's units (``Params.with_units`` sets others)."""
        return Params([self.asarray(w, dtype) for w in weights], dtype)

    def params_to_host(self, P: Params) -> list[np.ndarray]:
        """Host copies of the weights of ``P``: ``(K, rows, cols)`` per layer."""
        return [self.to_numpy(w) for w in P.W]

    def copy_params(self, P: Params) -> Params:
        """An independent copy of ``P`` (same layout, same units)."""
        return Params([w.copy() for w in P.W], P.dtype, **P.units)

    def train(
        self, P: Params, X1: Any, Y: Any, alphas: np.ndarray, epochs: int, record: np.ndarray = NO_RECORD
    ) -> np.ndarray:
        """Train the K networks of ``P`` in place for ``epochs`` epochs of
        per-sample SGD over every row of ``X1`` (bias column included) and
        ``Y``, in order; network k with ``alphas[k]``.

        ``record``: sorted, distinct epochs (1-based, within this call) after
        which each network's reference loss is computed. Returns a float64
        array ``(len(record), K)``; an entry is NaN when the loss or any of
        that network's weights is NaN or infinite, and such a network is not
        trained further in this call. The networks' units are ``P.activation``
        and ``P.output``. The default composes ``epoch_many`` and
        ``loss_many``; fast backends replace it with one compiled call.
        """
        out = np.full((len(record), P.K), np.nan)
        active = np.arange(P.K)
        r = 0
        with np.errstate(invalid="ignore", over="ignore"):  # a diverging network shows as NaN in ``out``
            for epoch in range(1, epochs + 1):
                if len(active) == 0:
                    break
                sub = P if len(active) == P.K else Params([w[active] for w in P.W], P.dtype, **P.units)
                self.epoch_many(sub, X1, Y, alphas[active])
                if sub is not P:
                    for w, s in zip(P.W, sub.W):
                        w[active] = s
                if r < len(record) and record[r] == epoch:
                    losses = self.loss_many(P, X1, Y)
                    out[r, active] = losses[active]
                    active = active[np.isfinite(losses[active])]
                    r += 1
        return out

    def epoch_many(self, P: Params, X1: Any, Y: Any, alphas: np.ndarray) -> None:
        """One epoch of per-sample SGD for every network of ``P``, in place
        (the default loops over networks and samples with ``sgd_step``)."""
        kw = units(**P.units)
        for k in range(P.K):
            W = P.network(k)
            a = float(alphas[k])
            for i in range(X1.shape[0]):
                self.sgd_step(W, X1[i : i + 1], Y[i : i + 1], a, **kw)

    def loss_many(self, P: Params, X1: Any, Y: Any) -> np.ndarray:
        """Each network's loss (that of its output), NaN where the loss or a
        weight is not finite: a float64 host array of length K."""
        out = np.empty(P.K)
        for k in range(P.K):
            W = P.network(k)
            finite = all(bool(np.isfinite(self.to_numpy(w)).all()) for w in W)
            out[k] = self.loss(W, X1, Y, **units(**P.units)) if finite else np.nan
        return out

    def compile(self, P: Params, X1: Any, Y: Any) -> None:
        """Compile (or load from a cache) whatever ``train`` runs for ``P``
        and this data, so that it is not timed with the training."""
        return None

    # ----------------------------------------------- one-epoch cases of train
    def sgd_epoch(
        self, W: Sequence[Any], X1: Any, Y: Any, alpha: float, *, activation: str = "sigmoid", output: str = "sigmoid"
    ) -> None:
        """Batched per-sample SGD: one step per row of ``X1``, in order, in
        place, in one call; the same weights as one ``sgd_step`` per sample."""
        check_stack(W, X1, Y, [alpha], stacked=False)
        self.sgd_epoch_many([w[None] for w in W], X1, Y, [alpha], **units(activation=activation, output=output))

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
        """``sgd_epoch`` for K networks stacked per layer (``Ws[l]`` of shape
        ``(K, rows, cols)``), each with its own alpha, in place; network k's
        weights equal those of training it alone."""
        dt = check_stack(Ws, X1, Y, alphas)
        require_units(self, activation, output)
        if X1.shape[0] == 0:
            return
        P = self._wrap(list(Ws)).with_units(activation, output)
        X1, Y = self.contiguous(X1, dt), self.contiguous(Y, dt)
        self.train(P, X1, Y, np.asarray(alphas, dtype=np.float64).reshape(-1), 1)
        self._unwrap(P, Ws)

    def contiguous(self, a: Any, dtype) -> Any:
        """``a`` as a C-contiguous backend array of ``dtype`` (no copy when it is one)."""
        return self.asarray(a, dtype)

    def _wrap(self, Ws: list) -> Params:
        """Params over caller-owned stacked weights (the same arrays here)."""
        return Params(Ws, Ws[0].dtype)

    def _unwrap(self, P: Params, Ws: Sequence[Any]) -> None:
        """Writes ``P`` back into the caller's arrays where it does not alias them."""
        for w, p in zip(Ws, P.W):
            if p is not w:
                w[...] = p

    def __repr__(self) -> str:
        return f"<fastbp backend {self.name!r}>"


def units(**kw: str) -> dict[str, str]:
    """The keyword arguments ``kw`` (``activation=``, ``output=``) that differ
    from the tutorial's "sigmoid": what the composed defaults pass on to a
    backend's kernels, so that a backend implementing only the tutorial's
    units may define its kernels without these keyword arguments."""
    return {k: v for k, v in kw.items() if v != "sigmoid"}


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
