"""The numba backend against the NumPy reference backend.

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

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

import fastbp
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
    from fastbp.backends.numba.layout import Layout

    for dtype in DTYPES:
        lay = Layout([65, 33, 17, 10], dtype)
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


# ----------------------------------------------------- zero inputs skipped
def _sparse_case(layers, n=30, dtype=np.float64, seed=2):
    """Inputs that are mostly zero (each 0 with probability 0.6), one input
    that is always 0, a sample of zeros (the bias input alone) and three
    equal samples in a row: the first layer's rows of zero inputs are
    skipped in training."""
    rs = np.random.RandomState(seed)
    X = rs.rand(n, layers[0]) * (rs.rand(n, layers[0]) > 0.6)
    X[:, 0] = 0.0
    X[3] = 0.0
    X[5] = X[6] = X[7]
    Y = (rs.rand(n, layers[-1]) > 0.5).astype(dtype)
    return make_weights(layers, seed=6, dtype=dtype), add_bias(X).astype(dtype), Y


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize(
    "layers", [[2, 2, 1], [5, 7, 3], [64, 32, 16, 10], [70, 61, 30, 9]], ids=lambda l: "-".join(map(str, l))
)
def test_zero_inputs_skipped_bit_for_bit_in_every_form(nb, ref, monkeypatch, layers, dtype):
    """Training skips the first layer's rows of zero inputs: one call, one
    call per sample and a network among K give the same weights and losses
    bit for bit (up to the sign of a zero), the NumPy reference (which
    multiplies every row) the same to rounding; an input that is always
    zero leaves its row as it was."""
    from fastbp.backends.numba import run

    W, X1, Y = _sparse_case(layers, dtype=dtype)
    assert (X1 == 0).mean() > 0.4
    # the lists, also for the narrow layers that train every row by default (LIST_MIN_ROWS)
    monkeypatch.setattr(run, "first_rows", lambda X1: run.LISTED_ROWS)
    be = nb.with_threads(1)
    one = be.params([w[None] for w in W], dtype)
    losses = be.train(one, X1, Y, np.array([0.5]), 3, np.array([1, 2, 3]))
    per = be.params([w[None] for w in W], dtype)
    for _ in range(3):
        for i in range(X1.shape[0]):
            be.train(per, X1[i : i + 1], Y[i : i + 1], np.array([0.5]), 1)
    many = be.with_threads(None).params([np.stack([w, 2 * w, w]) for w in W], dtype)
    lm = nb.with_threads(2).train(many, X1, Y, np.array([0.3, 0.1, 0.5]), 3, np.array([1, 2, 3]))
    for a, b, c in zip(one.W, per.W, many.W):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[0], c[2])
    np.testing.assert_array_equal(losses[:, 0], lm[:, 2])
    np.testing.assert_array_equal(one.W[0][0, 0], W[0][0])  # the always-zero input's row
    Wr = [w.copy() for w in W]
    for _ in range(3):
        ref.sgd_epoch(Wr, X1, Y, 0.5)
    assert_weights_close([w[0] for w in one.W], Wr, dtype)
    assert losses[-1, 0] == pytest.approx(ref.loss(Wr, X1, Y), rel=1e-12 if dtype == np.float64 else 1e-5)


def test_zero_input_lists_built_per_sample_for_a_large_x(nb, ref, always_team):
    """Beyond LIST_MAX elements of X the lists of nonzero inputs are built
    per sample instead of kept for the call: the same weights and losses as
    calls small enough to keep them, as a team of 2, and the reference loss."""
    from fastbp.backends.numba.rows import LIST_MAX

    layers = [999, 3, 2]
    n = LIST_MAX // (layers[0] + 1) + 1
    W, X1, Y = _sparse_case(layers, n=n, seed=3)
    assert X1.size > LIST_MAX
    be = nb.with_threads(1)
    big = be.params([w[None] for w in W], np.float64)
    lb = be.train(big, X1, Y, np.array([0.5]), 1, np.array([1]))
    parts = be.params([w[None] for w in W], np.float64)
    for i in range(0, n, 500):
        be.train(parts, X1[i : i + 500], Y[i : i + 500], np.array([0.5]), 1)
    team = be.params([w[None] for w in W], np.float64)
    lt = nb.with_threads(2).train(team, X1, Y, np.array([0.5]), 1, np.array([1]))
    for a, b, c in zip(big.W, parts.W, team.W):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(lb, lt)
    assert lb[0, 0] == pytest.approx(ref.loss([w[0] for w in big.W], X1, Y), rel=1e-12)


@pytest.mark.parametrize("sparse", [True, False], ids=["zeros", "no-zeros"])
def test_every_row_and_listed_rows_give_the_same_weights(nb, always_team, monkeypatch, digits, sparse):
    """Inputs with few zeros train every row of the first layer, others the
    listed rows of nonzero inputs: forced either way, on one thread and on
    a team, the weights and losses are the same."""
    from fastbp.backends.numba import run as m

    assert m.first_rows(make_data([5, 7, 3])[0]).dtype == np.bool_
    assert m.first_rows(digits[0]).dtype == np.int32
    # mostly zeros: lists from LIST_MIN_ROWS rows (inputs and bias) on, every row below
    assert m.first_rows(_sparse_case([m.LIST_MIN_ROWS - 1, 3, 2])[1]).dtype == np.int32
    assert m.first_rows(_sparse_case([m.LIST_MIN_ROWS - 2, 3, 2])[1]).dtype == np.bool_
    layers = [40, 33, 5]
    W, X1, Y = _sparse_case(layers, n=25) if sparse else (make_weights(layers, seed=6), *make_data(layers, n=25))
    record = np.array([1, 2], np.int64)
    got = []
    for kind in (m.EVERY_ROW, m.LISTED_ROWS):
        monkeypatch.setattr(m, "first_rows", lambda X1, kind=kind: kind)
        for T in (1, 2):
            P = nb.params([w[None] for w in W], np.float64)
            got.append((nb.with_threads(T).train(P, X1, Y, np.array([0.5]), 2, record), P.W))
    for losses, Ws in got[1:]:
        np.testing.assert_array_equal(losses, got[0][0])
        for a, b in zip(Ws, got[0][1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_the_sigmoid_kernel_equals_the_kernel_of_every_unit(nb, always_team, monkeypatch, dtype):
    """Sigmoid hidden and output units train on a kernel of their own (the
    unit codes compiled in as constants); the kernel every other pair uses,
    given the sigmoid's codes, computes the same weights and losses, bit for
    bit, on one thread and on a team."""
    from fastbp.backends.numba import run as m

    assert m.units_form("sigmoid", "sigmoid") is None and m.units_form("relu", "sigmoid") == 0
    W, X1, Y = _team_case([40, 33, 16, 5], dtype)
    record = np.array([1, 3], np.int64)
    got = []
    for form in (None, 0):
        monkeypatch.setattr(m, "units_form", lambda activation, output, form=form: form)
        for T in (1, 2):
            P = nb.params([w.copy() for w in W], dtype)
            got.append((nb.with_threads(T).train(P, X1, Y, np.array([0.5]), 3, record), P.W))
    for losses, Ws in got[1:]:
        np.testing.assert_array_equal(losses, got[0][0])
        for a, b in zip(Ws, got[0][1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["one", "helper", "team"])
def test_a_non_finite_weight_in_a_skipped_row_is_detected(nb, always_team, monkeypatch, mode):
    """A weight that training never touches (the row of an input that is
    always zero, left out of the lists) is still checked: an infinite one
    makes every loss NaN."""
    from fastbp.backends.numba import run

    monkeypatch.setattr(run, "first_rows", lambda X1: run.LISTED_ROWS)  # a narrow layer's default: every row
    W, X1, Y = _sparse_case([5, 7, 3], n=20)
    W[0][0, 2] = np.inf
    P = nb.params([w[None] for w in W], np.float64)
    record = np.array([1, 2], np.int64)
    losses = np.full((1, 2), np.nan)
    if mode == "one":
        losses = nb.with_threads(1).train(P, X1, Y, np.array([0.5]), 2, record).T
    elif mode == "helper":
        always_team.run_helper(P, X1, Y, np.array([0.5]), 2, record, losses)
    else:
        always_team.run_team(P, X1, Y, np.array([0.5]), 2, record, losses, 2)
    assert np.isnan(losses).all()
    assert np.isinf(P.W[0][0, 0, 2]) and np.isfinite(P.W[0][0, 1:]).all()


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
    """The vector sigmoid of the compiled epoch (fdlibm's rational exp) against
    scipy's expit, including the clamped tails, infinities and NaN."""
    from numba import njit
    from scipy.special import expit

    from fastbp.backends.numba.units import vec_sigmoid

    @njit
    def run(z, off, n):
        vec_sigmoid(z, off, n)

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
    """``import fastbp`` does not import numba; constructing the numba
    backend imports its kernels but compiles (or loads) none of them."""
    code = (
        "import sys, fastbp; print('numba' in sys.modules); "
        "import fastbp.backends as b; be = b.get_backend('numba'); "
        "from numba.core.dispatcher import Dispatcher; "
        "mods = [m for n, m in sys.modules.items() if n.startswith('fastbp.backends.numba.')]; "
        "ds = [d for m in mods for d in vars(m).values() if isinstance(d, Dispatcher)]; "
        "print(len(ds) > 10, sum(len(d.overloads) for d in ds))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "0"]


# ------------------------------------------------- one network, T threads
def _team_case(layers, dtype, n=37, seed=1):
    rs = np.random.RandomState(seed)
    X1 = add_bias(rs.rand(n, layers[0])).astype(dtype)
    X1[:, : layers[0] // 3] *= rs.rand(n, layers[0] // 3) > 0.5  # some zero inputs (the loss skips them)
    Y = (rs.rand(n, layers[-1]) > 0.5).astype(dtype)
    return [w[None].astype(dtype) for w in init_weights(layers, 3)], X1, Y


@pytest.fixture
def always_team(monkeypatch):
    """Team calls however short the call (so small networks exercise them)."""
    from fastbp.backends.numba import backend, run

    monkeypatch.setattr(backend, "TEAM_MIN_CALL_MACS", 0)
    return run


TEAM_LAYERS = [
    [2, 1],
    [40, 33],
    [5, 7, 3],
    [64, 32, 16, 10],
    [8, 6, 5, 4, 3],
    [70, 61, 30, 9],
    [100, 80, 10],
    [8, 1023, 5],
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("layers", TEAM_LAYERS, ids=lambda l: "-".join(map(str, l)))
def test_team_equals_one_thread_bit_for_bit(nb, always_team, layers, dtype):
    """Each step split over 2 and 3 threads: the same weights and losses,
    bit for bit, as one thread (1, 2 and 3+ layers, layer 1 chained or the
    last held, shares in whole cache lines, threads with nothing to do on
    small layers, a first-layer share 4096 bytes wide: 8-1023-5 float64)."""
    W, X1, Y = _team_case(layers, dtype)
    record = np.array([1, 3, 4], np.int64)
    P1 = nb.params(W, dtype)
    l1 = nb.with_threads(1).train(P1, X1, Y, np.array([0.5]), 4, record)
    assert nb.with_threads(1).plan(P1, X1.shape[0], 4, 3) == ("one", 1)
    for T in (2, 3):
        PT = nb.params(W, dtype)
        assert nb.with_threads(T).plan(PT, X1.shape[0], 4, 3) == ("team", T)
        lT = nb.with_threads(T).train(PT, X1, Y, np.array([0.5]), 4, record)
        for a, b in zip(P1.W, PT.W):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(l1, lT)
    ref = get_backend("numpy")
    Wr = [w[0].copy() for w in W]
    for _ in range(4):
        ref.sgd_epoch(Wr, X1, Y, 0.5)
    assert_weights_close([w[0] for w in P1.W], Wr, dtype)
    assert l1[-1, 0] == pytest.approx(ref.loss(Wr, X1, Y), rel=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize(
    "layers", [[8, 6, 5, 4, 3], [3, 4, 5, 4, 3, 2], [70, 61, 30, 9]], ids=lambda l: "-".join(map(str, l))
)
def test_team_holding_any_layers_is_bit_for_bit(nb, always_team, monkeypatch, layers):
    """Every choice of the layers held whole by each thread (those before chained)
    gives one thread's weights and losses."""
    from fastbp.backends.numba.layout import Layout

    W, X1, Y = _team_case(layers, np.float64, n=21)
    record = np.array([1, 2], np.int64)
    P1 = nb.params(W, np.float64)
    l1 = nb.with_threads(1).train(P1, X1, Y, np.array([0.5]), 2, record)
    for held in range(2, len(layers)):  # the first held layer; len(layers) - 1: none held
        monkeypatch.setattr(Layout, "held_from", lambda self, h=held: h)
        PT = nb.params(W, np.float64)
        lT = nb.with_threads(2).train(PT, X1, Y, np.array([0.5]), 2, record)
        for a, b in zip(P1.W, PT.W):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(l1, lT)


def test_team_holds_the_small_layers():
    """The layers after the first chained up to the small ones, held."""
    from fastbp.backends.numba.layout import layout

    shapes = [(785, 301, 101, 10), (257, 257, 257, 10), (65, 10), (257, 257, 257, 257, 10), (9, 300, 300, 300)]
    layouts = [layout(d, np.dtype(np.float64)) for d in shapes]
    assert [lay.held_from() for lay in layouts] == [2, 2, 1, 3, 3]
    assert [lay.team_barriers() for lay in layouts] == [1, 1, 1, 3, 3]


@pytest.mark.parametrize("layers", [[70, 61, 30, 9], [5, 7, 3], [40, 33]], ids=lambda l: "-".join(map(str, l)))
def test_team_batch_equals_one_call_per_sample(nb, always_team, layers):
    W, X1, Y = _team_case(layers, np.float64, n=12)
    be = nb.with_threads(2)
    a, b = nb.params(W, np.float64), nb.params(W, np.float64)
    be.train(a, X1, Y, np.array([0.7]), 1)
    for i in range(X1.shape[0]):
        be.train(b, X1[i : i + 1], Y[i : i + 1], np.array([0.7]), 1)
    for x, y in zip(a.W, b.W):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("mode", ["team", "helper"])
def test_a_diverging_network_gives_the_same_losses_in_every_mode(nb, always_team, mode):
    """An infinite step makes the weights non-finite in epoch 1: every
    recorded loss is NaN, as on one thread (the loop then restores the last
    finite weights, fastbp.loop)."""
    alpha = np.inf
    W, X1, Y = _team_case([5, 7, 3], np.float64, n=20)
    record = np.arange(1, 9, dtype=np.int64)
    one = nb.with_threads(1).train(nb.params(W, np.float64), X1, Y, np.array([alpha]), 8, record).T
    P = nb.params(W, np.float64)
    losses = np.full((1, 8), np.nan)
    if mode == "team":
        always_team.run_team(P, X1, Y, np.array([alpha]), 8, record, losses, 2)
    else:
        always_team.run_helper(P, X1, Y, np.array([alpha]), 8, record, losses)
    np.testing.assert_array_equal(losses, one)
    assert np.isnan(one).all()


def test_loss_helper_gives_the_inline_losses(nb, digits):
    """The losses computed from snapshots on the helper thread are those
    computed inline, bit for bit, and so are the weights."""
    from fastbp.backends.numba import run as m

    X1, Y = digits
    W = [w[None] for w in make_weights([64, 32, 16, 10])]
    record = np.arange(1, 13, dtype=np.int64)
    a, b = nb.params(W, np.float64), nb.params(W, np.float64)
    inline = nb.with_threads(1).train(a, X1, Y, np.array([0.1]), 12, record)
    assert nb.plan(b, X1.shape[0], 12, 12) == ("helper", 2) or m.cores() == 1
    helped = np.full((1, 12), np.nan)
    m.run_helper(b, X1, Y, np.array([0.1]), 12, record, helped)
    np.testing.assert_array_equal(inline.T, helped)
    for x, y in zip(a.W, b.W):
        np.testing.assert_array_equal(x, y)
    assert np.all(np.diff(helped[0]) < 0)


def test_loss_inside_train_matches_numpy(nb, ref, digits):
    """The compiled loss pass (blocks of samples, first layer over the
    nonzero inputs only) against the NumPy reference loss."""
    X1, Y = digits
    W = make_weights([64, 32, 16, 10])
    P = nb.params([w[None] for w in W], np.float64)
    losses = nb.with_threads(1).train(P, X1, Y, np.array([0.1]), 2, np.array([1, 2]))
    Wr = [w.copy() for w in W]
    want = []
    for _ in range(2):
        ref.sgd_epoch(Wr, X1, Y, 0.1)
        want.append(ref.loss(Wr, X1, Y))
    np.testing.assert_allclose(losses[:, 0], want, rtol=1e-12)
    assert (X1 == 0).mean() > 0.3  # digits has many zero pixels: the sparse path is exercised


def test_team_thread_that_never_starts_aborts_the_call(nb, always_team, monkeypatch):
    """A team of 3 on a pool of 2 workers: the third thread never starts,
    the watchdog aborts the other two (no hang), the call raises and the
    network keeps the weights it had."""
    from concurrent.futures import ThreadPoolExecutor

    small = ThreadPoolExecutor(max_workers=2)
    monkeypatch.setattr(always_team, "executor", lambda which, workers=0: small)
    monkeypatch.setattr(always_team, "START_TIMEOUT", 0.5)
    W, X1, Y = _team_case([40, 33, 5], np.float64)
    P = nb.params(W, np.float64)
    before = [w.copy() for w in P.W]
    with pytest.raises(RuntimeError, match="did not start"):
        nb.with_threads(3).train(P, X1, Y, np.array([0.5]), 50)
    for a, b in zip(P.W, before):
        np.testing.assert_array_equal(a, b)
    small.shutdown(wait=True)


def test_team_thread_that_raises_aborts_the_others(nb, always_team, monkeypatch):
    from fastbp.backends.numba import team as k

    real = k.train_team

    def flaky(*args):
        if args[-5] == 1:  # tid (then T, rep_from, rows, units)
            raise MemoryError("thread 1 failed")
        return real(*args)

    W, X1, Y = _team_case([40, 33, 5], np.float64)
    nb.with_threads(2).train(nb.params(W, np.float64), X1, Y, np.array([0.5]), 1)  # compiled before the patch
    monkeypatch.setattr(k, "train_team", flaky)
    P = nb.params(W, np.float64)
    before = [w.copy() for w in P.W]
    with pytest.raises(RuntimeError, match="thread 1 failed"):
        nb.with_threads(2).train(P, X1, Y, np.array([0.5]), 20)
    for a, b in zip(P.W, before):
        np.testing.assert_array_equal(a, b)


def test_a_second_team_caller_trains_on_its_own_thread(nb, always_team):
    """While one team call holds the team, another trains on one thread:
    the same weights."""
    W, X1, Y = _team_case([40, 33, 5], np.float64)
    a, b = nb.params(W, np.float64), nb.params(W, np.float64)
    nb.with_threads(2).train(a, X1, Y, np.array([0.5]), 3)
    with always_team.team_lock:
        nb.with_threads(2).train(b, X1, Y, np.array([0.5]), 3)
    for x, y in zip(a.W, b.W):
        np.testing.assert_array_equal(x, y)


def test_automatic_threads_plan(nb):
    """Automatic mode: every core for a wide network's long calls, one
    thread (and the loss helper for densely recorded losses) otherwise;
    threads=n splits n ways; many networks in groups."""
    from fastbp.backends.numba import run

    cores = run.cores()
    wide = nb.params([w[None] for w in make_weights([784, 300, 100, 10])], np.float64)
    small = nb.params([w[None] for w in make_weights([64, 32, 16, 10])], np.float64)
    many = nb.params([np.stack([w] * 4) for w in make_weights([64, 32, 16, 10])], np.float64)
    assert nb.plan(wide, 60000, 1, 1) == (("team", cores) if cores > 1 else ("one", 1))
    assert nb.plan(wide, 1, 1, 0) == ("one", 1)  # one sample: not worth starting threads
    assert nb.plan(small, 1347, 100, 10) == ("one", 1)
    assert nb.plan(small, 1347, 100, 100) == (("helper", 2) if cores > 1 else ("one", 1))
    assert nb.with_threads(1).plan(small, 1347, 100, 100) == ("one", 1)
    assert nb.with_threads(2).plan(small, 1347, 100, 100) == ("team", 2)
    assert nb.with_threads(3).plan(many, 1347, 1, 1) == ("many", 3)
    assert nb.with_threads(1).plan(many, 1347, 1, 1) == ("one", 1)
    assert nb.with_threads(None) is nb and nb.with_threads(2).threads == 2
    xor = nb.params([w[None] for w in make_weights([2, 2, 1])], np.float64)
    assert nb.plan(xor, 4, 64, 64) == ("one", 1)  # the losses are too cheap for the helper's start
    assert nb.plan(xor, 4, 4096, 4096) == (("helper", 2) if cores > 1 else ("one", 1))


def test_compile_runs_once_per_kind_of_call(nb, monkeypatch):
    from fastbp.backends.numba import backend, run

    monkeypatch.setattr(backend, "_compiled", set())
    layers = [5, 7, 3]
    P = nb.params([w[None] for w in make_weights(layers)], np.float64)
    X1, Y = make_data(layers)
    nb.compile(P, X1, Y)
    calls = []
    real = run.one_call
    monkeypatch.setattr(run, "one_call", lambda *a: calls.append(1) or real(*a))
    nb.compile(P, X1, Y)
    assert not calls
    P32 = nb.params([w[None] for w in make_weights(layers, dtype=np.float32)], np.float32)
    nb.compile(P32, X1.astype(np.float32), Y.astype(np.float32))  # another kind of call: compiled
    assert calls


# -------------------------------------------------------- the boundary
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_fit_partial_fast_path_equals_the_checked_path(dtype):
    """NumPy samples take the fast path, lists the checked one: the same
    weights; the bias column may be given; ints and bools are numbers."""
    from fastbp import NeuralNetwork

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([0, 1, 1, 0])
    a = NeuralNetwork([2, 3, 1], 0.5, backend="numba", dtype=dtype, seed=1)
    b = NeuralNetwork([2, 3, 1], 0.5, backend="numba", dtype=dtype, seed=1)
    for i in range(12):
        x, t = X[i % 4], y[i % 4]
        if i % 3 == 0:
            a.fit_partial(x, t)
        elif i % 3 == 1:
            a.fit_partial(np.append(x, 1.0)[None], np.array([[t]], dtype=np.float32))
        else:
            a.fit_partial(x.astype(bool), float(t))
        b.fit_partial(x.tolist(), [int(t)])
    for p, q in zip(a.W, b.W):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize(
    ("x", "y", "error", "name"),
    [
        (np.array([0.0, np.nan]), 1.0, ValueError, "x"),
        (np.array([0.0, 1.0]), np.inf, ValueError, "y"),
        (np.array([0.0, 1.0]), np.array([np.nan]), ValueError, "y"),
        (np.array([0.0, 1.0, 1.0, 1.0]), 1.0, ValueError, "x"),
        (np.array(["a", "b"]), 1.0, TypeError, "x"),
        (np.array([0.0, 1.0]), np.array([1.0, 0.0]), ValueError, "y"),
        (np.ones((2, 2)), 1.0, ValueError, "x"),
    ],
)
def test_fit_partial_names_the_bad_argument(x, y, error, name):
    from fastbp import NeuralNetwork

    net = NeuralNetwork([2, 2, 1], 0.5, backend="numba", seed=0)
    net.fit_partial(np.array([1.0, 0.0]), 1.0)  # the fast path's buffers exist
    before = net.W
    with pytest.raises(error, match=rf"\b{name}\b"):
        net.fit_partial(x, y)
    for p, q in zip(net.W, before):
        np.testing.assert_array_equal(p, q)


def test_threads_argument(digits):
    from fastbp import NeuralNetwork
    from fastbp.cli import main

    with pytest.raises(ValueError, match="threads"):
        NeuralNetwork([2, 2, 1], backend="numba", threads=0)
    with pytest.raises(TypeError, match="threads"):
        NeuralNetwork([2, 2, 1], backend="numba", threads="2")
    net = NeuralNetwork([64, 32, 16, 10], 0.1, backend="numba", seed=0, threads=2)
    assert net.threads == 2 and net.backend_impl.threads == 2 and net.to(dtype="float32").threads == 2
    one = NeuralNetwork([64, 32, 16, 10], 0.1, backend="numba", seed=0, threads=1)
    X, Y = digits[0][:200, :-1], digits[1][:200]
    net.fit(X, Y, epochs=3, verbose=False)
    one.fit(X, Y, epochs=3, verbose=False)
    for p, q in zip(net.W, one.W):
        np.testing.assert_array_equal(p, q)
    assert main(["train", "--dataset", "xor", "--backend", "numba", "--epochs", "50", "--threads", "1", "--quiet"]) == 0


def test_tuner_keeps_the_faster_option_and_probes_the_other():
    from fastbp.backends.numba.backend import Tuner

    t = Tuner()
    a, b = ("team", 2), ("one", 1)
    assert t.pick(a, b) == a
    t.record(a, 3.0)
    assert t.pick(a, b) == b
    t.record(b, 1.0)
    picks = [t.pick(a, b) for _ in range(60)]
    probes = [i for i, p in enumerate(picks) if p == a]
    assert len(probes) == 3 and picks.count(b) == 57  # probes after 8, 16, 32 more calls
    t.record(a, 0.5)  # the machine got quieter: threads win
    assert t.pick(a, b) == a
    t.record(a, 5.0)  # one slow call among the last three does not flip the choice
    assert t.pick(a, b) == a
    t.record(a, 5.0)
    t.record(a, 5.0)
    assert t.pick(a, b) == b
    assert not t.may_compile(1.0)  # no seconds of training recorded
    t.record(a, 5.0, 0.6)
    assert not t.may_compile(1.0)
    t.record(b, 1.0, 0.6)
    assert t.may_compile(1.0)


def test_automatic_mode_times_a_team_against_one_thread_with_the_loss_helper(monkeypatch):
    """A team-sized network whose losses are recorded every epoch: the one-thread
    option the tuner measures is the one the plan gives a single thread there
    (the losses on the helper), not one thread computing them inline."""
    from fastbp.backends.numba import backend, cache, run

    monkeypatch.setattr(cache, "compile_seconds", lambda: 0.0)  # the rival's first try does not wait

    if run.cores() < 2:
        pytest.skip("needs 2 cores")
    be = backend.NumbaBackend()  # automatic threads
    layers = [784, 300, 100, 10]
    X1, Y = make_data(layers, n=200)
    P = be.params([w[None] for w in make_weights(layers)], np.float64)
    assert be.plan(P, 200, 2, 2) == ("team", 2)
    assert be._one_network_alone(P, 200, 2, 2) == ("helper", 2)
    backend.NumbaBackend(threads=1).compile(P, X1, Y)  # the rival's kernel ready, as `fastbp warmup` leaves it
    for _ in range(3):
        be.train(P, X1, Y, np.array([0.01]), 2, np.array([1, 2]))
    assert set(P.impl.layout.tuners["team"].rates) == {("team", 2), ("helper", 2)}


@pytest.mark.parametrize("rival_cached", [False, True], ids=["rival-not-cached", "rival-cached"])
def test_a_rival_waits_until_the_training_has_cost_a_compile(monkeypatch, rival_cached):
    """Automatic mode with the team's kernel at hand, the one-thread rival's
    cached or not: the rival is not tried (nor compiled) while the shape's
    timed training has taken less than a compile here; once it has, the
    rival is compiled and timed."""
    from fastbp.backends.numba import backend, cache, run, team

    if run.cores() < 2:
        pytest.skip("needs 2 cores")
    be = backend.NumbaBackend()
    layers = [783, 301, 99, 10]  # a shape of its own
    X1, Y = make_data(layers, n=200)
    P = be.params([w[None] for w in make_weights(layers)], np.float64)
    P.impl.layout.tuners.clear()  # a fresh tuner
    assert be.plan(P, 200, 2, 0) == ("team", 2)
    backend.finish_compiles()  # no earlier test's compile ends during this one
    monkeypatch.setattr(backend, "_compiled", set())  # nothing compiled in this process ...
    monkeypatch.setattr(cache, "holds", lambda fn, args: rival_cached or fn is team.train_team)  # ... the team cached
    estimate = [1e9]  # a compile on this machine costs more than this training
    monkeypatch.setattr(cache, "compile_seconds", lambda: estimate[0])
    for _ in range(3):
        be.train(P, X1, Y, np.array([0.01]), 2)
    tuner = P.impl.layout.tuners["team"]
    assert set(tuner.rates) == {("team", 2)} and tuner.spent > 0
    estimate[0] = tuner.spent  # the training has now cost a compile
    be.train(P, X1, Y, np.array([0.01]), 2)
    assert set(tuner.rates) == {("team", 2), ("one", 1)}


def _team_start(monkeypatch, layers):
    """A network a team would train, in a process that has compiled none of
    its kernels and finds none cached; ``ran``: the forms its calls run."""
    from fastbp.backends.numba import backend, cache, run

    if run.cores() < 2:
        pytest.skip("needs 2 cores")
    be = backend.NumbaBackend()
    X1, Y = make_data(layers, n=200)
    W = [w[None] for w in make_weights(layers)]
    P = be.params(W, np.float64)
    P.impl.layout.tuners.clear()  # a fresh tuner: the team is tried once its kernel is there
    assert be.plan(P, 200, 2, 0) == ("team", 2)
    backend.finish_compiles()  # no earlier test's compile ends during this one
    monkeypatch.setattr(backend, "_compiled", set())  # nothing compiled in this process ...
    monkeypatch.setattr(backend, "_later", {})  # ... nor compiling ...
    monkeypatch.setattr(cache, "holds", lambda fn, args: False)  # ... nor cached
    ran: list = []

    def recorded(name):
        real = getattr(run, name)
        return lambda *a: ran.append(name) or real(*a)

    for name in ("run_one", "run_team"):
        monkeypatch.setattr(run, name, recorded(name))
    return be, P, W, X1, Y, ran


def _same_as_one_thread(P, W, X1, Y, calls):
    one = get_backend("numba", threads=1)
    ref = one.params(W, np.float64)
    for _ in range(calls):
        one.train(ref, X1, Y, np.array([0.01]), 2)
    for a, b in zip(P.W, ref.W, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_team_whose_kernel_is_not_there_starts_on_one_thread(monkeypatch):
    """Automatic mode on an empty cache: a network a team would train runs
    on one thread while the team's kernel compiles in another process (at
    the same time as this process compiles the one-thread kernel), then on
    the team, loaded from the cache that process filled; the weights are one
    thread's throughout, bit for bit."""
    from fastbp.backends.numba import backend

    be, P, W, X1, Y, ran = _team_start(monkeypatch, [785, 299, 98, 10])
    be.compile(P, X1, Y)  # as the training loop does first
    (job,) = backend._later.values()
    assert isinstance(job, backend._Elsewhere)
    job.is_alive = lambda: True  # the other process seen compiling, however fast it is
    be.train(P, X1, Y, np.array([0.01]), 2)
    assert ran == ["run_one"]
    del job.is_alive
    be.finish_compiles()
    assert job.ok()
    be.train(P, X1, Y, np.array([0.01]), 2)
    assert ran == ["run_one", "run_team"]
    _same_as_one_thread(P, W, X1, Y, 2)


@pytest.mark.parametrize("why", ["no cache folder", "the other process failed", "no process could start"])
def test_a_teams_kernel_compiles_on_a_thread_where_another_process_cannot_serve(monkeypatch, why):
    """Where the team's kernel cannot come from another process (no cache
    folder to pass it through, that process failed or could not start), it compiles on a
    background thread of this one, training on one thread meanwhile."""
    from fastbp.backends.numba import backend, cache

    be, P, W, X1, Y, ran = _team_start(monkeypatch, [786, 297, 97, 10])
    if why == "no cache folder":
        monkeypatch.setattr(cache, "saves", lambda fn: False)
    elif why == "no process could start":

        def no_fork(*args, **kwargs):
            raise OSError(12, "Cannot allocate memory")

        monkeypatch.setattr(backend.subprocess, "Popen", no_fork)
    else:

        class Failed:
            def __init__(self, fn, sig):
                pass

            def is_alive(self):
                return False

            def ok(self):
                return False

            def join(self):
                pass

        monkeypatch.setattr(backend, "_Elsewhere", Failed)
    gate, compile_now = threading.Event(), backend._compile

    def compile_later(fn, sig, key):  # the background compile waits for the gate
        if threading.current_thread().name == "fastbp-compile":
            gate.wait(60)
        compile_now(fn, sig, key)

    monkeypatch.setattr(backend, "_compile", compile_later)
    be.compile(P, X1, Y)
    be.train(P, X1, Y, np.array([0.01]), 2)
    assert ran == ["run_one"]
    (job,) = backend._later.values()
    assert isinstance(job, backend._Thread)
    gate.set()
    be.finish_compiles()
    be.train(P, X1, Y, np.array([0.01]), 2)
    assert ran[-1] == "run_team"
    _same_as_one_thread(P, W, X1, Y, len(ran))


def test_a_kernel_compiled_in_another_process_lands_in_this_ones_cache(tmp_path):
    """``_Elsewhere``: the other process compiles the kernel into this
    process's cache folder (an empty one here), where this one then finds it
    without compiling it itself."""
    code = (
        "import numpy as np\n"
        "from fastbp.backends.numba import backend, cache, layers\n"
        "args = (np.zeros(8), 8, 0)\n"
        "fn = layers.units_padded\n"
        "assert not cache.holds(fn, args)\n"
        "job = backend._Elsewhere(fn, tuple(fn.typeof_pyval(a) for a in args))\n"
        "job.join()\n"
        "assert job.ok() and not job.is_alive() and not fn.overloads\n"
        "assert cache.holds(fn, args)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, FASTBP_CACHE_DIR=str(tmp_path), PYTHONPATH=str(Path(fastbp.__file__).parents[1]))
    env.pop("NUMBA_CACHE_DIR", None)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout == "ok\n", res.stderr


def test_the_longest_compile_is_kept_for_later_processes(tmp_path, monkeypatch):
    from fastbp.backends.numba import cache

    monkeypatch.setattr(cache, "folder", lambda: tmp_path)
    monkeypatch.setattr(cache, "_longest", [0.0])
    cache._recorded_compile_seconds.cache_clear()
    assert cache.compile_seconds() == 0.0  # nothing measured or recorded yet
    cache.record_compile(0.5)
    assert cache.compile_seconds() == 0.5
    cache.record_compile(7.0)
    cache.record_compile(0.1)  # a cache load: shorter, not kept
    cache._longest[0] = 0.0  # a new process ...
    cache._recorded_compile_seconds.cache_clear()  # ... reads the record
    assert cache.compile_seconds() == 7.0
    next(tmp_path.glob("compile-seconds-*")).write_text("garbage")
    cache._recorded_compile_seconds.cache_clear()
    assert cache.compile_seconds() == 0.0  # an unreadable record counts as none
    cache._recorded_compile_seconds.cache_clear()


# ---------------------------------------------------- units other than sigmoid
UNITS = [("tanh", "sigmoid"), ("relu", "softmax"), ("tanh", "linear"), ("sigmoid", "softmax"), ("relu", "linear")]


def _unit_case(layers, dtype, output, n=37):
    W, X1, Y = _team_case(layers, dtype, n=n)
    if output == "softmax":  # one-hot targets
        Y = np.eye(layers[-1], dtype=dtype)[np.random.RandomState(2).randint(0, layers[-1], n)]
    return W, X1, Y


@pytest.mark.parametrize(("activation", "output"), UNITS, ids=lambda u: str(u))
@pytest.mark.parametrize(
    "layers", [[40, 33], [5, 7, 3], [64, 32, 16, 10], [70, 61, 30, 9]], ids=lambda l: "-".join(map(str, l))
)
def test_units_in_every_mode_equal_one_thread_bit_for_bit(nb, always_team, layers, activation, output):
    """Team (2 and 3 threads), loss helper and one thread: the same weights
    and losses, bit for bit, for other units than the tutorial's; and the
    NumPy backend's to 1e-12."""
    if len(layers) == 2 and output == "softmax":
        pytest.skip("a single softmax layer is not split over threads (plan)")
    W, X1, Y = _unit_case(layers, np.float64, output)
    record = np.array([1, 3, 4], np.int64)
    alpha = np.array([0.05])
    P1 = nb.params(W, np.float64).with_units(activation, output)
    l1 = nb.with_threads(1).train(P1, X1, Y, alpha, 4, record)
    for T in (2, 3):
        PT = nb.params(W, np.float64).with_units(activation, output)
        assert nb.with_threads(T).plan(PT, X1.shape[0], 4, 3) == ("team", T)
        lT = nb.with_threads(T).train(PT, X1, Y, alpha, 4, record)
        for a, b in zip(P1.W, PT.W):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(l1, lT)
    PH = nb.params(W, np.float64).with_units(activation, output)
    helped = np.full((1, 3), np.nan)
    always_team.run_helper(PH, X1, Y, alpha, 4, record, helped)
    np.testing.assert_array_equal(l1.T, helped)
    ref = get_backend("numpy")
    Q = ref.params(W, np.float64).with_units(activation, output)
    want = ref.train(Q, X1, Y, alpha, 4, record)
    np.testing.assert_allclose(l1, want, rtol=1e-12)
    assert_weights_close([w[0] for w in P1.W], [w[0] for w in Q.W], np.float64)


def test_a_single_softmax_layer_runs_on_one_thread(nb, always_team):
    W, X1, _ = _unit_case([40, 33], np.float64, "softmax")
    P = nb.params(W, np.float64).with_units("sigmoid", "softmax")
    assert nb.with_threads(2).plan(P, X1.shape[0], 4, 3) == ("one", 1)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_compiled_units_against_numpy(activation, dtype):
    """The compiled tanh is within 4 ulp of NumPy's (sign and tiny values
    included), relu exact."""
    from fastbp.backends.numba.layers import units_padded
    from fastbp.backends.numba.units import UNIT_CODES

    rs = np.random.RandomState(0)
    z = np.concatenate([rs.randn(20000) * 4, rs.randn(200) * 1e-9, [0.0, 19.5, -25.0, 1e3, -1e3]]).astype(dtype)
    buf = np.empty(len(z) + 8, dtype)
    buf[: len(z)] = z
    units_padded(buf, len(z), UNIT_CODES[activation])
    got = buf[: len(z)].astype(np.float64)
    want = (np.tanh(z) if activation == "tanh" else np.maximum(z, 0)).astype(np.float64)
    ulp = np.abs(got - want) / np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
    assert ulp.max() <= (4 if activation == "tanh" else 0)


def test_compiled_softmax_against_numpy(dtype):
    """Each row's softmax as SciPy's (float64: to 1e-13; float32: to 1e-5,
    the rounding of z - max z in float32 amplified by exp), stable for
    logits up to the thousands."""
    from scipy.special import softmax

    from fastbp.backends.numba.layers import softmax_rows

    Z = (np.random.RandomState(1).randn(50, 10) * np.logspace(-3, 3, 50)[:, None]).astype(dtype)
    got = Z.copy()
    softmax_rows(got, np.empty(24, dtype))
    want = softmax(Z.astype(np.float64), axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-13 if dtype == np.float64 else 1e-5, atol=1e-37)
    assert np.isfinite(got).all()
