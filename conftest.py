"""Which suite a pytest run collects.

* ``pytest`` (the test command) runs tests/ and never benchmarks/: no time is
  spent benchmarking (the benchmark items are deselected);
* ``pytest --benchmark-only`` runs benchmarks/ and nothing else (the tests
  are deselected rather than reported as hundreds of skips);
* a path named on the command line is always run, e.g.
  ``pytest benchmarks --benchmark-disable`` runs every benchmark body once as
  a smoke test.

pyproject's ``testpaths`` names both directories because pytest applies
``pytest_ignore_collect`` only below the paths it starts from; the choice is
made here, on the collected items.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
TESTS = ROOT / "tests"
BENCHMARKS = ROOT / "benchmarks"


def _named_on_command_line(config, directory: Path) -> bool:
    """True when a command-line argument is ``directory`` or inside it (not
    ``pytest .``, which names both suites, and never ``testpaths``)."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    base = Path(config.invocation_params.dir)
    for arg in config.args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if path == directory or directory in path.parents:
            return True
    return False


def _excluded(config):
    """The suite directory this run leaves out, or None."""
    if config.getoption("benchmark_only", False):
        return None if _named_on_command_line(config, TESTS) else TESTS
    return None if _named_on_command_line(config, BENCHMARKS) else BENCHMARKS


def pytest_ignore_collect(collection_path, config):
    # Applies when pytest recurses into the root (``pytest .``): skip the import.
    if Path(collection_path).resolve() == _excluded(config):
        return True
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    excluded = _excluded(config)
    if excluded is None:
        return
    keep, drop = [], []
    for item in items:
        (drop if excluded in Path(item.path).resolve().parents else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
