"""How well ``sgd_epoch_many`` spreads networks over the CPU's cores.

pytest-benchmark times one benchmark after another, so on a shared machine the
K=1 and K=8 rounds of bench_many.py can run minutes apart under different load.
This script interleaves them: each round times one digits epoch of K=1, then
K=2, then K=8 networks (64-32-16-10, float64 by default, fresh weight copies),
and reports medians and the network-samples/s of each K relative to K=1.

    python -m benchmarks.thread_scaling [--rounds 60] [--dtype float32] [--backend numba] [--out DIR] [--note TEXT]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fastbp.backends import get_backend

from . import _results
from ._common import DIGITS_LAYERS, digits_host, on_backend, stacked_weights_host


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.thread_scaling", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--ks", default="1,2,8")
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    be = get_backend(args.backend)
    dt = np.dtype(args.dtype)
    X1, Y = on_backend(be, dt, *digits_host())
    ks = [int(k) for k in args.ks.split(",")]
    nets = {K: stacked_weights_host(DIGITS_LAYERS, K) for K in ks}
    times = {K: [] for K in ks}
    for r in range(args.rounds + 1):
        for K in ks:
            (Ws,) = on_backend(be, dt, nets[K])
            t = time.perf_counter()
            be.sgd_epoch_many(Ws, X1, Y, np.full(K, 0.1))
            if r:  # round 0 compiles and warms up
                times[K].append(time.perf_counter() - t)
    base = np.median(times[ks[0]]) / ks[0]
    rows = []
    for K in ks:
        med = np.median(times[K])
        rows.append([K, med * 1e3, min(times[K]) * 1e3, K * X1.shape[0] / med / 1e6, base * K / med])
    _results.publish(
        args,
        f"thread_scaling-{be.name}-{dt.name}",
        f"K networks spread over the cores: a digits epoch, {be.name} {dt.name}",
        ["K", "median ms", "fastest ms", "M network-samples/s", f"rate / K={ks[0]} rate"],
        rows,
        notes=[
            f"{args.rounds} rounds; each round runs every K once, one after the other, from fresh weight copies "
            f"({X1.shape[0]} samples, 64-32-16-10); the backend's threads: {be.info().get('threads')}."
        ],
    )


if __name__ == "__main__":
    main()
