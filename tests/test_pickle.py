"""Networks and results pickle, copy and cross process boundaries.

A network travels as its description (layers, units, dtype, the backend's
class and options, alpha, seed, the weights); the backend's layout, buffers,
locks and compiled state are rebuilt on load.
"""

import copy
import io
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import joblib
import numpy as np
import pytest

import fastbp
from fastbp import BackendUnavailableError, NeuralNetwork
from fastbp.backends.numpy_backend import NumpyBackend

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([0.0, 1.0, 1.0, 0.0])


def _joblib_round_trip(obj):
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    buf.seek(0)
    return joblib.load(buf)


ROUND_TRIPS = {
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "joblib": _joblib_round_trip,
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}


def assert_same_weights(a: NeuralNetwork, b: NeuralNetwork) -> None:
    assert len(a.W) == len(b.W)
    for wa, wb in zip(a.W, b.W):
        assert wa.dtype == wb.dtype
        np.testing.assert_array_equal(wa, wb)


def trained(backend_name, dtype=np.float64, **kw) -> NeuralNetwork:
    net = NeuralNetwork([2, 3, 1], 0.5, backend=backend_name, dtype=dtype, seed=3, **kw)
    net.fit(X, Y, epochs=30, verbose=False)
    return net


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_network_round_trip_keeps_weights_and_settings(backend_name, dtype, how):
    net = trained(backend_name, dtype, activation="tanh", output="linear")
    back = ROUND_TRIPS[how](net)
    assert back is not net and type(back) is NeuralNetwork
    assert_same_weights(back, net)
    assert (back.layers, back.alpha, back.seed, back.dtype) == (net.layers, net.alpha, net.seed, net.dtype)
    assert (back.activation, back.output, back.backend) == ("tanh", "linear", backend_name)
    assert back.backend_impl.options == net.backend_impl.options
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    # the loaded network trains on from where it was, as the original does
    back.fit(X, Y, epochs=20, verbose=False)
    net.fit(X, Y, epochs=20, verbose=False)
    assert_same_weights(back, net)
    back.fit_partial(X[1], Y[1])
    net.fit_partial(X[1], Y[1])
    assert_same_weights(back, net)


@pytest.mark.parametrize("how", ["copy", "deepcopy"])
def test_copies_are_independent(backend_name, how):
    net = trained(backend_name)
    before = net.W
    dup = ROUND_TRIPS[how](net)
    dup.fit(X, Y, epochs=5, verbose=False)
    dup.alpha = 0.1
    for w, b in zip(net.W, before):
        np.testing.assert_array_equal(w, b)  # training the copy left the original alone
    assert net.alpha == 0.5
    net.fit(X, Y, epochs=5, verbose=False)
    assert any((a != b).any() for a, b in zip(net.W, before))
    again = ROUND_TRIPS[how](net)
    again.fit(X, Y, epochs=3, verbose=False)
    net.fit(X, Y, epochs=3, verbose=False)
    assert_same_weights(again, net)


def test_backend_options_travel():
    from fastbp.backends import unavailable_reason

    if unavailable_reason("numba") is not None:
        pytest.skip(unavailable_reason("numba"))
    net = trained("numba", threads=1)
    back = pickle.loads(pickle.dumps(net))
    assert back.threads == 1 and back.backend_impl.options == {"threads": 1}


def test_subclass_attributes_travel(backend_name):
    class Tagged(NeuralNetwork):
        pass

    net = Tagged([2, 2, 1], 0.3, backend=backend_name, seed=0)
    net.note = {"run": 7}
    for how, trip in ROUND_TRIPS.items():
        if how in ("pickle", "joblib"):
            continue  # a class defined in a function does not pickle by reference
        back = trip(net)
        assert type(back) is Tagged and back.note == {"run": 7}
    assert copy.deepcopy(net).note is not net.note and copy.copy(net).note is net.note


