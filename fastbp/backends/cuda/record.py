"""This machine's record of the cuda kernel decisions: one JSON file in the
user's cache folder, read and written without CuPy or a GPU.

The tuner (``tune``) decides, for a workload on a GPU, which training kernel
trains it and how fast numba trains it on this machine's cores; the decision
is kept here so that it is made once per machine and workload. "auto" reads
the file (``evidence``) to choose between cuda and numba; ``fastbp info``
lists it (``entries``).

The file is ``cache_dir("cuda")/decisions-<machine>.json`` (one file per
machine, so that machines sharing a home folder keep their own). Its
entries are keyed by ``Key.text()``: the GPU (name, compute capability,
driver and runtime versions), the hash of the kernels' source, and the
workload (widths with bias units, dtype, units, a range of network counts).
Writes are atomic (a temporary file and ``os.replace``) and merge under a
lock file: two processes deciding at once both keep their entries. A file
that cannot be read, or that another fastbp version wrote, is ignored with
one warning per process and replaced by the next write.
"""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ...paths import cache_dir

#: Version of the file's layout (with fastbp's version: a file of another is ignored).
FORMAT = 1
#: A lock file older than this is left over by a process that died while
#: holding it (holding it takes milliseconds: a read, a merge, a write).
STALE_LOCK_S = 30.0
#: How long a writer waits for the lock before it gives up (and says so).
LOCK_WAIT_S = 20.0

_warned: set[str] = set()


def machine() -> str:
    """This machine's name as it appears in the file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", platform.node()).strip("-.") or "this-machine"


def path() -> Path:
    """The file of this machine's decisions (it may not exist)."""
    return cache_dir("cuda") / f"decisions-{machine()}.json"


def k_range(K: int) -> tuple[int, int]:
    """The range of network counts one decision covers: powers of two, [2^i, 2^(i+1) - 1]."""
    lo = 1 << (max(1, int(K)).bit_length() - 1)
    return lo, 2 * lo - 1


@dataclass(frozen=True)
class Workload:
    """What a decision is about, apart from the GPU: widths with bias units
    (``d[l] = layers[l] + 1``, ``d[L] = layers[-1]``), dtype name, (hidden,
    output) units, and the range of network counts."""

    dims: tuple[int, ...]
    dtype: str
    units: tuple[str, str]
    k_range: tuple[int, int]

    @classmethod
    def of(cls, dims: Sequence[int], dtype: Any, units: Sequence[str], K: int) -> Workload:
        import numpy as np

        return cls(tuple(int(x) for x in dims), np.dtype(dtype).name, (str(units[0]), str(units[1])), k_range(K))

    def describe(self) -> str:
        lo, hi = self.k_range
        nets = f"{lo} network" if lo == hi == 1 else f"{lo}-{hi} networks"
        return f"{'-'.join(map(str, self.dims))} {self.dtype} {self.units[0]}/{self.units[1]}, {nets}"


