"""The cuda backend on a real GPU: parity with the NumPy oracle, every path.

Skips (with the backend's unavailability message) where there is no GPU,
driver or CuPy. Tolerances: RTOL64 and TOL32 below. They were set from a
NumPy run that only differs in summation order (64-32-16-10 digits: float64
1.6e-15, float32 1.4e-6 max |dW| / max |W| after 10 epochs). Without a GPU
this file also runs against tests/_fake_cupy.py (see test_cuda_source.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastbp.backends import _cuda_source as src
from fastbp.backends import get_backend, unavailable_reason
from fastbp.backends.base import Params
from fastbp.datasets import digits as fastbp_digits
from fastbp.network import add_bias
from fastbp.network import init_weights as fastbp_init_weights

_why = unavailable_reason("cuda")
if _why is not None:
    pytest.skip(_why, allow_module_level=True)

from fastbp.backends.cuda_backend import CudaBackend  # noqa: E402

#: float64: elementwise rtol, plus atol = RTOL64 * max|W|.
RTOL64 = 1e-12
#: float32: max|got - ref| <= TOL32 * max|ref|, per layer (1 and 10 epochs).
TOL32 = 1e-4

DIGITS = [64, 32, 16, 10]
WIDE = [784, 256, 128, 10]


def init_weights(layers, seed, dtype=np.float64):
    """The package's (reference) initial weights, as ``dtype``."""
    return [w.astype(dtype) for w in fastbp_init_weights(list(layers), seed)]


def digits_data(n=None):
    """(X1, Y) of the digits training split (bias column added), first ``n``
    rows, and the test split's (X, labels)."""
    ds = fastbp_digits()
    X1, Y = add_bias(ds.X_train), ds.Y_train
    if n is not None:
        X1, Y = X1[:n], Y[:n]
    return X1, Y, ds.X_test, ds.labels_test


def random_data(layers, n, seed=1):
    rs = np.random.RandomState(seed)
    X1 = add_bias(rs.rand(n, layers[0]))
    Y = np.eye(layers[-1])[rs.randint(0, layers[-1], n)]
    return X1, Y


def assert_weights_close(got, ref, dtype, what=""):
    for l, (g, r) in enumerate(zip(got, ref)):
        scale = float(np.max(np.abs(r)))
        if np.dtype(dtype) == np.float64:
            np.testing.assert_allclose(g, r, rtol=RTOL64, atol=RTOL64 * scale, err_msg=f"{what} W[{l}]")
        else:
            err = float(np.max(np.abs(g.astype(np.float64) - r))) / scale
            assert err <= TOL32, f"{what} W[{l}]: max relative error {err:.3g} > {TOL32}"


@pytest.fixture(scope="module")
def cuda():
    return get_backend("cuda")


@pytest.fixture(scope="module")
def numpy_b():
    return get_backend("numpy")


DTYPES = [np.float64, np.float32]


def _ref_epochs(numpy_b, W, X1, Y, alpha, epochs, dtype):
    Wr = [w.astype(dtype) for w in W]
    X1r, Yr = X1.astype(dtype), Y.astype(dtype)
    for _ in range(epochs):
        numpy_b.sgd_epoch(Wr, X1r, Yr, alpha)
    return Wr


# ---------------------------------------------------------------- basics
def test_info_names_the_gpu(cuda):
    info = cuda.info()
    assert info["name"] == "cuda" and info["gpu"] and info["sm_count"] > 0
    assert info["shared_memory_per_block_optin"] >= 48 * 1024
    assert cuda.on_device


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_asarray_roundtrip(cuda, dtype):
    a = np.arange(12.0).reshape(3, 4)
    d = cuda.asarray(a, dtype)
    assert d.dtype == dtype and d.flags.c_contiguous
    np.testing.assert_array_equal(cuda.to_numpy(d), a.astype(dtype))


