"""One network on several threads (numba ``threads=``), interleaved.

Each round times, one after the other, one call of ``--samples`` per-sample
steps of the network on one thread, the same on ``--threads`` threads
(each step split over them), and a control: ``--threads`` independent
copies of the network trained on one thread each, at the same time. The
control's speed-up over one thread is what this machine gives that many
threads doing this work (a core's fair share of memory bandwidth, shared
execution units of SMT siblings, other load); the threaded step cannot beat
it. Ratios are of the medians over the rounds, and the median of the
per-round ratios, over all rounds and over the quiet ones: rounds during
which other processes used less than QUIET CPUs (Linux /proc/stat; threads
that meet at barriers every few microseconds lose much more to another
process taking a core than independent work does). Each round also measures
how long one thread takes to see a counter another thread has just written
(a one-way hand-off, two threads of the pool passing it back and forth):
on a virtual machine the host places the vCPUs on cores near each other or
far apart, and changes that over time, and the team's step pays the hand-off
a few times per sample. Quiet rounds are reported once more split at NEAR
nanoseconds.

    python -m benchmarks.wide_threads [--rounds 10] [--dtype float64] [--threads 2]
        [--layers 784,300,100,10] [--samples 2000] [--out DIR] [--note TEXT]
    python -m benchmarks.wide_threads --sizes      # the ratio across network sizes
    python -m benchmarks.wide_threads --samples 100 --min-call 0   # short calls (the team's fixed cost)

MNIST's first samples are used for 784-wide inputs when the files are here
(benchmarks/_mnist.py), random inputs otherwise.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from fastbp.backends import get_backend
from fastbp.backends.numba import backend as numba_backend
from fastbp.backends.numba import sync as k

from . import _results
from ._common import macs_per_sample, random_host, weights_host
from ._mnist import missing, mnist_host

#: a round is quiet when other processes used less than this many CPUs on average during it
QUIET = 0.05
#: rounds whose hand-off took less than this many nanoseconds ran on cores near each other
NEAR = 100.0
#: hand-offs timed per round
HANDOFFS = 4000

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


@njit(nogil=True, cache=True)
def _pass(flag, me, n):
    """Thread ``me`` (0 or 1) of two passing a counter back and forth n times."""
    for i in range(n):
        while k.atomic_load(flag, 0) < 2 * i + me:
            k.cpu_relax()
        k.atomic_store(flag, 0, 2 * i + me + 1)
    return 0


def handoff_ns(pool) -> float:
    """Nanoseconds one thread of ``pool`` takes to see a counter the other wrote."""
    flag = np.zeros(16, np.int64)
    t = time.perf_counter()
    list(pool.map(lambda me: _pass(flag, me, HANDOFFS), [0, 1]))
    return (time.perf_counter() - t) / (2 * HANDOFFS) * 1e9


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
    handoff_ns(pool)  # compile / load
    ts: dict[str, list[float]] = {"one": [], "team": [], "control": [], "others": [], "handoff": []}
    for _ in range(rounds):
        busy = others_busy()
        t = time.perf_counter()
        one.train(P1, X1, Y, alpha, 1)
        ts["one"].append(time.perf_counter() - t)
        ts["handoff"].append(handoff_ns(pool))
        t = time.perf_counter()
        team.train(PT, X1, Y, alpha, 1)
        ts["team"].append(time.perf_counter() - t)
        t = time.perf_counter()
        list(pool.map(lambda P: one.train(P, X1, Y, alpha, 1), copies))
        ts["control"].append(time.perf_counter() - t)
        wall = ts["one"][-1] + ts["team"][-1] + ts["control"][-1]
        ts["others"].append((others_busy() - busy) / max(wall, 1e-9))
    same = all(np.array_equal(a, b) for a, b in zip(P1.W, PT.W))
    return {k: np.array(v) for k, v in ts.items()}, source, same


def others_busy() -> float:
    """CPU seconds the whole machine has been busy minus this process's
    (Linux /proc; 0 elsewhere): the other processes' share, in 10 ms ticks."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        machine = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        with open("/proc/self/stat") as f:
            mine = f.read().rsplit(")", 1)[1].split()
        return (machine - int(mine[11]) - int(mine[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def rows(layers, n, T, ts, source, same) -> list[list]:
    """The table's rows of one network: all rounds, the quiet ones, and these
    on near and on far cores."""
    quiet = ts["others"] < QUIET
    near = ts["handoff"] < NEAR
    net = f"{'-'.join(map(str, layers))} (~{macs_per_sample(layers)['sgd'] / 1e3:.0f} k MACs/step)"
    out = []
    for label, keep in (
        ("all", np.ones_like(quiet)),
        ("quiet", quiet),
        ("quiet, near", quiet & near),
        ("quiet, far", quiet & ~near),
    ):
        if not keep.any():
            continue
        one, team, ctrl = ts["one"][keep], ts["team"][keep], ts["control"][keep]
        r_team = np.median(one) / np.median(team)
        r_ctrl = T * np.median(one) / np.median(ctrl)
        out.append(
            [
                net,
                f"{n} {source}",
                f"{label}: {keep.sum()}",
                np.median(ts["handoff"][keep]),
                np.median(one) / n * 1e6,
                np.median(team) / n * 1e6,
                r_team,
                float(np.median(one / team)),
                r_ctrl,
                r_team / r_ctrl,
                same,
            ]
        )
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.wide_threads", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", default="784,300,100,10")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--sizes", action="store_true", help="every network of SIZES instead of --layers")
    ap.add_argument(
        "--min-call",
        type=float,
        default=None,
        help="fastbp.backends.numba.backend.TEAM_MIN_CALL_MACS for this run (calls below it run on one thread)",
    )
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    if args.min_call is not None:
        numba_backend.TEAM_MIN_CALL_MACS = args.min_call
    dt = np.dtype(args.dtype)
    T = args.threads
    nets = SIZES if args.sizes else {tuple(int(x) for x in args.layers.split(",")): args.samples}
    table = []
    with ThreadPoolExecutor(T) as pool:
        for layers, n in nets.items():
            ts, source, same = compare(layers, n, dt, T, args.rounds, pool)
            table += rows(layers, n, T, ts, source, same)
    sizes = "-sizes" if args.sizes else ""
    _results.publish(
        args,
        f"wide_threads-{dt.name}-{T}threads{sizes}",
        f"One network split over {T} threads against one thread (numba {dt.name})",
        [
            "network",
            "samples a call",
            "rounds",
            "hand-off ns",
            "1 thread us/step",
            f"{T} threads us/step",
            "speed-up",
            "median per round",
            "control",
            "threads / control",
            "weights equal",
        ],
        table,
        notes=[
            f"{args.rounds} rounds; each round times one call on one thread, the hand-off, one call on {T} threads "
            f"and the control ({T} independent copies on one thread each), one after the other. Quiet rounds: other "
            f"processes used less than {QUIET} CPUs; near: the hand-off took less than {NEAR:.0f} ns. Speed-up and "
            "control: ratios of the medians; weights equal: the threads' weights are bit for bit one thread's.",
            *([] if args.min_call is None else [f"Calls of at least {args.min_call:g} multiply-adds on a team."]),
        ],
    )


if __name__ == "__main__":
    main()
