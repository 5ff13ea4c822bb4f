"""Benchmark reports: a saved ``pytest --benchmark-json`` run as a markdown
table and a bar chart, and the ``fastbp bench`` command.

    fastbp bench run                          # the suite, then its report, in benchmarks/results/
    fastbp bench report RUN.json --out DIR    # DIR/RUN.md (table) and DIR/RUN.png (chart)

The table has one row per workload and dtype and one column per backend
(fastbp's backends first, then the peers, marked "peer:"); a cell is the rate
(samples/s, or network-samples/s for the many-networks workloads) and the
speed-up over the NumPy backend in the same row. Rates come from each
benchmark's ``extra_info["samples"]`` (per call) and the chosen statistic of
its rounds: by default the fastest round, as ``timeit`` advises (other load on
the machine only ever slows a round down); ``--stat median`` for the typical one. The chart shows the same rates on a log scale.

Only the standard library is needed for the table; the chart needs matplotlib.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: fastbp's backends, in column order; other columns follow, peers last.
BACKEND_ORDER = ("numpy", "numba", "cuda")
SECTION_ORDER = ("kernels", "end-to-end", "scaling", "many")
BASELINE = "numpy"
STATS = ("min", "median", "mean")


@dataclass
class Record:
    """One benchmark of a run, reduced to what the report shows."""

    workload: str
    section: str
    column: str
    peer: bool
    dtype: str
    layers: str
    unit: str
    samples: float
    flops: float
    seconds: float
    rounds: int
    name: str

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9 if self.seconds > 0 else float("nan")

    @property
    def label(self) -> str:
        """The report's column header."""
        return f"peer: {self.column}" if self.peer else self.column

    @property
    def row(self) -> tuple:
        return (self.workload, self.layers, self.dtype)


# ------------------------------------------------------------------ reading
def load_run(path) -> dict:
    """A saved ``--benchmark-json`` run, checked to be one."""
    path = Path(path)
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OSError(f"no benchmark run at {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a JSON file: {exc}") from None
    if not isinstance(run, dict) or not isinstance(run.get("benchmarks"), list):
        raise ValueError(f"{path} is not a pytest-benchmark JSON run (no 'benchmarks' list)")
    return run


def records(run: dict, stat: str = "min") -> list[Record]:
    """The run's benchmarks that carry fastbp's extra_info (others are ignored)."""
    if stat not in STATS:
        raise ValueError(f"stat must be one of {', '.join(STATS)}, got {stat!r}")
    out = []
    for b in run["benchmarks"]:
        info = b.get("extra_info") or {}
        stats = b.get("stats") or {}
        if "workload" not in info or "samples" not in info or stat not in stats:
            continue
        out.append(
            Record(
                workload=str(info["workload"]),
                section=str(info.get("section", "")),
                column=str(info.get("backend", b.get("param", "?"))),
                peer=bool(info.get("peer", False)),
                dtype=str(info.get("dtype", "")),
                layers=str(info.get("layers", "")),
                unit=str(info.get("unit", "samples/s")),
                samples=float(info["samples"]),
                flops=float(info.get("flops", 0.0)),
                seconds=float(stats[stat]),
                rounds=int(stats.get("rounds", 0)),
                name=str(b.get("name", "")),
            )
        )
    return out


def _first_seen(items: Iterable) -> list:
    seen: dict = {}
    for x in items:
        seen.setdefault(x, None)
    return list(seen)


def columns(recs: Sequence[Record]) -> list[str]:
    """Column headers: fastbp's backends (known order first), then the peers."""
    labels = _first_seen(r.label for r in recs)
    peers = [l for l in labels if l.startswith("peer: ")]
    own = [l for l in labels if l not in peers]
    seen = {l: i for i, l in enumerate(own)}
    own = sorted(own, key=lambda l: (BACKEND_ORDER.index(l) if l in BACKEND_ORDER else len(BACKEND_ORDER), seen[l]))
    return own + peers


def rows(recs: Sequence[Record]) -> list[tuple]:
    """Row keys (workload, layers, dtype) in section order, float64 first."""
    keys = _first_seen(r.row for r in recs)
    section = {r.row: r.section for r in recs}
    first = {k: i for i, k in enumerate(_first_seen(r.workload for r in recs))}

    def order(k):
        s = section[k]
        return (SECTION_ORDER.index(s) if s in SECTION_ORDER else len(SECTION_ORDER), first[k[0]], k[2] != "float64")

    return sorted(keys, key=order)


