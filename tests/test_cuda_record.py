"""This machine's record of cuda kernel decisions (fastbp/backends/cuda/record.py),
without CuPy or a GPU: the file, atomic merged writes from concurrent
processes, corrupt files and files of another fastbp version, and the
evidence "auto" reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fastbp
from fastbp.backends.cuda import record
from fastbp.backends.cuda.source import kernels_hash

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTBP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(record, "_warned", set())
    return tmp_path / "cache"


def key(dims=(65, 33, 17, 10), dtype="float64", K=1, gpu="NVIDIA H100", source=None, units=("sigmoid", "sigmoid")):
    w = record.Workload.of(dims, dtype, units, K)
    return record.Key(gpu, "9.0", "13.0", "13.0", source or kernels_hash(), w)


def entry(chosen="block", cuda_us=1.0, numba_us=2.0, date="2026-12-01T10:00:00+00:00"):
    return {
        "date": date,
        "chosen": chosen,
        "kernels": {
            chosen: {"status": "passed", "us_per_sample": cuda_us},
            "grid": {"status": "refused", "reason": "x"},
        },
        "numba": {"us_per_sample": numba_us},
    }


def test_k_ranges_are_powers_of_two():
    assert [record.k_range(K) for K in (1, 2, 3, 4, 8, 15, 512, 1000)] == [
        (1, 1),
        (2, 3),
        (2, 3),
        (4, 7),
        (8, 15),
        (8, 15),
        (512, 1023),
        (512, 1023),
    ]
    assert record.Workload.of([65, 33, 10], "float32", ["relu", "softmax"], 64).describe() == (
        "65-33-10 float32 relu/softmax, 64-127 networks"
    )


def test_a_decision_is_stored_and_found_in_this_machines_file(cache):
    assert record.entries() == {} and record.lookup(key()) is None
    record.store(key(), entry())
    record.store(key(K=8), entry("regs"))
    assert record.path().parent == cache / "cuda" and record.machine() in record.path().name
    assert record.lookup(key())["chosen"] == "block" and record.lookup(key(K=9))["chosen"] == "regs"
    assert record.lookup(key(gpu="NVIDIA A100")) is None and record.lookup(key(dtype="float32")) is None
    data = json.loads(record.path().read_text())
    assert data["fastbp"] == fastbp.__version__ and len(data["entries"]) == 2
    assert not list(record.path().parent.glob("*.tmp")) and not list(record.path().parent.glob("*.lock"))


@pytest.mark.parametrize(
    "content,why",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "not a fastbp decisions file"),
        (json.dumps({"fastbp": "0.0.1", "format": 1, "entries": {"k": {}}}), "fastbp 0.0.1 wrote it"),
    ],
)
def test_a_corrupt_or_foreign_file_is_ignored_reported_once_and_rewritten(content, why):
    record.path().parent.mkdir(parents=True)
    record.path().write_text(content)
    with pytest.warns(RuntimeWarning, match=why):
        assert record.entries() == {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert record.entries() == {}  # reported once
        record.store(key(), entry())
    data = json.loads(record.path().read_text())
    assert data["fastbp"] == fastbp.__version__ and list(data["entries"]) == [key().text()]


def test_two_processes_storing_at_once_lose_nothing(cache):
    code = (
        "import sys; from fastbp.backends.cuda import record as r; "
        "w = lambda K: r.Workload.of([5, 4, 3], 'float64', ['sigmoid', 'sigmoid'], K); "
        "[r.store(r.Key(sys.argv[1], '9.0', '1', '1', 'src', w(2 ** i)), {'chosen': 'step', 'i': i}) for i in range(30)]"
    )
    env = dict(os.environ, FASTBP_CACHE_DIR=str(cache))
    procs = [
        subprocess.Popen([sys.executable, "-c", code, f"GPU {n}"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    got = record.entries()
    assert len(got) == 90 and {e["key"]["gpu"] for e in got.values()} == {"GPU 0", "GPU 1", "GPU 2"}


def test_a_stale_lock_is_taken_over_and_a_held_one_waited_for(monkeypatch):
    lock = record.path().with_name(record.path().name + ".lock")
    lock.parent.mkdir(parents=True)
    lock.write_text("12345")
    old = time.time() - 2 * record.STALE_LOCK_S
    os.utime(lock, (old, old))
    record.store(key(), entry())  # a process that died holding it
    assert record.lookup(key()) is not None and not lock.exists()
    lock.write_text("12345")
    monkeypatch.setattr(record, "LOCK_WAIT_S", 0.2)
    with pytest.raises(TimeoutError, match="remove it if no fastbp runs"):
        record.store(key(K=2), entry())
    lock.unlink()


def test_forget_removes_a_workloads_decisions_on_every_gpu():
    record.store(key(), entry())
    record.store(key(gpu="NVIDIA A100"), entry())
    record.store(key(K=64), entry())
    assert record.forget(key().workload) == 2 and list(record.entries()) == [key(K=64).text()]


def test_evidence_is_the_latest_decision_with_the_current_kernels():
    d, w = (65, 33, 17, 10), ("sigmoid", "sigmoid")
    assert record.evidence(d, "float64", w, 1) is None
    record.store(key(source="an-older-source"), entry(cuda_us=0.1, date="2026-12-09T00:00:00+00:00"))
    assert record.evidence(d, "float64", w, 1) is None  # measured on other kernels
    record.store(key(), entry(cuda_us=3.0, numba_us=2.0, date="2026-12-01T00:00:00+00:00"))
    ev = record.evidence(d, "float64", w, 1)
    assert not ev.cuda_wins and ev.kernel == "block" and (ev.cuda_us, ev.numba_us) == (3.0, 2.0)
    record.store(key(gpu="NVIDIA A100"), entry("regs", 1.0, 2.0, date="2026-12-02T00:00:00+00:00"))
    ev = record.evidence(d, "float64", w, 1)
    assert ev.cuda_wins and ev.gpu == "NVIDIA A100" and ev.kernel == "regs"
    assert "A100 (2026-12-02)" in ev.describe() and "regs kernel) 1 us" in ev.describe()
    assert record.evidence(d, "float64", w, 2) is None and record.evidence(d, "float32", w, 1) is None
    record.store(key(K=2), {"date": "2026-12-03", "chosen": "step", "kernels": {"step": {}}, "numba": None})
    assert not record.evidence(d, "float64", w, 3).cuda_wins  # a kernel not timed is no evidence for cuda
