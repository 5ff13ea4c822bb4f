"""The registry: names, "auto", and what it picks for which workload."""

import pytest

import fastbp
from fastbp import backends
from fastbp.backends import auto_choice, auto_order, macs_per_sample


def test_macs_per_sample_matches_reference_count():
    # REFERENCE.md: forward 2,876 + hidden deltas 731 + update 2,876
    assert macs_per_sample([64, 32, 16, 10]) == 2876 + 731 + 2876
    assert macs_per_sample([2, 1]) == 2 * 3


def test_auto_prefers_cpu_for_one_network_and_gpu_for_breadth():
    assert auto_order([64, 32, 16, 10])[0] == "numba"
    assert auto_order([64, 32, 16, 10], n_networks=backends.GPU_MIN_NETWORKS)[0] == "cuda"
    assert auto_order([64, 32, 16, 10], n_networks=backends.GPU_MIN_NETWORKS - 1)[0] == "numba"
    # no default cuda kernel was measured ahead of numba for one wide network, nor serves many of them
    assert auto_order([784, 256, 128, 10])[0] == "numba"
    assert auto_order([784, 256, 128, 10], n_networks=backends.GPU_MIN_NETWORKS)[0] == "numba"
    assert auto_order()[0] == "cuda"
    assert auto_order()[-1] == "numpy"


def test_auto_choice_explains_itself(monkeypatch):
    usable = {"numpy": None, "numba": None, "cuda": None}
    monkeypatch.setattr(backends, "unavailable_reason", lambda n: usable[n])
    name, note = auto_choice([64, 32, 16, 10])
    assert name == "numba" and "latency-bound on the GPU" in note
    many = backends.GPU_MIN_NETWORKS
    assert auto_choice([64, 32, 16, 10], many)[0] == "cuda"
    usable["cuda"] = "no GPU"
    name, note = auto_choice([64, 32, 16, 10], many)
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
