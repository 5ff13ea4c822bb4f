"""What other units reach: MNIST test error per epoch, digits accuracy per units.

    python -m benchmarks.units_accuracy mnist [--seeds 0-4] [--alpha 0.003] [--epochs 10] [--data-dir DIR]
        [--activation relu] [--output softmax] [--dtype float64] [--out DIR] [--note TEXT]
    python -m benchmarks.units_accuracy digits [--seeds 0-9] [--out DIR] [--note TEXT]

``mnist``: 784-300-100-10 (relu hidden units and a softmax output unless told
otherwise; ``--activation sigmoid --output sigmoid --alpha 0.5`` is LeCun et
al.'s network and loss), per-sample SGD, one epoch at a time, the test error after each (a markdown table, one row
per seed). ``digits``: 64-32-16-10 for 1,000 epochs (the tutorial's run) for
every combination of units at a few learning rates, the test accuracy's mean,
min and max over the seeds (``train_many``: all seeds of one setting at once).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastbp

from . import _results

#: digits: (hidden, output, learning rates); the tutorial's first
DIGITS_RUNS = [
    ("sigmoid", "sigmoid", (0.1,)),
    ("tanh", "sigmoid", (0.1, 0.03)),
    ("relu", "sigmoid", (0.1, 0.03, 0.01)),
    ("sigmoid", "softmax", (0.1, 0.03, 0.01)),
    ("tanh", "softmax", (0.1, 0.03, 0.01)),
    ("relu", "softmax", (0.1, 0.03, 0.01)),
    ("sigmoid", "linear", (0.03, 0.01)),
    ("tanh", "linear", (0.03, 0.01)),
    ("relu", "linear", (0.03, 0.01)),
]


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi) + 1)) if hi else [int(t) for t in text.split(",")]


def mnist(args) -> None:
    d = fastbp.datasets.mnist(args.data_dir)
    rows = []
    for seed in _seeds(args.seeds):
        net = fastbp.NeuralNetwork(
            [784, 300, 100, 10],
            args.alpha,
            backend=args.backend,
            dtype=args.dtype,
            seed=seed,
            activation=args.activation,
            output=args.output,
        )
        errors = []
        t0 = time.perf_counter()
        for _ in range(args.epochs):
            net.fit(d.X_train, d.Y_train, epochs=1, verbose=False)
            errors.append(100 * np.mean(net.predict(d.X_test).argmax(axis=1) != d.labels_test))
        rows.append([seed, *errors, time.perf_counter() - t0])
        print(f"seed {seed}: " + " ".join(f"{e:.2f}" for e in errors), flush=True)
    _results.publish(
        args,
        f"units_accuracy-mnist-{args.activation}-{args.output}-{args.dtype}-alpha{args.alpha:g}",
        f"MNIST 784-300-100-10, {args.activation} hidden units, {args.output} output, alpha {args.alpha:g}, "
        f"{args.dtype}: test error (%) after each epoch",
        ["seed", *(str(e) for e in range(1, args.epochs + 1)), "seconds"],
        rows,
        notes=[
            f"Per-sample SGD in the data's order, backend {args.backend}; the test error on the 10,000 test "
            "images after each epoch. Seconds: the seed's epochs and evaluations."
        ],
    )


def digits(args) -> None:
    seeds = _seeds(args.seeds)
    rows = []
    for act, out, alphas in DIGITS_RUNS:
        sweep = fastbp.train_many(
            "digits", alphas=alphas, seeds=seeds, backend=args.backend, activation=act, output=out, loss_every=1000
        )
        for a in alphas:
            acc = np.array([r.accuracy for r in sweep.results if r.alpha == a])
            rows.append([act, out, a, acc.mean(), acc.min(), acc.max()])
            print(f"{act}/{out} alpha {a:g}: mean {acc.mean():.4f}", flush=True)
    _results.publish(
        args,
        "units_accuracy-digits",
        f"digits 64-32-16-10, 1,000 epochs: test accuracy over seeds {seeds[0]}-{seeds[-1]} per units",
        ["hidden", "output", "alpha", "mean", "min", "max"],
        rows,
        notes=[f"train_many, backend {args.backend}: every seed of one setting at once."],
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.units_accuracy", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("mnist")
    m.add_argument("--seeds", default="0-4")
    m.add_argument("--alpha", type=float, default=0.003)
    m.add_argument("--epochs", type=int, default=10)
    m.add_argument("--dtype", default="float64")
    m.add_argument("--data-dir", default=None)
    m.add_argument("--backend", default="auto")
    m.add_argument("--activation", default="relu")
    m.add_argument("--output", default="softmax")
    m.set_defaults(func=mnist)
    g = sub.add_parser("digits")
    g.add_argument("--seeds", default="0-9")
    g.add_argument("--backend", default="auto")
    g.set_defaults(func=digits)
    for p in (m, g):
        _results.add_arguments(p)
    args = _results.parse_args(ap, argv)
    args.func(args)


if __name__ == "__main__":
    main()
