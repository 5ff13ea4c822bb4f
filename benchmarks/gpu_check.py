"""The GPU check of fastbp's cuda backend, in one call of under 5 minutes on a
machine with one GPU and 16 cores (benchmarks/gpu_check.sh runs it)::

    python -m benchmarks.gpu_check --data DATA_DIR --out OUT [--budget 270]
    python -m benchmarks.gpu_check --data DATA_DIR --out OUT --dry-run   # without a GPU

Stages, each in its own try/except and time box; the results files are
rewritten after every stage, so a failing stage is recorded, the next one
runs, and a timeout loses nothing measured before it:

1. environment: GPU, driver, CUDA runtime, CuPy, CPU and its cores, the
   commit, the hash of the kernels' source;
2. first use: the tuner's decision for one digits network (64-32-16-10,
   float64) with empty caches (CuPy's, numba's, fastbp's): what a user's
   first cuda run of a workload pays;
3. tests: tests/test_cuda_backend.py (every kernel against NumPy, the
   tuner, the units on whatever the tuner picks);
4. the tuner (``CudaBackend.decide``) on WORKLOADS: digits, real MNIST
   784-300-100-10 (float32 and float64, sigmoid and relu/softmax),
   784-256-128-10 on MNIST, K = 8, 64, 512 digits networks; each decision
   times every kernel that serves the workload and numba on every core;
5. numba's thread sweep: MNIST 784-300-100-10 with threads = 1, 2, 4, 8, 16
   (those up to the machine's cores, and all of them), interleaved rounds;
6. the backend-agnostic suites on cuda (``pytest tests -k cuda``), with the
   time left.

Writes OUT/gpu-check-<card>-<date>.md and .json (the decision table, the
targets, the kernels chosen nowhere, every timing), OUT/decisions.json (the
tuner's record) and OUT/pytest_*.log/.xml. ``--dry-run`` checks this script
without a GPU: no GPU stage runs, the tuner's results are invented (the
report says so on its first line), the numba sweep trains 256 rows.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastbp.network import add_bias, init_weights  # noqa: E402

DIGITS = (64, 32, 16, 10)
MNIST = (784, 300, 100, 10)
WIDE = (784, 256, 128, 10)
SIGMOID, RELU_SOFTMAX = ("sigmoid", "sigmoid"), ("relu", "softmax")
#: (name, layers, dtype, units, K, data) of the tuner stage.
WORKLOADS = [
    ("digits", DIGITS, "float32", SIGMOID, 1, "digits"),
    ("mnist", MNIST, "float32", SIGMOID, 1, "mnist"),
    ("mnist", MNIST, "float64", SIGMOID, 1, "mnist"),
    ("mnist", MNIST, "float32", RELU_SOFTMAX, 1, "mnist"),
    ("mnist", MNIST, "float64", RELU_SOFTMAX, 1, "mnist"),
    ("mnist", WIDE, "float64", SIGMOID, 1, "mnist"),
    ("digits", DIGITS, "float64", SIGMOID, 8, "digits"),
    ("digits", DIGITS, "float64", SIGMOID, 64, "digits"),
    ("digits", DIGITS, "float64", SIGMOID, 512, "digits"),
]
#: The first-use stage's workload (with empty caches).
FIRST_USE = ("digits", DIGITS, "float64", SIGMOID, 1, "digits")
#: Rows of the caller's data handed to the tuner (it times the first 1,024).
TUNER_ROWS = 4096
#: numba's thread sweep: the counts, the rows trained per call, the rounds.
SWEEP_THREADS = (1, 2, 4, 8, 16)
SWEEP_ROWS, SWEEP_ROUNDS = 8192, 3


class Check:
    """The run's state: its results (``R``, the JSON), its clock and budget."""

    def __init__(self, out: Path, data: str | None, budget: float, dry_run: bool):
        self.out, self.data, self.budget, self.dry_run = out, data, budget, dry_run
        self.t0 = time.perf_counter()
        self.R: dict[str, Any] = {
            "meta": {},
            "first_use": None,
            "tests": {},
            "decisions": [],
            "numba_threads": [],
            "errors": [],
            "stages": {},
        }
        self.name: Path | None = None

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def log(self, *a) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f}s]", *a, flush=True)

    def stage(self, name: str, fn: Callable[[], None], need_s: float = 0.0) -> None:
        """Runs one stage: skipped (and recorded) when less than ``need_s`` is
        left, its exception recorded, the results written after it."""
        if self.left() < need_s:
            self.R["stages"][name] = f"skipped: {self.left():.0f} s left, it needs about {need_s:.0f} s"
            self.log(f"=== {name}: skipped ({self.left():.0f} s left)")
            self.save()
            return
        self.log(f"=== {name}")
        t = time.perf_counter()
        status = "ok"
        try:
            fn()
        except Exception as exc:
            status = f"failed: {type(exc).__name__}: {exc}"
            self.R["errors"].append({"where": name, "error": status[8:], "traceback": traceback.format_exc()})
            self.log(f"!!! {name}: {status}")
        self.R["stages"][name] = f"{status} ({time.perf_counter() - t:.1f} s)"
        self.log(f"=== {name} done in {time.perf_counter() - t:.1f} s")
        self.save()

    def save(self) -> None:
        if self.name is None:
            return
        try:
            self.name.with_suffix(".json").write_text(json.dumps(self.R, indent=1, default=str))
            self.name.with_suffix(".md").write_text(markdown(self.R))
        except Exception as exc:  # a failed write must not end the run
            print("could not write the results:", exc, flush=True)


