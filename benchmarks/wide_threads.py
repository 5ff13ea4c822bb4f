"""One network on several threads (numba ``threads=``), interleaved.

Each round times, one after the other, one call of ``--samples`` per-sample
steps of the network on one thread, the same on ``--threads`` threads
(each step split over them), and a control: ``--threads`` independent
copies of the network trained on one thread each, at the same time. The
control's speed-up over one thread is what this machine gives that many
threads doing this work (a core's fair share of memory bandwidth, shared
execution units of SMT siblings, other load); the threaded step cannot beat
it. Ratios are of the medians over the rounds, and the median of the
per-round ratios.

    python -m benchmarks.wide_threads [--rounds 10] [--dtype float64] [--threads 2]
        [--layers 784,300,100,10] [--samples 2000]
    python -m benchmarks.wide_threads --sizes      # the ratio across network sizes

MNIST's first samples are used for 784-wide inputs when the files are here
(benchmarks/_mnist.py), random inputs otherwise.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastbp.backends import get_backend

from ._common import macs_per_sample, random_host, weights_host
from ._mnist import missing, mnist_host

#: --sizes: networks from digits' to MNIST's, with samples per call (~20-60 ms a call)
SIZES = {
    (64, 32, 16, 10): 20000,
    (128, 64, 10): 10000,
    (256, 128, 10): 4000,
    (256, 256, 256, 10): 2000,
    (512, 256, 10): 2000,
    (784, 128, 10): 1000,
    (784, 300, 100, 10): 1000,
    (1024, 1024, 10): 300,
}


def data(layers, n, dtype):
    if layers[0] == 784 and missing() is None:
        X1, Y = mnist_host(n, dtype)
        if layers[-1] == Y.shape[1]:
            return X1, Y, "MNIST"
    X1, Y = random_host(layers, n)
    return X1.astype(dtype), Y.astype(dtype), "random"


def compare(layers, n, dtype, T, rounds, pool):
    """Per-round times of one thread, T threads, and the T-copies control."""
    be = get_backend("numba")
    one, team = be.with_threads(1), be.with_threads(T)
    X1, Y, source = data(layers, n, dtype)
    W = [w[None] for w in weights_host(layers)]
    alpha = np.array([0.01])
    P1, PT = one.params(W, dtype), team.params(W, dtype)
    copies = [one.params(W, dtype) for _ in range(T)]
    one.train(P1, X1, Y, alpha, 1)  # compile / load, outside the timing
    team.train(PT, X1, Y, alpha, 1)
    ts = {"one": [], "team": [], "control": []}
    for _ in range(rounds):
        t = time.perf_counter()
        one.train(P1, X1, Y, alpha, 1)
        ts["one"].append(time.perf_counter() - t)
        t = time.perf_counter()
        team.train(PT, X1, Y, alpha, 1)
        ts["team"].append(time.perf_counter() - t)
        t = time.perf_counter()
        list(pool.map(lambda P: one.train(P, X1, Y, alpha, 1), copies))
        ts["control"].append(time.perf_counter() - t)
    same = all(np.array_equal(a, b) for a, b in zip(P1.W, PT.W))
    return {k: np.array(v) for k, v in ts.items()}, source, same


def report(layers, n, dtype, T, ts, source, same):
    one, team, ctrl = ts["one"], ts["team"], ts["control"]
    macs = macs_per_sample(layers)["sgd"]
    r_team = np.median(one) / np.median(team)
    r_ctrl = T * np.median(one) / np.median(ctrl)
    print(
        f"  {'-'.join(map(str, layers)):>16s} ~{macs / 1e3:7.0f} k MACs/step, {n} {source} samples: "
        f"1 thread {np.median(one) / n * 1e6:8.2f} us/step, {T} threads {np.median(team) / n * 1e6:8.2f} us/step: "
        f"{r_team:5.2f}x (per round {np.median(one / team):5.2f}x); control {r_ctrl:5.2f}x; "
        f"threads/control {r_team / r_ctrl:4.2f}; weights equal: {same}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", default="784,300,100,10")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--sizes", action="store_true", help="every network of SIZES instead of --layers")
    args = ap.parse_args()
    dt = np.dtype(args.dtype)
    T = args.threads
    nets = SIZES if args.sizes else {tuple(int(x) for x in args.layers.split(",")): args.samples}
    print(
        f"numba {dt.name}, {args.rounds} interleaved rounds, {os.cpu_count()} logical CPUs, "
        f"threads {T}; medians (MNIST: {missing() or 'here'})"
    )
    with ThreadPoolExecutor(T) as pool:
        for layers, n in nets.items():
            ts, source, same = compare(layers, n, dt, T, args.rounds, pool)
            report(layers, n, dt, T, ts, source, same)


if __name__ == "__main__":
    main()
