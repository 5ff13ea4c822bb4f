"""One-call GPU check of fastbp's cuda backend (benchmarks/gpu_check.sh runs it).

Stages, each in its own try/except and time box; the results file is
rewritten after every stage, so a timeout loses nothing measured before it:

1. environment: GPU, driver, CUDA runtime, CuPy, CPU and its cores, numba's
   threads, the commit, and the source hash of every kernel family (the code
   being measured; ``fastbp.backends.cuda.source.source_hash``);
2. tests: tests/test_cuda_backend.py and tests/test_cuda_plan.py, then every
   other test with ``-k cuda`` (the backend-agnostic suites on cuda); each
   test's outcome is kept, and a kernel's tests have passed when no test
   that names it failed;
3. timings: every training kernel still in the code against numba on this
   machine, through the training seam (``Backend.train``, as the training
   loop calls it: E epochs and the loss of the last one in one call), with
   a warm-up call first (compilation and the first-use check), then rounds
   in which every contender runs once in turn (interleaved), a synchronize
   inside every timed call, and the median per contender:
   - one digits network 64-32-16-10 (1,347 samples), float64 and float32;
   - one 784-256-128-10 and one 784-300-100-10 (MNIST's) network on random
     data, float64 and float32;
   - K digits networks at once, K = 1 ... 512 (numba on all its threads);
4. the decision table: per workload the fastest kernel, its speed against
   numba and against the default, whether its tests passed here; which
   kernel could become a default, which is slower everywhere, and the
   measured "auto" thresholds.

Writes OUT/gpu-check-<card>-<date>.json and .md (a suffix -2, -3, ... if
they exist), ready to be committed to benchmarks/results/.
``--smoke`` runs the same stages on tiny workloads (to check the script).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastbp.network import add_bias, init_weights  # noqa: E402

T0 = time.perf_counter()
BUDGET_S = 265.0  # gpu_check.sh's hard timeout is 280 s
R: dict = {"meta": {}, "tests": {}, "kernel_tests": {}, "timings": [], "decisions": [], "targets": [], "errors": []}
OUT = ROOT / "gpu_out"
NAME: Path | None = None
SMOKE = False


def log(*a):
    print(f"[{time.perf_counter() - T0:6.1f}s]", *a, flush=True)


def left() -> float:
    return BUDGET_S - (time.perf_counter() - T0)


def save():
    if NAME is None:
        return
    try:
        NAME.with_suffix(".json").write_text(json.dumps(R, indent=1, default=str))
        NAME.with_suffix(".md").write_text(markdown())
    except Exception as exc:  # pragma: no cover
        print("could not save the results:", exc, flush=True)


def stage(fn):
    def run(*a, **k):
        log(f"=== {fn.__name__}")
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        except Exception as exc:
            R["errors"].append(
                {"where": fn.__name__, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            )
            log(f"!!! {fn.__name__}: {type(exc).__name__}: {exc}")
        finally:
            log(f"=== {fn.__name__} done in {time.perf_counter() - t:.1f} s")
            save()

    return run


# ----------------------------------------------------------- environment
def _card(name: str) -> str:
    name = re.sub(r"^(NVIDIA|Tesla|GeForce|Quadro)\s+", "", name.strip())
    return re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-") or "GPU"


@stage
def environment():
    m = R["meta"]
    m["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    m["python"], m["numpy"], m["platform"] = sys.version.split()[0], np.__version__, platform.platform()
    m["cpu_count"] = os.cpu_count()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        m["cpu"] = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
    except Exception:
        m["cpu"] = platform.processor()
    try:
        m["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        m["uncommitted_files"] = len(
            subprocess.run(
                ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT
            ).stdout.splitlines()
        )
    except Exception:
        pass
    from fastbp.backends import get_backend, unavailable_reason
    from fastbp.backends.cuda import plan as pl
    from fastbp.backends.cuda import source as src

    m["source_hash"] = {f: src.source_hash(f) for f in src.FAMILY_FILES}
    m["verified_now"] = dict(pl.VERIFIED)
    why = unavailable_reason("numba")
    m["numba"] = why or get_backend("numba").info()
    why = unavailable_reason("cuda")
    if why:
        m["cuda_unavailable"] = why
        log("cuda is unavailable:", why)
        return
    m["cuda"] = get_backend("cuda").info()
    log("cuda:", json.dumps(m["cuda"]))


# ------------------------------------------------------------------ tests
def _pytest(name: str, args: list[str], timeout: float) -> None:
    xml = OUT / f"pytest_{name}.xml"
    cmd = [sys.executable, "-m", "pytest", *args, "-q", "-rs", "-p", "no:randomly", f"--junitxml={xml}"]
    log("running", " ".join(cmd))
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as exc:
        out, rc = (exc.stdout or b"").decode(errors="replace") + f"\nTIMEOUT after {timeout:.0f} s", "timeout"
    (OUT / f"pytest_{name}.log").write_text(out)
    outcomes = {}
    if xml.exists():
        for case in ET.parse(xml).getroot().iter("testcase"):
            tid = f"{case.get('classname')}::{case.get('name')}"
            kids = {c.tag for c in case}
            outcomes[tid] = "failed" if kids & {"failure", "error"} else "skipped" if "skipped" in kids else "passed"
    R["tests"][name] = {
        "rc": rc,
        "seconds": round(time.perf_counter() - t, 1),
        "tail": out.strip().splitlines()[-15:],
        "outcomes": outcomes,
    }
    print("\n".join(out.strip().splitlines()[-25:]), flush=True)


def kernel_tests(kernel: str) -> str:
    """ "passed", "FAILED" or "not run" for the tests that name ``kernel``
    (and the suites' tests that name none)."""
    from fastbp.backends.cuda import plan as pl

    named, failed, ran = False, False, False
    for t in R["tests"].values():
        for tid, o in t["outcomes"].items():
            names = [k for k in pl.KERNELS if re.search(rf"\b{k}\b", tid.replace("_", " ").replace("-", " "))]
            if names and kernel not in names:
                continue
            named |= kernel in names
            ran |= o == "passed"
            failed |= o == "failed"
    if failed:
        return "FAILED"
    return "passed" if ran and named else "not run"


@stage
def tests():
    _pytest(
        "cuda",
        ["tests/test_cuda_backend.py", "tests/test_cuda_plan.py", "--durations=5"],
        max(60.0, min(110.0, left() - 150)),
    )
    if left() > 170:
        _pytest(
            "k_cuda",
            [
                "tests",
                "-k",
                "cuda",
                "--ignore=tests/test_cuda_backend.py",
                "--ignore=tests/test_cuda_plan.py",
                "--ignore=tests/test_cuda_source.py",
            ],
            min(60.0, left() - 150),
        )
    from fastbp.backends.cuda import plan as pl

    R["kernel_tests"] = {k: kernel_tests(k) for k in pl.KERNELS}
    log("kernel tests:", R["kernel_tests"])


# ---------------------------------------------------------------- timing
class Contender:
    """One way to train a workload: numba, or the cuda backend with one plan."""

    def __init__(self, label, be, layers, K, dtype, X1, Y, kernel=None, **force):
        self.label, self.be, self.kernel, self.K = label, be, kernel, K
        self.dtype = np.dtype(dtype)
        host = [np.stack([init_weights(layers, 1000 + k)[l] for k in range(K)]) for l in range(len(layers) - 1)]
        self.P = be.params(host, dtype)
        self.X1, self.Y = be.asarray(X1, dtype), be.asarray(Y, dtype)
        self.alphas = np.linspace(0.02, 0.1, K)
        self.plan = be.plan(self.P.dims, dtype, K, kernel=kernel, **force) if kernel else None
        self.epochs, self.times = 1, []

    def call(self, epochs: int) -> float:
        t = time.perf_counter()
        rec = np.array([epochs])
        if self.plan is None:
            self.be.train(self.P, self.X1, self.Y, self.alphas, epochs, rec)
        else:
            self.be.train_with(self.plan, self.P, self.X1, self.Y, self.alphas, epochs, rec)
        self.be.synchronize()
        return time.perf_counter() - t

    def warm_up(self, target_s: float) -> None:
        self.call(1)  # compilation and the first-use check
        one = self.call(1)
        self.epochs = max(1, min(50, int(target_s / max(one, 1e-6))))


def time_workload(
    name: str, layers, K: int, dtype, X1, Y, kernels: list[tuple[str, str | None, dict]], rounds: int, target_s: float
):
    """Times every contender on one workload, interleaved; records the rows."""
    from fastbp.backends import get_backend, unavailable_reason

    cs = []
    if unavailable_reason("numba") is None:
        cs.append(("numba", lambda: Contender("numba", get_backend("numba"), layers, K, dtype, X1, Y)))
    cuda = None
    if unavailable_reason("cuda") is None:
        from fastbp.backends.cuda.backend import CudaBackend

        cuda = CudaBackend(unverified=True)
    for label, kernel, force in kernels if cuda is not None else []:
        cs.append(
            (
                label,
                lambda label=label, kernel=kernel, force=force: Contender(
                    label, cuda, layers, K, dtype, X1, Y, kernel, **force
                ),
            )
        )
    ready = []
    for label, make in cs:
        if left() < 25:
            break
        try:
            c = make()
            c.warm_up(target_s)
            ready.append(c)
        except Exception as exc:  # not applicable (ValueError), refused by its check, failed: recorded
            R["timings"].append(
                dict(
                    workload=name,
                    dtype=np.dtype(dtype).name,
                    K=K,
                    contender=label,
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
            log(f"  {name} {np.dtype(dtype).name} {label}: {type(exc).__name__}: {str(exc)[:200]}")
    for _ in range(rounds):
        if left() < 20:
            break
        for c in ready:
            c.times.append(c.call(c.epochs))
    for c in ready:
        if not c.times:
            continue
        per_epoch = statistics.median(c.times) / c.epochs
        n = int(c.X1.shape[0])
        row = dict(
            workload=name,
            layers="-".join(map(str, layers)),
            dtype=c.dtype.name,
            K=K,
            contender=c.label,
            kernel=c.plan.kernel if c.plan else c.label,
            plan=c.plan.describe() if c.plan else None,
            verified=c.plan.verified if c.plan else None,
            epochs_per_call=c.epochs,
            calls=len(c.times),
            ms_per_epoch=per_epoch * 1e3,
            us_per_sample=per_epoch / n * 1e6,
            network_samples_per_s=K * n / per_epoch,
            calls_s=c.times,
        )
        R["timings"].append(row)
        log(
            f"  {name} {c.dtype.name} K={K} {c.label}: {per_epoch * 1e3:.3f} ms/epoch, {row['network_samples_per_s']:,.0f} network-samples/s"
        )


DIGITS = [64, 32, 16, 10]
WIDE = [784, 256, 128, 10]
MNIST = [784, 300, 100, 10]
ONE_NETWORK = [  # (label, kernel, forced plan options) of the cuda contenders for one network
    ("cuda block", "block", {}),
    ("cuda regs", "regs", {}),
    ("cuda grid", "grid", {}),
    ("cuda grid (slices)", "grid", {"replicate": False}),
    ("cuda step", "step", {}),
]


def _digits():
    from fastbp.datasets import digits

    ds = digits()
    X1, Y = add_bias(ds.X_train), ds.Y_train
    return (X1[:96], Y[:96]) if SMOKE else (X1, Y)


def _random(layers, n, seed=1):
    rs = np.random.RandomState(seed)
    return add_bias(rs.rand(n, layers[0])), np.eye(layers[-1])[rs.randint(0, layers[-1], n)]


@stage
def one_network():
    X1, Y = _digits()
    for dt in (np.float64, np.float32):
        time_workload("digits, 1 network", DIGITS, 1, dt, X1, Y, ONE_NETWORK, 3 if SMOKE else 9, 0.03)
    n_wide, n_mnist = (32, 32) if SMOKE else (1000, 2000)
    for layers, n in ((WIDE, n_wide), (MNIST, n_mnist)):
        X1, Y = _random(layers, n)
        for dt in (np.float64, np.float32):
            if left() > 60:
                name = f"{'-'.join(map(str, layers))} random, 1 network"
                kernels = [k for k in ONE_NETWORK if k[1] != "regs"]
                time_workload(name, layers, 1, dt, X1, Y, kernels, 2 if SMOKE else 5, 0.05)


@stage
def many_networks():
    X1, Y = _digits()
    Ks = (2, 4) if SMOKE else (8, 32, 132, 512)
    kernels = [("cuda block", "block", {}), ("cuda regs", "regs", {})]
    for dt in (np.float64, np.float32):
        for K in Ks:
            if left() > 35:
                time_workload("digits, K networks", DIGITS, K, dt, X1, Y, kernels, 2 if SMOKE else 5, 0.05)


# -------------------------------------------------------------- decisions
def _rows(**kw):
    return [t for t in R["timings"] if "ms_per_epoch" in t and all(t.get(k) == v for k, v in kw.items())]


def decide():
    """The decision table, the targets and the measured thresholds."""
    R["decisions"], R["targets"], table = [], [], []
    groups = sorted(
        {(t["workload"], t["layers"], t["dtype"], t["K"]) for t in _rows()}, key=lambda g: (g[0], g[2], g[3])
    )
    faster_than_default: dict[str, list[str]] = {}
    ran: set[str] = set()
    fastest: set[str] = set()
    for w, layers, dt, K in groups:
        rows = _rows(workload=w, dtype=dt, K=K)
        numba = next((r for r in rows if r["contender"] == "numba"), None)
        cuda = [r for r in rows if r["contender"] != "numba"]
        if not cuda:
            continue
        best = min(cuda, key=lambda r: r["ms_per_epoch"])
        default = min((r for r in cuda if r["verified"]), key=lambda r: r["ms_per_epoch"], default=None)
        table.append(dict(workload=w, layers=layers, dtype=dt, K=K, numba=numba, rows=cuda, best=best, default=default))
        ran |= {r["contender"] for r in cuda}
        fastest.add(best["contender"])
        if default and best["kernel"] != default["kernel"]:
            faster_than_default.setdefault(best["contender"], []).append(
                f"{layers} {dt} K={K}: {default['ms_per_epoch'] / best['ms_per_epoch']:.2f}x {default['contender']}"
            )
    R["table"] = table
    for label, where in faster_than_default.items():
        kernel = label.split()[1]
        ok = R["kernel_tests"].get(kernel, "not run")
        R["decisions"].append(
            f"{label} is faster than the default on {'; '.join(where)}; its tests here: {ok}."
            + (
                f' It can become a default: add "{kernel}" to VERIFIED in fastbp/backends/cuda/plan.py, citing this file.'
                if ok == "passed"
                else ""
            )
        )
    serves = {
        "cuda grid (slices)": "networks whose last layer does not fit every block",
        "cuda step": "networks too large for every persistent kernel",
        "cuda block": "one weight matrix, and more networks than SMs",
    }
    for label in sorted(ran - fastest):
        R["decisions"].append(
            f"{label} was the fastest cuda kernel on no workload measured: delete it"
            + (f" unless it must serve {serves[label]}." if label in serves else ".")
        )
    # the "auto" thresholds, from the default kernels (and from every kernel whose tests passed)
    for which, pick in (
        ("default kernels", lambda r: r["verified"]),
        ("kernels whose tests passed here", lambda r: R["kernel_tests"].get(r["kernel"]) == "passed"),
    ):
        ks = sorted(
            e["K"]
            for e in table
            if e["workload"] == "digits, K networks" and e["dtype"] == "float64" and e["numba"] and _ahead(e, pick)
        )
        ones = [
            e["layers"] for e in table if e["K"] == 1 and e["dtype"] == "float64" and e["numba"] and _ahead(e, pick)
        ]
        R["decisions"].append(
            f"auto with the {which}: GPU_MIN_NETWORKS = {ks[0] if ks else 'none measured'} (digits, float64); "
            f"single networks ahead of numba: {', '.join(ones) or 'none'} (GPU_MIN_MACS_PER_SAMPLE from the smallest)"
        )
    # targets
    for e in table:
        if e["K"] == 1 and e["numba"]:
            goal = {"64-32-16-10": 1.0, "784-256-128-10": 10.0}.get(e["layers"])
            x = e["numba"]["ms_per_epoch"] / e["best"]["ms_per_epoch"]
            R["targets"].append(
                f"{e['layers']} {e['dtype']}: fastest cuda ({e['best']['contender']}) {x:.2f}x numba"
                + (f" (target {goal:g}x)" if goal else "")
            )
    for dt in ("float64", "float32"):
        for label in ("cuda block", "cuda regs"):
            one = _rows(workload="digits, 1 network", dtype=dt, contender=label)
            big = _rows(workload="digits, K networks", dtype=dt, contender=label)
            if one and big:
                top = max(big, key=lambda r: r["K"])
                x = top["network_samples_per_s"] / one[0]["network_samples_per_s"]
                R["targets"].append(
                    f"{label} {dt}: K={top['K']} networks at {x:.0f}x one network's throughput (target 100x at K=512)"
                )


def _ahead(e, pick) -> bool:
    rows = [r for r in e["rows"] if pick(r)]
    return bool(rows) and min(r["ms_per_epoch"] for r in rows) < e["numba"]["ms_per_epoch"]


def markdown() -> str:
    m = R["meta"]
    c = m.get("cuda", {})
    out = [
        "# fastbp GPU check",
        "",
        f"- {m.get('date')}, commit {m.get('commit')} ({m.get('uncommitted_files', '?')} files changed since)",
        f"- GPU: {c.get('gpu', m.get('cuda_unavailable'))}, cc {c.get('compute_capability')}, {c.get('sm_count')} SMs, driver CUDA {c.get('driver_cuda_version')}, runtime {c.get('runtime_cuda_version')}, CuPy {c.get('cupy')}",
        f"- CPU: {m.get('cpu')}, {m.get('cpu_count')} logical CPUs; numba: {m.get('numba')}",
        f"- source hashes (the code measured): {m.get('source_hash')}",
        f"- defaults before this check (plan.VERIFIED): {sorted(m.get('verified_now', {}))}",
        "- timing: the training seam (E epochs and the loss of the last one per call), warm-up outside the timing, "
        "contenders interleaved round by round, a synchronize inside every call, median per contender",
        "",
        "## Tests",
        "",
    ]
    for name, t in R["tests"].items():
        n = {o: list(t["outcomes"].values()).count(o) for o in ("passed", "failed", "skipped")}
        out.append(f"- `{name}`: rc={t['rc']} in {t['seconds']} s: {n}; {t['tail'][-1] if t['tail'] else ''}")
    out.append(f"- per kernel: {R['kernel_tests']}")
    out += ["", "## Decision table (ms per epoch; in brackets: numba's time / this one)", ""]
    for e in R.get("table", []):
        nb = e["numba"]["ms_per_epoch"] if e["numba"] else None
        cells = []
        for r in sorted(e["rows"], key=lambda r: r["ms_per_epoch"]):
            x = f" ({nb / r['ms_per_epoch']:.2f}x)" if nb else ""
            mark = " [default]" if r["verified"] else ""
            cells.append(f"{r['contender']}{mark} {r['ms_per_epoch']:.3f}{x}")
        out.append(
            f"- **{e['workload']}** {e['layers']} {e['dtype']} K={e['K']}: numba {nb:.3f} ms; "
            if nb
            else f"- **{e['workload']}** {e['layers']} {e['dtype']} K={e['K']}: "
        )
        out[-1] += "; ".join(cells) + f". Fastest: {e['best']['contender']}."
    out += ["", "## Decisions", ""] + [f"- {d}" for d in R["decisions"]]
    out += ["", "## Targets", ""] + [f"- {t}" for t in R["targets"]]
    out += [
        "",
        "## All timings",
        "",
        "| workload | dtype | K | contender | plan | ms/epoch | us/sample | network-samples/s | epochs x calls |",
        "|---|---|--:|---|---|--:|--:|--:|--:|",
    ]
    for t in R["timings"]:
        if "error" in t:
            out.append(f"| {t['workload']} | {t['dtype']} | {t['K']} | {t['contender']} | {t['error'][:160]} | | | | |")
        else:
            out.append(
                f"| {t['workload']} {t['layers']} | {t['dtype']} | {t['K']} | {t['contender']} | {t['plan'] or ''} | {t['ms_per_epoch']:.3f} | "
                f"{t['us_per_sample']:.2f} | {t['network_samples_per_s']:,.0f} | {t['epochs_per_call']} x {t['calls']} |"
            )
    if R["errors"]:
        out += ["", "## Errors", ""] + [f"- {e['where']}: {e['error']}" for e in R["errors"]]
    return "\n".join(out) + "\n"


def main() -> int:
    global OUT, NAME, SMOKE, BUDGET_S
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", str(ROOT / "gpu_out")))
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny workloads: checks this script, measures nothing")
    args = ap.parse_args()
    OUT, SMOKE = Path(args.out), args.smoke
    OUT.mkdir(parents=True, exist_ok=True)
    environment()
    card = _card(R["meta"].get("cuda", {}).get("gpu", "no-GPU"))
    base = f"gpu-check-{card}-{R['meta']['date'][:10]}" + ("-smoke" if SMOKE else "")
    NAME = OUT / base
    for i in range(2, 100):
        if not NAME.with_suffix(".json").exists():
            break
        NAME = OUT / f"{base}-{i}"
    log("results:", NAME.with_suffix(".md"))
    if not args.skip_tests:
        tests()
    one_network()
    many_networks()
    try:
        decide()
    except Exception as exc:
        R["errors"].append(
            {"where": "decide", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        )
    save()
    print("\n" + markdown(), flush=True)
    failed = [n for n, t in R["tests"].items() if t["rc"] not in (0, 5)]
    return 1 if failed or R["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
