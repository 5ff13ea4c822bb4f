"""The cuda backend on a real GPU: every training kernel and the per-layer
kernels against the NumPy reference, divergence, the tuner (its decision,
the record, the check of a forced kernel), and the reference's results on
whatever kernel the tuner picks.

Skips (with the backend's unavailability message) where there is no GPU,
driver or CuPy. The decisions go to a temporary cache folder. Tolerances:
conftest's (``rtol``: float64 1e-12 of max |W| per layer; a NumPy run that
only changes the summation order differs by 1.6e-15 after 10 digits epochs;
float32 1e-4, 1.4e-6 in the same experiment).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DTYPES, assert_close, stacked
from fastbp.backends import get_backend, unavailable_reason
from fastbp.backends.base import Params
from fastbp.datasets import digits as fastbp_digits
from fastbp.network import add_bias, init_weights

_why = unavailable_reason("cuda")
if _why is not None:
    pytest.skip(_why, allow_module_level=True)

from fastbp.backends.cuda import backend as cuda_module  # noqa: E402
from fastbp.backends.cuda import plan as pl  # noqa: E402
from fastbp.backends.cuda import record, tune  # noqa: E402
from fastbp.backends.cuda.backend import CudaBackend  # noqa: E402

DIGITS = [64, 32, 16, 10]
WIDE = [784, 256, 128, 10]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """The decisions of these tests in a folder of their own."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASTBP_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def cuda(cache):
    return CudaBackend()


def forced(be, layers, dtype, K, kernel, units=("sigmoid", "sigmoid"), **force):
    """The plan of ``kernel`` (plan_train's) for the workload, with forced options."""
    return pl.plan_train(dims(layers), dtype, K, be.device, kernel, units=units, **force)


def dims(layers):
    return tuple([n + 1 for n in layers[:-1]] + [layers[-1]])


def digits_data(n=None):
    ds = fastbp_digits()
    X1, Y = add_bias(ds.X_train), ds.Y_train
    return (X1[:n], Y[:n]) if n else (X1, Y)


def random_data(layers, n, seed=1):
    rs = np.random.RandomState(seed)
    return add_bias(rs.rand(n, layers[0])), np.eye(layers[-1])[rs.randint(0, layers[-1], n)]


def reference(W, X1, Y, alphas, epochs, record, dtype):
    return tune.reference(
        dict(
            W=[w.astype(dtype) for w in W],
            X1=X1.astype(dtype),
            Y=Y.astype(dtype),
            alphas=alphas,
            epochs=epochs,
            record=np.asarray(record),
            units=("sigmoid", "sigmoid"),
        )
    )


def assert_weights(got, ref, dtype, what=""):
    for l, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, dtype, f"{what} W[{l}]")


def run(be, p, W, X1, Y, alphas, epochs, record, dtype):
    """Trains with plan ``p``; returns (host weights, losses)."""
    P = be.params(W, dtype)
    losses = be.train_with(
        p, P, be.asarray(X1, dtype), be.asarray(Y, dtype), np.asarray(alphas), epochs, np.asarray(record)
    )
    assert be.last_plan.kernel == p.kernel
    return be.params_to_host(P), losses


# ---------------------------------------------------------------- basics
def test_info_names_the_gpu_and_where_the_decisions_are(cuda, cache):
    info = cuda.info()
    assert info["name"] == "cuda" and info["gpu"] and info["sm_count"] > 0
    assert info["decisions"] == str(record.path()) and str(cache) in info["decisions"]
    assert cuda.on_device and cuda.unsupported("relu", "softmax") is None


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_asarray_roundtrip(cuda, dtype):
    a = np.arange(12.0).reshape(3, 4)
    d = cuda.asarray(a, dtype)
    assert d.dtype == dtype and d.flags.c_contiguous
    np.testing.assert_array_equal(cuda.to_numpy(d), a.astype(dtype))


