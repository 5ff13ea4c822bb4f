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

    python -m benchmarks.tutorial_speed [--rounds 10] [--backend numba] [--digits-epochs 10]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import time

import numpy as np

import fastbp
from fastbp import NeuralNetwork, datasets

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--digits-epochs", type=int, default=10)
    ap.add_argument("--partial-calls", type=int, default=2000)
    args = ap.parse_args()
    work = workloads(args.backend, args.digits_epochs, args.partial_calls)
    for fn, _ in work.values():  # compile, load caches, warm up: never timed
        fn()
    times: dict[str, list[float]] = {k: [] for k in work}
    for _ in range(args.rounds):
        for name, (fn, units) in work.items():
            times[name].append(fn() / units)
    med = {k: float(np.median(v)) for k, v in times.items()}
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    print(f"backend={args.backend}, {args.rounds} interleaved rounds, medians; {cpu}, {os.cpu_count()} logical CPUs")
    for name, m in med.items():
        unit = "per epoch" if name.startswith("digits") else ("per call" if name.startswith("fit_p") else "per run")
        spread = f"min {min(times[name]) * 1e3:9.3f} ms  max {max(times[name]) * 1e3:9.3f} ms"
        print(f"  {name:38s} median {m * 1e3:10.4f} ms {unit:9s}  {spread}")
    print("ratios (tutorial / fastbp, medians):")
    for a, b in [
        ("xor: tutorial fit", "xor: fastbp fit"),
        ("xor: tutorial fit", "xor: fastbp.train"),
        ("digits: tutorial fit", "digits: fastbp fit"),
        ("digits: tutorial fit", "digits: fastbp fit, loss_every=10"),
        ("fit_partial: tutorial", "fit_partial: fastbp"),
    ]:
        print(f"  {b:38s} {med[a] / med[b]:8.1f}x")
    cost = med["digits: fastbp fit"] / med["digits: fastbp fit, loss_every=10"]
    print(f"  loss of every epoch vs every 10th (digits fit): {cost:.3f}x the time")
    print(f"  fastbp fit_partial: {med['fit_partial: fastbp'] * 1e6:.2f} us per call")


if __name__ == "__main__":
    main()
