"""Lint of fastbp's public docstrings (run by ``bash scripts/dev.sh test``).

Every public function, class, method and property of the public surface
(``fastbp.__all__``, ``fastbp.datasets.__all__``, ``fastbp.backends.__all__``,
``fastbp.sklearn.__all__``, the ``Backend`` contract and ``Params``,
``fastbp.spec``, ``fastbp.loop.Run``, the types of the results' fields,
``fastbp.cli.main``, ``fastbp.paths.cache_dir``) is checked with numpydoc's validator for the checks in
``CHECKS`` (a class may document its constructor's arguments as Parameters
or, a result's fields, as Attributes), and every name a docstring puts in double backticks (``name`` or ``a.b``)
must exist: a parameter or a name the docstring documents, a parameter or a
documented attribute of the class, a name of a public fastbp module, a
module path (``numpy.savez``), a builtin, or a constructor parameter of the
scikit-learn classes the estimators' docstrings compare with.

Prints one line per problem; exits 1 when there is any.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
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
#: scikit-learn classes whose names and constructor parameters the
#: estimators' docstrings cite (``learning_rate_init``, ``max_iter``).
COMPARED = ("sklearn.model_selection.GridSearchCV", "sklearn.neural_network.MLPClassifier")

_CITED = re.compile(r"``([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(\))?``")


def surface() -> Iterator[Any]:
    """Every public object whose docstring is checked (classes, then their members)."""
    import fastbp
    import fastbp.backends.base
    import fastbp.cli
    import fastbp.loop
    import fastbp.paths
    import fastbp.sklearn
    import fastbp.spec
    import fastbp.training

    roots: list[Any] = [getattr(fastbp, n) for n in fastbp.__all__ if n != "datasets"]
    roots += [getattr(fastbp.datasets, n) for n in fastbp.datasets.__all__]
    roots += [getattr(fastbp.backends, n) for n in fastbp.backends.__all__]
    roots += [getattr(fastbp.sklearn, n) for n in fastbp.sklearn.__all__]
    roots += [fastbp.backends.base.Params, fastbp.spec.NetworkSpec, fastbp.spec.network_spec, fastbp.loop.Run]
    roots += [fastbp.training.Evaluation, fastbp.training.Diagnosis]  # the types of result fields
    roots += [fastbp.cli.main, fastbp.paths.cache_dir]
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
                    if isinstance(member, (property, functools.cached_property, classmethod, staticmethod)) or (
                        inspect.isfunction(member)
                    ):
                        seen.add(id(member))
                        yield (obj, name)


def qualified(item: Any) -> tuple[str, Any, type | None]:
    """(dotted name numpydoc loads, the object, the class it is checked on or None)."""
    if isinstance(item, tuple):
        cls, name = item
        return f"{cls.__module__}.{cls.__qualname__}.{name}", inspect.getattr_static(cls, name), cls
    return f"{item.__module__}.{item.__qualname__}", item, None


def documented(obj: Any, sections: tuple[str, ...]) -> set[str]:
    """The names ``obj``'s docstring documents in ``sections`` (``X, y : ...`` is two)."""
    parsed = NumpyDocString(inspect.getdoc(obj) or "")
    return {n.strip().lstrip("*") for sec in sections for p in parsed[sec] for n in p.name.split(",")}


def parameters(obj: Any) -> set[str]:
    """The names of ``obj``'s parameters (a class: its constructor's), without ``self``."""
    target = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    try:
        return set(inspect.signature(target).parameters) - {"self", "cls"}
    except (TypeError, ValueError):
        return set()


def class_problems(name: str, cls: type) -> list[str]:
    """PR01 for a class: a constructor parameter documented neither as a
    parameter nor as an attribute."""
    missing = parameters(cls) - documented(cls, ("Parameters", "Other Parameters", "Attributes"))
    missing -= {"args", "kwargs"}
    return [f"{name}: PR01 Parameters {sorted(missing)} not documented"] if missing else []


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
    sections = ("Parameters", "Other Parameters", "Attributes", "Returns", "Yields")
    known = documented(obj, sections) | parameters(obj)
    classes = [c for c in (owner, obj if inspect.isclass(obj) else None) if c is not None]
    for cls in classes:
        known |= documented(cls, sections) | parameters(cls)
        if dataclasses.is_dataclass(cls):
            known |= {f.name for f in dataclasses.fields(cls)}
        known |= set(getattr(cls, "__slots__", ()))
    for dotted in COMPARED:
        module, _, cls_name = dotted.rpartition(".")
        known.add(cls_name)
        known |= parameters(getattr(importlib.import_module(module), cls_name))
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
            if code in CHECKS and not (code == "PR01" and inspect.isclass(obj)):
                problems.append(f"{name}: {code} {message}")
        if inspect.isclass(obj):
            problems += class_problems(name, obj)
        problems += cited_problems(name, obj, owner)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} docstring problems (scripts/check_docstrings.py)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