# ------------------------------------------------------------------ formats
def human(x: float) -> str:
    """3 significant digits with k/M/G: 13.4 k, 2.24 M."""
    if x is None or not math.isfinite(x):
        return "n/a"
    x = float(f"{x:.3g}")  # round first: 999,999 is "1 M", not "1e+03 k"
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def _speedup(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.0f}x" if x >= 9.95 else f"{x:.1f}x" if x >= 0.995 else f"{x:.2f}x"


def _grid(recs: Sequence[Record]):
    return {(r.row, r.label): r for r in recs}


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 3 else "--:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def rate_table(recs: Sequence[Record]) -> str:
    """Markdown: rows = workloads, columns = backends, cells = rate (speed-up over NumPy)."""
    cols, grid = columns(recs), _grid(recs)
    body = []
    for key in rows(recs):
        workload, layers, dtype = key
        base = grid.get((key, BASELINE))
        cells = []
        for c in cols:
            r = grid.get((key, c))
            if r is None:
                cells.append("-")
                continue
            cell = human(r.rate)
            if base is not None and c != BASELINE:
                cell += f" ({_speedup(r.rate / base.rate)})"
            cells.append(cell)
        unit = next(r.unit for r in recs if r.row == key)
        name = workload if unit == "samples/s" else f"{workload} ({unit})"
        body.append([name, layers, dtype, *cells])
    return _md_table(["workload", "network", "dtype", *cols], body)


def gflops_table(recs: Sequence[Record]) -> str:
    """Markdown: the same grid in GFLOP/s (2 FLOPs per multiply-add)."""
    cols, grid = columns(recs), _grid(recs)
    body = []
    for key in rows(recs):
        cells = []
        for c in cols:
            r = grid.get((key, c))
            cells.append("-" if r is None else f"{r.gflops:.3g}")
        body.append([key[0], key[1], key[2], *cells])
    return _md_table(["workload", "network", "dtype", *cols], body)


def machine_line(run: dict) -> str:
    """One line naming the machine: CPU, cores, GPU and driver when present."""
    mi = run.get("machine_info") or {}
    fb = mi.get("fastbp") or {}
    cpu = fb.get("cpu_model") or (mi.get("cpu") or {}).get("brand_raw") or mi.get("processor") or "unknown CPU"
    cores = fb.get("usable_cpus") or (mi.get("cpu") or {}).get("count")
    parts = [f"{cpu}, {cores} logical CPUs" if cores else cpu]
    if fb.get("cpu_flags"):
        parts[-1] += f" ({fb['cpu_flags'].replace(',', ', ')})"
    gpu = gpu_line(run)
    parts.append(gpu if gpu else "no GPU")
    parts.append(f"{mi.get('system', '')} {mi.get('release', '')}".strip() or "unknown OS")
    parts.append(f"Python {mi.get('python_version', '?')}")
    return "; ".join(parts)


def gpu_line(run: dict) -> str | None:
    mi = run.get("machine_info") or {}
    fb = mi.get("fastbp") or {}
    cuda = (fb.get("backends") or {}).get("cuda") or {}
    smi = fb.get("nvidia_smi") or {}
    if "unavailable" in cuda or not cuda:
        cuda = {}
    name = next((cuda[k] for k in ("gpu", "device", "gpu_name", "device_name") if k in cuda), None) or smi.get("gpu")
    if not name:
        return None
    driver = next((cuda[k] for k in ("driver", "driver_version") if k in cuda), None) or smi.get("driver")
    text = f"GPU {name}"
    if driver:
        text += f", driver {driver}"
    cupy = cuda.get("cupy")
    if cupy:
        text += f", CuPy {cupy}"
    return text


