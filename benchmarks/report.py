"""docs/performance.md, written from the results files in benchmarks/results.

    python -m benchmarks.report                        # render docs/performance.md
    python -m benchmarks.report --results DIR --out FILE
    python -m benchmarks.report suite [pytest options] # run the suite, save its results file, render

Two kinds of results file are rendered (see ``_results``):

* a pytest-benchmark run (``pytest --benchmark-only --benchmark-json F``):
  one row per workload, network and dtype, one column per backend (fastbp's
  first, then the peers, marked ``peer:``), each cell the rate of the fastest
  round (samples/s, or network-samples/s for the many-networks workloads; as
  ``timeit`` advises, other load on a shared machine only slows rounds down)
  and in brackets the speed-up over the NumPy backend in the same row;
* a table written by ``_results.write_table``: its title, columns, rows and
  notes as recorded.

Each file is rendered with the machine, the command and the date it records.
Of several files with the same name and machine the newest is rendered. Files
and rows that cannot be rendered are listed at the end with the reason; the
benchmarks a suite run skipped (no GPU, no MNIST files, ...) are named under
its table with the reason it recorded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import _results

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
#: the name of the pytest-benchmark suite's results
SUITE = "suite"
#: sections first in this order (a name, or a name and its variant: units_speed-float32), then the others by name
ORDER = ("tutorial_speed", SUITE, "time_to_accuracy", "units_speed", "loss_every", "wide_threads", "thread_scaling")
#: fastbp's backends, in column order; other columns follow, peers last
BACKEND_ORDER = ("numpy", "numba", "cuda")
SECTION_ORDER = ("kernels", "end-to-end", "scaling", "many")
BASELINE = "numpy"

LEGEND = (
    "Cells: samples per second (per-sample SGD steps, or rows of a batch for the batched kernels; "
    "network-samples/s for the many-networks rows: K networks x samples) of the fastest round, and in "
    "brackets the speed-up over the NumPy backend in the same row. Columns marked `peer:` are not "
    "fastbp: the tutorial's code and the same per-sample SGD in PyTorch, on the same network, data and "
    "alpha. `-`: not measured (backend unusable on that machine, or library not installed)."
)


@dataclass
class Result:
    """One results file, read and checked."""

    path: Path
    kind: str  # "suite" or "table"
    name: str
    machine: str  # the machine's tag, e.g. cpu-AMD-EPYC-2cores
    date: str
    doc: dict
    problems: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ reading
def read(path: Path) -> Result:
    """The results file at ``path``; ValueError naming what is wrong with it."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("is not a JSON object")
    if doc.get("format") == _results.TABLE_FORMAT:
        for key in ("name", "title", "columns", "rows", "date", "machine"):
            if key not in doc:
                raise ValueError(f"is a {_results.TABLE_FORMAT} file without {key!r}")
        if not isinstance(doc["columns"], list) or not isinstance(doc["rows"], list):
            raise ValueError("has columns or rows that are not lists")
        if not isinstance(doc["machine"], dict):
            raise ValueError("has a machine that is not an object")
        return Result(Path(path), "table", str(doc["name"]), _tag(doc["machine"]), str(doc["date"])[:10], doc)
    if isinstance(doc.get("benchmarks"), list):
        info = (doc.get("machine_info") or {}).get("fastbp")
        if not isinstance(info, dict):
            raise ValueError("is a pytest-benchmark run without fastbp's machine info (benchmarks/conftest.py)")
        return Result(Path(path), "suite", SUITE, _tag(info), str(doc.get("datetime", "?"))[:10], doc)
    keys = ", ".join(sorted(doc)[:8])
    raise ValueError(f"is neither a pytest-benchmark run nor a {_results.TABLE_FORMAT} file (keys: {keys})")


def _tag(info: dict) -> str:
    try:
        return _results.machine_tag(info)
    except (KeyError, TypeError, AttributeError):
        return "unknown-machine"


