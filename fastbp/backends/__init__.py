"""Backend registry: names, aliases, lazy imports, one clear error per failure.

``get_backend("numba")`` imports fastbp.backends.numba.backend only when asked
for, so ``import fastbp`` never needs numba's compiler or a GPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from ..errors import BackendUnavailableError, UnsupportedError
from .base import ACTIVATIONS, OUTPUTS, SUPPORTED_DTYPES, Backend, weight_dims

if TYPE_CHECKING:
    from .cuda.record import Evidence

#: name -> (module, class, install hint)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "numpy": ("fastbp.backends.numpy_backend", "NumpyBackend", "pip install fastbp"),
    "numba": ("fastbp.backends.numba.backend", "NumbaBackend", "pip install numba"),
    "cuda": (
        "fastbp.backends.cuda.backend",
        "CudaBackend",
        'pip install "fastbp[cuda13]" (CUDA 13 driver) or "fastbp[cuda12]" (CUDA 12 driver)',
    ),
}
_ALIASES = {"cupy": "cuda", "gpu": "cuda", "np": "numpy", "cpu": "numba"}
#: "auto" tries these in order: fastest first.
AUTO_ORDER = ("cuda", "numba", "numpy")

_instances: dict[str, Backend] = {}
_failures: dict[str, str] = {}


def backend_names() -> list[str]:
    """Every registered backend name (usable here or not).

    Returns
    -------
    list of str
        "numpy", "numba", "cuda".
    """
    return list(_REGISTRY)


def normalize_name(name: str | Backend) -> str:
    """Canonical backend name for a name (case-insensitive, aliases resolved).

    Parameters
    ----------
    name : str or Backend
        A backend name or alias ("auto" stays "auto"), or a backend object.

    Returns
    -------
    str
        "auto", "numpy", "numba" or "cuda".

    Raises
    ------
    ValueError
        An unknown name (the message names the valid choices).
    TypeError
        ``name`` is neither a string nor a backend object.
    """
    if isinstance(name, Backend):
        return name.name
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string such as 'auto' or 'numba', got {type(name).__name__}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key != "auto" and key not in _REGISTRY:
        choices = ", ".join(repr(n) for n in ["auto", *_REGISTRY, *_ALIASES])
        raise ValueError(f"unknown backend {name!r}; valid choices are {choices}")
    return key


def _load(name: str) -> Backend:
    if name in _instances:
        return _instances[name]
    if name in _failures:
        raise BackendUnavailableError(_failures[name])
    module_name, class_name, hint = _REGISTRY[name]
    try:
        module = importlib.import_module(module_name)
        instance = getattr(module, class_name)()
    except BackendUnavailableError as exc:
        _failures[name] = str(exc)
        raise
    except ImportError as exc:
        msg = f"backend {name!r} is unavailable: {exc}. Install it with: {hint}"
        _failures[name] = msg
        raise BackendUnavailableError(msg) from exc
    _instances[name] = instance
    return instance


def get_backend(name: str | Backend = "auto", **options: Any) -> Backend:
    """A backend object by name, with options.

    "auto" is the fastest usable backend for a small single network
    (``resolve_backend`` weighs a run's shape, its number of networks and
    its units).

    Parameters
    ----------
    name : str or Backend
        "numpy", "numba", "cuda"/"cupy" or "auto" (case-insensitive), or a
        backend object (returned as it is).
    **options
        The backend's options, e.g. ``threads=2`` for numba: a new backend
        object is built with them; without, the registry's shared default
        object is returned.

    Returns
    -------
    Backend
        The backend object.

    Raises
    ------
    ValueError
        An unknown name (the message names the valid choices).
    BackendUnavailableError
        A known backend that cannot run here (the message says what is
        missing and the install command).
    """
    if isinstance(name, Backend):
        return name
    key = normalize_name(name)
    if key == "auto":
        key = auto_choice()[0]
    be = _load(key)
    return type(be)(**options) if options else be


def resolve_backend(
    backend: str | Backend,
    layers: Sequence[int] | None = None,
    n_networks: int = 1,
    activation: str = "sigmoid",
    output: str = "sigmoid",
    dtype: DTypeLike = "float64",
) -> tuple[Backend, str]:
    """The backend object for a run, and why.

    Parameters
    ----------
    backend : str or Backend
        A backend object (used as it is), a name from the registry, or
        "auto" (chosen by ``auto_choice``).
    layers : sequence of int or None
        The run's layer widths.
    n_networks : int
        How many networks train together.
    activation : str
        The hidden units.
    output : str
        The output units.
    dtype : str or numpy.dtype
        The run's dtype.

    Returns
    -------
    backend : Backend
        The backend object.
    note : str
        Why: "chosen by the caller", or what "auto" weighed.

    Raises
    ------
    UnsupportedError
        The backend does not implement the units (naming the backends that do).
    BackendUnavailableError
        The backend cannot run here.
    """
    if isinstance(backend, Backend):
        be, note = backend, "chosen by the caller"
    elif normalize_name(backend) == "auto":
        name, note = auto_choice(layers, n_networks, activation, output, dtype)
        be = _load(name)
    else:
        be, note = _load(normalize_name(backend)), "chosen by the caller"
    check_supported(be, activation, output)
    return be, note


def check_supported(be: Backend, activation: str = "sigmoid", output: str = "sigmoid") -> None:
    """Check that a backend implements the units.

    Parameters
    ----------
    be : Backend
        The backend object.
    activation : str
        The hidden units.
    output : str
        The output units.

    Raises
    ------
    UnsupportedError
        ``be`` does not implement them; the message says what is missing and
        which usable backends implement them.
    """
    why = be.unsupported(activation, output)
    if why is None:
        return
    others = [n for n in available_backends() if _load(n).unsupported(activation, output) is None]
    hint = (
        f"; use backend={others[0]!r}" + (f" (or {', '.join(map(repr, others[1:]))})" if others[1:] else "")
        if others
        else ""
    )
    raise UnsupportedError(why + hint)


def unavailable_reason(name: str) -> str | None:
    """Why a backend cannot run here.

    Parameters
    ----------
    name : str
        The backend's name or alias.

    Returns
    -------
    str or None
        None when it is usable here, else why not.
    """
    try:
        _load(normalize_name(name))
    except BackendUnavailableError as exc:
        return str(exc)
    return None


def available_backends() -> list[str]:
    """The backends usable on this machine.

    Returns
    -------
    list of str
        Their names, fastest first.
    """
    return [n for n in AUTO_ORDER if unavailable_reason(n) is None]


def macs_breakdown(layers: Sequence[int]) -> dict[str, int]:
    """Multiply-adds of one per-sample SGD step (the tutorial's step), by part.

    Parameters
    ----------
    layers : sequence of int
        The layer widths, input first.

    Returns
    -------
    dict of str to int
        "forward" and "update" over every weight, "hidden_delta" over W[1:],
        and their sum "sgd".
    """
    sizes = [(layers[i] + 1) * (layers[i + 1] + 1) for i in range(len(layers) - 2)]
    sizes.append((layers[-2] + 1) * layers[-1])
    fwd, hidden = sum(sizes), sum(sizes[1:])
    return {"forward": fwd, "hidden_delta": hidden, "update": fwd, "sgd": 2 * fwd + hidden}


def macs_per_sample(layers: Sequence[int]) -> int:
    """Multiply-adds of one whole per-sample SGD step.

    Parameters
    ----------
    layers : sequence of int
        The layer widths, input first.

    Returns
    -------
    int
        ``macs_breakdown(layers)["sgd"]``.
    """
    return macs_breakdown(layers)["sgd"]


def gpu_evidence(
    layers: Sequence[int] | None,
    n_networks: int = 1,
    dtype: DTypeLike = "float64",
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> Evidence | None:
    """What this machine's record of cuda kernel decisions says about a workload.

    Reads a file; never imports CuPy.

    Parameters
    ----------
    layers : sequence of int or None
        The layer widths, input first (None: no workload, no evidence).
    n_networks : int
        How many networks train together.
    dtype : str or numpy.dtype
        The dtype.
    activation : str
        The hidden units.
    output : str
        The output units.

    Returns
    -------
    fastbp.backends.cuda.record.Evidence or None
        The chosen kernel's time and numba's, or None where the GPU has not
        been measured for the workload.
    """
    if layers is None:
        return None
    from .cuda.record import evidence

    return evidence(weight_dims(layers), dtype, (activation, output), n_networks)


def auto_order(
    layers: Sequence[int] | None = None,
    n_networks: int = 1,
    dtype: DTypeLike = "float64",
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> tuple[str, ...]:
    """The order "auto" tries the backends in, for a workload.

    Parameters
    ----------
    layers : sequence of int or None
        The layer widths, input first.
    n_networks : int
        How many networks train together.
    dtype : str or numpy.dtype
        The dtype.
    activation : str
        The hidden units.
    output : str
        The output units.

    Returns
    -------
    tuple of str
        cuda first where this machine's measurement has its kernel ahead of
        numba (``gpu_evidence``), else numba first.
    """
    ev = gpu_evidence(layers, n_networks, dtype, activation, output)
    if ev is not None and ev.cuda_wins:
        return AUTO_ORDER
    return ("numba", "cuda", "numpy")


def auto_choice(
    layers: Sequence[int] | None = None,
    n_networks: int = 1,
    activation: str = "sigmoid",
    output: str = "sigmoid",
    dtype: DTypeLike = "float64",
) -> tuple[str, str]:
    """What "auto" picks here and why.

    With ``layers`` the choice follows this machine's measurement of the GPU
    against numba for the workload (``gpu_evidence``); without, numba. A
    backend that does not implement the units is passed over.

    Parameters
    ----------
    layers : sequence of int or None
        The layer widths, input first.
    n_networks : int
        How many networks train together.
    activation : str
        The hidden units.
    output : str
        The output units.
    dtype : str or numpy.dtype
        The dtype.

    Returns
    -------
    name : str
        The backend's name.
    note : str
        Why it was picked.

    Raises
    ------
    BackendUnavailableError
        No backend is usable.
    """
    skipped: list[str] = []
    lacking: list[str] = []
    ev = gpu_evidence(layers, n_networks, dtype, activation, output)
    order = auto_order(layers, n_networks, dtype, activation, output)
    for n in order:
        why = unavailable_reason(n)
        if why is not None:
            skipped.append(f"{n} unavailable")
            continue
        if (activation, output) != ("sigmoid", "sigmoid") and _load(n).unsupported(activation, output) is not None:
            lacking.append(n)
            continue
        note = f"auto picked {n!r}"
        if ev is not None and n in ("numba", "cuda"):
            note += f" ({ev.describe()})"
        elif n == "numba" and unavailable_reason("cuda") is None:
            shape = ",".join(map(str, layers)) if layers is not None else "WIDTHS"
            note += (
                f" (the GPU has not been measured for this workload on this machine: `fastbp tune --layers {shape}"
                f" --dtype {np.dtype(dtype).name} --networks {n_networks}` measures it; `fastbp info` lists what was)"
            )
        if lacking:
            note += f" ({', '.join(lacking)}: no activation={activation!r} with output={output!r})"
        if skipped:
            note += " (" + ", ".join(skipped) + "; `fastbp info` says why)"
        return n, note
    raise BackendUnavailableError("no backend is usable: " + "; ".join(skipped))  # pragma: no cover


__all__ = [
    "ACTIVATIONS",
    "AUTO_ORDER",
    "OUTPUTS",
    "SUPPORTED_DTYPES",
    "Backend",
    "BackendUnavailableError",
    "UnsupportedError",
    "auto_choice",
    "auto_order",
    "available_backends",
    "backend_names",
    "check_supported",
    "get_backend",
    "gpu_evidence",
    "macs_breakdown",
    "macs_per_sample",
    "normalize_name",
    "resolve_backend",
    "unavailable_reason",
]
