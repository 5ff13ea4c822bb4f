"""The time-to-accuracy benchmark's machinery on a tiny data set (benchmarks/time_to_accuracy.py).

Its learners, the stop at the target, the child processes and the table run
on scikit-learn's digits drawn at MNIST's size (8x8 pixels scaled up 3x into
28x28, 1,347 training and 450 test images), so that the script cannot rot
unnoticed; PyTorch's learners are skipped where torch is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from benchmarks import time_to_accuracy as tta

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def data() -> tta.Data:
    d = load_digits()
    images = np.kron(d.images / 16.0, np.ones((3, 3)))  # 24x24
    X = np.pad(images, ((0, 0), (2, 2), (2, 2))).reshape(len(images), 784).astype(np.float32)
    labels = d.target.astype(np.int64)
    return tta.Data(X[:1347], labels[:1347], X[1347:], labels[1347:])


@pytest.mark.parametrize(
    "name",
    [
        "sigmoid-sigmoid-float32@0.5",
        "relu-softmax-float64@0.003",
        pytest.param("torch-adam", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
        pytest.param("torch-sgd", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
        "sklearn-adam",
    ],
)
def test_every_learner_trains_until_the_target(data, name):
    res = tta.train_to(tta.make_learner(name, data, None, 0), 50.0, 4)
    errors = res["errors"]
    assert 1 <= len(errors) == len(res["epoch_s"]) <= 4
    assert errors[-1] <= 50.0, f"{name} did not learn digits: test errors {errors}"
    assert all(e > 50.0 for e in errors[:-1]), "the run goes on after reaching the target"
    assert all(t > 0 for t in res["epoch_s"]) and res["import_s"] >= 0 and res["setup_s"] >= res["compile_s"] >= 0


def test_summary_counts_epochs_training_and_start_up():
    res = {
        "import_s": 1.0,
        "setup_s": 2.0,
        "compile_s": 1.5,
        "first_eval_extra_s": 0.5,
        "epoch_s": [0.4, 0.3, 0.2, 0.25],
        "errors": [4.0, 2.6, 2.4, 1.9],
    }
    s = tta.summarize(res, (2.5, 2.0, 1.0))
    assert (s["epochs to 2.5%"], s["epochs to 2%"], s["epochs to 1%"]) == (3, 4, None)
    assert s["train s to 2.5%"] == pytest.approx(0.9)
    assert s["total s to 2.5%"] == pytest.approx(4.4)
    assert s["total s to 2%"] == pytest.approx(4.65)
    assert s["total s to 1%"] is None
    assert s["s/epoch"] == pytest.approx(0.275)
    assert (s["best error %"], s["at epoch"]) == (1.9, 4)


def test_verdicts_compare_the_best_of_each_side():
    columns = ["learner", "cache", "total s to 2%", "rounds"]
    rows = [
        ["sigmoid-sigmoid-float32@0.5", "cold", 30.0, 1],
        ["relu-softmax-float32@0.003", "cold", 20.0, 1],
        ["torch-adam", "cold", 40.0, 1],
        ["sklearn-adam", "cold", None, 1],
        ["sigmoid-sigmoid-float32@0.5", "warm", None, 1],
        ["torch-adam", "warm", 35.0, 1],
        ["torch-sgd", "warm", 1.0, 0],  # skipped or failed: no run
    ]
    assert tta.verdicts(columns, rows, (2.0,)) == [
        "cold, to 2% error: fastbp 20.0 s (relu-softmax-float32@0.003), best peer 40.0 s (torch-adam): 0.50x its time",
        "warm, to 2% error: fastbp none reached it, best peer 35.0 s (torch-adam)",
    ]


def test_child_processes_table_and_results_file(data, tmp_path):
    # scikit-learn: the quickest import, so the two child processes (the cache filled, then warm) take seconds
    results = tta.measure(["sklearn-adam"], data, cold=False, warm=True, target=50.0, epochs_max=3, log=lambda s: None)
    runs = results[("sklearn-adam", "warm")]
    assert len(runs) == 1 and "failed" not in runs[0], runs
    skipped = {"torch-adam": "skipped: torch not installed (pip install ...)"}
    columns, rows = tta.table(results, (50.0,), skipped, ["warm"])
    assert [r[:2] for r in rows] == [["sklearn-adam", "warm"], ["torch-adam", "warm"]]
    got = dict(zip(columns, rows[0]))
    assert 1 <= got["epochs to 50%"] <= 3 and got["total s to 50%"] > got["train s to 50%"] > 0
    assert got["cpu stall %"] is None or 0 <= got["cpu stall %"] <= 100.5
    assert dict(zip(columns, rows[1]))["note"] == skipped["torch-adam"]
    assert tta.verdicts(columns, rows, (50.0,)) == []  # no fastbp config ran
    from benchmarks import _results

    args = argparse.Namespace(out=str(tmp_path), note=["smoke"], command="python -m benchmarks.time_to_accuracy")
    doc = json.loads(_results.publish(args, "time_to_accuracy", tta.TITLE, columns, rows).read_text())
    assert doc["columns"] == columns and len(doc["rows"]) == 2 and doc["notes"] == ["smoke"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--configs", "relu-float32"], "HIDDEN-OUTPUT-DTYPE"),
        (["--configs", "relu-softmax-float32@fast"], "not a number"),
        (["--peers", "jax"], "unknown jax"),
        (["--epochs-max", "0"], "--epochs-max must be at least 1"),
    ],
)
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        tta.main(argv)
    assert message in capsys.readouterr().err