def collect(folder: Path) -> tuple[list[Result], list[str]]:
    """The newest results file per name and machine in ``folder``, in report
    order, and a line for every file left out and why."""
    found, skipped = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            found.append(read(path))
        except ValueError as exc:
            skipped.append(f"`{path.name}` {exc}")
    newest: dict[tuple[str, str], Result] = {}
    for r in sorted(found, key=lambda r: (r.date, r.path.name)):
        old = newest.get((r.name, r.machine))
        if old is not None:
            skipped.append(f"`{old.path.name}`: `{r.path.name}` is newer ({r.name}, {r.machine})")
        newest[(r.name, r.machine)] = r

    def order(r: Result):
        first = next((i for i, o in enumerate(ORDER) if r.name == o or r.name.startswith(o + "-")), len(ORDER))
        return (first, r.name, r.machine.startswith("gpu"), r.machine)

    return sorted(newest.values(), key=order), skipped


# ------------------------------------------------------------ the machine
def machine_line(info: dict, python: str | None = None) -> str:
    """CPU, cores, Python, NumPy, Numba, and the GPU when there was one."""
    backends = info.get("backends") or {}
    cpu = info.get("cpu_model") or "unknown CPU"
    cores = info.get("usable_cpus") or info.get("logical_cpus")
    parts = [f"{cpu}, {cores} logical CPUs" if cores else cpu]
    if info.get("cpu_flags"):
        parts[-1] += f" ({info['cpu_flags'].replace(',', ', ')})"
    versions = [f"Python {python or info.get('python', '?')}", f"NumPy {info.get('numpy', '?')}"]
    numba = backends.get("numba") or {}
    if "numba" in numba:
        versions.append(f"Numba {numba['numba']}")
    parts.append(", ".join(versions))
    parts.append(gpu_line(info) or "no GPU")
    return "; ".join(parts)


def gpu_line(info: dict) -> str | None:
    cuda = (info.get("backends") or {}).get("cuda") or {}
    smi = info.get("nvidia_smi") or {}
    if "unavailable" in cuda:
        cuda = {}
    name = cuda.get("gpu") or smi.get("gpu")
    if not name:
        return None
    text = f"GPU {name}"
    driver = smi.get("driver") or cuda.get("driver_cuda_version")
    if driver:
        text += f", driver {driver}"
    if cuda.get("cupy"):
        text += f", CuPy {cuda['cupy']}"
    return text


def _load(info: dict) -> str | None:
    if not info.get("loadavg"):
        return None
    text = f"load average when saved {info['loadavg']}"
    if info.get("cpu_pressure"):
        text += f" (CPU pressure `{info['cpu_pressure']}`)"
    return text


def _header(r: Result, info: dict, python: str | None, command: str | None, extra: Sequence[str] = ()) -> list[str]:
    lines = [
        f"- Machine: {machine_line(info, python)}",
        f"- Command: `{command}`" if command else "- Command: not recorded in the file",
        f"- Date: {r.date}; file: [{r.path.name}](../benchmarks/results/{r.path.name})",
        *extra,
    ]
    load = _load(info)
    if load:
        lines.append(f"- {load[0].upper()}{load[1:]}")
    return lines


def _notes(notes) -> list[str]:
    if isinstance(notes, str):
        notes = [notes]
    return [f"- {n}" for n in notes or []]


# ------------------------------------------------------------------ tables
def render_table(r: Result) -> list[str]:
    doc = r.doc
    columns = [str(c) for c in doc["columns"]]
    body = []
    for i, row in enumerate(doc["rows"], 1):
        if not isinstance(row, list) or len(row) != len(columns):
            n = len(row) if isinstance(row, list) else "no list of"
            r.problems.append(f"`{r.path.name}` row {i}: {n} cells for {len(columns)} columns")
            continue
        if any(v is not None and not isinstance(v, (str, int, float)) for v in row):
            r.problems.append(f"`{r.path.name}` row {i}: a cell is neither text nor a number")
            continue
        body.append(row)
    extra = [f"- Commit: {doc['commit']}"] if doc.get("commit") else []
    out = [f"## {doc['title']}", "", *_header(r, doc["machine"], None, doc.get("command"), extra), ""]
    out += [_results.markdown(columns, body), ""]
    notes = _notes(doc.get("notes"))
    if notes:
        out += [*notes, ""]
    return out