@dataclass(frozen=True)
class Key:
    """A decision's key: the GPU, the kernels' source, the workload."""

    gpu: str
    cc: str
    driver: str
    runtime: str
    source: str
    workload: Workload

    def text(self) -> str:
        w = self.workload
        return "|".join(
            [
                self.gpu,
                f"cc {self.cc}",
                f"driver {self.driver}",
                f"runtime {self.runtime}",
                f"source {self.source}",
                "-".join(map(str, w.dims)),
                w.dtype,
                "/".join(w.units),
                f"K {w.k_range[0]}-{w.k_range[1]}",
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["workload"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["workload"].items()}
        return d


def _version() -> str:
    from ... import __version__

    return __version__


def _warn_once(file: Path, why: str) -> None:
    if str(file) in _warned:
        return
    _warned.add(str(file))
    warnings.warn(
        f"fastbp ignores its record of cuda kernel decisions {file} ({why}); the GPU is measured again "
        "where needed and the file rewritten",
        RuntimeWarning,
        stacklevel=3,
    )


def _read(file: Path) -> dict[str, dict]:
    """The entries of ``file``: empty when it is missing; empty, with one
    warning, when it is corrupt or another fastbp version wrote it."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        _warn_once(file, f"it cannot be read: {exc}")
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        _warn_once(file, f"it is not valid JSON: {exc}")
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        _warn_once(file, "it is not a fastbp decisions file")
        return {}
    if data.get("format") != FORMAT or data.get("fastbp") != _version():
        _warn_once(file, f"fastbp {data.get('fastbp')} wrote it, this is fastbp {_version()}")
        return {}
    return {k: v for k, v in data["entries"].items() if isinstance(v, dict)}


def entries() -> dict[str, dict]:
    """Every decision recorded on this machine, by key text."""
    return _read(path())


def lookup(key: Key) -> dict | None:
    """The recorded decision for ``key``, or None."""
    return entries().get(key.text())


@contextmanager
def _locked(file: Path) -> Iterator[None]:
    lock = file.with_name(file.name + ".lock")
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
                    lock.unlink()
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the lock {lock} has been held for more than {LOCK_WAIT_S:g} s; remove it if no fastbp runs"
                ) from None
            time.sleep(0.01)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        with suppress(FileNotFoundError):
            lock.unlink()


def _update(change: Callable[[dict[str, Any]], None]) -> None:
    """Re-reads the file under the lock, applies ``change(entries)`` and
    replaces the file atomically."""
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    with _locked(file):
        current = _read(file)
        change(current)
        data = {"fastbp": _version(), "format": FORMAT, "machine": machine(), "entries": current}
        fd, tmp = tempfile.mkstemp(prefix=file.name + ".", suffix=".tmp", dir=file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, file)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def store(key: Key, entry: dict) -> None:
    """Records ``entry`` (JSON-able) as the decision for ``key``; the
    entries other processes wrote meanwhile are kept."""
    entry = dict(entry, key=key.as_dict())

    def change(current: dict[str, dict]) -> None:
        current[key.text()] = entry

    _update(change)


def forget(workload: Workload) -> int:
    """Removes this machine's decisions for ``workload`` (any GPU); returns how many."""
    removed = []

    def change(current: dict[str, dict]) -> None:
        for k in [k for k, e in current.items() if workload_of(e) == workload]:
            removed.append(current.pop(k))

    _update(change)
    return len(removed)


def workload_of(entry: dict) -> Workload | None:
    """The workload of a recorded entry (None for a malformed one)."""
    try:
        w = entry["key"]["workload"]
        return Workload(tuple(w["dims"]), w["dtype"], tuple(w["units"]), tuple(w["k_range"]))
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Evidence:
    """What this machine's record says about a workload: the chosen kernel's
    time and numba's, in microseconds per network-sample."""

    workload: Workload
    gpu: str
    date: str
    kernel: str
    cuda_us: float | None
    numba_us: float | None

    @property
    def cuda_wins(self) -> bool:
        return self.cuda_us is not None and (self.numba_us is None or self.cuda_us < self.numba_us)

    def describe(self) -> str:
        def us(v: float | None) -> str:
            return "not timed" if v is None else f"{v:.3g} us"

        return (
            f"measured on this machine's {self.gpu} ({self.date[:10]}): {self.workload.describe()}, cuda "
            f"({self.kernel} kernel) {us(self.cuda_us)} a network-sample, numba {us(self.numba_us)}"
        )


def evidence(dims: Sequence[int], dtype: Any, units: Sequence[str], K: int) -> Evidence | None:
    """The latest decision recorded on this machine for this workload with
    the kernels' current source (any GPU of this machine), or None."""
    from .source import kernels_hash

    want = Workload.of(dims, dtype, units, K)
    source = kernels_hash()
    best = None
    for e in entries().values():
        if workload_of(e) != want or e.get("key", {}).get("source") != source:
            continue
        if best is None or str(e.get("date", "")) > str(best.get("date", "")):
            best = e
    if best is None:
        return None
    chosen = str(best.get("chosen", ""))
    timed = best.get("kernels", {}).get(chosen, {})
    numba = best.get("numba") or {}
    return Evidence(
        workload=want,
        gpu=str(best["key"].get("gpu", "GPU")),
        date=str(best.get("date", "")),
        kernel=chosen,
        cuda_us=timed.get("us_per_sample"),
        numba_us=numba.get("us_per_sample"),
    )


def report() -> list[str]:
    """This machine's decisions as text lines (``fastbp info``): per
    workload the GPU, the chosen kernel, numba's time, and every kernel's
    time or why it was refused; or how to make them, where there are none."""
    found = sorted(entries().values(), key=lambda e: str(e.get("date", "")))
    if not found:
        return [
            f"cuda kernel decisions on this machine: none yet ({path()}). The first cuda run of a workload "
            "decides; `fastbp tune --dataset digits` (or --layers 784,300,100,10 --dtype float32 --networks 8 ...) "
            "decides ahead of time and times numba beside it, which 'auto' then follows"
        ]
    lines = [f"cuda kernel decisions on this machine ({path()}):"]
    for e in found:
        k, w = e.get("key", {}), workload_of(e)
        numba = (e.get("numba") or {}).get("us_per_sample")
        lines.append(
            f"  {w.describe() if w else '?'} on {k.get('gpu')} (cc {k.get('cc')}, driver {k.get('driver')}, "
            f"{str(e.get('date', ''))[:10]}): {e.get('chosen')}; numba "
            + (f"{numba:.4g} us a network-sample" if numba is not None else "not timed")
        )
        for label, o in e.get("kernels", {}).items():
            us = o.get("us_per_sample")
            if o.get("status") != "passed":
                lines.append(f"    {label}: {o.get('status')}: {o.get('reason')}")
            else:
                lines.append(f"    {label}: passed" + (f", {us:.4g} us a network-sample" if us is not None else ""))
    return lines