@pytest.mark.parametrize("cublas", [False, True], ids=["fused", "cublas"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_every_layer_kernel_matches_numpy(cuda, monkeypatch, dtype, cublas):
    monkeypatch.setattr(cuda_module, "CUBLAS_MIN_MACS", 0 if cublas else 1 << 60)
    numpy_b = get_backend("numpy")
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    W = [w.astype(dtype) for w in init_weights(DIGITS, 3)]
    X1, Y = (a.astype(dtype) for a in digits_data(200))
    Wd = [cuda.asarray(w, dtype) for w in W]
    X1d, Yd = cuda.asarray(X1, dtype), cuda.asarray(Y, dtype)
    A, Ad = numpy_b.forward(W, X1), cuda.forward(Wd, X1d)
    for a, ad in zip(A, Ad):
        np.testing.assert_allclose(cuda.to_numpy(ad), a, rtol=rtol, atol=rtol)
    D, Dd = numpy_b.output_delta(A[-1], Y), cuda.output_delta(Ad[-1], Yd)
    np.testing.assert_allclose(cuda.to_numpy(Dd), D, rtol=rtol, atol=rtol)
    for l in range(len(W) - 1, 0, -1):
        Dl, Dld = numpy_b.hidden_delta(D, W[l], A[l]), cuda.hidden_delta(Dd, Wd[l], Ad[l])
        np.testing.assert_allclose(cuda.to_numpy(Dld), Dl, rtol=rtol, atol=rtol * np.abs(Dl).max())
        D, Dd = Dl, Dld
    for l in range(len(W)):
        numpy_b.update(W[l], A[l], numpy_b.output_delta(A[l + 1], A[l + 1] * 0.5), 0.1)
        cuda.update(Wd[l], Ad[l], cuda.output_delta(Ad[l + 1], Ad[l + 1] * 0.5), 0.1)
        np.testing.assert_allclose(cuda.to_numpy(Wd[l]), W[l], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(cuda.to_numpy(cuda.predict(Wd, X1d)), numpy_b.predict(W, X1), rtol=rtol, atol=rtol)
    assert cuda.loss(Wd, X1d, Yd) == pytest.approx(numpy_b.loss(W, X1, Y), rel=rtol * 10)


# ------------------------------------------------------ training kernels
KERNEL_PLANS = {  # kernel -> plan_train options (grid: 7 blocks, so that a digits network spans several)
    "block": {},
    "regs": {},
    "grid": dict(blocks=7, replicate=True),
    "grid-slices": dict(blocks=7, replicate=False),
    "step": {},
}


@pytest.mark.parametrize("epochs", [1, 10])
@pytest.mark.parametrize("kernel", list(KERNEL_PLANS))
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_digits_training_matches_numpy(cuda, dtype, kernel, epochs):
    K = 1 if kernel == "step" and epochs == 10 else 2
    X1, Y = digits_data(None if kernel != "step" else 100)
    W = stacked(DIGITS, K, seed=42)
    alphas = np.linspace(0.1, 0.3, K)
    record = [1, epochs] if epochs > 1 else [1]
    p = forced(cuda, DIGITS, dtype, K, kernel.split("-")[0], **KERNEL_PLANS[kernel])
    got, losses = run(cuda, p, W, X1, Y, alphas, epochs, record, dtype)
    ref, ref_losses = reference(W, X1, Y, alphas, epochs, record, dtype)
    assert_weights(got, ref, dtype, f"{p.describe()} {epochs} epochs")
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("kernel", ["block", "regs", "grid"])
@pytest.mark.parametrize("layers", [[2, 2, 1], [2, 1], [70, 3, 1], [80, 4, 2], [30, 40, 20, 10, 5]])
def test_other_shapes_match_numpy(cuda, layers, kernel):
    """No hidden layer, groups that need every lane, an x row wider than the
    block, four layers (regs: one weight matrix is not its shape)."""
    try:
        p = forced(
            cuda, layers, np.float64, 2 if kernel != "grid" else 1, kernel, blocks=3 if kernel == "grid" else None
        )
    except ValueError as exc:
        assert kernel == "regs" and len(layers) == 2, exc
        return
    W = stacked(layers, p.K, seed=11)
    X1, Y = random_data(layers, 37)
    alphas = np.full(p.K, 0.3)
    got, losses = run(cuda, p, W, X1, Y, alphas, 2, [1, 2], np.float64)
    ref, ref_losses = reference(W, X1, Y, alphas, 2, [1, 2], np.float64)
    assert_weights(got, ref, np.float64, f"{layers} {p.describe()}")
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10)


@pytest.mark.parametrize("kernel", ["block", "regs", "grid"])
def test_epochs_in_one_call_equal_one_call_per_epoch(cuda, kernel):
    """The training seam: 5 epochs and their losses in one launch, bit for
    bit the weights and losses of 5 launches of one epoch."""
    X1, Y = digits_data(300)
    K = 1 if kernel == "grid" else 3
    W = stacked(DIGITS, K, seed=7)
    alphas = np.linspace(0.1, 0.5, K)
    p = forced(cuda, DIGITS, np.float64, K, kernel)
    one, losses = run(cuda, p, W, X1, Y, alphas, 5, [1, 2, 3, 4, 5], np.float64)
    per = []
    for _ in range(5):
        W, le = run(cuda, p, W, X1, Y, alphas, 1, [1], np.float64)
        per.append(le[0])
    for a, b in zip(one, W):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(losses, np.array(per))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("replicate", [True, False], ids=["replicated", "slices"])
def test_wide_network_grid_matches_numpy(cuda, dtype, replicate):
    p = forced(cuda, WIDE, dtype, 1, "grid", replicate=replicate)
    W = stacked(WIDE, 1, seed=7)
    X1, Y = random_data(WIDE, 64)
    got, losses = run(cuda, p, W, X1, Y, [0.05], 2, [1, 2], dtype)
    ref, ref_losses = reference(W, X1, Y, [0.05], 2, [1, 2], dtype)
    assert_weights(got, ref, dtype, p.describe())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("kernel", ["block", "regs", "grid"])
def test_a_diverged_network_records_nan_and_the_others_train_on(cuda, kernel):
    layers = [4, 3, 2]
    K = 2
    W = stacked(layers, K)
    W[1][1, 0, 0] = np.inf  # network 1's last layer: its loss alone could stay finite
    X1, Y = random_data(layers, 5)
    p = forced(cuda, layers, np.float64, K, kernel, blocks=2 if kernel == "grid" else None)
    got, losses = run(cuda, p, W, X1, Y, [0.1, 0.1], 3, [1, 3], np.float64)
    assert np.isfinite(losses[:, 0]).all() and np.isnan(losses[:, 1]).all()
    ref, _ = reference([w[:1] for w in W], X1, Y, [0.1], 3, [1, 3], np.float64)
    assert_weights([g[:1] for g in got], ref, np.float64, "the finite network")


# ------------------------------------------------------------- the tuner
def _host(X1, Y, dtype, be):
    return be.asarray(X1, dtype), be.asarray(Y, dtype)


def test_the_tuner_decides_records_and_trains_with_a_kernel_that_passed(cuda, monkeypatch):
    X1, Y = digits_data()
    P = cuda.params(stacked(DIGITS, 1), np.float64)
    entry = cuda.decide(P, *_host(X1, Y, np.float64, cuda))
    chosen = entry["chosen"]
    assert entry["kernels"][chosen]["status"] == "passed" and entry["kernels"][chosen]["us_per_sample"] > 0
    assert set(entry["kernels"]) == set(pl.LABELS) and entry["rows"] == 1024 and entry["K"] == 1
    assert record.lookup(cuda.key(P.dims, P.dtype, ("sigmoid", "sigmoid"), 1))["chosen"] == chosen
    # another process reads the decision: no tuning again
    monkeypatch.setattr(tune, "decide", lambda *a, **k: pytest.fail("decided again"))
    other = CudaBackend()
    W = stacked(DIGITS, 1, seed=3)
    Q = other.params(W, np.float64)
    losses = other.train(Q, *_host(X1[:200], Y[:200], np.float64, other), np.array([0.1]), 2, np.array([1, 2]))
    assert other.last_plan.label == chosen
    ref, ref_losses = reference(W, X1[:200], Y[:200], [0.1], 2, [1, 2], np.float64)
    assert_weights(other.params_to_host(Q), ref, np.float64, other.last_plan.describe())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10)


def test_the_tuner_refuses_every_kernel_that_disagrees(cuda, monkeypatch):
    real = tune.reference

    def wrong(problem):  # a reference that differs from what every correct kernel computes
        W, losses = real(problem)
        return [w + 1e-6 for w in W], losses

    monkeypatch.setattr(tune, "reference", wrong)
    P = cuda.params(stacked([4, 3, 2], 1), np.float64)
    X1, Y = random_data([4, 3, 2], 20)
    with pytest.raises(tune.KernelCheckError, match=r"no cuda kernel passed.*step: refused: disagrees"):
        cuda.decide(P, *_host(X1, Y, np.float64, cuda))


def test_a_forced_kernel_is_checked_once(monkeypatch):
    be = CudaBackend(kernel="block")
    real = tune.reference

    def wrong(problem):
        W, losses = real(problem)
        return [w + 1e-6 for w in W], losses

    monkeypatch.setattr(tune, "reference", wrong)
    P = be.params(stacked([4, 3, 2], 1), np.float64)
    X1, Y = _host(*random_data([4, 3, 2], 6), np.float64, be)
    with pytest.raises(
        tune.KernelCheckError, match=r"kernel='block'.*fastbp_train_block<double, 32, 5, 4, 2>.*differs by"
    ):
        be.compile(P, X1, Y)
    monkeypatch.setattr(tune, "reference", real)
    calls = []
    check = tune.check
    monkeypatch.setattr(tune, "check", lambda *a: calls.append(1) or check(*a))
    for _ in range(3):
        be.train(P, X1, Y, np.array([0.1]), 1)
    assert len(calls) == 1 and be.last_plan.label == "block"
    with pytest.raises(ValueError, match=r"kernel='regs'.*registers of weights"):
        CudaBackend(kernel="regs").compile(be.params(stacked(WIDE, 1), np.float64), None, None)
    with pytest.raises(ValueError, match="kernel must be None or one of"):
        CudaBackend(kernel="fast")


# ------------------------------------------------------ the one-epoch API
def test_sgd_epoch_many_and_loss_many(cuda):
    K = 6
    alphas = np.linspace(0.05, 0.5, K)
    X1, Y = digits_data(400)
    host = stacked(DIGITS, K, seed=100)
    Ws = [cuda.asarray(w, np.float64) for w in host]
    X1d, Yd = cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64)
    cuda.sgd_epoch_many(Ws, X1d, Yd, alphas)
    ref, _ = reference(host, X1, Y, alphas, 1, [], np.float64)
    assert_weights([cuda.to_numpy(w) for w in Ws], ref, np.float64, "sgd_epoch_many")
    losses = cuda.loss_many(Params(Ws, np.float64), X1d, Yd)
    for k in range(K):
        assert losses[k] == pytest.approx(cuda.loss([w[k] for w in Ws], X1d, Yd), rel=1e-12)


