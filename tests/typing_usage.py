"""What a user's type checker sees of fastbp: checked by mypy (``bash
scripts/dev.sh test``), never run. ``assert_type`` fails on a type that is
not exactly the one named (``Any`` included), and each ``type: ignore`` marks
a call mypy must refuse (``warn_unused_ignores`` fails the check where it
does not)."""

from __future__ import annotations

import io
from typing import Any, assert_type

import numpy as np
from numpy.typing import NDArray

import fastbp
from fastbp import NetworkResult, NeuralNetwork, SweepResult, TrainResult
from fastbp.backends import Backend
from fastbp.datasets import Dataset
from fastbp.sklearn import FastBPClassifier


def usage() -> None:
    result = fastbp.train("xor", epochs=10, verbose=False, out=io.StringIO())
    assert_type(result, TrainResult)
    assert_type(result.network, NeuralNetwork)
    assert_type(result.accuracy, float | None)
    assert_type(result.network.predict([[0.0, 1.0]]), NDArray[np.floating[Any]])
    assert_type(result.network.fit([[0.0, 1.0]], [1.0], epochs=2, verbose=False), tuple[np.ndarray, np.ndarray])
    assert_type(NeuralNetwork.load("net.npz", backend="numpy"), NeuralNetwork)
    assert_type(result.network.to("numpy"), NeuralNetwork)

    sweep = fastbp.train_many("xor", alphas=[0.1, 0.5], seeds=[0, 1], epochs=10)
    assert_type(sweep, SweepResult)
    assert_type(sweep.best(), NetworkResult)
    assert_type(sweep.table(), str)

    assert_type(fastbp.get_backend("numba", threads=2), Backend)
    assert_type(fastbp.available_backends(), list[str])
    assert_type(fastbp.datasets.digits(), Dataset)
    assert_type(fastbp.datasets.one_hot(np.array([0, 1]))[0], np.ndarray)

    clf = FastBPClassifier(hidden_layer_sizes=(8,), epochs=5)
    assert_type(clf.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1])), FastBPClassifier)
    assert_type(clf.predict_proba(np.zeros((1, 2))), np.ndarray)

    fastbp.train("xor", epochs="ten")  # type: ignore[arg-type]
    fastbp.train("xor", out="log.txt")  # type: ignore[arg-type]
    NeuralNetwork([2, 2, 1], threads="all")  # type: ignore[arg-type]
    NeuralNetwork.load(3)  # type: ignore[arg-type]
