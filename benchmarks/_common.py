"""Shared helpers of the benchmark suite: data, weights, FLOP counts, timing.

Every benchmark goes through :func:`measure`, which

* warms the callable up outside the timing (numba compilation, CUDA module
  load, BLAS thread start-up) and uses the warm call to pick a round count
  that fits ``--benchmark-max-time`` (at least ``--benchmark-min-rounds``);
* times ``fn(*setup())`` with ``benchmark.pedantic``: ``setup`` (e.g. a fresh
  copy of the initial weights, so every round does the same work) runs
  outside the timing, and the timed call ends with ``backend.synchronize()``
  so device work is counted in full;
* records in ``benchmark.extra_info`` what the report needs: workload, section,
  backend (the report's column), dtype, layers, samples per call, FLOPs per
  call, and the resulting samples/s and GFLOP/s of the fastest round (as
  ``timeit`` advises: on a shared machine other load only slows rounds down),
  and samples/s of the median round.

FLOPs are 2 per multiply-add, counted from the weight shapes (bias rows and the
reference's extra hidden unit included). Per sample: forward = sum over layers
of rows*cols of W[l]; update the same; hidden deltas = the same sum over l >= 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from fastbp.backends import macs_breakdown
from fastbp.network import add_bias, init_weights

#: The reference's digits network.
DIGITS_LAYERS = (64, 32, 16, 10)
#: The workload every peer runs too: one epoch of per-sample SGD on digits.
DIGITS_EPOCH = "per-sample SGD, digits epoch (1347 steps)"
#: Order of the report's sections.
SECTIONS = ("kernels", "end-to-end", "scaling", "many")


# --------------------------------------------------------------------- FLOPs
def macs_per_sample(layers: Sequence[int]) -> dict[str, int]:
    """Multiply-adds of one sample: forward, hidden deltas, update, sgd (all three)."""
    return macs_breakdown(list(layers))


def flops_per_sample(layers: Sequence[int], what: str = "sgd") -> int:
    """FLOPs (2 per multiply-add) of one sample's ``what`` (see macs_per_sample)."""
    return 2 * macs_per_sample(layers)[what]


def layers_id(layers: Sequence[int]) -> str:
    return "-".join(str(n) for n in layers)


# ---------------------------------------------------------------- data sets
@cache
def _digits_host():
    from fastbp.datasets import digits

    ds = digits()
    return add_bias(ds.X_train), np.ascontiguousarray(ds.Y_train)


def digits_host(n: int | None = None):
    """(X1, Y) of the digits training split (1,347 rows, bias column added), host float64."""
    X1, Y = _digits_host()
    return (X1, Y) if n is None else (X1[:n], Y[:n])


def random_host(layers: Sequence[int], n: int, seed: int = 0):
    """(X1, Y): ``n`` random inputs in [0, 1) with the bias column, one-hot targets."""
    rng = np.random.default_rng(seed)
    X1 = add_bias(rng.random((n, layers[0])))
    Y = np.zeros((n, layers[-1]))
    Y[np.arange(n), rng.integers(0, layers[-1], n)] = 1.0
    return X1, Y


def weights_host(layers: Sequence[int], seed: int = 0):
    """The reference's initial weights for ``layers`` (host float64)."""
    return init_weights(list(layers), seed=seed)


def stacked_weights_host(layers: Sequence[int], K: int):
    """K networks seeded 0..K-1, stacked per layer: arrays of shape (K, rows, cols)."""
    nets = [init_weights(list(layers), seed=k) for k in range(K)]
    return [np.stack([net[l] for net in nets]) for l in range(len(nets[0]))]


def on_backend(backend, dtype, *arrays):
    """The host arrays moved onto ``backend`` as ``dtype`` (a list for a list)."""
    out = []
    for a in arrays:
        if isinstance(a, (list, tuple)):
            out.append([backend.asarray(w, dtype) for w in a])
        else:
            out.append(backend.asarray(a, dtype))
    backend.synchronize()
    return out


def weight_resetter(backend, W0) -> Callable[[], tuple]:
    """A pedantic ``setup``: a fresh copy of the weights ``W0`` for each round
    (copied outside the timing; the device is synchronized before timing)."""

    def setup():
        W = [w.copy() for w in W0]
        backend.synchronize()
        return (W,), {}

    return setup


# ------------------------------------------------------------- the tutorial
#: The transcription of the tutorial's NeuralNetwork class (tests/reference_impl.py).
#: the checkout
ROOT = Path(__file__).resolve().parents[1]
REFERENCE_IMPL = ROOT / "tests" / "reference_impl.py"


def byte_compile_fastbp() -> None:
    """Writes the bytecode of this checkout's fastbp modules, as ``pip
    install`` does, so that the processes a first-run or start-up benchmark
    times load fastbp as an installed copy loads it: with
    ``PYTHONDONTWRITEBYTECODE`` set, each would compile fastbp's sources
    again (0.09 s on the 2-core VM, medians of 10, 2026-12-07)."""
    import compileall

    compileall.compile_dir(str(ROOT / "fastbp"), quiet=1)