# ------------------------------------------------------------ reproduction
@pytest.mark.parametrize("kernel", [None, "step"], ids=["tuned", "step"])
def test_xor_and_digits_reproduce(kernel):
    import fastbp

    be = CudaBackend(kernel=kernel)
    r = fastbp.train("xor", backend=be, seed=0, verbose=False)
    assert r.final_loss < 0.01
    r = fastbp.train("digits", backend=be, seed=0, verbose=False)
    assert r.accuracy >= 0.96, r.accuracy


# ------------------------------------------- other units than the sigmoid
UNITS = [
    (a, o)
    for a in ("sigmoid", "tanh", "relu")
    for o in ("sigmoid", "softmax", "linear")
    if (a, o) != ("sigmoid", "sigmoid")
]


@pytest.mark.parametrize("cublas", [False, True], ids=["fused", "cublas"])
@pytest.mark.parametrize(("activation", "output"), UNITS, ids=lambda u: str(u))
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_layer_kernels_with_other_units_match_numpy(cuda, monkeypatch, dtype, activation, output, cublas):
    monkeypatch.setattr(cuda_module, "CUBLAS_MIN_MACS", 0 if cublas else 1 << 60)
    numpy_b = get_backend("numpy")
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    kw = dict(activation=activation, output=output)
    W = [w.astype(dtype) for w in init_weights(DIGITS, 3, activation)]
    X1, Y = (a.astype(dtype) for a in digits_data(200))
    Wd = [cuda.asarray(w, dtype) for w in W]
    X1d, Yd = cuda.asarray(X1, dtype), cuda.asarray(Y, dtype)
    A, Ad = numpy_b.forward(W, X1, **kw), cuda.forward(Wd, X1d, **kw)
    for a, ad in zip(A, Ad):
        np.testing.assert_allclose(cuda.to_numpy(ad), a, rtol=rtol, atol=rtol * max(1.0, np.abs(a).max()))
    D, Dd = numpy_b.output_delta(A[-1], Y, output=output), cuda.output_delta(Ad[-1], Yd, output=output)
    np.testing.assert_allclose(cuda.to_numpy(Dd), D, rtol=rtol, atol=rtol * max(1.0, np.abs(D).max()))
    for l in range(len(W) - 1, 0, -1):
        Dl = numpy_b.hidden_delta(D, W[l], A[l], activation=activation)
        Dld = cuda.hidden_delta(Dd, Wd[l], Ad[l], activation=activation)
        np.testing.assert_allclose(cuda.to_numpy(Dld), Dl, rtol=rtol, atol=rtol * np.abs(Dl).max())
        D, Dd = Dl, Dld
    assert cuda.loss(Wd, X1d, Yd, **kw) == pytest.approx(numpy_b.loss(W, X1, Y, **kw), rel=rtol * 10)


