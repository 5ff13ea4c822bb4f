"""Stand-in kernels for the tuner's tests (tests/test_cuda_tune.py): the
tuning child builds them with ``candidate(job, label)``; the label names the
behaviour. "fast" and "slow" train correctly through the NumPy backend's seam
(slow: 5 ms more a call); the others are wrong, racy, raising, hanging,
dying (their process ends), or do not compile."""

from __future__ import annotations

import os
import time

import numpy as np

from fastbp.backends.cuda import tune
from fastbp.backends.numpy_backend import NumpyBackend

BEHAVIOURS = ("fast", "slow", "wrong", "racy", "raising", "hanging", "dying", "no-compile")


def _slow_train(be):
    def train(*args):
        time.sleep(0.005)
        return be.train(*args)

    return train


class Broken:
    """A stand-in that misbehaves as its label says."""

    def __init__(self, label: str):
        self.label, self.plan = label, f"stand-in ({label})"

    def compile(self) -> None:
        if self.label == "no-compile":
            raise RuntimeError("nvrtc: error: expected a ';'")

    def check_run(self, problem):
        if self.label == "raising":
            raise RuntimeError("an illegal memory access was encountered")
        if self.label == "hanging":
            time.sleep(3600)
        if self.label == "dying":
            os._exit(7)
        W, losses = tune.reference(problem)
        if self.label == "wrong":
            W[0] = W[0] + W[0].dtype.type(1e-3)
        if self.label == "racy":  # within the tolerance, but not the same bits twice
            W[-1] = W[-1] * (1 + 1e-13 * np.random.rand(*W[-1].shape))
        return W, losses

    def timed_run(self, epochs: int, rows: int) -> float:
        return 1e-6 * epochs * rows


def candidate(job: tune.Job, label: str):
    """The stand-in called ``label`` for ``job``."""
    if label in ("fast", "slow"):
        be = NumpyBackend()
        train = be.train if label == "fast" else _slow_train(be)
        return tune.SeamCandidate(label, be, train, job.timing, plan=f"stand-in ({label})")
    if label not in BEHAVIOURS:
        raise ValueError(f"no stand-in {label!r}")
    return Broken(label)
