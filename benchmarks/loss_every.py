"""What recording the loss of every epoch costs (numba), interleaved.

Each round trains digits' 64-32-16-10 from the same weights for
``--epochs`` epochs five ways, one after the other:
``NeuralNetwork(..., backend="numba").fit(X, Y, epochs, displayUpdate=10)``
with ``loss_every=10`` (the reference) and ``loss_every=1`` (the default),
and three single ``train`` calls: recording the loss every 10th epoch,
every epoch in automatic mode (the losses on a helper thread where the tuner
finds that faster), and every epoch on one thread (the losses inline).
Prints the medians per epoch and the ratios to each reference, over all
rounds and over the quiet ones (other processes used less than 0.05 CPUs,
see wide_threads.py).

    python -m benchmarks.loss_every [--rounds 20] [--epochs 100] [--dtype float64] [--out DIR] [--note TEXT]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

from fastbp import NeuralNetwork
from fastbp.backends import get_backend

from . import _results
from ._common import DIGITS_LAYERS, digits_host, weights_host
from .wide_threads import QUIET, others_busy


def workloads(dt, E) -> dict:
    """name -> a function that trains once (from the same weights)."""
    X1h, Yh = digits_host()
    X1, Y = np.ascontiguousarray(X1h, dt), np.ascontiguousarray(Yh, dt)
    W = [w[None] for w in weights_host(DIGITS_LAYERS)]
    be = get_backend("numba")
    alpha = np.array([0.1])
    net = NeuralNetwork(list(DIGITS_LAYERS), 0.1, backend="numba", dtype=dt)

    def fit(loss_every):
        def run():
            net.W = [w[0] for w in W]
            net.fit(X1[:, :-1], Y, epochs=E, displayUpdate=10, loss_every=loss_every, out=io.StringIO())

        return run

    def call(b, record):
        return lambda: b.train(b.params(W, dt), X1, Y, alpha, E, record)

    return {
        "fit, loss_every=10": fit(10),
        "fit, loss_every=1": fit(1),
        "train, every 10th epoch": call(be, np.arange(10, E + 1, 10)),
        "train, every epoch, auto": call(be, np.arange(1, E + 1)),
        "train, every epoch, 1 thread": call(be.with_threads(1), np.arange(1, E + 1)),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.loss_every", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    dt, E = np.dtype(args.dtype), args.epochs
    cases = workloads(dt, E)
    for run in cases.values():  # compile, load caches, let the tuner measure both forms
        for _ in range(3):
            run()
    times: dict[str, list[float]] = {c: [] for c in cases}
    quiet = []
    for _ in range(args.rounds):
        busy, t0 = others_busy(), time.perf_counter()
        for c, run in cases.items():
            t = time.perf_counter()
            run()
            times[c].append((time.perf_counter() - t) / E)
        quiet.append((others_busy() - busy) / (time.perf_counter() - t0) < QUIET)
    q = np.array(quiet)
    rows = []
    for c, v in times.items():
        ref = np.array(times["fit, loss_every=10" if c.startswith("fit") else "train, every 10th epoch"])
        t = np.array(v)
        quiet_ratio = float(np.median(t[q]) / np.median(ref[q])) if q.any() else None
        rows.append([c, np.median(t) * 1e3, np.median(t) / np.median(ref), float(np.median(t / ref)), quiet_ratio])
    _results.publish(
        args,
        f"loss_every-{dt.name}",
        f"What recording the loss of every epoch costs: digits, {E} epochs, numba {dt.name}",
        ["run", "ms an epoch", "time / reference", "median per round", "quiet rounds"],
        rows,
        notes=[
            f"{args.rounds} rounds ({q.sum()} quiet: other processes used less than {QUIET} CPUs); each round runs "
            "every case once from the same weights, one after the other. Reference: loss_every=10 for fit, "
            "every 10th epoch for train. Ratios of the medians, the median of the per-round ratios, and the "
            "ratio of the medians over the quiet rounds."
        ],
    )


if __name__ == "__main__":
    main()