def _details(run: dict, stat: str) -> list[str]:
    mi = run.get("machine_info") or {}
    fb = mi.get("fastbp") or {}
    ci = run.get("commit_info") or {}
    lines = [f"- Machine: {machine_line(run)}"]
    if ci.get("id"):
        lines.append(
            f"- Commit: {ci['id'][:12]}{' (with uncommitted changes)' if ci.get('dirty') else ''}, "
            f"run {run.get('datetime', '?')}"
        )
    if fb.get("numpy"):
        lines.append(f"- NumPy {fb['numpy']} with {fb.get('blas', 'unknown BLAS')}")
    env = fb.get("env") or {}
    coretype = env.get("OPENBLAS_CORETYPE")
    lines.append(
        "- OPENBLAS_CORETYPE: "
        + (
            f"`{coretype}` (set: it selects OpenBLAS's kernels and can slow NumPy's matrix products)"
            if coretype
            else "not set"
        )
    )
    other = {k: v for k, v in env.items() if k != "OPENBLAS_CORETYPE"}
    if other:
        lines.append("- Thread settings: " + ", ".join(f"{k}={v}" for k, v in other.items()))
    for name, info in (fb.get("backends") or {}).items():
        if "unavailable" in info:
            why = info["unavailable"].split(": ", 1)[-1]
            lines.append(f"- Backend {name}: unavailable ({why if len(why) <= 140 else why[:139] + '…'})")
        else:
            details = ", ".join(f"{k}={v}" for k, v in info.items() if k != "name")
            lines.append(f"- Backend {name}: {details}")
    if fb.get("torch"):
        lines.append(f"- Peer PyTorch {fb['torch'].get('version')} ({fb['torch'].get('threads')} threads)")
    if fb.get("loadavg"):
        busy = f"- Load average when the results were saved: {fb['loadavg']}"
        if fb.get("cpu_pressure"):
            busy += f"; CPU pressure (PSI): `{fb['cpu_pressure']}`"
        lines.append(busy)
    lines.append(
        f"- Statistic: the {stat} of each benchmark's rounds"
        + (" (the fastest: other load on the machine only slows rounds down)" if stat == "min" else "")
    )
    return lines


LEGEND = (
    "Cells: samples per second (per-sample SGD steps, or rows of a batch for the batched kernels; "
    "network-samples/s for sgd_epoch_many: K networks x samples), and in brackets the speed-up over "
    "the NumPy backend in the same row. Columns marked `peer:` are not fastbp: the tutorial's loop "
    "(tests/reference_impl.py) and the same per-sample SGD in PyTorch CPU tensors, on the same "
    "64-32-16-10 network, data and alpha, checked against the NumPy backend before timing. "
    "`-`: not measured (backend unusable on this machine or library not installed)."
)


def render_markdown(
    run: dict, stat: str = "min", chart: str | None = None, title: str | None = None, note: str | None = None
) -> str:
    """The full report: header (machine), rate table, GFLOP/s table, chart link."""
    recs = records(run, stat)
    if not recs:
        raise ValueError(
            "the run has no fastbp benchmarks (no extra_info 'workload'); was it made with --benchmark-only?"
        )
    out = [f"# {title or 'fastbp benchmarks'}", "", *_details(run, stat), ""]
    if note:
        out += [note, ""]
    out += ["## Throughput", "", rate_table(recs), "", LEGEND, ""]
    if chart:
        out += [f"![throughput, log scale]({chart})", ""]
    out += [
        "## GFLOP/s",
        "",
        "2 FLOPs per multiply-add, counted from the weight shapes (bias rows and the "
        "reference's extra hidden unit included).",
        "",
        gflops_table(recs),
        "",
    ]
    return "\n".join(out)


def render_readme_table(run: dict, stat: str = "min", note: str | None = None) -> str:
    """The table for the README, with the machine named."""
    recs = records(run, stat)
    date = str(run.get("datetime", ""))[:10]
    head = f"Measured on {machine_line(run)} ({date}; {stat} of the rounds)."
    return "\n".join([head + (f" {note}" if note else ""), "", rate_table(recs), "", LEGEND, ""])


