"""Fixtures of the benchmark suite and the machine info saved with a run.

Every benchmark is parametrized over every registered backend (an unusable one
is skipped with its reason, so ``pytest -ra`` says why) and over float64 and
float32. ``pytest --benchmark-only`` from the repository root runs this suite
and nothing else (see the root conftest.py).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

import numpy as np
import pytest

from fastbp.backends import backend_names, get_backend, unavailable_reason

DTYPES = [np.float64, np.float32]


@pytest.fixture(params=backend_names())
def backend(request):
    """A usable backend instance (an unusable one skips with the reason)."""
    why = unavailable_reason(request.param)
    if why is not None:
        pytest.skip(why)
    return get_backend(request.param)


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


# ------------------------------------------------------------- machine info
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


def fastbp_machine_info() -> dict:
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


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["fastbp"] = fastbp_machine_info()
