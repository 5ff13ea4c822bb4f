"""The benchmark report (benchmarks/report.py) on small fake results files, and
the split between the test suite and the benchmark suite (root conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import _results
from benchmarks import report as rep

ROOT = Path(__file__).resolve().parents[1]

MACHINE = {
    "cpu_model": "AMD EPYC 9999",
    "cpu_flags": "avx2,fma",
    "logical_cpus": 4,
    "usable_cpus": 4,
    "python": "3.11.7",
    "numpy": "2.4.6",
    "backends": {
        "numpy": {"name": "numpy"},
        "numba": {"name": "numba", "numba": "0.68.1"},
        "cuda": {"unavailable": "backend 'cuda' is unavailable: CuPy is not installed"},
    },
    "loadavg": "0.10 0.20 0.30",
}
GPU_MACHINE = {
    **MACHINE,
    "nvidia_smi": {"gpu": "NVIDIA H100 80GB HBM3", "driver": "580.65"},
    "backends": {**MACHINE["backends"], "cuda": {"name": "cuda", "gpu": "NVIDIA H100 80GB HBM3", "cupy": "14.0.0"}},
}


def _bench(workload, backend, dtype, seconds, samples, *, section="kernels", peer=False, unit="samples/s"):
    return {
        "name": f"test_x[{backend}-{dtype}]",
        "param": f"{backend}-{dtype}",
        "extra_info": {
            "workload": workload,
            "section": section,
            "backend": backend,
            "peer": peer,
            "dtype": dtype,
            "layers": "64-32-16-10",
            "samples": samples,
            "unit": unit,
        },
        "stats": {"min": seconds, "median": seconds * 1.25, "rounds": 7},
    }


def suite_run(machine=MACHINE, date="2026-12-01"):
    return {
        "machine_info": {"python_version": "3.11.7", "fastbp": {**machine, "command": "python -m pytest --x"}},
        "commit_info": {"id": "0123456789abcdef", "dirty": True},
        "datetime": f"{date}T12:00:00",
        "benchmarks": [
            # deliberately out of report order
            _bench("many, K=8", "numpy", "float64", 1.0, 8000, section="many", unit="network-samples/s"),
            _bench("many, K=8", "numba", "float64", 0.01, 8000, section="many", unit="network-samples/s"),
            _bench("epoch", "torch", "float64", 0.5, 1347, peer=True),
            _bench("epoch", "numba", "float64", 0.025, 1347),
            _bench("epoch", "numpy", "float64", 0.1, 1347),
            _bench("epoch", "numpy", "float32", 0.05, 1347),
            {"name": "test_unrelated", "extra_info": {}, "stats": {"min": 1.0}},
        ],
        "notes": ["A shared machine."],
        "skipped": [
            {"name": "benchmarks/bench_mnist.py::test_mnist_epoch[numba-float64]", "reason": "MNIST not found"},
            {"name": "benchmarks/bench_mnist.py::test_mnist_epoch[numba-float32]", "reason": "MNIST not found"},
            {"name": "benchmarks/bench_cuda.py::test_x[cuda-float64]", "reason": "backend 'cuda' is unavailable"},
        ],
    }


def table(name="speed", date="2026-12-02", machine=MACHINE, rows=None, **extra):
    return {
        "format": _results.TABLE_FORMAT,
        "version": 1,
        "name": name,
        "title": f"The {name} table",
        "columns": ["run", "ms", "ratio"],
        "rows": rows if rows is not None else [["xor", 10.61, 137.24], ["digits", 0.737, None]],
        "command": f"python -m benchmarks.{name} --rounds 3",
        "date": date,
        "commit": "89abcdef0123",
        "machine": machine,
        "notes": ["one note"],
        **extra,
    }


def write(folder: Path, name: str, doc) -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_suite_table_rates_speedups_and_peers():
    table_md = rep.rate_table(rep.records(suite_run()))
    lines = table_md.splitlines()
    assert lines[0] == "| workload | network | dtype | numpy | numba | peer: torch |"
    assert lines[2:] == [
        # kernels before many; float64 before float32; the benchmark without extra_info left out
        "| epoch | 64-32-16-10 | float64 | 13.5 k | 53.9 k (4.0x) | 2.69 k (0.20x) |",
        "| epoch | 64-32-16-10 | float32 | 26.9 k | - | - |",
        "| many, K=8 (network-samples/s) | 64-32-16-10 | float64 | 8 k | 800 k (100x) | - |",
    ]


def test_human_and_cell_formats():
    assert rep.human(13440.0) == "13.4 k"
    assert rep.human(2.24e6) == "2.24 M"
    assert rep.human(999_999.0) == "1 M"
    assert rep.human(float("nan")) == "n/a"
    assert [_results.cell(v) for v in (None, 3, 12345, 0.73712, 137.24, 2.05e6, "a|b", True)] == [
        "",
        "3",
        "12,345",
        "0.7371",
        "137.2",
        "2,050,000",
        "a\\|b",
        "yes",
    ]


def test_render_names_machine_command_date_and_newest_file(tmp_path):
    write(tmp_path, "suite-cpu-2026-12-01.json", suite_run())
    write(tmp_path, "suite-gpu-2026-12-01.json", suite_run(GPU_MACHINE))
    write(tmp_path, "speed-cpu-2026-11-01.json", table(date="2026-11-01", rows=[["old", 1.0, 1.0]]))
    write(tmp_path, "speed-cpu-2026-12-02.json", table())
    md = rep.render(tmp_path)
    sections = md.split("\n## ")[1:]
    assert [s.splitlines()[0] for s in sections] == [
        "The benchmark suite (cpu-AMD-EPYC-4cores)",
        "The benchmark suite (gpu-H100-80GB)",
        "The speed table",
        "Not rendered",
    ]
    cpu, gpu, speed, skipped = sections
    assert (
        "- Machine: AMD EPYC 9999, 4 logical CPUs (avx2, fma); Python 3.11.7, NumPy 2.4.6, Numba 0.68.1; no GPU" in cpu
    )
    assert "- Command: `python -m pytest --x`" in cpu
    assert "- Commit: 0123456789ab (with uncommitted changes)" in cpu
    assert "- A shared machine." in cpu
    assert "Not measured in this run:" in cpu
    assert "- MNIST not found: 2 benchmarks (test_mnist_epoch[numba-float64], test_mnist_epoch[numba-float32])" in cpu
    assert "- backend 'cuda' is unavailable: 1 benchmark (test_x[cuda-float64])" in cpu
    assert "GPU NVIDIA H100 80GB HBM3, driver 580.65, CuPy 14.0.0" in gpu
    assert "- Command: `python -m benchmarks.speed --rounds 3`" in speed
    assert "- Commit: 89abcdef0123" in speed
    assert (
        "- Date: 2026-12-02; file: [speed-cpu-2026-12-02.json](../benchmarks/results/speed-cpu-2026-12-02.json)"
        in speed
    )
    assert "| xor | 10.61 | 137.2 |\n| digits | 0.737 |  |" in speed
    assert "| old |" not in md  # the older file of the same name and machine
    assert "`speed-cpu-2026-11-01.json`: `speed-cpu-2026-12-02.json` is newer" in skipped
    assert "1 benchmarks without the workload, samples and fastest round the table needs: test_unrelated" in skipped


def test_render_names_what_it_cannot_render(tmp_path):
    write(tmp_path, "broken.json", "{not json")
    write(tmp_path, "other.json", {"meta": {}, "timings": []})
    write(tmp_path, "partial.json", {k: v for k, v in table().items() if k != "columns"})
    write(tmp_path, "bare-suite.json", {"benchmarks": []})
    write(tmp_path, "rows.json", table(rows=[["ok", 1.0, 2.0], ["short", 1.0], ["nested", [1], 2.0]]))
    md = rep.render(tmp_path)
    skipped = md.split("## Not rendered")[1]
    assert "`broken.json` is not JSON" in skipped
    assert "`other.json` is neither a pytest-benchmark run nor a fastbp-table file (keys: meta, timings)" in skipped
    assert "`partial.json` is a fastbp-table file without 'columns'" in skipped
    assert "`bare-suite.json` is a pytest-benchmark run without fastbp's machine info" in skipped
    assert "`rows.json` row 2: 2 cells for 3 columns" in skipped
    assert "`rows.json` row 3: a cell is neither text nor a number" in skipped
    assert "| ok | 1 | 2 |" in md


def test_write_table_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(_results, "machine_info", lambda: GPU_MACHINE)
    path = _results.write_table(
        "demo", "A demo", ["a", "b"], [[1, 2.5]], out=tmp_path, notes=["n"], command="python -m demo"
    )
    assert path.parent == tmp_path
    assert path.name.startswith("demo-gpu-H100-80GB-")
    r = rep.read(path)
    assert (r.kind, r.name, r.machine) == ("table", "demo", "gpu-H100-80GB")
    out = tmp_path / "doc" / "performance.md"
    rep.write(tmp_path, out)
    md = out.read_text(encoding="utf-8")
    assert "## A demo" in md
    assert "| 1 | 2.5 |" in md
    assert "- Command: `python -m demo`" in md


# ------------------------------------------------- which suite a run collects
def _pytest(*args, timeout=300):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_plain_pytest_collects_no_benchmarks_and_benchmark_only_no_tests():
    plain = _pytest("--collect-only", "-q")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    items = [l for l in plain.stdout.splitlines() if "::" in l]
    assert items and all(l.startswith("tests/") for l in items)
    bench = _pytest("--benchmark-only", "--collect-only", "-q")
    assert bench.returncode == 0, bench.stdout + bench.stderr
    items = [l for l in bench.stdout.splitlines() if "::" in l]
    assert items and all(l.startswith("benchmarks/") for l in items)


#: the suite the report covers (bench_numba_cpu.py and bench_cuda.py have their own checks)
SUITE = ["bench_kernels.py", "bench_end_to_end.py", "bench_scaling.py", "bench_many.py", "bench_peer.py"]


def test_benchmark_bodies_run_once_as_a_smoke_test():
    """Every numpy float64 benchmark and the tutorial-loop peer, each body once."""
    files = [f"benchmarks/{f}" for f in SUITE]
    res = _pytest(*files, "--benchmark-disable", "-q", "-k", "float64 and (numpy or reference)")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert " passed" in res.stdout


def test_a_suite_run_records_what_it_skipped_and_why(tmp_path):
    out = tmp_path / "run.json"
    args = ["--benchmark-only", f"--benchmark-json={out}", "--benchmark-disable-gc", "--benchmark-max-time=0.01"]
    res = _pytest("benchmarks/bench_end_to_end.py", *args, "-k", "fit_partial and tutorial and float64 and not cuda")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    skipped = json.loads(out.read_text())["skipped"]
    assert {
        "name": "benchmarks/bench_end_to_end.py::test_fit_partial[numba-float64-tutorial]",
        "reason": "the tutorial's code runs once per dtype (with the numpy parameter)",
    } in skipped


def test_a_script_leaves_a_results_file_the_report_renders(tmp_path, capsys):
    from benchmarks import units_speed

    units_speed.main(["--rounds", "1", "--backend", "numpy", "--out", str(tmp_path), "--note", "a test run"])
    (path,) = tmp_path.glob("units_speed-numpy-float64-*.json")
    r = rep.read(path)
    assert r.kind == "table"
    assert r.doc["command"] == "python -m benchmarks.units_speed --rounds 1 --backend numpy"
    assert r.doc["notes"][-1] == "a test run"
    md = rep.render(tmp_path)
    assert "Not rendered" not in md
    assert md.count("\n| sigmoid | sigmoid |") == 1
    assert len(r.doc["rows"]) == len(units_speed.COMBOS)  # every pair of units


def test_performance_md_is_the_report_of_the_committed_results():
    assert rep.DOC.read_text(encoding="utf-8") == rep.render(_results.RESULTS), (
        "docs/performance.md differs from the report of benchmarks/results: run python -m benchmarks.report"
    )