# -------------------------------------------------------------------- chart
def plot(run_or_records, path, stat: str = "min", title: str | None = None) -> None:
    """A horizontal grouped bar chart of the rates, log scale, one panel per dtype."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise OSError('the chart needs matplotlib: pip install "fastbp[plot]"') from None
    recs = run_or_records if isinstance(run_or_records, list) else records(run_or_records, stat)
    cols, grid = columns(recs), _grid(recs)
    dtypes = _first_seen(k[2] for k in rows(recs))
    groups = _first_seen((k[0], k[1]) for k in rows(recs))
    # Each group gets as many bar slots as it has columns in any dtype (no gaps for "-").
    present = [[c for c in cols if any(((w, l, d), c) in grid for d in dtypes)] for w, l in groups]
    n_slots = sum(len(p) for p in present) + len(groups)
    fig, axes = plt.subplots(
        1, len(dtypes), figsize=(7.0 * len(dtypes) + 2.5, max(4.0, 0.17 * n_slots + 2.0)), sharey=True, squeeze=False
    )
    colors = {c: plt.get_cmap("tab10")(j % 10) for j, c in enumerate(cols)}
    ticks, labels, y = [], [], 0.0
    slots = {}
    for (workload, layers), cs in zip(groups, present):
        for j, c in enumerate(cs):
            slots[(workload, layers, c)] = y + j
        ticks.append(y + (len(cs) - 1) / 2)
        labels.append(f"{workload}\n{layers}")
        y += len(cs) + 1
    for ax, dtype in zip(axes[0], dtypes):
        for c in cols:
            ys, xs = [], []
            for workload, layers in groups:
                r = grid.get(((workload, layers, dtype), c))
                if r is not None and r.rate > 0 and math.isfinite(r.rate):
                    ys.append(slots[(workload, layers, c)])
                    xs.append(r.rate)
            ax.barh(
                ys,
                xs,
                height=0.85,
                color=colors[c],
                label=c,
                hatch="//" if c.startswith("peer: ") else None,
                edgecolor="white",
                linewidth=0.3,
            )
            for yy, xx in zip(ys, xs):
                ax.text(xx, yy, " " + human(xx), va="center", ha="left", fontsize=6)
        ax.set_xscale("log")
        left, right = ax.get_xlim()
        ax.set_xlim(left, right * 8)  # room for the value labels
        ax.set_title(dtype)
        ax.set_xlabel("samples/s (network-samples/s for sgd_epoch_many), log scale")
        ax.grid(axis="x", which="major", alpha=0.3)
        ax.set_yticks(ticks)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_ylim(y - 0.5, -1.0)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=8, frameon=False)
    fig.suptitle(title or "fastbp throughput by backend", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------- output
def write_report(
    json_path, out_dir=None, *, stat: str = "min", readme_table=None, chart: bool = True, note: str | None = None
) -> dict:
    """Write ``<stem>.md`` (and ``<stem>.png``) next to ``json_path`` or in
    ``out_dir``; optionally the README table. Returns the paths written."""
    json_path = Path(json_path)
    run = load_run(json_path)
    out_dir = Path(out_dir) if out_dir else json_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = json_path.stem
    written = {}
    png = out_dir / f"{stem}.png"
    if chart:
        plot(run, png, stat, title=f"fastbp throughput: {machine_line(run).split(';')[0]}")
        written["png"] = png
    md = out_dir / f"{stem}.md"
    md.write_text(
        render_markdown(run, stat, chart=png.name if chart else None, title=f"fastbp benchmarks: {stem}", note=note),
        encoding="utf-8",
    )
    written["md"] = md
    if readme_table:
        readme_table = Path(readme_table)
        readme_table.parent.mkdir(parents=True, exist_ok=True)
        readme_table.write_text(render_readme_table(run, stat, note=note), encoding="utf-8")
        written["readme_table"] = readme_table
    return written


# ------------------------------------------------------------ running the suite
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def machine_slug() -> str:
    """The machine as a file-name part: the GPU's name where the cuda backend
    is usable, else the CPU's model and core count."""
    import os
    import re

    from .backends import get_backend, unavailable_reason

    if unavailable_reason("cuda") is None:
        name = str(get_backend("cuda").info().get("gpu", "gpu"))
    else:
        name = "cpu"
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                name = next((ln.split(":", 1)[1] for ln in f if ln.lower().startswith("model name")), name)
        except OSError:
            pass
        name = f"{name} {os.cpu_count()}cores"
    for noise in ("NVIDIA", "(R)", "(TM)", "Processor", "CPU", "@"):
        name = name.replace(noise, " ")
    return re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-")


def default_run_name() -> str:
    """``{cpu|gpu}-<machine>-<date>``: what ran, where and when."""
    from .backends import unavailable_reason

    kind = "gpu" if unavailable_reason("cuda") is None else "cpu"
    return f"{kind}-{machine_slug()}-{_dt.date.today().isoformat()}"


def run_suite(out: Path, name: str | None, max_time: float, min_rounds: int, pytest_args: Sequence[str]) -> Path:
    """``pytest --benchmark-only`` of the source checkout's benchmarks/,
    saved as ``out/<name>.json``; returns that path (ValueError when the
    suite is not there or the run fails)."""
    root = repo_root()
    if not (root / "benchmarks" / "conftest.py").exists():
        raise ValueError(
            "the benchmark suite (benchmarks/) is part of fastbp's source checkout, not of the installed "
            "package; run this from a clone"
        )
    out.mkdir(parents=True, exist_ok=True)
    json_path = (out / f"{name or default_run_name()}.json").resolve()
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--benchmark-only",
        f"--benchmark-json={json_path}",
        f"--benchmark-max-time={max_time}",
        f"--benchmark-min-rounds={min_rounds}",
        *pytest_args,
    ]
    print("$ " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=root)
    if rc != 0 or not json_path.exists():
        raise ValueError(f"the benchmark run failed (pytest exit status {rc})")
    return json_path