@cache
def reference_module():
    """tests/reference_impl.py as a module (the tutorial's code)."""
    import importlib.util

    import pytest

    if not REFERENCE_IMPL.exists():
        pytest.skip(f"the tutorial transcription {REFERENCE_IMPL} is not in this checkout")
    spec = importlib.util.spec_from_file_location("_fastbp_reference_impl", REFERENCE_IMPL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tutorial_blas():
    """A context in which the tutorial's code runs: NumPy's BLAS on one thread.

    The tutorial's loss pass multiplies the whole training set by each weight
    matrix, large enough for OpenBLAS to start its threads, which then spin for
    a while after each product and take the second core from whatever is timed
    next (a loss helper thread, a team). One BLAS thread leaves the tutorial's
    own time as it is (its matrices are small: the threads gain it nothing)
    and the workloads timed after it undisturbed.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def reference_network(layers, alpha, W0, dtype=np.float64):
    """The tutorial's NeuralNetwork with weights ``W0`` (its constructor draws
    from the global RNG, so the weights are set instead)."""
    cls = reference_module().ReferenceNetwork
    net = cls.__new__(cls)
    net.layers, net.alpha = list(layers), alpha
    net.W = [np.asarray(w, dtype=dtype).copy() for w in W0]
    return net


# -------------------------------------------------------------------- timing
def _rounds_for(config, seconds_per_call: float) -> int:
    max_time = float(config.getoption("benchmark_max_time", 1.0) or 1.0)
    min_rounds = int(config.getoption("benchmark_min_rounds", 5) or 5)
    return int(max(min_rounds, min(1000, max_time // max(seconds_per_call, 1e-9))))


def measure(
    benchmark,
    request,
    fn: Callable,
    *,
    backend,
    workload: str,
    section: str,
    dtype,
    layers: Sequence[int],
    samples: int,
    flops: float,
    setup: Callable[[], tuple] | None = None,
    unit: str = "samples/s",
    column: str | None = None,
    peer: bool = False,
    **extra,
):
    """Benchmark ``fn`` (see the module docstring) and record its extra_info.

    ``fn`` takes the positional arguments ``setup`` returns (none without a
    setup); ``samples`` and ``flops`` are per call of ``fn``. ``column`` is
    the report column (default: the backend's name); a peer (not a fastbp
    backend) passes ``backend=None``, a ``column`` and ``peer=True``. Returns the result of the
    last call.
    """
    dtype = np.dtype(dtype)
    column = column or backend.name
    sync = backend.synchronize if backend is not None else (lambda: None)
    benchmark.group = f"{workload} | {layers_id(layers)} [{dtype.name}]"
    benchmark.extra_info.update(
        workload=workload,
        section=section,
        backend=column,
        peer=bool(peer),
        dtype=dtype.name,
        layers=layers_id(layers),
        samples=int(samples),
        flops=float(flops),
        unit=unit,
        **extra,
    )

    def timed(*args):
        out = fn(*args)
        sync()
        return out

    def call_once():
        args, kwargs = setup() if setup is not None else ((), {})
        t0 = time.perf_counter()
        timed(*args, **kwargs)
        return time.perf_counter() - t0

    if getattr(benchmark, "disabled", False):
        # --benchmark-disable (smoke run): the body runs once, no warm-up.
        return benchmark.pedantic(timed, setup=setup, rounds=1, iterations=1)

    call_once()  # compilation, module load, caches: never timed
    t = call_once()  # warm calls, to size the rounds (the fastest: other load only slows calls down)
    if t < 0.05:
        t = min(t, *(call_once() for _ in range(3)))
    iterations = 1
    if setup is None and t < 1e-3:  # a tiny call: several per round beat the timer noise
        iterations = int(min(1000, max(1, 1e-3 // max(t, 1e-9))))
    rounds = _rounds_for(request.config, t * iterations)
    result = benchmark.pedantic(timed, setup=setup, rounds=rounds, iterations=iterations, warmup_rounds=0)

    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        best, median = stats.stats.min, stats.stats.median
        benchmark.extra_info["samples_per_s"] = samples / best
        benchmark.extra_info["gflops"] = flops / best / 1e9
        benchmark.extra_info["samples_per_s_median"] = samples / median
    return result


def measure_sgd_epoch(benchmark, request, backend, dtype, layers, X1h, Yh, alpha: float, workload: str, **extra):
    """``measure`` one ``sgd_epoch`` of ``layers`` over the host samples (X1h,
    Yh) per call, from the same weights every round (section "scaling");
    ``extra`` goes to ``measure``."""
    n = X1h.shape[0]
    W, X1, Y = on_backend(backend, dtype, weights_host(layers), X1h, Yh)

    def fn(Wr):
        backend.sgd_epoch(Wr, X1, Y, alpha)

    return measure(
        benchmark,
        request,
        fn,
        setup=weight_resetter(backend, W),
        backend=backend,
        workload=workload,
        section="scaling",
        dtype=dtype,
        layers=layers,
        samples=n,
        flops=n * flops_per_sample(layers, "sgd"),
        **extra,
    )
