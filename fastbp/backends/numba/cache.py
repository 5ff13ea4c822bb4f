"""Where the numba backend keeps its compiled kernels, and whether they are there.

Each compiled entry point (``compiled``) caches its machine code with Numba's
on-disk cache, in fastbp's user cache folder (``fastbp.paths.cache_dir("numba")``,
``~/.cache/fastbp/numba`` on Linux; ``$FASTBP_CACHE_DIR`` moves it, and
``$NUMBA_CACHE_DIR``, Numba's own setting, takes precedence when set), never
beside the installed package, so a read-only installation caches too. Three
things differ from Numba's default cache:

- the entries of a function are fresh only for the exact sources of this
  package (``package_stamp``: a hash of every module of
  ``fastbp/backends/numba``), since a compiled kernel holds the code of the
  functions and intrinsics it inlines from every module, while Numba's own
  stamp covers the defining file only;
- an entry that cannot be read (a corrupt or truncated index or data file)
  counts as absent: the kernel is compiled again and the entry rewritten,
  never an error;
- ``holds`` says whether the cache holds a kernel for given arguments
  without loading it (the training loop's compile note).
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from pathlib import Path

from numba import njit
from numba.core import caching, config
from numba.core.runtime import rtsys

from ...paths import cache_dir, replace_file
from . import inlining

#: the package whose sources a cached kernel depends on
_PACKAGE = Path(__file__).resolve().parent


@functools.cache
def package_stamp() -> str:
    """A hash of the sources of every module of this package (the kernels'
    freshness: any change to any of them makes every entry stale)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def folder() -> Path:
    """The folder of the compiled kernels: ``$NUMBA_CACHE_DIR`` when set,
    else fastbp's user cache folder's ``numba``."""
    numba_dir = config.CACHE_DIR  # type: ignore[attr-defined]
    return Path(numba_dir) if numba_dir else cache_dir("numba")


class _Locator(caching._CacheLocator):
    """Numba's cache locator for fastbp's kernels: ``folder()``, a subfolder
    per installed copy of the package (by its path, as Numba names its own),
    the package's stamp."""

    def __init__(self, py_func, py_file):
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(folder() / self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return package_stamp()

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:  # no writable cache folder: the kernels compile in each process
            return None
        return self


class _Impl(caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]  # noqa: RUF012 (Numba's attribute)


class _CacheFile(caching.IndexDataCacheFile):
    """An index and data files where an unreadable file counts as absent."""

    def _load_index(self):
        try:
            return super()._load_index()
        except Exception:  # a corrupt or truncated index: no entries (the next save rewrites it)
            return {}


class _Cache(caching.FunctionCache):
    """Numba's cache of one function's compiled versions, in ``folder()``;
    an entry that cannot be loaded is compiled again."""

    _impl_class = _Impl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _CacheFile(
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=self._impl.locator.get_source_stamp(),
        )

    def load_overload(self, sig, target_context):
        """The cached compile result for ``sig``, or None. Numba's own
        ``load_overload`` first installs every implementation Numba has
        into the target context (0.4 s of CPU, the bulk of a warm first
        call); a loaded kernel needs only Numba's runtime (what it
        allocates with), and a compile installs the rest itself."""
        rtsys.initialize(target_context)
        try:
            return self._load_overload(sig, target_context)
        except Exception:  # a corrupt data file: compiled again, and saved over it
            return None


def saves(fn) -> bool:
    """Whether the compiled entry point ``fn`` saves its compiled versions
    in ``folder()`` (False when no cache folder could be made)."""
    return isinstance(fn._cache, _Cache)


def compiled(**options):
    """``@njit`` for the backend's compiled entry points (the functions
    Python calls), with ``options`` (``codegen.EXACT``), cached in
    ``folder()``, inlining as ``inlining.faster`` does."""

    def wrap(fn):
        dispatcher = inlining.faster(njit(**options)(fn))
        try:
            dispatcher._cache = _Cache(dispatcher.py_func)
        except RuntimeError as exc:  # no cache folder could be made: compiled in each process
            warnings.warn(f"fastbp's numba kernels are not cached: {exc}", RuntimeWarning, stacklevel=2)
        return dispatcher

    return wrap


def holds(dispatcher, args) -> bool:
    """Whether ``dispatcher`` is compiled in this process for ``args`` or
    the cache holds a fresh entry for them (without loading it)."""
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    if sig in dispatcher.overloads:
        return True
    cache = dispatcher._cache
    if not isinstance(cache, _Cache):
        return False
    key = cache._index_key(sig, dispatcher.targetctx.codegen())
    return key in cache._cache_file._load_index()


def _compile_seconds_file() -> Path:
    return folder() / f"compile-seconds-{package_stamp()[:16]}.txt"


#: the longest compile (or cache load) of a kernel measured in this process, seconds
_longest = [0.0]


@functools.cache
def _recorded_compile_seconds() -> float:
    try:
        return float(_compile_seconds_file().read_text(encoding="ascii"))
    except (OSError, ValueError):
        return 0.0


def compile_seconds() -> float:
    """What compiling a kernel costs on this machine: the longest compile
    measured in this process or recorded by an earlier one for these sources
    (``record_compile``), so that a process whose kernels load from the
    cache still knows what a missing one would cost."""
    return max(_longest[0], _recorded_compile_seconds())


def record_compile(seconds: float) -> None:
    """Counts ``seconds``, a compile (or cache load) measured here, and keeps
    it on disk when it is the longest recorded for these sources (a lost race
    between two processes keeps one of their figures: an estimate either way)."""
    _longest[0] = max(_longest[0], seconds)
    if seconds <= _recorded_compile_seconds():
        return
    try:
        replace_file(str(_compile_seconds_file()), lambda f: f.write(f"{seconds:.3f}".encode("ascii")))
    except OSError:  # no writable cache folder: nothing to keep
        return
    _recorded_compile_seconds.cache_clear()
