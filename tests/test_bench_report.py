"""The benchmark report (fastbp.bench_report) on a small synthetic run, and the
split between the test suite and the benchmark suite (root conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastbp import bench_report as br
from fastbp.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def _bench(
    workload,
    backend,
    dtype,
    seconds,
    samples,
    *,
    section="kernels",
    layers="64-32-16-10",
    peer=False,
    unit="samples/s",
    flops=None,
):
    return {
        "group": f"{workload} | {layers} [{dtype}]",
        "name": f"test_x[{backend}-{dtype}]",
        "fullname": f"benchmarks/bench_x.py::test_x[{backend}-{dtype}]",
        "params": {"backend": backend},
        "param": f"{backend}-{dtype}",
        "extra_info": {
            "workload": workload,
            "section": section,
            "backend": backend,
            "peer": peer,
            "dtype": dtype,
            "layers": layers,
            "samples": samples,
            "flops": flops if flops is not None else samples * 12966.0,
            "unit": unit,
        },
        "stats": {"min": seconds, "median": seconds * 1.25, "mean": seconds * 1.5, "rounds": 7, "iterations": 1},
    }


@pytest.fixture
def run():
    return {
        "machine_info": {
            "system": "Linux",
            "release": "6.1",
            "python_version": "3.11.7",
            "cpu": {"brand_raw": "Fallback CPU", "count": 2},
            "fastbp": {
                "cpu_model": "AMD EPYC 9999",
                "cpu_flags": "avx2,fma,avx512f",
                "usable_cpus": 2,
                "numpy": "2.4.6",
                "blas": "scipy-openblas 0.3.31",
                "env": {"OPENBLAS_CORETYPE": "Haswell"},
                "backends": {
                    "numpy": {"name": "numpy", "numpy": "2.4.6"},
                    "numba": {"unavailable": "backend 'numba' is unavailable: numba missing"},
                    "cuda": {"name": "cuda", "gpu": "NVIDIA H100 80GB HBM3", "driver": "580.65", "cupy": "14.0.0"},
                },
            },
        },
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "datetime": "2026-11-27T12:00:00",
        "benchmarks": [
            # deliberately out of report order
            _bench(
                "sgd_epoch_many, K=8 networks", "numpy", "float64", 1.0, 8000, section="many", unit="network-samples/s"
            ),
            _bench(
                "sgd_epoch_many, K=8 networks", "cuda", "float64", 0.01, 8000, section="many", unit="network-samples/s"
            ),
            _bench("per-sample SGD epoch", "torch (manual)", "float64", 0.5, 1347, peer=True),
            _bench("per-sample SGD epoch", "cuda", "float64", 0.025, 1347),
            _bench("per-sample SGD epoch", "numpy", "float64", 0.1, 1347),
            _bench("per-sample SGD epoch", "numpy", "float32", 0.05, 1347),
            {"group": None, "name": "test_unrelated", "extra_info": {}, "stats": {"median": 1.0}},
        ],
    }


@pytest.fixture
def run_file(tmp_path, run):
    path = tmp_path / "cpu-2026-11-27.json"
    path.write_text(json.dumps(run), encoding="utf-8")
    return path


def test_records_rates_and_gflops(run):
    recs = br.records(run)
    assert len(recs) == 6  # the benchmark without fastbp's extra_info is ignored
    r = next(r for r in recs if r.column == "numpy" and r.dtype == "float64" and r.section == "kernels")
    assert r.rate == pytest.approx(13470.0)
    assert r.gflops == pytest.approx(1347 * 12966.0 / 0.1 / 1e9)
    typical = br.records(run, "median")
    assert next(x for x in typical if x.row == r.row and x.column == "numpy").seconds == pytest.approx(0.125)
    with pytest.raises(ValueError, match="stat must be one of"):
        br.records(run, "p99")


def test_table_layout_speedups_and_peers(run):
    table = br.rate_table(br.records(run))
    lines = table.splitlines()
    assert lines[0] == "| workload | network | dtype | numpy | cuda | peer: torch (manual) |"
    body = lines[2:]
    # kernels before many; float64 before float32
    assert body[0].startswith(
        "| per-sample SGD epoch | 64-32-16-10 | float64 | 13.5 k | 53.9 k (4.0x) | 2.69 k (0.20x) |"
    )
    assert body[1].startswith("| per-sample SGD epoch | 64-32-16-10 | float32 | 26.9 k | - | - |")
    assert body[2] == (
        "| sgd_epoch_many, K=8 networks (network-samples/s) | 64-32-16-10 | float64 | 8 k | 800 k (100x) | - |"
    )


def test_human_format():
    assert br.human(13440.0) == "13.4 k"
    assert br.human(2.24e6) == "2.24 M"
    assert br.human(15.2) == "15.2"
    assert br.human(999_999.0) == "1 M"
    assert br.human(float("nan")) == "n/a"


def test_markdown_names_the_machine_gpu_and_openblas(run):
    md = br.render_markdown(run, chart="x.png")
    assert "AMD EPYC 9999, 2 logical CPUs" in md
    assert "GPU NVIDIA H100 80GB HBM3, driver 580.65, CuPy 14.0.0" in md
    assert "OPENBLAS_CORETYPE: `Haswell`" in md
    assert "Backend numba: unavailable (numba missing)" in md
    assert "![throughput, log scale](x.png)" in md
    assert "## GFLOP/s" in md
    assert "Statistic: the min of each benchmark's rounds (the fastest" in md
    readme = br.render_readme_table(run)
    assert readme.startswith("Measured on AMD EPYC 9999, 2 logical CPUs")
    assert "| per-sample SGD epoch |" in readme


def test_machine_line_without_fastbp_info():
    line = br.machine_line({"machine_info": {"cpu": {"brand_raw": "Some CPU", "count": 4}}})
    assert line.startswith("Some CPU, 4 logical CPUs; no GPU")


def test_write_report_files(run_file, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    written = br.write_report(run_file, out, readme_table=out / "README-table.md")
    assert written["md"] == out / "cpu-2026-11-27.md"
    assert written["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "(cpu-2026-11-27.png)" in written["md"].read_text()
    assert "| numpy | cuda |" in written["readme_table"].read_text()


def test_cli_bench_report(run_file, tmp_path, capsys):
    assert (
        cli_main(
            [
                "bench",
                "report",
                str(run_file),
                "--out",
                str(tmp_path / "cli"),
                "--no-chart",
                "--note",
                "A shared machine.",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "A shared machine." in (tmp_path / "cli" / "cpu-2026-11-27.md").read_text()
    assert "| workload | network | dtype |" in out
    assert (tmp_path / "cli" / "cpu-2026-11-27.md").exists()
    assert not (tmp_path / "cli" / "cpu-2026-11-27.png").exists()


def test_bad_input_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a run"}')
    assert cli_main(["bench", "report", str(bad)]) == 2
    assert "not a pytest-benchmark JSON run" in capsys.readouterr().err
    assert cli_main(["bench", "report", str(tmp_path / "missing.json")]) == 2
    empty = tmp_path / "empty.json"
    empty.write_text('{"benchmarks": []}')
    assert cli_main(["bench", "report", str(empty), "--no-chart"]) == 2
    assert "no fastbp benchmarks" in capsys.readouterr().err


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
