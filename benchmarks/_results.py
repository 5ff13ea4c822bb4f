"""Results files of the benchmarks: the machine they ran on, and tables.

Every benchmark leaves a JSON results file in ``benchmarks/results`` (or
``--out``): the pytest-benchmark suite its ``--benchmark-json`` run (with
``machine_info()`` under ``machine_info["fastbp"]``), the interleaved scripts a
table written by ``write_table``::

    {"format": "fastbp-table", "version": 1, "name": ..., "title": ...,
     "columns": [...], "rows": [[...], ...], "command": ..., "date": ...,
     "commit": ..., "machine": machine_info(), "notes": [...]}

named ``<name>-<machine>-<date>.json`` (``machine_tag()``: the CPU or GPU and
its cores). ``python -m benchmarks.report`` renders these files into
docs/performance.md; nothing is copied by hand. A script takes ``--out`` and
``--note`` (``add_arguments``, then ``parse_args``) and ends with ``publish``:
the table printed as markdown, then written.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastbp.backends import backend_names, get_backend, unavailable_reason

RESULTS = Path(__file__).resolve().parent / "results"
TABLE_FORMAT = "fastbp-table"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return ",".join(x for x in ("avx2", "fma", "avx512f") if x in flags)
    except OSError:
        pass
    return ""


def _blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy, or a layout change: not worth failing a run
        return "unknown"


def _nvidia_smi() -> dict:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    lines = [l.strip() for l in out.stdout.splitlines() if l.strip()]
    if out.returncode != 0 or not lines:
        return {}
    name, driver, mem = (part.strip() for part in [*lines[0].split(","), "", "", ""][:3])
    return {"gpu": name, "driver": driver, "gpu_memory": mem, "gpu_count": len(lines)}


def machine_info() -> dict:
    """CPU, cores, BLAS, thread settings, and every usable backend's info()
    (the cuda backend's names the GPU, its driver and CuPy's version)."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count()
    info = {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas(),
        "env": {
            k: os.environ[k]
            for k in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
                "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS",
                "CUDA_VISIBLE_DEVICES",
            )
            if k in os.environ
        },
        "backends": {},
    }
    if hasattr(os, "getloadavg"):  # other work on the machine skews timings: say how busy it was (at save time)
        info["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:  # Linux pressure stall information: % of time runnable tasks waited for a CPU
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            info["cpu_pressure"] = f.readline().strip()
    except OSError:
        pass
    for name in backend_names():
        why = unavailable_reason(name)
        if why is None:
            try:
                info["backends"][name] = {k: str(v) for k, v in get_backend(name).info().items()}
            except Exception as exc:  # info() must never sink a run
                info["backends"][name] = {"error": repr(exc)}
        else:
            info["backends"][name] = {"unavailable": why}
    smi = _nvidia_smi()
    if smi:
        info["nvidia_smi"] = smi
    try:
        import torch

        info["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    except ImportError:
        pass
    return info


def machine_tag(info: dict | None = None) -> str:
    """A short file-name tag of the machine: ``cpu-AMD-EPYC-2cores``, or
    ``gpu-H100`` when a GPU was used."""
    info = machine_info() if info is None else info
    cuda = info.get("backends", {}).get("cuda", {})
    gpu = info.get("nvidia_smi", {}).get("gpu") or cuda.get("gpu")
    if gpu:
        words = [w for w in re.split(r"[^A-Za-z0-9]+", gpu) if w and w not in ("NVIDIA", "GeForce")]
        return "gpu-" + "-".join(words[:2])
    words = [w for w in re.split(r"[^A-Za-z0-9]+", info["cpu_model"]) if w and not w.isdigit()]
    return "cpu-" + "-".join(words[:2]) + f"-{info['usable_cpus']}cores"


def commit() -> str | None:
    """The source checkout's commit, with " (with uncommitted changes)" when
    its tracked files differ from it; None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=20)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip()[:12] + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def write_table(
    name: str,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    out: str | os.PathLike | None = None,
    notes: Sequence[str] = (),
    command: str | None = None,
) -> Path:
    """Writes a table results file (see the module docstring) into ``out``
    (default ``benchmarks/results``) and returns its path. ``command``
    defaults to this process's command line."""
    info = machine_info()
    today = datetime.date.today().isoformat()
    folder = Path(RESULTS if out is None else out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{machine_tag(info)}-{today}.json"
    doc = {
        "format": TABLE_FORMAT,
        "version": 1,
        "name": name,
        "title": title,
        "columns": list(columns),
        "rows": [[_plain(v) for v in row] for row in rows],
        "command": command if command is not None else "python " + " ".join(sys.argv),
        "date": today,
        "commit": commit(),
        "machine": info,
        "notes": list(notes),
    }
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def _plain(v: Any) -> Any:
    """JSON-ready value: NumPy scalars as Python numbers."""
    return v.item() if isinstance(v, np.generic) else v


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """``--out DIR`` and ``--note TEXT`` (repeatable), for ``publish``."""
    ap.add_argument("--out", default=str(RESULTS), help="folder for the results file (default benchmarks/results)")
    ap.add_argument("--note", action="append", default=[], help="a note saved with the results (repeatable)")


def parse_args(ap: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``ap.parse_args(argv)`` with ``command``: the command line of the run,
    ``ap.prog`` (a script's is ``python -m benchmarks.NAME``) and its
    arguments without ``--out`` and ``--note``, which say where the results go
    and what else was true, not what ran."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--out", "--note"):
            skip = True
        elif not a.startswith(("--out=", "--note=")):
            kept.append(a)
    args.command = " ".join([ap.prog, shlex.join(kept)]).strip()
    return args


def publish(
    args: argparse.Namespace,
    name: str,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    notes: Sequence[str] = (),
) -> Path:
    """Prints the table as markdown and writes its results file into
    ``args.out`` (``parse_args``'s) with its command, ``notes`` and the
    ``--note`` texts; returns the path."""
    print(f"\n{title}\n\n{markdown(columns, rows)}")
    path = write_table(name, title, columns, rows, out=args.out, notes=[*notes, *args.note], command=args.command)
    print(f"\nresults: {path}")
    return path


def cell(v: Any) -> str:
    """A table cell: numbers to 4 significant digits (thousands separated),
    None empty, text as is ('|' escaped)."""
    v = _plain(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]], left: int | None = None) -> str:
    """A markdown table of formatted cells. The first ``left`` columns are
    left-aligned, the others right-aligned; by default the columns holding
    text only are left-aligned."""

    def aligned_left(i: int) -> bool:
        if left is not None:
            return i < left
        values = [_plain(row[i]) for row in rows if row[i] is not None]
        return bool(values) and all(isinstance(v, (str, bool)) for v in values)

    lines = [
        "| " + " | ".join(str(c) for c in columns) + " |",
        "|" + "|".join("---" if aligned_left(i) else "--:" for i in range(len(columns))) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