@pytest.mark.parametrize("cublas", [False, True], ids=["fused", "cublas"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_every_kernel_matches_numpy(numpy_b, dtype, cublas):
    cuda = CudaBackend(cublas_min_macs=0 if cublas else 1 << 60)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    W = init_weights(DIGITS, 3, dtype)
    X1, Y, _, _ = digits_data(200)
    X1, Y = X1.astype(dtype), Y.astype(dtype)
    Wd = [cuda.asarray(w, dtype) for w in W]
    X1d, Yd = cuda.asarray(X1, dtype), cuda.asarray(Y, dtype)

    A = numpy_b.forward(W, X1)
    Ad = cuda.forward(Wd, X1d)
    for a, ad in zip(A, Ad):
        np.testing.assert_allclose(cuda.to_numpy(ad), a, rtol=rtol, atol=rtol)
    D = numpy_b.output_delta(A[-1], Y)
    Dd = cuda.output_delta(Ad[-1], Yd)
    np.testing.assert_allclose(cuda.to_numpy(Dd), D, rtol=rtol, atol=rtol)
    for l in range(len(W) - 1, 0, -1):
        Dl = numpy_b.hidden_delta(D, W[l], A[l])
        Dld = cuda.hidden_delta(Dd, Wd[l], Ad[l])
        np.testing.assert_allclose(cuda.to_numpy(Dld), Dl, rtol=rtol, atol=rtol * np.abs(Dl).max())
        D, Dd = Dl, Dld
    for l in range(len(W)):
        numpy_b.update(W[l], A[l], numpy_b.output_delta(A[l + 1], A[l + 1] * 0.5), 0.1)
        cuda.update(Wd[l], Ad[l], cuda.output_delta(Ad[l + 1], Ad[l + 1] * 0.5), 0.1)
        np.testing.assert_allclose(cuda.to_numpy(Wd[l]), W[l], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(cuda.to_numpy(cuda.predict(Wd, X1d)), numpy_b.predict(W, X1), rtol=rtol, atol=rtol)
    lr, ld = numpy_b.loss(W, X1, Y), cuda.loss(Wd, X1d, Yd)
    assert isinstance(ld, float)
    assert ld == pytest.approx(lr, rel=rtol * 10)
    cuda.synchronize()


# ------------------------------------------------------- sgd_epoch paths
#: The persistent single-block kernels, as CudaBackend options: "regs" =
#: fastbp_sgd_regs (weights in registers, the default where it applies),
#: "fixed" = fastbp_sgd_block_fixed (shape-specialised, shared memory),
#: "generic" = fastbp_sgd_block.
BLOCK_KERNELS = {
    "regs": dict(registers=True),
    "fixed": dict(registers=False, specialize=True),
    "generic": dict(registers=False, specialize=False),
}


def _check_block_kernel(cuda, variant, dtype, d=None):
    name = cuda.last_kernel or ""
    if variant == "regs":
        assert cuda.registers_failed is None, cuda.registers_failed
        if d is None or src.regs_block_applies(d, np.dtype(dtype).itemsize):
            assert name.startswith("fastbp_sgd_regs<"), name
            return
        variant = "fixed"  # one weight matrix, or too many weights per thread
    if variant == "acqrel":
        assert cuda.grid_barrier_failed is None, cuda.grid_barrier_failed
        assert name == f"fastbp_sgd_grid<{'double' if np.dtype(dtype) == np.float64 else 'float'}, 1>", name
    if variant == "fixed":
        assert cuda.specialize_failed is None, cuda.specialize_failed
        assert name.startswith("fastbp_sgd_block_fixed<"), name
    elif variant == "generic":
        assert name == f"fastbp_sgd_block<{'double' if np.dtype(dtype) == np.float64 else 'float'}>", name


@pytest.mark.parametrize("epochs", [1, 10])
@pytest.mark.parametrize(
    "path,variant",
    [("block", "regs"), ("block", "fixed"), ("block", "generic"), ("grid", ""), ("grid", "acqrel"), ("grid", "slices")],
    ids=["block-regs", "block-fixed", "block-generic", "grid", "grid-acqrel", "grid-slices"],
)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_sgd_epoch_digits_matches_numpy(numpy_b, dtype, path, variant, epochs):
    cuda = CudaBackend(
        path=path,
        grid_blocks=None if path == "block" else 7,
        **BLOCK_KERNELS.get(variant, {}),
        grid_barrier="acqrel" if variant == "acqrel" else "fence",
        grid_replicate_last=variant != "slices",
    )
    W = init_weights(DIGITS, 42)
    X1, Y, _, _ = digits_data()
    ref = _ref_epochs(numpy_b, W, X1, Y, 0.1, epochs, dtype)
    Wd = [cuda.asarray(w, dtype) for w in W]
    X1d, Yd = cuda.asarray(X1, dtype), cuda.asarray(Y, dtype)
    for _ in range(epochs):
        cuda.sgd_epoch(Wd, X1d, Yd, 0.1)
    assert cuda.last_plan.path == path
    if path == "grid":  # the last layer in every block unless asked for slices
        assert cuda.last_plan.replicate_last == (variant != "slices"), cuda.last_plan
    _check_block_kernel(cuda, variant, dtype)
    assert_weights_close([cuda.to_numpy(w) for w in Wd], ref, dtype, f"{path} {variant} {epochs} epochs")


@pytest.mark.parametrize("variant", ["regs", "fixed", "generic"])
@pytest.mark.parametrize(
    "layers,threads",
    [
        ([2, 2, 1], None),
        ([2, 1], None),
        ([70, 3, 1], 256),
        ([80, 4, 2], 32),
        ([64, 32, 16, 10], 128),
        ([30, 40, 20, 10, 5], None),
    ],
)
def test_block_kernels_other_shapes_match_numpy(numpy_b, layers, threads, variant):
    """The block kernels on shapes unlike digits: no hidden layer (regs: the
    fixed kernel runs), groups wider than a warp (generic), an x row wider
    than the block, 4 layers."""
    cuda = CudaBackend(path="block", block_threads=threads, **BLOCK_KERNELS[variant])
    W = init_weights(layers, 11)
    X1, Y = random_data(layers, 37)
    ref = _ref_epochs(numpy_b, W, X1, Y, 0.3, 2, np.float64)
    Wd = [cuda.asarray(w, np.float64) for w in W]
    for _ in range(2):
        cuda.sgd_epoch(Wd, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), 0.3)
    _check_block_kernel(cuda, variant, np.float64, src.dims_of([w.shape for w in W]))
    assert_weights_close([cuda.to_numpy(w) for w in Wd], ref, np.float64, f"{layers} {variant}")


def test_block_shape_too_long_for_the_fixed_kernel_runs_generic(numpy_b):
    """An 8400-input perceptron would unroll too far (263 iterations per
    lane): the generic kernel runs (float32: 131 KB of shared memory)."""
    cuda = CudaBackend(path="block", specialize=True)  # registers: one matrix, not applicable
    W = init_weights([8400, 1], 12)
    X1, Y = random_data([8400, 1], 3)
    ref = _ref_epochs(numpy_b, W, X1, Y, 0.01, 1, np.float32)
    Wd = [cuda.asarray(w, np.float32) for w in W]
    cuda.sgd_epoch(Wd, cuda.asarray(X1, np.float32), cuda.asarray(Y, np.float32), 0.01)
    _check_block_kernel(cuda, "generic", np.float32)
    assert_weights_close([cuda.to_numpy(w) for w in Wd], ref, np.float32, "8400-1")


def test_register_kernel_is_the_default(cuda):
    from fastbp.backends import cuda_backend

    assert cuda.specialize == cuda_backend.SPECIALIZE_DEFAULT and cuda.registers == cuda_backend.REGISTERS_DEFAULT
    W = [cuda.asarray(w, np.float64) for w in init_weights(DIGITS, 0)]
    X1, Y = random_data(DIGITS, 8)
    cuda.sgd_epoch(W, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), 0.1)
    if cuda_backend.REGISTERS_DEFAULT is None:
        assert cuda.last_kernel == "fastbp_sgd_regs<double, 320, 65, 33, 17, 10>", cuda.last_kernel
        assert cuda.last_plan.threads == 320 and "registers" in cuda.last_plan.reason
    nor = CudaBackend(registers=False)
    nor.sgd_epoch(W, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), 0.1)
    if cuda_backend.SPECIALIZE_DEFAULT:
        assert nor.last_kernel == "fastbp_sgd_block_fixed<double, 512, 65, 33, 17, 10>", nor.last_kernel
    assert not CudaBackend(specialize=False).specialize
    # before Volta (per-warp barriers) the register kernel's two code paths may not share a barrier
    old = CudaBackend(registers=True)
    old._props = dict(old._props, major=6)
    old.sgd_epoch(W, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), 0.1)
    assert not old.last_kernel.startswith("fastbp_sgd_regs"), old.last_kernel


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_register_kernel_batch_is_one_call_per_sample(dtype):
    """fastbp_sgd_regs: an epoch in one launch gives the weights of one
    launch per sample (to rounding: in a batch, sample s+1's first-layer
    input is x W[0] - alpha (x . x_s) D[1]_s, in a call of one sample the
    product with the updated W[0])."""
    cuda = CudaBackend(registers=True)
    W = init_weights(DIGITS, 21, dtype)
    X1, Y, _, _ = digits_data(40)
    X1d, Yd = cuda.asarray(X1, dtype), cuda.asarray(Y, dtype)
    batch = [cuda.asarray(w, dtype) for w in W]
    cuda.sgd_epoch(batch, X1d, Yd, 0.1)
    assert cuda.last_kernel.startswith("fastbp_sgd_regs<")
    step = [cuda.asarray(w, dtype) for w in W]
    for i in range(X1.shape[0]):
        cuda.sgd_step(step, X1d[i : i + 1], Yd[i : i + 1], 0.1)
    assert_weights_close(
        [cuda.to_numpy(b).astype(np.float64) for b in batch],
        [cuda.to_numpy(w).astype(np.float64) for w in step],
        dtype,
        "batch vs per sample",
    )


