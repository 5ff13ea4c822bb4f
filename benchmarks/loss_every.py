"""What recording the loss of every epoch costs (numba), interleaved.

Each round trains a fresh copy of digits' 64-32-16-10 for ``--epochs``
epochs in one ``train`` call three ways, one after the other: recording the
loss every 10th epoch (the reference), every epoch in automatic mode (the
losses on a helper thread where the tuner finds that faster), and every
epoch on one thread (the losses inline). Prints the medians per epoch and
the ratios to the reference, over all rounds and over the quiet ones
(other processes used less than 0.05 CPUs, see wide_threads.py).
``NeuralNetwork.fit`` runs the same calls through the training loop:
``python -m benchmarks.tutorial_speed`` times ``fit`` with ``loss_every=1``
against ``loss_every=10``.

    python -m benchmarks.loss_every [--rounds 20] [--epochs 100] [--dtype float64]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from fastbp.backends import get_backend

from ._common import DIGITS_LAYERS, digits_host, weights_host
from .wide_threads import QUIET, others_busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args()
    dt, E = np.dtype(args.dtype), args.epochs
    X1h, Yh = digits_host()
    X1, Y = np.ascontiguousarray(X1h, dt), np.ascontiguousarray(Yh, dt)
    W = [w[None] for w in weights_host(DIGITS_LAYERS)]
    be = get_backend("numba")
    cases = {
        "every 10th epoch": (be, np.arange(10, E + 1, 10)),
        "every epoch, automatic": (be, np.arange(1, E + 1)),
        "every epoch, one thread": (be.with_threads(1), np.arange(1, E + 1)),
    }
    alpha = np.array([0.1])
    for b, rec in cases.values():  # compile, load caches, let the tuner measure both forms
        for _ in range(3):
            b.train(b.params(W, dt), X1, Y, alpha, E, rec)
    times: dict[str, list[float]] = {c: [] for c in cases}
    quiet = []
    for _ in range(args.rounds):
        busy, t0 = others_busy(), time.perf_counter()
        for c, (b, rec) in cases.items():
            P = b.params(W, dt)
            t = time.perf_counter()
            b.train(P, X1, Y, alpha, E, rec)
            times[c].append((time.perf_counter() - t) / E)
        quiet.append((others_busy() - busy) / (time.perf_counter() - t0) < QUIET)
    q = np.array(quiet)
    print(
        f"numba {dt.name}, digits, {E} epochs a call, {args.rounds} interleaved rounds ({q.sum()} quiet), {os.cpu_count()} CPUs"
    )
    ref = np.array(times["every 10th epoch"])
    for c, v in times.items():
        t = np.array(v)
        line = f"  {c:26s} {np.median(t) * 1e3:7.3f} ms/epoch  {np.median(t) / np.median(ref):5.3f}x (per round {np.median(t / ref):5.3f}x)"
        if q.any():
            line += f"; quiet rounds {np.median(t[q]) / np.median(ref[q]):5.3f}x"
        print(line)


if __name__ == "__main__":
    main()
