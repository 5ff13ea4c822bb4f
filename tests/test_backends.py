"""The registry: names, "auto", and what it picks for which workload."""

import pytest

import fastbp
from fastbp import backends
from fastbp.backends import auto_choice, auto_order, macs_per_sample


def test_macs_per_sample_matches_reference_count():
    # the tutorial's digits step: forward 2,876 + hidden deltas 731 + update 2,876
    assert macs_per_sample([64, 32, 16, 10]) == 2876 + 731 + 2876
    assert macs_per_sample([2, 1]) == 2 * 3


def test_auto_puts_cuda_first_only_where_a_default_kernel_was_measured_ahead(monkeypatch):
    # today no default cuda kernel (fastbp.backends.cuda.plan.VERIFIED) was measured ahead of numba
    for layers, K in [([64, 32, 16, 10], 1), ([64, 32, 16, 10], 512), ([784, 256, 128, 10], 1)]:
        assert auto_order(layers, n_networks=K) == ("numba", "cuda", "numpy")
    assert auto_order() == ("numba", "cuda", "numpy")
    # once the GPU check measures a threshold, cuda goes first from there
    monkeypatch.setattr(backends, "GPU_MIN_NETWORKS", 64)
    assert auto_order([64, 32, 16, 10], n_networks=64)[0] == "cuda"
    assert auto_order([64, 32, 16, 10], n_networks=63)[0] == "numba"
    assert auto_order([784, 256, 128, 10], n_networks=64)[0] == "numba"  # too large for one GPU block
    monkeypatch.setattr(backends, "GPU_MIN_MACS_PER_SAMPLE", 20_000)
    assert auto_order([784, 256, 128, 10])[0] == "cuda"


def test_auto_choice_explains_itself(monkeypatch):
    usable = {"numpy": None, "numba": None, "cuda": None}
    monkeypatch.setattr(backends, "unavailable_reason", lambda n: usable[n])
    name, note = auto_choice([64, 32, 16, 10])
    assert name == "numba" and "has run on a GPU" in note and "unverified=True" in note
    monkeypatch.setattr(backends, "GPU_MIN_NETWORKS", 64)
    assert auto_choice([64, 32, 16, 10], 64)[0] == "cuda"
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
