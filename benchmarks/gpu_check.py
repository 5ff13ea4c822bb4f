"""One-call GPU check for fastbp's cuda backend (run by benchmarks/gpu_check.sh).

Stages, each in its own try/except (one failure never loses the others),
results written to OUT after every stage:
  1. environment: card, driver, CUDA runtime, CuPy, compiled kernels'
     registers / local (spill) / shared memory;
  2. tests: tests/test_cuda_backend.py + tests/test_cuda_source.py, then the
     rest of the suite with -k cuda;
  3. timings (warm-up first, a synchronize inside every timed call, median):
     digits epoch (1347 x 64-32-16-10) numpy / numba / cuda: the
     register-resident block kernel (default, "block regs") against the
     shared-memory ones ("block fixed", the previous default, and "block
     generic"), float64 and float32; wide 784-256-128-10 epoch numba /
     cuda grid acqrel barrier with the last layer replicated (default) /
     the same with the last layer in slices / fence barrier (old);
     sgd_epoch_many K = 1..512 default (regs up to one network per SM, then
     fixed), fixed K = 1, 64, 512, regs forced at K = 512;
Writes OUT/gpu_results.json, OUT/gpu_results.md; prints a table at the end.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
T_START = time.perf_counter()
BUDGET_S = float(os.environ.get("FASTBP_GPU_CHECK_BUDGET_S", "270"))

RESULTS: dict = {"meta": {}, "kernels": {}, "tests": {}, "timings": [], "errors": [], "notes": []}
OUT: Path = Path(".")


def log(*a):
    print(f"[{time.perf_counter() - T_START:7.1f}s]", *a, flush=True)


def left() -> float:
    return BUDGET_S - (time.perf_counter() - T_START)


def save():
    try:
        (OUT / "gpu_results.json").write_text(json.dumps(RESULTS, indent=2, default=str))
        (OUT / "gpu_results.md").write_text(markdown())
    except Exception as exc:  # pragma: no cover
        print("could not save results:", exc, flush=True)


def stage(name):
    def deco(fn):
        def run(*a, **k):
            log(f"=== {name}")
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            except Exception as exc:
                tb = traceback.format_exc()
                log(f"!!! stage {name} failed: {type(exc).__name__}: {exc}\n{tb}")
                RESULTS["errors"].append({"stage": name, "error": f"{type(exc).__name__}: {exc}", "traceback": tb})
            finally:
                log(f"=== {name} done in {time.perf_counter() - t0:.1f}s")
                save()

        return run

    return deco


def median_time(fn, reps, sync=None, warmup=1):
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def record(**kw):
    RESULTS["timings"].append(kw)
    extra = ""
    if "samples_per_s" in kw:
        extra = f"  {kw['samples_per_s']:,.0f} (network-)samples/s"
    log(
        f"  {kw.get('bench')}: {kw.get('backend')} {kw.get('dtype')} {kw.get('variant', '')} "
        f"median {kw.get('median_s', float('nan')) * 1e3:.3f} ms{extra}"
    )


# ------------------------------------------------------------------ data
# The package's own initial weights and digits split (PYTHONPATH=$PWD makes
# fastbp importable on the GPU machine).
from fastbp.network import add_bias, init_weights  # noqa: E402


def digits_train():
    from fastbp.datasets import digits

    ds = digits()
    return add_bias(ds.X_train), ds.Y_train


def random_data(layers, n, seed=1):
    rs = np.random.RandomState(seed)
    return add_bias(rs.rand(n, layers[0])), np.eye(layers[-1])[rs.randint(0, layers[-1], n)]


DIGITS = [64, 32, 16, 10]
WIDE = [784, 256, 128, 10]


def _record_kernel(name, kernel, extra=()):
    """A compiled kernel's attributes (registers, local and shared memory, ...)
    into the results and the log; an attribute that cannot be read is noted."""
    attrs = {}
    for a in ("num_regs", "local_size_bytes", "shared_size_bytes", "max_threads_per_block", *extra):
        try:
            attrs[a] = int(getattr(kernel, a))
        except Exception as exc:
            attrs[a] = f"? {exc}"
    RESULTS["kernels"][name] = attrs
    log(f"  kernel {name}: {attrs}")


# ---------------------------------------------------------------- stages


@stage("environment")
def environment():
    m = RESULTS["meta"]
    m["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    m["python"] = sys.version.split()[0]
    m["numpy"] = np.__version__
    m["platform"] = platform.platform()
    m["cpu_count"] = os.cpu_count()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                m["cpu"] = line.split(":", 1)[1].strip()
                break
    except Exception:
        pass
    try:
        import numba

        m["numba"] = numba.__version__
    except Exception as exc:
        m["numba"] = f"unavailable: {exc}"
    try:
        r = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        m["nvidia_smi"] = r.stdout.strip()
    except Exception as exc:
        m["nvidia_smi"] = f"failed: {exc}"
    import cupy

    m["cupy"] = cupy.__version__
    from fastbp.backends import unavailable_reason

    why = unavailable_reason("cuda")
    m["cuda_unavailable_reason"] = why
    if why:
        log("cuda backend UNAVAILABLE:", why)
        # direct construction shows the full traceback (compile errors, ...)
        from fastbp.backends.cuda_backend import CudaBackend

        CudaBackend()
        return
    from fastbp.backends import get_backend

    cb = get_backend("cuda")
    m["cuda_info"] = cb.info()
    log("cuda info:", json.dumps(m["cuda_info"]))
    for ne, k in cb._kernels.items():
        _record_kernel(ne, k, ("binary_version", "ptx_version"))
    m["cuda_specialize_default"] = getattr(cb, "specialize", None)
    m["cuda_registers_default"] = getattr(cb, "registers", None)
    from fastbp.backends import _cuda_source as src

    for dt in (np.float64, np.float32):
        ne = src.regs_block_name(dt, src.regs_threads_for([65, 33, 17, 10]), [65, 33, 17, 10])
        try:
            _record_kernel(ne, cb._shape_kernel(ne))
        except Exception as exc:
            log(f"  {ne}: NOT built: {type(exc).__name__}: {exc}")
            RESULTS["errors"].append({"stage": f"build {ne}", "error": f"{type(exc).__name__}: {exc}"})
    for dt in (np.float64, np.float32):
        for many_ in (False, True):
            try:
                p = cb.plan([65, 33, 17, 10], dt, many=many_)
                k, ne = cb._fixed_block_kernel(np.dtype(dt), p.threads, [65, 33, 17, 10])
                if k is None:
                    log(
                        f"  fixed kernel for digits {np.dtype(dt).name} {p.threads} threads: NOT built: {cb.specialize_failed}"
                    )
                    continue
                _record_kernel(ne, k)
            except Exception as exc:
                log(f"  fixed kernel attributes failed: {type(exc).__name__}: {exc}")
    for name, d in (("digits", [65, 33, 17, 10]), ("wide", [785, 257, 129, 10])):
        for dt in (np.float64, np.float32):
            p = cb.plan(d, dt)
            pm = cb.plan(d, dt, many=True)
            RESULTS["meta"][f"plan_{name}_{np.dtype(dt).name}"] = {"one": p.__dict__, "many": pm.__dict__}
            log(f"  plan {name} {np.dtype(dt).name}: {p}; many: {pm.path} {pm.threads} threads")


def run_pytest(name, args, timeout):
    cmd = [sys.executable, "-m", "pytest", *args, "-q", "-rs", "-p", "no:cacheprovider"]
    log("running", " ".join(cmd))
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        out += f"\nTIMEOUT after {timeout}s"
        rc = "timeout"
    (OUT / f"pytest_{name}.log").write_text(out)
    tail = out.strip().splitlines()[-40:]
    RESULTS["tests"][name] = {"rc": rc, "seconds": round(time.perf_counter() - t0, 1), "tail": tail}
    print("\n".join(out.strip().splitlines()[-60:]), flush=True)


@stage("tests")
def tests():
    # the host emulation and the fake-CuPy run of test_cuda_source.py need no
    # GPU (they run in CI); deselected here to leave time for the timings
    run_pytest(
        "cuda",
        [
            "tests/test_cuda_backend.py",
            "tests/test_cuda_source.py",
            "--durations=8",
            "-k",
            "not emulated and not fake_cupy",
        ],
        timeout=max(60, min(150, left() - 110)),
    )
    RESULTS["notes"].append(
        "test_cuda_source.py's host-emulation and fake-CuPy tests deselected here (GPU-free, run in CI)"
    )
    if left() > 150:
        run_pytest(
            "k_cuda",
            ["tests", "-k", "cuda", "--ignore=tests/test_cuda_backend.py", "--ignore=tests/test_cuda_source.py"],
            timeout=max(30, min(60, left() - 120)),
        )
    else:
        RESULTS["notes"].append("skipped `pytest tests -k cuda` (time budget)")


def _numba():
    from fastbp.backends import get_backend, unavailable_reason

    why = unavailable_reason("numba")
    if why:
        RESULTS["notes"].append(f"numba timings skipped: {why}")
        log("numba unavailable:", why)
        return None
    return get_backend("numba")


def _cuda(**kw):
    from fastbp.backends.cuda_backend import CudaBackend

    return CudaBackend(**kw)


def safe(fn, *a, **k):
    """Run one measurement; a failure is recorded and the stage goes on."""
    try:
        return fn(*a, **k)
    except Exception as exc:
        tb = traceback.format_exc()
        label = f"{getattr(fn, '__name__', fn)} {[x for x in a if isinstance(x, (str, int, dict))]} {k}"
        log(f"!!! {label} failed: {type(exc).__name__}: {exc}\n{tb}")
        RESULTS["errors"].append({"stage": label, "error": f"{type(exc).__name__}: {exc}", "traceback": tb})
        return None


def time_epoch(backend, layers, X1, Y, dtype, reps, bench, variant="", alpha=0.1, seed=0, max_s=None):
    W = [backend.asarray(w, dtype) for w in init_weights(layers, seed)]
    X1d, Yd = backend.asarray(X1, dtype), backend.asarray(Y, dtype)
    med, ts, how = _time_call(backend, lambda: backend.sgd_epoch(W, X1d, Yd, alpha), reps, max_s)
    n = X1.shape[0]
    record(
        bench=bench,
        backend=backend.name,
        dtype=np.dtype(dtype).name,
        variant=variant,
        samples=n,
        median_s=med,
        runs_s=ts,
        us_per_sample=med / n * 1e6,
        samples_per_s=n / med,
        **how,
    )
    return med


def _time_call(backend, fn, reps, max_s=None):
    """(median s, times, how it ran): one warm-up call (compilation), reps cut so
    they fit in ``max_s`` by that call's time, then the median of the timed
    calls; ``how`` holds the plan and kernel the backend reports it used."""
    t0 = time.perf_counter()
    fn()
    backend.synchronize()
    first = time.perf_counter() - t0
    if max_s is not None:
        reps = max(1, min(reps, int(max_s / max(first, 1e-6))))
    med, ts = median_time(fn, reps, sync=backend.synchronize, warmup=1 if first < 1.0 else 0)
    plan = getattr(backend, "last_plan", None)
    how = dict(
        plan=(plan.__dict__ if plan is not None else None),
        kernel=getattr(backend, "last_kernel", None),
        specialize_failed=getattr(backend, "specialize_failed", None),
        registers_failed=getattr(backend, "registers_failed", None),
    )
    return med, ts, how


@stage("digits epoch")
def digits_epoch():
    from fastbp.backends import get_backend

    X1, Y = digits_train()
    numba_b = _numba()
    cuda = safe(get_backend, "cuda")
    fixed_b = safe(_cuda, registers=False) if cuda is not None else None
    generic_b = safe(_cuda, registers=False, specialize=False) if cuda is not None else None
    for dt in (np.float64, np.float32):
        # numba and the cuda kernels interleaved twice (the CPU's clock and
        # the host's load drift): each row is the median of its own calls
        for _ in range(2):
            for b, label in ((cuda, REGS), (fixed_b, FIXED), (generic_b, GENERIC)):
                if b is not None:
                    safe(time_epoch, b, DIGITS, X1, Y, dt, 15, "digits_epoch", label)
            if numba_b is not None:
                safe(time_epoch, numba_b, DIGITS, X1, Y, dt, 9, "digits_epoch", max_s=5)
        safe(time_epoch, get_backend("numpy"), DIGITS, X1, Y, dt, 2, "digits_epoch", max_s=3)


@stage("wide epoch")
def wide_epoch():
    from fastbp.backends import get_backend

    n = 1000
    X1, Y = random_data(WIDE, n)
    numba_b = _numba()
    cuda = safe(get_backend, "cuda")
    acq = safe(_cuda, grid_barrier="fence") if cuda is not None else None
    slices = safe(_cuda, grid_replicate_last=False) if cuda is not None else None
    for dt in (np.float64, np.float32):
        if cuda is not None:
            safe(time_epoch, cuda, WIDE, X1, Y, dt, 7, "wide_epoch", GRID_ACQREL, alpha=0.05)
        if slices is not None:
            safe(time_epoch, slices, WIDE, X1, Y, dt, 7, "wide_epoch", GRID_SLICES, alpha=0.05)
        if acq is not None:
            safe(time_epoch, acq, WIDE, X1, Y, dt, 7, "wide_epoch", "grid fence barrier (old)", alpha=0.05)
        if numba_b is not None and left() > 60:
            safe(time_epoch, numba_b, WIDE, X1, Y, dt, 3, "wide_epoch", alpha=0.05, max_s=8)
    if left() > 60:
        for nb in (33, 66):
            safe(
                time_epoch_cuda,
                dict(path="grid", grid_blocks=nb),
                WIDE,
                X1,
                Y,
                np.float64,
                3,
                "wide_epoch",
                f"grid {nb} blocks",
                alpha=0.05,
            )


#: variant labels of the single-block kernels
REGS = "block regs (auto)"
FIXED = "block fixed (previous default)"
GENERIC = "block generic (old)"
GRID_ACQREL = "grid acqrel barrier, last layer replicated (auto)"
GRID_SLICES = "grid acqrel barrier, last layer in slices"
AUTO_MANY = "auto (regs if K <= SMs, else fixed)"


def _cuda_ok() -> bool:
    from fastbp.backends import unavailable_reason

    return unavailable_reason("cuda") is None


def time_epoch_cuda(options, *a, **k):
    return time_epoch(_cuda(**options), *a, **k) if _cuda_ok() else None


def time_many_cuda(options, *a, **k):
    return time_many(_cuda(**options), *a, **k) if _cuda_ok() else None


def time_many(backend, K, X1, Y, dtype, reps, variant="", max_s=None):
    L = len(DIGITS) - 1
    nets = [init_weights(DIGITS, 1000 + k) for k in range(K)]
    Ws = [backend.asarray(np.stack([n[l] for n in nets]), dtype) for l in range(L)]
    alphas = np.linspace(0.05, 0.5, K)
    X1d, Yd = backend.asarray(X1, dtype), backend.asarray(Y, dtype)
    med, ts, how = _time_call(backend, lambda: backend.sgd_epoch_many(Ws, X1d, Yd, alphas), reps, max_s)
    n = X1.shape[0]
    record(
        bench="many_digits_epoch",
        backend=backend.name,
        dtype=np.dtype(dtype).name,
        variant=variant,
        K=K,
        samples=n,
        median_s=med,
        runs_s=ts,
        samples_per_s=K * n / med,
        us_per_sample=med / n * 1e6,
        **how,
    )


@stage("many networks")
def many():
    from fastbp.backends import get_backend

    X1, Y = digits_train()
    cuda = safe(get_backend, "cuda")
    for dt in (np.float64, np.float32):
        for K in (1, 8, 64, 512):
            if cuda is not None:
                safe(time_many, cuda, K, X1, Y, dt, 5 if K < 512 else 3, AUTO_MANY)
        for K in (1, 64, 512):
            safe(time_many_cuda, dict(registers=False), K, X1, Y, dt, 5 if K < 512 else 3, FIXED)
        safe(time_many_cuda, dict(registers=True), 512, X1, Y, dt, 3, "block regs (forced)")
    numba_b = _numba()
    if numba_b is not None:
        for K in (1, 8):
            if left() > 40:
                safe(time_many, numba_b, K, X1, Y, np.float64, 2, max_s=10)


# ---------------------------------------------------------------- report
def _rows(bench, backend, dtype, variant=None, K=None):
    """The timing rows that match (variant / K None: any)."""
    return [
        t
        for t in RESULTS["timings"]
        if t.get("bench") == bench
        and t.get("backend") == backend
        and t.get("dtype") == dtype
        and (variant is None or t.get("variant") == variant)
        and (K is None or t.get("K") == K)
    ]


def _find(bench, backend, dtype, variant=None, K=None):
    rows = _rows(bench, backend, dtype, variant, K)
    return rows[0] if rows else None


def _median_of(bench, backend, dtype, variant=None, K=None):
    """Median over every row that matches (the interleaved repeats)."""
    rows = _rows(bench, backend, dtype, variant, K)
    return statistics.median(t["median_s"] for t in rows) if rows else None


def ratios():
    """Speed-ups, as (bench, dtype, what, x): x = peer's time / cuda's time."""
    out = []

    def add(bench, dt, what, peer_s, new_s):
        if peer_s and new_s:
            out.append({"bench": bench, "dtype": dt, "what": what, "x": peer_s / new_s})

    for dt in ("float64", "float32"):
        for cv in (REGS, FIXED, GENERIC):
            for peer in ("numba", "numpy"):
                add(
                    "digits_epoch",
                    dt,
                    f"cuda {cv} vs {peer}",
                    _median_of("digits_epoch", peer, dt),
                    _median_of("digits_epoch", "cuda", dt, cv),
                )
        add(
            "digits_epoch",
            dt,
            f"{REGS} vs {FIXED}",
            _median_of("digits_epoch", "cuda", dt, FIXED),
            _median_of("digits_epoch", "cuda", dt, REGS),
        )
        add(
            "digits_epoch",
            dt,
            f"{REGS} vs {GENERIC}",
            _median_of("digits_epoch", "cuda", dt, GENERIC),
            _median_of("digits_epoch", "cuda", dt, REGS),
        )
        add(
            "wide_epoch",
            dt,
            f"{GRID_ACQREL} vs {GRID_SLICES}",
            _median_of("wide_epoch", "cuda", dt, GRID_SLICES),
            _median_of("wide_epoch", "cuda", dt, GRID_ACQREL),
        )
        for cv in (GRID_ACQREL, GRID_SLICES, "grid fence barrier (old)"):
            for peer in ("numba", "numpy"):
                add(
                    "wide_epoch",
                    dt,
                    f"cuda {cv} vs {peer}",
                    _median_of("wide_epoch", peer, dt),
                    _median_of("wide_epoch", "cuda", dt, cv),
                )
        for K in (1, 64, 512):
            add(
                f"many_digits_epoch K={K}",
                dt,
                f"{AUTO_MANY} vs {FIXED}",
                _median_of("many_digits_epoch", "cuda", dt, FIXED, K),
                _median_of("many_digits_epoch", "cuda", dt, AUTO_MANY, K),
            )
        add(
            "many_digits_epoch K=512",
            dt,
            f"block regs (forced) vs {FIXED}",
            _median_of("many_digits_epoch", "cuda", dt, FIXED, 512),
            _median_of("many_digits_epoch", "cuda", dt, "block regs (forced)", 512),
        )
        one = _find("many_digits_epoch", "cuda", dt, AUTO_MANY, 1)
        for K in (8, 64, 512):
            k = _find("many_digits_epoch", "cuda", dt, AUTO_MANY, K)
            if one and k:
                out.append(
                    {
                        "bench": "many_digits_epoch",
                        "dtype": dt,
                        "what": f"K={K} throughput vs K=1 ({AUTO_MANY})",
                        "x": k["samples_per_s"] / one["samples_per_s"],
                    }
                )
    RESULTS["ratios"] = out
    return out


def markdown():
    m = RESULTS["meta"]
    info = m.get("cuda_info", {})
    lines = [
        "# fastbp GPU check",
        "",
        f"- date: {m.get('date')}",
        f"- GPU: {info.get('gpu', m.get('nvidia_smi'))} (cc {info.get('compute_capability')}, {info.get('sm_count')} SMs, "
        f"{info.get('shared_memory_per_block_optin')} B shared memory per block opt-in)",
        f"- driver CUDA {info.get('driver_cuda_version')}, runtime {info.get('runtime_cuda_version')}, nvidia-smi: {m.get('nvidia_smi')}",
        f"- CuPy {m.get('cupy')}, NumPy {m.get('numpy')}, Numba {m.get('numba')}, Python {m.get('python')}",
        f"- CPU: {m.get('cpu')} ({m.get('cpu_count')} logical CPUs)",
        "",
        "## Tests",
        "",
    ]
    for name, t in RESULTS["tests"].items():
        lines.append(f"- `{name}`: rc={t['rc']} in {t['seconds']} s: {t['tail'][-1] if t['tail'] else ''}")
    lines += [
        "",
        "## Timings (median; synchronize inside the timed call; warm-up excluded)",
        "",
        "| bench | backend | dtype | variant | K | samples | median ms | us/sample | (network-)samples/s | kernel |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in RESULTS["timings"]:
        us = t.get("us_per_sample")
        lines.append(
            f"| {t.get('bench')} | {t.get('backend')} | {t.get('dtype')} | {t.get('variant', '')} | {t.get('K', '')} | "
            f"{t.get('samples')} | {t['median_s'] * 1e3:.3f} | {'' if us is None else f'{us:.2f}'} | {t['samples_per_s']:,.0f} | "
            f"{t.get('kernel') or ''} |"
        )
    for key, what in (
        ("specialize_failed", "The specialised block kernel failed (the generic kernel ran instead)"),
        ("registers_failed", "The register kernel failed (a shared-memory kernel ran instead)"),
    ):
        failed = sorted({t[key] for t in RESULTS["timings"] if t.get(key)})
        if failed:
            lines += ["", f"**{what}:**", ""] + [f"- {f}" for f in failed]
    r = ratios()
    if r:
        lines += ["", "## Ratios (medians over the interleaved repeats; > 1: the first is faster)", ""]
        lines += [f"- {x['bench']} {x['dtype']}: {x['what']}: {x['x']:.2f}x" for x in r]
    if RESULTS["kernels"]:
        lines += ["", "## Kernels", ""]
        for ne, a in RESULTS["kernels"].items():
            lines.append(f"- `{ne}`: {a}")
    if RESULTS["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in RESULTS["notes"]]
    if RESULTS["errors"]:
        lines += ["", "## Errors", ""] + [f"- stage {e['stage']}: {e['error']}" for e in RESULTS["errors"]]
    return "\n".join(lines) + "\n"


def main():
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", str(ROOT / "gpu_out")))
    ap.add_argument("--skip-tests", action="store_true")
    args = ap.parse_args()
    OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    environment()
    if not args.skip_tests:
        tests()
    for st in (digits_epoch, wide_epoch, many):
        if left() < 20:
            RESULTS["notes"].append(f"stage {st.__name__} skipped: time budget")
            continue
        st()
    save()
    print("\n" + markdown(), flush=True)
    log("results in", OUT / "gpu_results.json", "and", OUT / "gpu_results.md")
    failed_tests = [n for n, t in RESULTS["tests"].items() if t.get("rc") not in (0, 5)]
    return 1 if RESULTS["errors"] or failed_tests else 0


if __name__ == "__main__":
    sys.exit(main())