# ------------------------------------------------- the pytest-benchmark suite
@dataclass
class Record:
    """One benchmark of a suite run, reduced to what the report shows."""

    workload: str
    section: str
    column: str
    dtype: str
    layers: str
    unit: str
    samples: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def row(self) -> tuple[str, str, str]:
        return (self.workload, self.layers, self.dtype)


def _record(b: dict) -> Record | None:
    """One benchmark of a run as a Record; None without fastbp's extra_info."""
    info = b.get("extra_info") or {}
    stats = b.get("stats") or {}
    if "workload" not in info or "samples" not in info or "min" not in stats:
        return None
    column = str(info.get("backend", b.get("param", "?")))
    return Record(
        workload=str(info["workload"]),
        section=str(info.get("section", "")),
        column=f"peer: {column}" if info.get("peer") else column,
        dtype=str(info.get("dtype", "")),
        layers=str(info.get("layers", "")),
        unit=str(info.get("unit", "samples/s")),
        samples=float(info["samples"]),
        seconds=float(stats["min"]),
    )


def records(run: dict) -> list[Record]:
    """The run's benchmarks that carry fastbp's extra_info (others are left out)."""
    return [r for r in map(_record, run["benchmarks"]) if r is not None]


def _first_seen(items: Iterable) -> list:
    return list(dict.fromkeys(items))


def suite_columns(recs: Sequence[Record]) -> list[str]:
    """fastbp's backends (known order first), then the peers."""
    labels = _first_seen(r.column for r in recs)
    own = [c for c in labels if not c.startswith("peer: ")]
    own.sort(key=lambda c: BACKEND_ORDER.index(c) if c in BACKEND_ORDER else len(BACKEND_ORDER))
    return own + [c for c in labels if c.startswith("peer: ")]


def suite_rows(recs: Sequence[Record]) -> list[tuple[str, str, str]]:
    """Row keys (workload, layers, dtype) in section order, float64 first."""
    section = {r.row: r.section for r in recs}
    first = {w: i for i, w in enumerate(_first_seen(r.workload for r in recs))}

    def order(k):
        s = section[k]
        return (SECTION_ORDER.index(s) if s in SECTION_ORDER else len(SECTION_ORDER), first[k[0]], k[2] != "float64")

    return sorted(_first_seen(r.row for r in recs), key=order)


def human(x: float) -> str:
    """3 significant digits with k/M/G: 13.4 k, 2.24 M."""
    if not math.isfinite(x):
        return "n/a"
    x = float(f"{x:.3g}")  # round first: 999,999 is "1 M", not "1e+03 k"
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def speedup(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.0f}x" if x >= 9.95 else f"{x:.1f}x" if x >= 0.995 else f"{x:.2f}x"


def rate_table(recs: Sequence[Record]) -> str:
    """Markdown: rows = workloads, columns = backends, cells = rate (speed-up over NumPy)."""
    cols = suite_columns(recs)
    grid = {(r.row, r.column): r for r in recs}
    body = []
    for key in suite_rows(recs):
        base = grid.get((key, BASELINE))
        cells = []
        for c in cols:
            r = grid.get((key, c))
            text = "-" if r is None else human(r.rate)
            if r is not None and base is not None and c != BASELINE:
                text += f" ({speedup(r.rate / base.rate)})"
            cells.append(text)
        unit = next(r.unit for r in recs if r.row == key)
        name = key[0] if unit == "samples/s" else f"{key[0]} ({unit})"
        body.append([name, key[1], key[2], *cells])
    return _results.markdown(["workload", "network", "dtype", *cols], body, left=3)


