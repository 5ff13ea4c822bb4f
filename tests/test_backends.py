"""The registry: names, "auto", and what it picks for which workload."""

import pytest

import fastbp
from fastbp import backends
from fastbp.backends import auto_choice, auto_order, macs_per_sample


def test_macs_per_sample_matches_reference_count():
    # the tutorial's digits step: forward 2,876 + hidden deltas 731 + update 2,876
    assert macs_per_sample([64, 32, 16, 10]) == 2876 + 731 + 2876
    assert macs_per_sample([2, 1]) == 2 * 3


def _measured(layers, K, cuda_us, numba_us, dtype="float64"):
    """This machine's record: cuda's chosen kernel and numba timed for a workload."""
    from fastbp.backends.cuda import record
    from fastbp.backends.cuda.source import kernels_hash

    dims = [n + 1 for n in layers[:-1]] + [layers[-1]]
    key = record.Key(
        "NVIDIA H100", "9.0", "13.0", "13.0", kernels_hash(), record.Workload.of(dims, dtype, ("sigmoid",) * 2, K)
    )
    entry = {
        "date": "2026-12-01T00:00:00+00:00",
        "chosen": "block",
        "kernels": {"block": {"status": "passed", "us_per_sample": cuda_us}},
        "numba": {"us_per_sample": numba_us},
    }
    record.store(key, entry)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTBP_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_auto_puts_cuda_first_only_where_this_machine_measured_it_ahead_of_numba(cache):
    digits, wide = [64, 32, 16, 10], [784, 256, 128, 10]
    for layers, K in [(digits, 1), (digits, 512), (wide, 1), (None, 1)]:
        assert auto_order(layers, n_networks=K) == ("numba", "cuda", "numpy")  # nothing measured
    _measured(digits, 64, cuda_us=0.05, numba_us=0.4)
    _measured(wide, 1, cuda_us=30.0, numba_us=20.0)
    assert auto_order(digits, n_networks=64)[0] == "cuda" and auto_order(digits, n_networks=127)[0] == "cuda"
    assert auto_order(digits, n_networks=63)[0] == "numba"  # another range of network counts
    assert auto_order(digits, n_networks=64, dtype="float32")[0] == "numba"  # not measured in float32
    assert auto_order(digits, n_networks=64, activation="relu", output="softmax")[0] == "numba"
    assert auto_order(wide)[0] == "numba"  # measured behind numba


def test_auto_choice_explains_itself(monkeypatch, cache):
    usable = {"numpy": None, "numba": None, "cuda": None}
    monkeypatch.setattr(backends, "unavailable_reason", lambda n: usable[n])
    name, note = auto_choice([64, 32, 16, 10])
    assert name == "numba" and "has not been measured" in note
    assert "`fastbp tune --layers 64,32,16,10 --dtype float64 --networks 1`" in note
    _measured([64, 32, 16, 10], 64, cuda_us=0.05, numba_us=0.4)
    name, note = auto_choice([64, 32, 16, 10], 64)
    assert name == "cuda" and "measured on this machine's NVIDIA H100 (2026-12-01)" in note
    assert "cuda (block kernel) 0.05 us a network-sample, numba 0.4 us" in note
    usable["cuda"] = "no GPU"
    name, note = auto_choice([64, 32, 16, 10], 64)
    assert name == "numba" and "cuda unavailable" in note
    usable["numba"] = "no numba"
    assert auto_choice([64, 32, 16, 10])[0] == "numpy"


def test_auto_network_uses_a_usable_backend():
    net = fastbp.NeuralNetwork([2, 2, 1], backend="auto", seed=0)
    assert net.backend in fastbp.available_backends()
    assert fastbp.available_backends()[-1] == "numpy"


def test_get_backend_passes_instances_through():
    be = fastbp.get_backend("numpy")
    assert fastbp.get_backend(be) is be
    with pytest.raises(TypeError, match="backend must be a string"):
        fastbp.get_backend(3)


@pytest.mark.parametrize(
    "layers, K, n", [([200, 300, 100, 10], 1, 500), ([50, 400, 10], 1, 2000), ([50, 300, 10], 6, 300)]
)
def test_bytes_needed_covers_what_training_allocates(backend, layers, K, n):
    """The backend's count (the memory check's) is at least what a training
    run of K networks and a whole-set predict allocate, as tracemalloc sees
    NumPy's allocations (host backends), and not far above it."""
    import tracemalloc

    import numpy as np

    from fastbp.loop import run

    if backend.on_device:
        pytest.skip("device memory is not seen by tracemalloc")
    rng = np.random.RandomState(0)
    X1 = backend.asarray(np.hstack([rng.rand(n, layers[0]), np.ones((n, 1))]), np.float64)
    Y = backend.asarray(np.eye(layers[-1])[rng.randint(0, layers[-1], n)], np.float64)
    host = [np.stack([w] * K) for w in fastbp.NeuralNetwork(layers, backend="numpy", seed=0).W]
    for be in (backend, backend.with_threads(1)):  # compiled and warm, automatic mode's one-thread rival too
        run(be, be.params(host, np.float64), X1, Y, np.full(K, 0.1), 2)
    backend.finish_compiles()  # no kernel compiling in the background while memory is traced
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        P = backend.params(host, np.float64)
        run(backend, P, X1, Y, np.full(K, 0.1), 3)
        for k in range(K):
            backend.predict(P.network(k), X1)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    used = peak + X1.nbytes + Y.nbytes
    need = backend.bytes_needed(layers, K, np.float64, n)
    assert used <= need <= 4 * used, f"counted {need:,} bytes, used {used:,}"
