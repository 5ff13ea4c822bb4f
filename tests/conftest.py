"""Shared fixtures: every behaviour test runs once per registered backend.

A backend that cannot run here is skipped with its unavailability message as
the reason, so the test report says WHY (``pytest -ra`` prints it).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastbp.backends import backend_names, get_backend, unavailable_reason

DTYPES = [np.float64, np.float32]


@pytest.fixture(params=backend_names())
def backend_name(request):
    """Name of a usable backend (skips an unusable one with the reason)."""
    name = request.param
    why = unavailable_reason(name)
    if why is not None:
        pytest.skip(why)
    return name


@pytest.fixture
def backend(backend_name):
    """A usable backend instance, parametrized over every registered name."""
    return get_backend(backend_name)


@pytest.fixture
def oracle():
    """The NumPy backend, the reference the others are compared with."""
    return get_backend("numpy")


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


def fastest_backend_name() -> str:
    from fastbp.backends import available_backends

    return available_backends()[0]
