"""Every ```python block of README.md runs as written.

Each block runs in a fresh namespace in a temporary working folder (the
examples write files). A block preceded by ``<!-- readme-test: needs MODULE -->``
is skipped when MODULE cannot be imported; ``<!-- readme-test: skip REASON -->``
skips it with REASON (a GPU, the network).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<marker>[^>]*?) -->\n)?```python\n(?P<code>.*?)^```", re.S | re.M)


def blocks() -> list:
    text = README.read_text(encoding="utf-8")
    out = []
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("code")) + 1
        code = "\n" * (line - 1) + m["code"]  # tracebacks name the README's lines
        out.append(pytest.param(code, m["marker"], id=f"README.md:{line}"))
    return out


def test_readme_has_python_examples():
    assert len(blocks()) >= 3


@pytest.mark.parametrize(("code", "marker"), blocks())
def test_readme_example_runs(code, marker, tmp_path, monkeypatch):
    if marker:
        what, _, arg = marker.partition(" ")
        if what == "skip":
            pytest.skip(arg)
        elif what == "needs":
            if importlib.util.find_spec(arg) is None:
                pytest.skip(f"the example needs {arg}, which is not installed")
        else:
            pytest.fail(f"unknown readme-test marker {marker!r}")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
