"""Shared fixtures and helpers of the tests.

Every behaviour test runs once per registered backend (``backend``); a
backend that cannot run here is skipped with its unavailability message as
the reason, so the test report says WHY (``pytest -ra`` prints it).

Parity with the NumPy oracle goes through ``backend_allclose``: it runs one
test body on the backend under test and on the NumPy backend and compares
what the two return. It never compares the oracle with itself: the
``accelerated`` fixture is every backend but NumPy, and the NumPy backend is
checked against the tutorial's own code (test_reference.py) and against
calculus (test_units.py) instead.

Tolerances: float64 agrees to 1e-12 relative (``rtol``); float32 to
FLOAT32_RTOL, the rounding of single precision through a few dependent steps
(measured differences are around 1e-6; the bound leaves room for other
summation orders), ten times that after ten epochs.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fastbp.backends import ACTIVATIONS, OUTPUTS, backend_names, get_backend, unavailable_reason
from fastbp.network import init_weights

DTYPES = [np.float64, np.float32]
FLOAT32_RTOL = 1e-4
#: every (hidden activation, output) pair, and those other than the tutorial's
UNITS = list(itertools.product(ACTIVATIONS, OUTPUTS))
UNIT_IDS = [f"{a}-{o}" for a, o in UNITS]
NON_TUTORIAL = [u for u in UNITS if u != ("sigmoid", "sigmoid")]
NON_TUTORIAL_IDS = [f"{a}-{o}" for a, o in NON_TUTORIAL]


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_the_tests():
    """Ctrl-C raises KeyboardInterrupt here and in the processes the tests
    start, as in a suite run from a terminal: a shell starts a background job
    with SIGINT ignored, which Python then leaves ignored, and the tests that
    send a Ctrl-C would wait for training that never stops."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


def _usable(name: str) -> str:
    why = unavailable_reason(name)
    if why is not None:
        pytest.skip(why)
    return name


@pytest.fixture(params=backend_names())
def backend_name(request):
    """Name of a usable backend (skips an unusable one with the reason)."""
    return _usable(request.param)


@pytest.fixture
def backend(backend_name):
    """A usable backend instance, parametrized over every registered name."""
    return get_backend(backend_name)


@pytest.fixture(params=[n for n in backend_names() if n != "numpy"])
def accelerated(request):
    """Every usable backend but the NumPy oracle they are compared with."""
    return get_backend(_usable(request.param))


@pytest.fixture
def oracle():
    """The NumPy backend, the reference the others are compared with."""
    return get_backend("numpy")


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


# ----------------------------------------------------------------- helpers
def rtol(dtype) -> float:
    """The relative tolerance of a comparison with the oracle in ``dtype``."""
    return 1e-12 if np.dtype(dtype) == np.float64 else FLOAT32_RTOL


def assert_close(a, b, dtype, what: str, factor: float = 1.0) -> None:
    """``a`` equals ``b`` to ``factor * rtol(dtype)`` relative to ``b``'s largest magnitude."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} against {b.shape}"
    err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30) if a.size else 0.0
    tol = factor * rtol(dtype)
    assert err <= tol, f"{what}: relative difference {err:.3e} > {tol:.0e}"


def backend_allclose(
    backend, body: Callable[[Any], dict[str, Any]], dtype, factor: float = 1.0
) -> dict[str, np.ndarray]:
    """Runs ``body(be)`` on ``backend`` and on the NumPy oracle and asserts
    that every value of the dicts they return agrees (``assert_close``;
    backend arrays are brought to the host). ``backend`` must not be the
    oracle. Returns the backend's values, on the host."""
    assert backend.name != "numpy", "backend_allclose compares a backend with the NumPy oracle, not with itself"
    oracle = get_backend("numpy")
    got, want = body(backend), body(oracle)
    assert got.keys() == want.keys()
    host = {}
    for key in want:
        g = got[key] if isinstance(got[key], (float, int, np.ndarray, np.generic)) else backend.to_numpy(got[key])
        assert_close(g, want[key], dtype, key, factor)
        host[key] = np.asarray(g)
    return host


def stacked(layers, K: int, activation: str = "sigmoid", seed: int = 0) -> list[np.ndarray]:
    """Host weights of K networks (seeds seed .. seed + K - 1) stacked per layer: ``(K, rows, cols)``."""
    inits = [init_weights(layers, seed + k, activation) for k in range(K)]
    return [np.stack([w[l] for w in inits]) for l in range(len(layers) - 1)]


def targets(rng, n: int, width: int, output: str) -> np.ndarray:
    """Targets of the right kind: class probabilities (rows summing to 1) for softmax."""
    if output == "softmax":
        P = rng.rand(n, width) + 0.05
        return P / P.sum(axis=1, keepdims=True)
    return rng.rand(n, width)


def supporting(backend, activation: str, output: str) -> None:
    """Skips (with the reason) where the backend does not implement the units."""
    why = backend.unsupported(activation, output)
    if why is not None:
        pytest.skip(why)
