"""A grid search that trains every candidate of a fold at once, against
scikit-learn's GridSearchCV, interleaved.

Digits (all 1,797 images, scaled to [0, 1]), the tutorial's 64-32-16-10
network, a grid of 6 learning rates x 4 seeds (24 candidates), 5 folds,
``--epochs`` epochs. Each round times ``FastBPSearchCV`` (each fold's 24
networks in one call of the training loop, 5 calls) and ``GridSearchCV(...,
n_jobs=2)`` (120 separate fits on two worker processes) over the same grid,
alternating which goes first, and checks that their cross-validation scores
are the same (bit for bit where both train on the same backend). Before the
rounds, one cold round of each: it includes what a first search pays
(GridSearchCV's worker processes start and load the compiled kernels; the
search's compile or cache load). Ratios are GridSearchCV's time over the
search's, per round; the table gives their median and the medians of the
times.

    python -m benchmarks.search_speed [--rounds 5] [--epochs 100] [--backend numba]
        [--grid-backend numba] [--out DIR] [--note TEXT]

On a GPU machine, ``--backend cuda`` trains the search's networks there
(GridSearchCV keeps ``--grid-backend``, the CPU's numba, as a user without
the search would run it); the scores then agree to float64 rounding, not
bit for bit, and the script prints the largest difference.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from fastbp.sklearn import FastBPClassifier, FastBPSearchCV

from . import _results

RATES = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
SEEDS = [0, 1, 2, 3]
FOLDS = 5


def searches(backend: str, grid_backend: str, epochs: int):
    """The two searches over the same grid: name -> fit(X, y) returning the fitted search."""
    grid = {"learning_rate": RATES, "random_state": SEEDS}
    ours = FastBPSearchCV(FastBPClassifier((32, 16), epochs=epochs, backend=backend), grid, cv=FOLDS, refit=False)
    theirs = GridSearchCV(
        FastBPClassifier((32, 16), epochs=epochs, backend=grid_backend), grid, cv=FOLDS, n_jobs=2, refit=False
    )
    return {"FastBPSearchCV": ours, "GridSearchCV(n_jobs=2)": theirs}


def timed(search, X, y) -> tuple[float, np.ndarray]:
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a diverging rate warns in both: its score is NaN in both
        search.fit(X, y)
    res = search.cv_results_
    return time.perf_counter() - t, np.array([res[f"split{s}_test_score"] for s in range(FOLDS)])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.search_speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--backend", default="numba", help="the search's backend")
    ap.add_argument("--grid-backend", default="numba", help="GridSearchCV's backend")
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    work = searches(args.backend, args.grid_backend, args.epochs)
    names = list(work)
    load = [" ".join(f"{x:.1f}" for x in os.getloadavg())]
    cold, scores = {}, {}
    for name in names:
        cold[name], scores[name] = timed(work[name], X, y)
        print(f"cold round: {name} {cold[name]:.2f} s", flush=True)
    times: dict[str, list[float]] = {n: [] for n in names}
    worst = 0.0
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t, scores[name] = timed(work[name], X, y)
            times[name].append(t)
        a, b = scores[names[0]], scores[names[1]]
        if args.backend == args.grid_backend and not np.array_equal(a, b, equal_nan=True):
            raise SystemExit(f"round {r + 1}: the searches' scores differ (largest difference {np.nanmax(abs(a - b))})")
        worst = max(worst, float(np.nanmax(np.abs(a - b))))
        line = ", ".join(f"{n} {times[n][-1]:.2f} s" for n in names)
        print(f"round {r + 1}: {line}, ratio {times[names[1]][-1] / times[names[0]][-1]:.2f}x", flush=True)
    load.append(" ".join(f"{x:.1f}" for x in os.getloadavg()))
    ratios = [b / a for a, b in zip(times[names[0]], times[names[1]])]
    rows = [
        [
            n,
            float(np.median(times[n])),
            min(times[n]),
            max(times[n]),
            cold[n],
            float(np.median(ratios)) if i == 0 else None,
        ]
        for i, n in enumerate(names)
    ]
    _results.publish(
        args,
        "search_speed",
        f"A grid search that trains each fold's candidates at once, against GridSearchCV: digits, {args.epochs} epochs",
        ["search", "median s", "min s", "max s", "cold round s", "GridSearchCV / search, median of the rounds"],
        rows,
        notes=[
            f"digits 1,797 x 64 scaled to [0, 1], 64-32-16-10, {len(RATES)} learning rates x {len(SEEDS)} seeds = "
            f"{len(RATES) * len(SEEDS)} candidates, {FOLDS} folds; the search on {args.backend} (each fold's "
            f"candidates in one call of the training loop), GridSearchCV on {args.grid_backend} (n_jobs=2)",
            f"{args.rounds} rounds, the order alternating, after one cold round of each; per-round ratios "
            f"GridSearchCV / search: {', '.join(f'{x:.2f}' for x in ratios)}",
            "cross-validation scores "
            + ("bit for bit the same in every round" if worst == 0 else f"differ by at most {worst:.3g}"),
            f"load average (1, 5, 15 min) at the start {load[0]}, at the end {load[1]}",
        ],
    )


if __name__ == "__main__":
    main()