def test_sgd_epoch_default_path_for_digits_is_block(cuda):
    W = [cuda.asarray(w, np.float64) for w in init_weights(DIGITS, 0)]
    X1, Y = random_data(DIGITS, 8)
    cuda.sgd_epoch(W, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), 0.1)
    assert cuda.last_plan.path == "block"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_sgd_epoch_step_path_matches_numpy(numpy_b, dtype):
    cuda = CudaBackend(path="step")
    W = init_weights(DIGITS, 5)
    X1, Y, _, _ = digits_data(100)
    ref = _ref_epochs(numpy_b, W, X1, Y, 0.1, 1, dtype)
    Wd = [cuda.asarray(w, dtype) for w in W]
    cuda.sgd_epoch(Wd, cuda.asarray(X1, dtype), cuda.asarray(Y, dtype), 0.1)
    assert_weights_close([cuda.to_numpy(w) for w in Wd], ref, dtype, "step")


@pytest.mark.parametrize("barrier", ["fence", "acqrel"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_wide_network_grid_path_matches_numpy(numpy_b, dtype, barrier):
    cuda = CudaBackend(grid_barrier=barrier, grid_replicate_last=barrier == "acqrel")
    W = init_weights(WIDE, 7)
    X1, Y = random_data(WIDE, 64)
    ref = _ref_epochs(numpy_b, W, X1, Y, 0.05, 2, dtype)
    Wd = [cuda.asarray(w, dtype) for w in W]
    X1d, Yd = cuda.asarray(X1, dtype), cuda.asarray(Y, dtype)
    for _ in range(2):
        cuda.sgd_epoch(Wd, X1d, Yd, 0.05)
    assert cuda.last_plan.path == "grid", cuda.last_plan
    _check_block_kernel(cuda, "acqrel" if barrier == "acqrel" else "", dtype)
    assert_weights_close([cuda.to_numpy(w) for w in Wd], ref, dtype, f"wide grid {barrier}")


def test_grid_path_plain_launch_matches(numpy_b):
    """The grid kernel without cooperative launch (its own barrier only)."""
    cuda = CudaBackend(path="grid", cooperative=False, grid_blocks=5)
    W = init_weights(DIGITS, 8)
    X1, Y, _, _ = digits_data(300)
    ref = _ref_epochs(numpy_b, W, X1, Y, 0.1, 1, np.float64)
    Wd = [cuda.asarray(w, np.float64) for w in W]
    cuda.sgd_epoch(Wd, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), 0.1)
    assert_weights_close([cuda.to_numpy(w) for w in Wd], ref, np.float64, "grid plain")


def test_sgd_epoch_accepts_host_data_and_validates(cuda):
    W = [cuda.asarray(w, np.float64) for w in init_weights([2, 2, 1], 0)]
    X1 = np.array([[0, 0, 1], [0, 1, 1]], dtype=np.float64)
    cuda.sgd_epoch(W, X1, np.array([0.0, 1.0]), 0.5)  # host arrays, 1-D targets
    with pytest.raises(ValueError, match="X1 must have shape"):
        cuda.sgd_epoch(W, np.ones((2, 5)), np.ones((2, 1)), 0.5)
    with pytest.raises(TypeError, match="CuPy array"):
        cuda.sgd_epoch([np.ones((3, 3)), np.ones((3, 1))], X1, np.ones((2, 1)), 0.5)


# ----------------------------------------------------------- many networks
@pytest.mark.parametrize("variant", ["regs", "fixed", "generic"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_sgd_epoch_many_matches_each_network(numpy_b, dtype, variant):
    cuda = CudaBackend(**BLOCK_KERNELS[variant])
    K = 6
    alphas = np.linspace(0.05, 0.5, K)
    nets = [init_weights(DIGITS, 100 + k) for k in range(K)]
    X1, Y, _, _ = digits_data(400)
    Ws = [cuda.asarray(np.stack([n[l] for n in nets]), dtype) for l in range(len(DIGITS) - 1)]
    X1d, Yd = cuda.asarray(X1, dtype), cuda.asarray(Y, dtype)
    for _ in range(2):
        cuda.sgd_epoch_many(Ws, X1d, Yd, alphas)
    assert cuda.last_plan.path == "block"
    _check_block_kernel(cuda, variant, dtype)
    host = [cuda.to_numpy(w) for w in Ws]
    losses = cuda.loss_many(Params(Ws, dtype), X1d, Yd)
    assert losses.shape == (K,)
    for k in range(K):
        ref = _ref_epochs(numpy_b, nets[k], X1, Y, alphas[k], 2, dtype)
        assert_weights_close([h[k] for h in host], ref, dtype, f"network {k}")
        # and the same as training it alone on the GPU
        alone = [cuda.asarray(w, dtype) for w in nets[k]]
        for _ in range(2):
            cuda.sgd_epoch(alone, X1d, Yd, alphas[k])
        assert_weights_close(
            [h[k] for h in host], [cuda.to_numpy(w).astype(np.float64) for w in alone], dtype, f"alone {k}"
        )
        lk = cuda.loss([w[k] for w in Ws], X1d, Yd)
        assert losses[k] == pytest.approx(lk, rel=1e-9 if dtype == np.float64 else 1e-4)


def test_many_networks_beyond_one_wave_use_the_shared_memory_kernel(numpy_b):
    """registers=None: more networks than SMs run fastbp_sgd_block_fixed
    (several blocks per SM), up to one per SM fastbp_sgd_regs."""
    cuda = CudaBackend()
    if cuda.registers is False:
        pytest.skip("FASTBP_CUDA_REGISTERS=0")
    X1, Y = random_data([4, 3, 2], 5)
    for K, prefix in ((cuda.sm_count, "fastbp_sgd_regs<"), (cuda.sm_count + 1, "fastbp_sgd_block_fixed<")):
        nets = [init_weights([4, 3, 2], 300 + k) for k in range(K)]
        Ws = [cuda.asarray(np.stack([n[l] for n in nets]), np.float64) for l in range(2)]
        alphas = np.linspace(0.1, 0.5, K)
        cuda.sgd_epoch_many(Ws, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), alphas)
        assert cuda.last_kernel.startswith(prefix), (K, cuda.last_kernel)
        for k in (0, K - 1):
            ref = _ref_epochs(numpy_b, nets[k], X1, Y, alphas[k], 1, np.float64)
            assert_weights_close([cuda.to_numpy(w[k]) for w in Ws], ref, np.float64, f"K={K} network {k}")


def test_sgd_epoch_many_large_networks_fall_back(numpy_b):
    cuda = CudaBackend()
    K = 2
    nets = [init_weights(WIDE, 200 + k) for k in range(K)]
    X1, Y = random_data(WIDE, 16)
    Ws = [cuda.asarray(np.stack([n[l] for n in nets]), np.float64) for l in range(3)]
    cuda.sgd_epoch_many(Ws, cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64), [0.1, 0.2])
    for k in range(K):
        ref = _ref_epochs(numpy_b, nets[k], X1, Y, [0.1, 0.2][k], 1, np.float64)
        assert_weights_close([cuda.to_numpy(w[k]) for w in Ws], ref, np.float64, f"wide many {k}")


# ------------------------------------------------------------ reproduction
def test_xor_reproduces_on_gpu(cuda):
    W = [cuda.asarray(w, np.float64) for w in init_weights([2, 2, 1], 0)]
    X1 = cuda.asarray(np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64), np.float64)
    Y = cuda.asarray(np.array([[0], [1], [1], [0]], dtype=np.float64), np.float64)
    first = cuda.loss(W, X1, Y)
    for _ in range(20000):
        cuda.sgd_epoch(W, X1, Y, 0.5)
    last = cuda.loss(W, X1, Y)
    pred = cuda.to_numpy(cuda.predict(W, X1)).ravel()
    assert last < 0.01 < first
    np.testing.assert_array_equal((pred > 0.5).astype(int), [0, 1, 1, 0])


