"""How well ``sgd_epoch_many`` spreads networks over the CPU's cores.

pytest-benchmark times one benchmark after another, so on a shared machine the
K=1 and K=8 rounds of bench_many.py can run minutes apart under different load.
This script interleaves them: each round times one digits epoch of K=1, then
K=2, then K=8 networks (64-32-16-10, float64 by default, fresh weight copies),
and reports medians and the network-samples/s of each K relative to K=1.

    python -m benchmarks.thread_scaling [--rounds 60] [--dtype float32] [--backend numba]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from fastbp.backends import get_backend

from ._common import DIGITS_LAYERS, digits_host, on_backend, stacked_weights_host


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--ks", default="1,2,8")
    args = ap.parse_args()
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
    print(
        f"{args.backend} {args.dtype}, digits epoch ({X1.shape[0]} samples), {args.rounds} interleaved rounds, "
        f"{os.cpu_count()} logical CPUs, threads={be.info().get('threads')}"
    )
    base = np.median(times[ks[0]]) / ks[0]
    for K in ks:
        med = np.median(times[K])
        print(
            f"  K={K:<4d} median {med * 1e3:8.3f} ms  min {min(times[K]) * 1e3:8.3f} ms  "
            f"{K * X1.shape[0] / med / 1e6:6.2f} M network-samples/s  {base * K / med:5.2f}x the K={ks[0]} rate"
        )


if __name__ == "__main__":
    main()
