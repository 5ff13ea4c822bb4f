"""Lint of fastbp's public docstrings (run by ``bash scripts/dev.sh test``).

Every public function, class, method and property of the public surface
(``fastbp.__all__``, ``fastbp.datasets.__all__``, ``fastbp.backends.__all__``,
``fastbp.sklearn.__all__``, the ``Backend`` contract and ``Params``,
``fastbp.spec``, ``fastbp.loop.Run``, ``fastbp.cli.main``) is checked with
numpydoc's validator for the checks in ``CHECKS``, and every name a docstring
puts in double backticks (``name`` or ``a.b``) must exist: a parameter or a
name the docstring documents, an attribute of the class, a name of a public
fastbp module, a module path (``numpy.savez``), or a builtin.

Prints one line per problem; exits 1 when there is any.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from typing import Any

from numpydoc.docscrape import NumpyDocString
from numpydoc.validate import validate

#: numpydoc's checks: no docstring, sections unknown or out of order,
#: parameters missing, unknown, out of order or without a type, no Returns
#: section for a function that returns a value.
CHECKS = {"GL06", "GL07", "GL08", "PR01", "PR02", "PR03", "PR04", "RT01"}

#: Modules whose public names a docstring may cite by their short name.
PUBLIC_MODULES = (
    "fastbp",
    "fastbp.datasets",
    "fastbp.backends",
    "fastbp.backends.base",
    "fastbp.spec",
    "fastbp.sklearn",
    "fastbp.errors",
    "fastbp.loop",
)
#: How docstrings spell some modules.
MODULE_ALIASES = {"np": "numpy"}

_CITED = re.compile(r"``([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(\))?``")


def surface() -> Iterator[Any]:
    """Every public object whose docstring is checked (classes, then their members)."""
    import fastbp
    import fastbp.backends.base
    import fastbp.cli
    import fastbp.loop
    import fastbp.sklearn
    import fastbp.spec

    roots: list[Any] = [getattr(fastbp, n) for n in fastbp.__all__ if n != "datasets"]
    roots += [getattr(fastbp.datasets, n) for n in fastbp.datasets.__all__]
    roots += [getattr(fastbp.backends, n) for n in fastbp.backends.__all__]
    roots += [getattr(fastbp.sklearn, n) for n in fastbp.sklearn.__all__]
    roots += [fastbp.backends.base.Params, fastbp.spec.NetworkSpec, fastbp.spec.network_spec, fastbp.loop.Run]
    roots.append(fastbp.cli.main)
    seen: set[int] = set()
    for obj in roots:
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
            continue  # constants (ACTIVATIONS, ...)
        seen.add(id(obj))
        yield obj
        if inspect.isclass(obj):
            for owner in obj.__mro__:
                if not owner.__module__.startswith("fastbp"):
                    continue
                for name, member in vars(owner).items():
                    if name.startswith("_") or id(member) in seen:
                        continue
                    if isinstance(member, (property, classmethod, staticmethod)) or inspect.isfunction(member):
                        seen.add(id(member))
                        yield (owner, name)


def qualified(item: Any) -> tuple[str, Any, type | None]:
    """(dotted name numpydoc loads, the object, its class or None)."""
    if isinstance(item, tuple):
        owner, name = item
        return f"{owner.__module__}.{owner.__qualname__}.{name}", getattr(owner, name), owner
    return f"{item.__module__}.{item.__qualname__}", item, None


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module or an attribute of one."""
    parts = dotted.split(".")
    parts[0] = MODULE_ALIASES.get(parts[0], parts[0])
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return False
        return True
    return False


def cited_problems(name: str, obj: Any, owner: type | None) -> list[str]:
    """The names in double backticks of ``obj``'s docstring that exist nowhere."""
    doc = inspect.getdoc(obj) or ""
    parsed = NumpyDocString(doc)
    known = {p.name.lstrip("*") for sec in ("Parameters", "Other Parameters", "Attributes") for p in parsed[sec]}
    known |= {p.name for sec in ("Returns", "Yields") for p in parsed[sec]}
    try:
        target = obj.fget if isinstance(obj, property) else obj
        known |= set(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        pass
    classes = [c for c in (owner, obj if inspect.isclass(obj) else None) if c is not None]
    for cls in classes:
        if dataclasses.is_dataclass(cls):
            known |= {f.name for f in dataclasses.fields(cls)}
        known |= set(getattr(cls, "__slots__", ()))
    problems = []
    for dotted in sorted(set(_CITED.findall(doc))):
        first = dotted.split(".")[0]
        if first in known or any(hasattr(c, first) for c in classes) or hasattr(builtins, first):
            continue
        if any(resolves(f"{m}.{dotted}") for m in PUBLIC_MODULES) or resolves(dotted):
            continue
        problems.append(f"{name}: cites ``{dotted}``, which names nothing a user can find")
    return problems


def main() -> int:
    problems = []
    for item in surface():
        name, obj, owner = qualified(item)
        for code, message in validate(name)["errors"]:
            if code in CHECKS:
                problems.append(f"{name}: {code} {message}")
        problems += cited_problems(name, obj, owner)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} docstring problems (scripts/check_docstrings.py)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