# ----------------------------------------------------------------- the data
def workload_data(kind: str, layers, data_dir: str | None, rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(X1, Y) host float64 rows of ``kind`` ("digits", "mnist"; "random" in a dry run)."""
    if kind == "digits":
        from fastbp.datasets import digits

        ds = digits()
        X1, Y = add_bias(ds.X_train), ds.Y_train
    elif kind == "mnist":
        from fastbp.datasets import mnist

        ds = mnist(data_dir=data_dir, download=False, n_train=rows)
        X1, Y = add_bias(np.asarray(ds.X_train, np.float64)), np.asarray(ds.Y_train, np.float64)
    else:
        rs = np.random.RandomState(0)
        n = rows or 1024
        X1, Y = add_bias(rs.rand(n, layers[0])), np.eye(layers[-1])[rs.randint(0, layers[-1], n)]
    return (X1[:rows], Y[:rows]) if rows else (X1, Y)


def networks(layers, K: int, activation: str) -> list[np.ndarray]:
    """Host weights of K networks, stacked per layer."""
    nets = [init_weights(list(layers), k, activation) for k in range(K)]
    return [np.stack([n[l] for n in nets]) for l in range(len(layers) - 1)]


def workload_name(name, layers, dtype, units, K) -> str:
    return f"{name} {'-'.join(map(str, layers))} {dtype} {units[0]}/{units[1]} K={K}"


# ------------------------------------------------------------------- stages
def environment(c: Check) -> None:
    m = c.R["meta"]
    m["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    m["python"], m["numpy"], m["platform"] = sys.version.split()[0], np.__version__, platform.platform()
    m["cpu_count"] = os.cpu_count()
    m["dry_run"] = c.dry_run
    m["budget_s"] = c.budget
    m["data"] = c.data
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        m["cpu"] = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
    except Exception:
        m["cpu"] = platform.processor()
    git = ["git", "-C", str(ROOT)]
    m["commit"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout
    m["uncommitted_files"] = len(status.splitlines())
    from fastbp.backends import get_backend, unavailable_reason
    from fastbp.backends.cuda import source

    m["kernels_hash"] = source.kernels_hash()
    m["numba"] = unavailable_reason("numba") or get_backend("numba").info()
    why = unavailable_reason("cuda")
    if why:
        m["cuda_unavailable"] = why
        c.log("cuda is unavailable:", why)
        return
    m["cuda"] = get_backend("cuda").info()
    c.log("cuda:", json.dumps(m["cuda"]))


def decide(c: Check, workload, first_use: bool = False) -> dict:
    """The tuner's decision for one workload (``CudaBackend.decide``), with
    its wall time; in a dry run an invented one."""
    _, layers, dtype, units, K, kind = workload
    row: dict[str, Any] = {"workload": workload_name(*workload[:5]), "layers": list(layers), "dtype": dtype}
    row.update(units=list(units), K=K, data=kind)
    if c.dry_run:
        row.update(entry=invented_entry(layers, units, K), seconds=0.0, invented=True)
        return row
    from fastbp.backends import get_backend

    be = get_backend("cuda")
    X1, Y = workload_data(kind, layers, c.data, TUNER_ROWS)
    P = be.params(networks(layers, K, units[0]), dtype).with_units(*units)
    X1d, Yd = be.asarray(X1, dtype), be.asarray(Y, dtype)
    t = time.perf_counter()
    entry = be.decide(P, X1d, Yd)
    row.update(entry=entry, seconds=time.perf_counter() - t, first_use=first_use)
    return row


def first_use(c: Check) -> None:
    c.R["first_use"] = decide(c, FIRST_USE, first_use=True)
    c.log(f"first use: {c.R['first_use']['seconds']:.1f} s, chose {c.R['first_use']['entry']['chosen']}")


def tuner(c: Check) -> None:
    for w in WORKLOADS:
        if c.left() < 40:
            c.R["errors"].append({"where": "tuner", "error": f"out of time before {workload_name(*w[:5])}"})
            break
        try:
            row = decide(c, w)
        except Exception as exc:
            c.R["decisions"].append({"workload": workload_name(*w[:5]), "error": f"{type(exc).__name__}: {exc}"})
            c.log(f"  {workload_name(*w[:5])}: {type(exc).__name__}: {exc}")
        else:
            c.R["decisions"].append(row)
            e = row["entry"]
            c.log(f"  {row['workload']}: {e['chosen']} in {row['seconds']:.1f} s")
        c.save()


def _pytest(c: Check, name: str, args: list[str], timeout: float) -> None:
    xml = c.out / f"pytest_{name}.xml"
    cmd = [sys.executable, "-m", "pytest", *args, "-q", "-rfEs", "-p", "no:randomly", f"--junitxml={xml}"]
    c.log("running", " ".join(cmd))
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        text, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        text, rc = out + f"\nTIMEOUT after {timeout:.0f} s", "timeout"
    (c.out / f"pytest_{name}.log").write_text(text)
    outcomes: dict[str, str] = {}
    if xml.exists():
        for case in ET.parse(xml).getroot().iter("testcase"):
            kids = {k.tag for k in case}
            what = "failed" if kids & {"failure", "error"} else "skipped" if "skipped" in kids else "passed"
            outcomes[f"{case.get('classname')}::{case.get('name')}"] = what
    c.R["tests"][name] = {
        "command": " ".join(cmd),
        "rc": rc,
        "seconds": round(time.perf_counter() - t, 1),
        "tail": text.strip().splitlines()[-12:],
        "counts": {o: list(outcomes.values()).count(o) for o in ("passed", "failed", "skipped")},
        "failed": [k for k, v in outcomes.items() if v == "failed"],
    }
    c.log(f"  {name}: rc={rc}, {c.R['tests'][name]['counts']}")


def tests(c: Check) -> None:
    _pytest(c, "cuda", ["tests/test_cuda_backend.py", "--durations=8"], min(150.0, c.left() - 100))


def suites(c: Check) -> None:
    gpu_free = ("test_cuda_source", "test_cuda_plan", "test_cuda_tune", "test_cuda_record", "test_gpu_check")
    skip = ["--ignore=tests/test_cuda_backend.py", *(f"--ignore=tests/{f}.py" for f in gpu_free)]
    _pytest(c, "k_cuda", ["tests", "-k", "cuda", *skip], c.left() - 15)


def numba_threads(c: Check) -> None:
    """MNIST 784-300-100-10 through numba's training seam with threads = t,
    one epoch of the first rows a call (the loss recorded), every count once
    a round, the median of the rounds."""
    from fastbp.backends import get_backend

    cores = os.cpu_count() or 1
    counts = sorted({t for t in SWEEP_THREADS if t <= cores} | {cores})
    rows = 256 if c.dry_run else SWEEP_ROWS
    kind = "random" if c.dry_run and not c.data else "mnist"
    X1h, Yh = workload_data(kind, MNIST, c.data, rows)
    W0 = networks(MNIST, 1, "sigmoid")
    for dtype in ("float32", "float64"):
        runs = {}
        for t in counts:
            be = get_backend("numba", threads=t)
            P0 = be.params(W0, dtype)
            X1, Y = be.asarray(X1h, dtype), be.asarray(Yh, dtype)

            def call(be=be, P0=P0, X1=X1, Y=Y) -> float:
                P = be.copy_params(P0)
                s = time.perf_counter()
                be.train(P, X1, Y, np.array([0.05]), 1, np.array([1]))
                return time.perf_counter() - s

            call()  # compilation, warm-up
            runs[t] = (call, [])
        for _ in range(SWEEP_ROUNDS):
            for call, times in runs.values():
                times.append(call())
        one = statistics.median(runs[counts[0]][1])
        for t, (_, times) in runs.items():
            med = statistics.median(times)
            c.R["numba_threads"].append(
                {
                    "dtype": dtype,
                    "threads": t,
                    "rows": rows,
                    "median_s": med,
                    "samples_per_s": rows / med,
                    "speedup": one / med,
                }
            )
            c.log(f"  numba {dtype} threads={t}: {rows / med:,.0f} samples/s ({one / med:.2f}x one thread)")


# ------------------------------------------------------------------ a dry run
def invented_entry(layers, units, K) -> dict:
    """A decision as the tuner records it, with invented numbers (dry runs only)."""
    rs = np.random.RandomState(len(layers) * 1000 + K)
    kernels: dict[str, dict] = {}
    labels = ["step"] if tuple(units) != SIGMOID else ["regs", "block", "grid", "grid-slices", "step"]
    for label in labels:
        kernels[label] = {
            "label": label,
            "status": "passed",
            "reason": "",
            "us_per_sample": float(rs.uniform(0.1, 9)),
            "plan": label,
        }
    if "grid" in kernels:
        kernels["grid"].update(
            status="refused", reason="its two runs of the check differ (invented)", us_per_sample=None
        )
    chosen = min((k for k in kernels.values() if k["us_per_sample"] is not None), key=lambda k: k["us_per_sample"])
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "chosen": chosen["label"],
        "kernels": kernels,
        "numba": {"us_per_sample": float(rs.uniform(0.5, 5)), "note": ""},
        "rows": 1024,
        "K": K,
    }


# ------------------------------------------------------------------- report
def _us(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def targets(R: dict) -> list[str]:
    """The issue's targets against the decisions: digits at least numba's
    speed, MNIST 784-300-100-10 at least 3x numba, 512 digits networks at
    least 100x one network's throughput."""
    rows = {r["workload"]: r for r in [R.get("first_use") or {}, *R["decisions"]] if "entry" in r}
    out = []

    def chosen_us(r):
        return r["entry"]["kernels"][r["entry"]["chosen"]].get("us_per_sample")

    for w, r in rows.items():
        numba = (r["entry"].get("numba") or {}).get("us_per_sample")
        goal = (
            {"digits": 1.0, "mnist": 3.0}.get(r.get("data", "")) if r["K"] == 1 and r["layers"] != list(WIDE) else None
        )
        if goal and numba and chosen_us(r):
            x = numba / chosen_us(r)
            out.append(
                f"{w}: cuda ({r['entry']['chosen']}) {x:.2f}x numba (target {goal:g}x): {'met' if x >= goal else 'NOT met'}"
            )
    one = rows.get(workload_name("digits", DIGITS, "float64", SIGMOID, 1))
    many = rows.get(workload_name("digits", DIGITS, "float64", SIGMOID, 512))
    if one and many and chosen_us(one) and chosen_us(many):
        x = chosen_us(one) / chosen_us(many)
        out.append(
            f"512 digits networks: {x:.0f}x one network's throughput (target 100x): {'met' if x >= 100 else 'NOT met'}"
        )
    return out


def unused(R: dict) -> list[str]:
    """The kernels the tuner chose for no workload measured."""
    rows = [r for r in [R.get("first_use") or {}, *R["decisions"]] if "entry" in r]
    seen = {k for r in rows for k, v in r["entry"]["kernels"].items() if v.get("status") == "passed"}
    chosen = {r["entry"]["chosen"] for r in rows}
    return sorted(seen - chosen)


def markdown(R: dict) -> str:
    m = R["meta"]
    cu = m.get("cuda", {})
    out = []
    if m.get("dry_run"):
        out += ["**DRY RUN without a GPU: the tuner's numbers below are invented, not measurements.**", ""]
    out += [
        "# fastbp GPU check",
        "",
        f"- {m.get('date')}, commit {m.get('commit')} ({m.get('uncommitted_files', '?')} files changed since), "
        f"kernels {m.get('kernels_hash')}",
        f"- GPU: {cu.get('gpu', m.get('cuda_unavailable'))}, cc {cu.get('compute_capability')}, {cu.get('sm_count')} SMs, "
        f"driver CUDA {cu.get('driver_cuda_version')}, runtime {cu.get('runtime_cuda_version')}, CuPy {cu.get('cupy')}",
        f"- CPU: {m.get('cpu')}, {m.get('cpu_count')} logical CPUs; Python {m.get('python')}, NumPy {m.get('numpy')}",
        f"- numba: {m.get('numba')}",
        "- stages: " + "; ".join(f"{k} {v}" for k, v in R["stages"].items()),
        "",
        "## Tests",
        "",
    ]
    for t in R["tests"].values():
        out.append(f"- `{t['command']}`: rc={t['rc']} in {t['seconds']} s, {t['counts']}")
        out += [f"  - FAILED {f}" for f in t["failed"]]
    fu = R.get("first_use")
    if fu and "entry" in fu:
        out += ["", "## First use", ""]
        out.append(
            f"- {fu['workload']}, caches empty (CuPy's kernels, numba's, fastbp's decisions): the decision took "
            f"{fu['seconds']:.1f} s (compiling every kernel that serves it, checking and timing them, numba timed)"
        )
    out += [
        "",
        "## Decisions (us per network-sample; the tuner's: its check, then the median of timed calls on the "
        "first 1,024 rows; numba on every core, timed the same way)",
        "",
        "| workload | chosen | cuda | numba | numba / cuda | decided in | kernels |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for r in [fu or {}, *R["decisions"]]:
        if not r:
            continue
        if "entry" not in r:
            out.append(f"| {r['workload']} | error | | | | | {r.get('error', '')[:300]} |")
            continue
        e = r["entry"]
        cuda = e["kernels"][e["chosen"]].get("us_per_sample")
        numba = (e.get("numba") or {}).get("us_per_sample")
        ratio = f"{numba / cuda:.2f}x" if cuda and numba else "-"
        kernels = "; ".join(
            f"{k} {_us(v.get('us_per_sample'))}"
            if v.get("status") == "passed"
            else f"{k}: {v.get('status')}: {v.get('reason')}"
            for k, v in e["kernels"].items()
        )
        out.append(
            f"| {r['workload']} | {e['chosen']} | {_us(cuda)} | {_us(numba)} | {ratio} | {r['seconds']:.1f} s | {kernels} |"
        )
    out += ["", "## Targets", ""] + [f"- {t}" for t in targets(R)]
    out += ["", "## Kernels chosen nowhere (delete unless they serve shapes the others do not)", ""]
    out += [f"- {k}" for k in unused(R)] or ["- none"]
    if R["numba_threads"]:
        out += ["", "## numba on this machine's cores: MNIST 784-300-100-10, one epoch of the first rows a call", ""]
        out += ["| dtype | threads | rows | median s | samples/s | x one thread |", "|---|--:|--:|--:|--:|--:|"]
        for n in R["numba_threads"]:
            out.append(
                f"| {n['dtype']} | {n['threads']} | {n['rows']} | {n['median_s']:.4f} | {n['samples_per_s']:,.0f} | "
                f"{n['speedup']:.2f} |"
            )
    if R["errors"]:
        out += ["", "## Errors", ""] + [f"- {e['where']}: {e['error']}" for e in R["errors"]]
    return "\n".join(out) + "\n"


def card(meta: dict) -> str:
    """The GPU's short name for the file name ("H100-80GB-HBM3"), "dry-run" without one."""
    if meta.get("dry_run"):
        return "dry-run"
    name = re.sub(r"^(NVIDIA|Tesla|GeForce|Quadro)\s+", "", str(meta.get("cuda", {}).get("gpu", "no-GPU")).strip())
    return re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-") or "GPU"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("FASTBP_DATA"), help="folder of the MNIST files")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "gpu_out"), help="folder of the results")
    ap.add_argument("--budget", type=float, default=270.0, help="seconds for every stage together (default 270)")
    ap.add_argument("--dry-run", action="store_true", help="without a GPU: invented tuner results, a short numba sweep")
    ap.add_argument("--skip", nargs="*", default=[], choices=["first_use", "tests", "tuner", "numba_threads", "suites"])
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    c = Check(out, args.data, args.budget, args.dry_run)
    c.stage("environment", lambda: environment(c))
    base = f"gpu-check-{card(c.R['meta'])}-{c.R['meta'].get('date', 'undated')[:10]}"
    c.name = out / base
    for i in range(2, 100):
        if not c.name.with_suffix(".json").exists():
            break
        c.name = out / f"{base}-{i}"
    c.log("results:", c.name.with_suffix(".md"))
    gpu = not args.dry_run and "cuda" in c.R["meta"]
    plan: list[tuple[str, Callable[[], None], float, bool]] = [
        ("first_use", lambda: first_use(c), 60, gpu or args.dry_run),
        ("tests", lambda: tests(c), 120, gpu),
        ("tuner", lambda: tuner(c), 40, gpu or args.dry_run),
        ("numba_threads", lambda: numba_threads(c), 20, True),
        ("suites", lambda: suites(c), 40, gpu),
    ]
    for name, fn, need, runs in plan:
        if name in args.skip or not runs:
            c.R["stages"][name] = "skipped: " + ("--skip" if name in args.skip else "no usable GPU")
            continue
        c.stage(name, fn, need)
    from fastbp.backends.cuda import record

    if record.path().exists():
        shutil.copy(record.path(), out / "decisions.json")
    c.save()
    print("\n" + markdown(c.R), flush=True)
    failed = [n for n, t in c.R["tests"].items() if t["rc"] not in (0, 5)]
    return 1 if failed or c.R["errors"] or (not gpu and not args.dry_run) else 0


if __name__ == "__main__":
    sys.exit(main())
