"""What other hidden activations and outputs cost: a digits epoch per units, interleaved.

Each round trains one digits epoch (64-32-16-10, 1,347 per-sample steps, one
``Backend.train`` call, no loss recorded unless ``--loss``) from the same
fresh initial weights for every combination of units, one after the other,
so all combinations see the same load on a shared machine. Reported: the
median and fastest round of each, and the median over rounds of its time
divided by the tutorial's sigmoid/sigmoid epoch of the same round (alpha
0.01 for all, so none diverges).

``--fit E`` times ``NeuralNetwork.fit`` for E epochs instead, the loss
recorded after every epoch (what ``train`` does by default; numba computes
it on a second thread where one is free), per epoch.

    python -m benchmarks.units_speed [--rounds 100] [--dtype float32] [--backend numba] [--loss] [--fit 20]
        [--out DIR] [--note TEXT]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from fastbp import NeuralNetwork
from fastbp.backends import ACTIVATIONS, OUTPUTS, get_backend
from fastbp.backends.base import NO_RECORD
from fastbp.network import init_weights

from . import _results
from ._common import DIGITS_LAYERS, digits_host

COMBOS = [(a, o) for o, a in itertools.product(("sigmoid", "softmax", "linear"), ACTIVATIONS)]
assert {o for _, o in COMBOS} == set(OUTPUTS)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.units_speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--loss", action="store_true", help="record the loss after the epoch (the in-call loss pass)")
    ap.add_argument("--fit", type=int, default=0, metavar="E", help="time NeuralNetwork.fit for E epochs instead")
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    be = get_backend(args.backend)
    dt = np.dtype(args.dtype)
    X1h, Yh = digits_host()
    X1, Y = be.asarray(X1h, dt), be.asarray(Yh, dt)
    combos = [c for c in COMBOS if be.unsupported(*c) is None]
    for c in COMBOS:
        if c not in combos:
            print(f"skipped {c[0]}/{c[1]}: {be.unsupported(*c)}")
    init = {c: [w[None] for w in init_weights(list(DIGITS_LAYERS), 0, c[0])] for c in combos}
    record = np.array([1]) if args.loss else NO_RECORD
    alphas = np.array([0.01])
    times: dict[tuple[str, str], list[float]] = {c: [] for c in combos}
    X, Yf = X1h[:, :-1], Yh
    for r in range(args.rounds + 1):
        for c in combos:
            if args.fit:
                net = NeuralNetwork(
                    list(DIGITS_LAYERS),
                    0.01,
                    backend=be,
                    dtype=dt,
                    weights=[w[0] for w in init[c]],
                    activation=c[0],
                    output=c[1],
                )
                t = time.perf_counter()
                net.fit(X, Yf, epochs=args.fit, verbose=False)
                elapsed = (time.perf_counter() - t) / args.fit
            else:
                P = be.params(init[c], dt).with_units(*c)
                be.synchronize()
                t = time.perf_counter()
                be.train(P, X1, Y, alphas, 1, record)
                be.synchronize()
                elapsed = time.perf_counter() - t
            if r:  # round 0 compiles and warms up
                times[c].append(elapsed)
    what = (
        f"NeuralNetwork.fit for {args.fit} epochs, the loss of every epoch, per epoch"
        if args.fit
        else "one digits epoch"
    )
    loss = ", the loss recorded after it" if args.loss and not args.fit else ""
    base = np.array(times[combos[0]])
    rows = []
    for c in combos:
        t = np.array(times[c])
        rows.append([c[0], c[1], np.median(t) * 1e3, t.min() * 1e3, float(np.median(t / base))])
    variant = f"-fit{args.fit}" if args.fit else "-loss" if args.loss else ""
    _results.publish(
        args,
        f"units_speed-{be.name}-{dt.name}{variant}",
        f"The cost of other units: {what} ({X1h.shape[0]} steps{loss}), {be.name} {dt.name}",
        ["hidden", "output", "median ms", "fastest ms", "time / sigmoid-sigmoid"],
        rows,
        notes=[
            f"{args.rounds} rounds; each round trains every combination once from the same initial weights, one "
            "after the other (alpha 0.01). Last column: the median over rounds of the time relative to the "
            "sigmoid/sigmoid epoch of the same round."
        ],
    )


if __name__ == "__main__":
    main()
