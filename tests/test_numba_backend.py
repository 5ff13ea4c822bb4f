"""The numba backend against the NumPy reference backend (issue 3, issue 6 point 3).

Tolerances (measured on the 2-core EPYC, digits 64-32-16-10, alpha 0.1):
- float64: element-wise rtol 1e-12 (atol 1e-14 only so a weight that has
  cancelled to near zero cannot fail on an absolute error of 1e-16). Measured
  after 10 epochs: max |difference| / max |W| 2.9e-15; element-wise relative
  differences up to 2.2e-13, except 4 of 2,145 first-layer weights below 1e-4
  in magnitude (worst 5.2e-12: a difference of 2.3e-16). The differences come
  only from summation order (BLAS vs explicit loops) and FMA contraction.
- float32: |difference| <= 2e-5 * max |W[l]| per layer after 10 epochs
  (measured 1.1e-6: float32 eps is 6e-8 and 13,470 per-sample steps each add a
  few ulps of different rounding; element-wise relative differences reach
  1e-3 on weights near zero, which is why the bound is scaled by the layer).
  After 1 epoch: 5e-6 * max |W| (measured 3.2e-7).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("numba")

from fastbp.backends import get_backend
from fastbp.datasets import digits as fastbp_digits
from fastbp.network import add_bias, init_weights

F32_TOL_1 = 5e-6
F32_TOL_10 = 2e-5


@pytest.fixture(scope="module")
def nb():
    return get_backend("numba")


@pytest.fixture(scope="module")
def ref():
    return get_backend("numpy")


def make_weights(layers, seed=0, dtype=np.float64):
    return [w.astype(dtype) for w in init_weights(list(layers), seed)]


def make_data(layers, n=40, seed=1, dtype=np.float64):
    rs = np.random.RandomState(seed)
    X1 = np.hstack([rs.rand(n, layers[0]), np.ones((n, 1))]).astype(dtype)
    Y = (rs.rand(n, layers[-1]) > 0.5).astype(dtype)
    return X1, Y


@pytest.fixture(scope="module")
def digits():
    ds = fastbp_digits()
    return add_bias(ds.X_train), ds.Y_train


def assert_weights_close(got, want, dtype, tol32=F32_TOL_10):
    assert len(got) == len(want)
    for l, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype == dtype
        if dtype == np.float64:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14, err_msg=f"W[{l}]")
        else:
            np.testing.assert_allclose(g, w, rtol=0, atol=tol32 * np.abs(w).max(), err_msg=f"W[{l}]")


DTYPES = [np.float64, np.float32]
LAYERS = [[2, 1], [2, 2, 1], [5, 7, 3], [64, 32, 16, 10], [8, 6, 5, 4, 3], [3, 4, 5, 4, 3, 2]]


# --------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_single_kernels_match_numpy(nb, ref, dtype):
    layers = [6, 5, 4, 3]
    W = make_weights(layers, dtype=dtype)
    X1, Y = make_data(layers, n=7, dtype=dtype)
    rtol = 1e-12 if dtype == np.float64 else 2e-6

    A, A_ref = nb.forward(W, X1), ref.forward(W, X1)
    assert len(A) == len(A_ref) == 4
    for a, b in zip(A, A_ref):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol)

    D = nb.output_delta(A_ref[-1], Y)
    np.testing.assert_allclose(D, ref.output_delta(A_ref[-1], Y), rtol=rtol, atol=1e-300)

    Dn = ref.output_delta(A_ref[-1], Y)
    for l in (2, 1):
        got = nb.hidden_delta(Dn, W[l], A_ref[l])
        want = ref.hidden_delta(Dn, W[l], A_ref[l])
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=10 * rtol, atol=10 * rtol * np.abs(want).max())
        Dn = want

    Ds = {3: ref.output_delta(A_ref[3], Y)}
    for l in (2, 1):
        Ds[l] = ref.hidden_delta(Ds[l + 1], W[l], A_ref[l])
    for l in range(3):
        w1, w2 = W[l].copy(), W[l].copy()
        nb.update(w1, A_ref[l], Ds[l + 1], 0.3)
        ref.update(w2, A_ref[l], Ds[l + 1], 0.3)
        np.testing.assert_allclose(w1, w2, rtol=10 * rtol, atol=10 * rtol)
        assert not np.array_equal(w1, W[l])  # it did update, in place


def test_predict_and_loss_match_numpy(nb, ref):
    layers = [5, 7, 3]
    W = make_weights(layers)
    X1, Y = make_data(layers)
    np.testing.assert_allclose(nb.predict(W, X1), ref.predict(W, X1), rtol=1e-13)
    assert nb.loss(W, X1, Y) == pytest.approx(ref.loss(W, X1, Y), rel=1e-13)


# ----------------------------------------------------------- whole epochs
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_sgd_epoch_digits_matches_numpy(nb, ref, digits, dtype):
    X1, Y = (a.astype(dtype) for a in digits)
    W = make_weights([64, 32, 16, 10], dtype=dtype)
    a, b = [w.copy() for w in W], [w.copy() for w in W]
    nb.sgd_epoch(a, X1, Y, 0.1)
    ref.sgd_epoch(b, X1, Y, 0.1)
    assert_weights_close(a, b, dtype, tol32=F32_TOL_1)
    for _ in range(9):
        nb.sgd_epoch(a, X1, Y, 0.1)
        ref.sgd_epoch(b, X1, Y, 0.1)
    assert_weights_close(a, b, dtype)
    assert nb.loss(a, X1, Y) < nb.loss(W, X1, Y)


@pytest.mark.parametrize("layers", LAYERS, ids=lambda l: "-".join(map(str, l)))
def test_sgd_epoch_layer_counts_match_numpy(nb, ref, layers):
    W = make_weights(layers, seed=3)
    X1, Y = make_data(layers, n=30)
    a, b = [w.copy() for w in W], [w.copy() for w in W]
    for _ in range(10):
        nb.sgd_epoch(a, X1, Y, 0.5)
        ref.sgd_epoch(b, X1, Y, 0.5)
    assert_weights_close(a, b, np.float64)
    assert max(np.abs(x - w).max() for x, w in zip(a, W)) > 1e-3  # training moved them


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_wide_layers_match_numpy(nb, ref, dtype):
    """Widths that need several register panels per layer (61 outputs: 16
    float64 vectors, split 6-5-5; 8 float32 vectors) and rows left over after
    the groups of four in the backward pass (62, 31 rows)."""
    layers = [70, 61, 30, 9]
    W = make_weights(layers, seed=5, dtype=dtype)
    X1, Y = make_data(layers, n=50, dtype=dtype)
    a, b = [w.copy() for w in W], [w.copy() for w in W]
    for _ in range(5):
        nb.sgd_epoch(a, X1, Y, 0.3)
        ref.sgd_epoch(b, X1, Y, 0.3)
    assert_weights_close(a, b, dtype)
    assert max(np.abs(x - w).max() for x, w in zip(a, W)) > 1e-3


def test_network_buffers_share_no_cache_line():
    """Each network's weights and scratch start on a 128-byte boundary (two
    cache lines) so threads training neighbours never share a line."""
    from fastbp.backends.numba_backend import _Layout

    for dtype in DTYPES:
        lay = _Layout([65, 33, 17, 10], dtype)
        size = np.dtype(dtype).itemsize
        assert lay.stride * size % 128 == 0 and lay.scratch * size % 128 == 0
        assert all(off * size % 64 == 0 for off in lay.meta[:-1, 0])
        slab, scratch, views = lay.buffers(3)
        assert slab.flags.c_contiguous and scratch.flags.c_contiguous
        assert slab.ctypes.data % 128 == 0 and scratch.ctypes.data % 128 == 0
        Ws = [
            np.random.rand(3, 65, 33).astype(dtype),
            np.random.rand(3, 33, 17).astype(dtype),
            np.random.rand(3, 17, 10).astype(dtype),
        ]
        for v, w in zip(views, Ws):
            v[...] = w
        for l, (off, r, c, cp) in enumerate(lay.parts):  # layer l of network k: rows of cp, c used, padding zero
            block = slab[:, off : off + r * cp].reshape(3, r, cp)
            np.testing.assert_array_equal(block[:, :, :c], Ws[l])
            assert not block[:, :, c:].any()
        assert not scratch.any()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("layers", [[2, 2, 1], [5, 7, 3], [8, 6, 5, 4, 3], [3, 4, 5, 4, 3, 2], [70, 61, 30, 9]])
def test_sgd_epoch_equals_one_row_at_a_time(nb, layers, dtype):
    W = make_weights(layers, seed=4, dtype=dtype)
    X1, Y = make_data(layers, n=25, dtype=dtype)
    a, b, c = ([w.copy() for w in W] for _ in range(3))
    nb.sgd_epoch(a, X1, Y, 0.7)
    for i in range(X1.shape[0]):
        nb.sgd_epoch(b, X1[i : i + 1], Y[i : i + 1], 0.7)
        nb.sgd_step(c, X1[i : i + 1], Y[i : i + 1], 0.7)
    for x, y, z in zip(a, b, c):  # same compiled code per sample: bit for bit
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_alpha_is_cast_to_the_weight_dtype(nb):
    layers = [5, 7, 3]
    W = make_weights(layers, dtype=np.float32)
    X1, Y = make_data(layers, dtype=np.float32)
    a, b = [w.copy() for w in W], [w.copy() for w in W]
    nb.sgd_epoch(a, X1, Y, 0.1)
    nb.sgd_epoch(b, X1, Y, np.float32(0.1))
    for x, y in zip(a, b):
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, y)


def test_empty_batch_is_a_no_op(nb):
    W = make_weights([3, 2])
    X1, Y = make_data([3, 2], n=0)
    a = [w.copy() for w in W]
    nb.sgd_epoch(a, X1, Y, 0.5)
    np.testing.assert_array_equal(a[0], W[0])


# --------------------------------------------------------- many networks
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize(
    "layers", [[2, 2, 1], [64, 32, 16, 10], [3, 4, 5, 4, 3, 2]], ids=lambda l: "-".join(map(str, l))
)
def test_sgd_epoch_many_equals_each_network_alone(nb, layers, K):
    X1, Y = make_data(layers, n=30)
    nets = [make_weights(layers, seed=10 + k) for k in range(K)]
    alphas = [0.05, 0.5, 1.5][:K]
    Ws = [np.stack([net[l] for net in nets]) for l in range(len(layers) - 1)]
    for _ in range(3):
        nb.sgd_epoch_many(Ws, X1, Y, alphas)
        for k in range(K):
            nb.sgd_epoch(nets[k], X1, Y, alphas[k])
    for k in range(K):
        for l in range(len(Ws)):  # the same compiled code per network: bit for bit
            np.testing.assert_array_equal(Ws[l][k], nets[k][l])
    losses = nb.loss_many(nb.params(Ws, np.float64), X1, Y)
    assert losses.shape == (K,)
    np.testing.assert_allclose(losses, [nb.loss(n, X1, Y) for n in nets], rtol=1e-12)


def test_sgd_epoch_many_matches_numpy_default(nb, ref):
    layers = [5, 7, 3]
    X1, Y = make_data(layers)
    Ws = [np.stack([w * (1 + 0.1 * k) for k in range(4)]) for w in make_weights(layers)]
    Wr = [w.copy() for w in Ws]
    alphas = np.array([0.1, 0.2, 0.4, 0.8])
    nb.sgd_epoch_many(Ws, X1, Y, alphas)
    ref.sgd_epoch_many(Wr, X1, Y, alphas)
    for a, b in zip(Ws, Wr):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        nb.loss_many(nb.params(Ws, np.float64), X1, Y), ref.loss_many(ref.params(Wr, np.float64), X1, Y), rtol=1e-12
    )
    assert "threading_layer" in nb.info()


# ------------------------------------------------------------ odd input
def _net():
    layers = [4, 3, 2]
    return make_weights(layers), *make_data(layers, n=6)


def test_non_contiguous_input_is_accepted(nb):
    W, X1, Y = _net()
    a, b = [w.copy() for w in W], [np.asfortranarray(w) for w in W]
    Xf = np.asfortranarray(X1)
    Yn = np.repeat(Y, 2, axis=1)[:, ::2]  # a strided view
    assert not Xf.flags.c_contiguous and not Yn.flags.c_contiguous
    nb.sgd_epoch(a, X1, Y, 0.3)
    nb.sgd_epoch(b, Xf, Yn, 0.3)  # the Fortran-ordered weights are updated in place
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(nb.predict(W, Xf), nb.predict(W, X1))


def test_sgd_epoch_many_non_contiguous_weights_updated_in_place(nb):
    W, X1, Y = _net()
    a = [np.stack([w, 2 * w]) for w in W]
    b = [np.asfortranarray(w) for w in a]
    assert not b[0].flags.c_contiguous
    nb.sgd_epoch_many(a, X1, Y, [0.1, 0.2])
    nb.sgd_epoch_many(b, X1, Y, [0.1, 0.2])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------- extremes
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_huge_finite_inputs_give_no_nan_or_warning(nb, dtype):
    W = [np.array([[1.0], [0.0]], dtype)]
    X1 = np.array([[1000.0, 1.0], [-1000.0, 1.0], [1e30, 1.0], [-1e30, 1.0], [0.0, 1.0]], dtype)
    Y = np.array([[1.0], [0.0], [1.0], [0.0], [0.5]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = nb.predict(W, X1)
        assert np.isfinite(P).all()
        assert P[0, 0] == 1.0 and P[2, 0] == 1.0 and P[4, 0] == 0.5
        assert 0.0 <= float(P[1, 0]) < 1e-300 and 0.0 <= float(P[3, 0]) < 1e-300
        w = [x.copy() for x in W]
        nb.sgd_epoch(w, X1, Y, 0.5)
        assert all(np.isfinite(x).all() for x in w)
        big = [np.array([[1e3, -1e3, 50.0], [-1e3, 1e3, -50.0], [1.0, 1.0, 1.0]], dtype), np.ones((3, 1), dtype) * 800]
        Xb = np.array([[1.0, -1.0, 1.0]], dtype)
        nb.sgd_epoch(big, Xb, np.zeros((1, 1), dtype), 0.5)
        assert all(np.isfinite(x).all() for x in big)
        assert np.isfinite(nb.loss(big, Xb, np.zeros((1, 1), dtype)))


def test_sigmoid_accuracy_against_expit(nb):
    from scipy.special import expit

    z = np.concatenate([np.linspace(-40, 40, 20001), np.random.RandomState(0).randn(10000) * 5])
    W = [np.ones((1, 1))]
    got = nb.predict(W, z[:, None])[:, 0]
    want = expit(z)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(float).eps, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_epoch_sigmoid_accuracy_against_expit(dtype):
    """The vector sigmoid of the compiled epoch (Estrin polynomial) against
    scipy's expit, including the clamped tails, infinities and NaN."""
    from numba import njit
    from scipy.special import expit

    from fastbp.backends import _numba_kernels as k

    @njit
    def run(z, off, n):
        k.vec_sigmoid(z, off, n)

    rs = np.random.RandomState(0)
    z = np.concatenate(
        [np.linspace(-40, 40, 20001), rs.randn(10000) * 5, [-800.0, 800.0, -709.5, 709.5, np.inf, -np.inf, np.nan]]
    )
    want = expit(z.astype(dtype).astype(np.float64))
    buf = np.zeros(len(z) + 16, dtype)
    buf[3 : 3 + len(z)] = z
    run(buf, 3, len(z))
    got = buf[3 : 3 + len(z)].astype(np.float64)
    assert buf[0] == buf[1] == buf[2] == 0  # before the offset: untouched
    assert np.isnan(got[-1]) and got[-3] == 1.0 and 0.0 <= got[-2] < 1e-300  # clamped at exp(-708)
    fin = slice(0, len(z) - 7)
    if dtype == np.float64:
        np.testing.assert_allclose(got[fin], want[fin], rtol=4 * np.finfo(float).eps, atol=0)
    else:
        np.testing.assert_allclose(got[fin], want[fin].astype(np.float32), rtol=np.finfo(np.float32).eps, atol=0)
    tails = got[-7:-3]
    assert np.isfinite(tails).all() and tails[1] == 1.0 and tails[3] == 1.0 and 0 <= tails[0] < 1e-300


def test_constructing_the_backend_compiles_nothing():
    code = (
        "import sys, fastbp.backends as b; be = b.get_backend('numba'); "
        "print('fastbp.backends._numba_kernels' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
