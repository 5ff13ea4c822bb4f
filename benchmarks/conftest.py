"""Fixtures of the benchmark suite and the machine info saved with a run.

Every benchmark is parametrized over every registered backend (an unusable one
is skipped with its reason, so ``pytest -ra`` says why) and over float64 and
float32. ``pytest --benchmark-only`` from the repository root runs this suite
and nothing else (see the root conftest.py). The benchmarks a run skipped are
saved in its results file with their reasons (``skipped``), for the report to
name the rows it could not produce.
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


#: (benchmark, why it was skipped) of this run
_SKIPPED: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.skipped and report.when in ("setup", "call"):
        why = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append((report.nodeid, why.removeprefix("Skipped: ")))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["skipped"] = [{"name": name, "reason": why} for name, why in _SKIPPED]