def render_suite(r: Result) -> list[str]:
    run = r.doc
    info = run["machine_info"]["fastbp"]
    recs = records(run)
    ignored = [str(b.get("name", "?")) for b in run["benchmarks"] if _record(b) is None]
    if ignored:
        r.problems.append(
            f"`{r.path.name}`: {len(ignored)} benchmarks without the workload, samples and fastest round the "
            f"table needs: {', '.join(ignored)}"
        )
    commit = run.get("commit_info") or {}
    extra = []
    if commit.get("id") and commit["id"] != "unknown":
        dirty = " (with uncommitted changes)" if commit.get("dirty") else ""
        extra.append(f"- Commit: {commit['id'][:12]}{dirty}")
    out = [f"## The benchmark suite ({r.machine})", ""]
    out += [*_header(r, info, run["machine_info"].get("python_version"), info.get("command"), extra), ""]
    if recs:
        out += [rate_table(recs), "", LEGEND, ""]
    else:
        r.problems.append(f"`{r.path.name}`: no fastbp benchmarks in the run")
    out += _not_measured(run.get("skipped") or [])
    notes = _notes(run.get("notes"))
    if notes:
        out += [*notes, ""]
    return out


def _not_measured(skipped: Sequence[dict]) -> list[str]:
    """The benchmarks a suite run skipped (the rows it has not), by reason."""
    by_reason: dict[str, list[str]] = {}
    for s in skipped:
        by_reason.setdefault(str(s.get("reason", "no reason given")), []).append(
            str(s.get("name", "?")).split("::")[-1]
        )
    if not by_reason:
        return []
    lines = ["Not measured in this run:", ""]
    for reason, names in by_reason.items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        lines.append(f"- {reason}: {len(names)} benchmark{'s' if len(names) > 1 else ''} ({shown})")
    return [*lines, ""]


# ------------------------------------------------------------------ document
def render(folder: Path) -> str:
    """The whole of docs/performance.md from the results files in ``folder``."""
    results, skipped = collect(folder)
    out = [
        "# Performance",
        "",
        "Written by `python -m benchmarks.report` from the results files in benchmarks/results; do not edit by "
        "hand. Each section is one file: what ran (the command), where (the machine) and when (the date), as the "
        "file records them. Timings of the interleaved scripts are medians over rounds that time every workload "
        "once each, one after the other, so that all see the same load; benchmarks/README.md describes each "
        "benchmark.",
        "",
    ]
    for r in results:
        out += render_suite(r) if r.kind == "suite" else render_table(r)
    problems = [p for r in results for p in r.problems] + skipped
    if problems:
        out += ["## Not rendered", "", *[f"- {p}" for p in problems], ""]
    return "\n".join(out)


def write(folder: Path = _results.RESULTS, doc: Path = DOC) -> Path:
    doc = Path(doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(Path(folder)), encoding="utf-8")
    return doc


def run_suite(pytest_args: Sequence[str], notes: Sequence[str] = (), folder: Path = _results.RESULTS) -> Path:
    """``pytest --benchmark-only`` of benchmarks/, saved as
    ``<folder>/suite-<machine>-<date>.json`` (with ``notes``); returns its path."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{SUITE}-{_results.machine_tag()}-{datetime.date.today().isoformat()}.json"
    try:
        shown = path.relative_to(ROOT)
    except ValueError:
        shown = path
    cmd = [sys.executable, "-m", "pytest", "--benchmark-only", f"--benchmark-json={shown}", *pytest_args]
    print("$ " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT)
    if rc != 0 or not path.exists():
        raise SystemExit(f"the benchmark run failed (pytest exit status {rc})")
    if notes:
        run = json.loads(path.read_text(encoding="utf-8"))
        run["notes"] = list(notes)
        path.write_text(json.dumps(run, indent=4) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [SUITE]:
        ap = argparse.ArgumentParser(
            prog="python -m benchmarks.report suite",
            description="Run the benchmark suite (pytest --benchmark-only), save its results file, render the report.",
        )
        ap.add_argument("--note", action="append", default=[], help="a note saved with the results (repeatable)")
        args, pytest_args = ap.parse_known_args(argv[1:])
        print(f"results: {run_suite(pytest_args, args.note)}")
        print(f"report: {write()}")
        return
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=_results.RESULTS, help="folder of results files")
    ap.add_argument("--out", type=Path, default=DOC, help="the document to write (default docs/performance.md)")
    args = ap.parse_args(argv)
    print(f"report: {write(args.results, args.out)}")


if __name__ == "__main__":
    main()