def test_train_api_on_cuda():
    import fastbp

    if not hasattr(fastbp, "train"):
        pytest.skip("fastbp.train is not there yet")
    r = fastbp.train("xor", backend="cuda", seed=0, verbose=False)
    assert r.backend == "cuda" and r.final_loss < 0.01
    r = fastbp.train("digits", backend="cuda", seed=0, verbose=False)
    assert r.accuracy >= 0.96, r.accuracy


def test_digits_accuracy_backend_level(cuda):
    """Digits 64-32-16-10, alpha 0.1, 1000 epochs on the GPU (one launch per
    epoch): test accuracy as the reference (about 0.98)."""
    X1, Y, Xte, yte = digits_data()
    W = [cuda.asarray(w, np.float64) for w in init_weights(DIGITS, 0)]
    X1d, Yd = cuda.asarray(X1, np.float64), cuda.asarray(Y, np.float64)
    for _ in range(1000):
        cuda.sgd_epoch(W, X1d, Yd, 0.1)
    Xte1 = cuda.asarray(np.hstack([Xte, np.ones((len(Xte), 1))]), np.float64)
    pred = cuda.to_numpy(cuda.predict(W, Xte1)).argmax(axis=1)
    assert (pred == yte).mean() >= 0.96
    assert cuda.loss(W, X1d, Yd) < 5.0
