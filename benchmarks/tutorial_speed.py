"""fastbp against the tutorial's own code, interleaved in one process.

pytest-benchmark times one benchmark after another, so on a shared machine
two workloads can run minutes apart under different load. Here every round
times each workload once, one after the other, and the ratios are of the
medians over the rounds:

* XOR as the tutorial runs it: ``fit(X, y, epochs=20000)`` with
  ``displayUpdate=100`` (200 ``[INFO]`` lines, printed into a buffer), the
  tutorial's class against ``fastbp.NeuralNetwork``, and ``fastbp.train("xor")``;
* digits: ``fit(X, y, epochs=E, displayUpdate=10)``, per epoch, fastbp
  recording the loss of every epoch (its default) and of the display epochs
  only (``loss_every=10``);
* ``fit_partial`` on XOR, per call.

The tutorial's code runs with one BLAS thread (``_common.tutorial_blas``).

    python -m benchmarks.tutorial_speed [--rounds 10] [--backend numba] [--digits-epochs 10] [--out DIR] [--note TEXT]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np

import fastbp
from fastbp import NeuralNetwork, datasets

from . import _results
from ._common import reference_network, tutorial_blas, weights_host


def _timer(fn, setup=None):
    def timed():
        args = setup() if setup is not None else ()
        t = time.perf_counter()
        fn(*args)
        return time.perf_counter() - t

    return timed


def workloads(backend: str, digits_epochs: int, partial_calls: int) -> dict:
    """name -> (seconds-per-call function, units per call)."""
    xor, dig = datasets.xor(), datasets.digits()
    quiet = io.StringIO

    def tutorial_fit(ds, epochs, display):
        def setup():
            return (reference_network(ds.layers, ds.alpha, weights_host(ds.layers)),)

        def fn(net):
            with tutorial_blas(), contextlib.redirect_stdout(quiet()):
                net.fit(ds.X_train, ds.Y_train, epochs=epochs, displayUpdate=display)

        return _timer(fn, setup)

    def fastbp_fit(ds, epochs, display, **kw):
        net = NeuralNetwork(ds.layers, ds.alpha, backend=backend, weights=weights_host(ds.layers))
        W0 = weights_host(ds.layers)

        def setup():
            net.W = W0
            return ()

        return _timer(
            lambda: net.fit(ds.X_train, ds.Y_train, epochs=epochs, displayUpdate=display, out=quiet(), **kw), setup
        )

    ref = reference_network([2, 2, 1], 0.5, weights_host([2, 2, 1]))
    net = NeuralNetwork([2, 2, 1], 0.5, backend=backend, seed=0)
    x, y = np.array([0.0, 1.0, 1.0]), np.array([1.0])

    def partial(model):
        def fn():
            for _ in range(partial_calls):
                model.fit_partial(x, y)

        return _timer(fn)

    return {
        "xor: tutorial fit": (tutorial_fit(xor, 20000, 100), 1),
        "xor: fastbp fit": (fastbp_fit(xor, 20000, 100), 1),
        "xor: fastbp.train": (_timer(lambda: fastbp.train("xor", backend=backend, seed=0, out=quiet())), 1),
        "digits: tutorial fit": (tutorial_fit(dig, digits_epochs, 10), digits_epochs),
        "digits: fastbp fit": (fastbp_fit(dig, digits_epochs, 10), digits_epochs),
        "digits: fastbp fit, loss_every=10": (fastbp_fit(dig, digits_epochs, 10, loss_every=10), digits_epochs),
        "fit_partial: tutorial": (partial(ref), partial_calls),
        "fit_partial: fastbp": (partial(net), partial_calls),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tutorial_speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--digits-epochs", type=int, default=10)
    ap.add_argument("--partial-calls", type=int, default=2000)
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    E = args.digits_epochs
    work = workloads(args.backend, E, args.partial_calls)
    for fn, _ in work.values():  # compile, load caches, warm up: never timed
        fn()
    times: dict[str, list[float]] = {k: [] for k in work}
    for _ in range(args.rounds):
        for name, (fn, units) in work.items():
            times[name].append(fn() / units)
    med = {k: float(np.median(v)) for k, v in times.items()}
    rows = []
    for label, unit, scale, tutorial, ours in [
        ("XOR: fit(X, y, epochs=20000), 200 [INFO] lines", "ms a run", 1e3, "xor: tutorial fit", "xor: fastbp fit"),
        (
            "XOR: fastbp.train('xor'), the same run and the evaluation",
            "ms a run",
            1e3,
            "xor: tutorial fit",
            "xor: fastbp.train",
        ),
        (
            f"digits: fit(X, y, epochs={E}, displayUpdate=10), loss of every epoch",
            "ms an epoch",
            1e3,
            "digits: tutorial fit",
            "digits: fastbp fit",
        ),
        ("the same, loss_every=10", "ms an epoch", 1e3, "digits: tutorial fit", "digits: fastbp fit, loss_every=10"),
        ("fit_partial(x, y) on XOR", "us a call", 1e6, "fit_partial: tutorial", "fit_partial: fastbp"),
    ]:
        rows.append([label, unit, med[tutorial] * scale, med[ours] * scale, med[tutorial] / med[ours]])
    cost = med["digits: fastbp fit"] / med["digits: fastbp fit, loss_every=10"]
    _results.publish(
        args,
        f"tutorial_speed-digits{E}",
        f"fastbp ({args.backend}) against the tutorial's code: XOR, digits ({E} epochs), fit_partial",
        ["run", "unit", "tutorial's code", "fastbp", "ratio"],
        rows,
        notes=[
            f"Medians of {args.rounds} rounds; each round times every run once, one after the other. "
            "The tutorial's code runs with one BLAS thread.",
            f"Recording the loss of every digits epoch costs {cost:.2f}x the time of recording every 10th.",
        ],
    )


if __name__ == "__main__":
    main()