@pytest.mark.parametrize(("activation", "output"), UNITS, ids=lambda u: str(u))
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_training_with_other_units_matches_numpy(dtype, activation, output):
    """The step path (the persistent kernels implement only sigmoids), the
    losses inside the call, against the NumPy backend."""
    cuda = CudaBackend(kernel="step")
    X1, Y = digits_data(60)
    W = [w[None] for w in init_weights(DIGITS, 7, activation)]
    P = cuda.params(W, dtype).with_units(activation, output)
    losses = cuda.train(P, cuda.asarray(X1, dtype), cuda.asarray(Y, dtype), np.array([0.01]), 2, np.array([1, 2]))
    assert cuda.last_plan.units == (activation, output)
    nb = get_backend("numpy")
    Q = nb.params(W, dtype).with_units(activation, output)
    want = nb.train(Q, X1.astype(dtype), Y.astype(dtype), np.array([0.01]), 2, np.array([1, 2]))
    assert_weights(cuda.params_to_host(P), nb.params_to_host(Q), dtype, f"{activation}/{output}")
    np.testing.assert_allclose(losses, want, rtol=1e-10 if dtype == np.float64 else 1e-4)
    with pytest.raises(ValueError, match="the plan is for sigmoid hidden and sigmoid output units"):
        cuda.train_with(
            forced(cuda, DIGITS, dtype, 1, "step"),
            P,
            cuda.asarray(X1, dtype),
            cuda.asarray(Y, dtype),
            np.array([0.1]),
            1,
        )


def test_a_relu_softmax_network_trains_on_the_default_backend():
    import fastbp

    r = fastbp.train("digits", backend="cuda", seed=0, epochs=20, activation="relu", output="softmax", verbose=False)
    assert r.accuracy >= 0.9 and r.network.output == "softmax"