def test_a_pickled_sweep_shares_one_backend_when_loaded(backend_name):
    sweep = fastbp.train_many("xor", alphas=[0.3, 0.5], seeds=[0, 1], backend=backend_name, epochs=10)
    back = pickle.loads(pickle.dumps(sweep))
    impls = {id(r.network.backend_impl) for r in back.results}
    assert len(impls) == 1


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_results_round_trip(backend_name, how):
    r = fastbp.train("xor", backend=backend_name, seed=0, epochs=40, verbose=False)
    back = ROUND_TRIPS[how](r)
    assert back.summary() == r.summary()
    np.testing.assert_array_equal(back.loss_history, r.loss_history)
    np.testing.assert_array_equal(back.test_outputs, r.test_outputs)
    assert back.report == r.report
    assert_same_weights(back.network, r.network)
    if how != "copy":  # a shallow copy of a result shares its network, as copy.copy does with any attribute
        assert back.network is not r.network

    sweep = fastbp.train_many("xor", alphas=[0.3, 0.5], seeds=[0, 1], backend=backend_name, epochs=10)
    sback = ROUND_TRIPS[how](sweep)
    assert sback.table() == sweep.table() and sback.summary() == sweep.summary()
    for a, b in zip(sback.results, sweep.results):
        assert (a.index, a.alpha, a.seed, a.accuracy, a.diverged_at) == (b.index, b.alpha, b.seed, b.accuracy, None)
        np.testing.assert_array_equal(a.loss_history, b.loss_history)
        assert_same_weights(a.network, b.network)
    one = ROUND_TRIPS[how](sweep.results[1])
    assert one.alpha == sweep.results[1].alpha
    assert_same_weights(one.network, sweep.results[1].network)


def _train_there(net: NeuralNetwork, epochs: int) -> NeuralNetwork:
    net.fit(X, Y, epochs=epochs, verbose=False)
    return net


def _train_result_there(backend_name: str):
    return fastbp.train("xor", backend=backend_name, seed=2, epochs=25, verbose=False)


def test_networks_and_results_cross_processes(backend_name):
    if backend_name == "cuda":
        pytest.skip("one GPU context per process: the cuda round trips above cover the device state")
    net = trained(backend_name)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        there = pool.submit(_train_there, net, 15).result()
        result = pool.submit(_train_result_there, backend_name).result()
    _train_there(net, 15)
    assert_same_weights(there, net)  # trained in another process: the same bits
    here = _train_result_there(backend_name)
    np.testing.assert_array_equal(result.loss_history, here.loss_history)
    assert_same_weights(result.network, here.network)


class FlakyBackend(NumpyBackend):
    """The NumPy backend, unusable where ``FlakyBackend.usable`` is False
    (a machine without the backend's library or device)."""

    usable = True

    def __init__(self, tag: int = 0):
        if not FlakyBackend.usable:
            raise BackendUnavailableError("backend 'flaky' is unavailable: no flaky device here")
        self.tag = tag

    @property
    def options(self):
        return {"tag": self.tag}


def test_a_network_whose_backend_cannot_run_here_says_how_to_load_it_on_the_cpu(monkeypatch):
    net = NeuralNetwork([2, 2, 1], 0.5, backend=FlakyBackend(tag=12345), seed=0)
    data = pickle.dumps(net)
    monkeypatch.setattr(FlakyBackend, "usable", False)
    with pytest.raises(BackendUnavailableError) as info:
        pickle.loads(data)
    msg = str(info.value)
    assert "no flaky device here" in msg
    assert "net.to('numba')" in msg and "NeuralNetwork.load(path, backend='numba')" in msg
    monkeypatch.setattr(FlakyBackend, "usable", True)
    back = pickle.loads(data)
    assert back.backend_impl.options == {"tag": 12345}
    assert_same_weights(back, net)


def test_a_cuda_network_names_what_is_missing_where_there_is_no_gpu():
    from fastbp.backends import unavailable_reason

    if unavailable_reason("cuda") is None:
        pytest.skip("cuda is usable here: the round trips above load cuda networks onto the GPU")
    net = NeuralNetwork([2, 2, 1], 0.5, backend="numpy", seed=0)
    fn, args, _ = net.__reduce__()
    cuda = ("fastbp.backends.cuda.backend", "CudaBackend", {"unverified": False, "device": 0})
    args = (args[0], (args[1][0], *cuda[:2], tuple(sorted(cuda[2].items()))), *args[2:])
    with pytest.raises(BackendUnavailableError, match=r"backend 'cuda' is unavailable.*net\.to\('numba'\)"):
        fn(*args)
