"""benchmarks/gpu_check.py without a GPU: its dry run (arguments, stages,
invented tuner results) writes a report that says it is invented, with every
workload's decision, the targets and the kernels chosen nowhere; a stage that
fails is recorded and the next one runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_dry_run_writes_the_report(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--skip", "numba_threads", "--out", str(tmp_path)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (md,) = tmp_path.glob("gpu-check-dry-run-*.md")
    text = md.read_text()
    assert text.startswith("**DRY RUN without a GPU: the tuner's numbers below are invented")
    R = json.loads(md.with_suffix(".json").read_text())
    from benchmarks.gpu_check import WORKLOADS, workload_name

    assert [d["workload"] for d in R["decisions"]] == [workload_name(*w[:5]) for w in WORKLOADS]
    for w in WORKLOADS:
        assert f"| {workload_name(*w[:5])} | " in text
    assert "512 digits networks:" in text and "(target 100x)" in text and "(target 3x)" in text
    assert "## Kernels chosen nowhere" in text
    assert R["stages"]["numba_threads"] == "skipped: --skip" and R["stages"]["tests"] == "skipped: no usable GPU"


def test_a_failing_stage_is_recorded_and_the_next_runs(tmp_path, capsys):
    from benchmarks import gpu_check as g

    c = g.Check(tmp_path, None, 60.0, dry_run=True)
    c.name = tmp_path / "check"
    ran = []
    c.stage("broken", lambda: 1 / 0)
    c.stage("next", lambda: ran.append(1))
    c.stage("late", lambda: ran.append(2), need_s=1e9)
    assert ran == [1] and c.R["stages"]["broken"].startswith("failed: ZeroDivisionError")
    assert c.R["stages"]["late"].startswith("skipped: ")
    text = (tmp_path / "check.md").read_text()
    assert "- broken: ZeroDivisionError: division by zero" in text
