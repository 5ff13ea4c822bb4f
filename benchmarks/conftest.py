"""Fixtures of the benchmark suite and the machine info saved with a run.

Every benchmark is parametrized over every registered backend (an unusable one
is skipped with its reason, so ``pytest -ra`` says why) and over float64 and
float32. ``pytest --benchmark-only`` from the repository root runs this suite
and nothing else (see the root conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastbp.backends import backend_names, get_backend, unavailable_reason

from . import _results

DTYPES = [np.float64, np.float32]


@pytest.fixture(params=backend_names())
def backend(request):
    """A usable backend instance (an unusable one skips with the reason)."""
    why = unavailable_reason(request.param)
    if why is not None:
        pytest.skip(why)
    return get_backend(request.param)


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


def pytest_benchmark_update_machine_info(config, machine_info):
    command = " ".join(["python -m pytest", *config.invocation_params.args])
    machine_info["fastbp"] = {**_results.machine_info(), "command": command}
