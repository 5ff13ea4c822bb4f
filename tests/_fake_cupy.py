"""A stand-in for CuPy built on NumPy, to exercise the cuda backend's host code
(and the GPU tests themselves) on a machine without a GPU.

``install()`` puts a fake ``cupy`` module in sys.modules. Arrays are NumPy
arrays whose ``.data.ptr`` is their host address; RawKernel launches run a
NumPy model of each kernel on the memory those pointers name. It checks the
plumbing (argument order and types, shapes, dtypes, paths, pointers,
offsets of stacked networks), never the CUDA code: the NVRTC, nvcc and
host-emulation tests in test_cuda_source.py do that.
"""

from __future__ import annotations

import ctypes
import sys
import types

import numpy as np
from scipy.special import expit

LAUNCHES: list = []
FIXED_LAUNCHES: list = []


class _Mem:
    def __init__(self, ptr):
        self.ptr = ptr


class ndarray(np.ndarray):
    @property
    def data(self):
        return _Mem(self.__array_interface__["data"][0])

    def get(self):
        return np.array(self, copy=True).view(np.ndarray)


def _wrap(a):
    return np.asarray(a).view(ndarray)


def _view(ptr, n, dtype):
    ctype = ctypes.c_double if np.dtype(dtype) == np.float64 else ctypes.c_float
    return np.ctypeslib.as_array((ctype * n).from_address(int(ptr)))


def _sgd_model(args, K, dtype):
    from fastbp.backends.numpy_backend import NumpyBackend

    wptrs, dims, L, X1, Y, N, alphas = args[:7]
    L, N = int(L), int(N)
    assert isinstance(L, int) and dims.dtype == np.int32 and wptrs.dtype == np.uint64
    assert X1.dtype == dtype and Y.dtype == dtype and alphas.dtype == dtype
    d = [int(x) for x in dims]
    assert len(d) == L + 1 and X1.shape == (N, d[0]) and Y.shape == (N, d[L])
    nb = NumpyBackend()
    for k in range(K):
        W = [
            _view(int(wptrs[l]) + k * d[l] * d[l + 1] * np.dtype(dtype).itemsize, d[l] * d[l + 1], dtype).reshape(
                d[l], d[l + 1]
            )
            for l in range(L)
        ]
        for i in range(N):
            nb.sgd_step(
                W, np.asarray(X1[i : i + 1]).view(np.ndarray), np.asarray(Y[i : i + 1]).view(np.ndarray), alphas[k]
            )


class RawKernel:
    def __init__(self, name):
        self.name = name
        self.shared_size_bytes = 2592 if "grid" in name else 0 if ("fixed" in name or "regs" in name) else 1040
        self.max_dynamic_shared_size_bytes = 48 * 1024
        self.num_regs = 40
        self.local_size_bytes = 0

    def __call__(self, grid, block, args, shared_mem=0):
        LAUNCHES.append((self.name, grid, block, shared_mem))
        assert all(isinstance(a, (ndarray, np.integer, np.floating)) for a in args), [type(a) for a in args]
        assert shared_mem <= 48 * 1024 or shared_mem <= self.max_dynamic_shared_size_bytes, (shared_mem, self.name)
        dtype = np.float64 if "double" in self.name else np.float32
        for a in args:
            if isinstance(a, ndarray) and a.dtype.kind == "f":
                assert a.dtype == dtype, (self.name, a.dtype)
                assert a.flags.c_contiguous
        if self.name.startswith("fastbp_forward"):
            A, B, C, M, N, K = args
            assert A.shape == (M, K) and B.shape == (K, N) and C.shape == (M, N)
            C[...] = expit(A @ B)
        elif self.name.startswith("fastbp_hidden_delta"):
            Dn, W, Al, C, M, N, K = args
            assert Dn.shape == (M, K) and W.shape == (N, K) and Al.shape == (M, N)
            C[...] = (Dn @ W.T) * Al * (1 - Al)
        elif self.name.startswith(("fastbp_sgd_block_fixed<", "fastbp_sgd_regs<")):
            # the shape-specialised kernels <T, NT, d0, ..., dL>: launched with NT
            # threads for exactly those widths; fastbp_sgd_regs with the shared
            # memory for A, D, two target rows and the first layer's products only
            from fastbp.backends import _cuda_source as src

            _, nt, *shape = [x.strip() for x in self.name[self.name.index("<") + 1 : -1].split(",")]
            d = [int(x) for x in shape]
            assert len(args) == 7 and block[0] == int(nt), (self.name, block)
            assert d == [int(x) for x in args[1]] and int(args[2]) == len(d) - 1
            if self.name.startswith("fastbp_sgd_regs<"):
                assert int(nt) == src.regs_threads_for(d), (self.name, block)
                assert shared_mem == src.regs_smem_elems(d) * np.dtype(dtype).itemsize, (self.name, shared_mem)
            FIXED_LAUNCHES.append(self.name)
            _sgd_model(args, grid[0], dtype)
        elif self.name.startswith("fastbp_sgd_block"):
            assert len(args) == 7 and block[0] % 32 == 0 and block[0] <= 512
            _sgd_model(args, grid[0], dtype)
        elif self.name.startswith("fastbp_sgd_grid"):
            assert len(args) == 12 and isinstance(args[10], np.uint64) and block[0] <= 256
            assert isinstance(args[11], np.int32) and int(args[11]) in (0, 1)
            assert args[8].dtype == np.uint64 and args[9].dtype == np.int32
            _sgd_model(args[:7], 1, dtype)
        else:  # pragma: no cover
            raise AssertionError(self.name)


class RawModule:
    def __init__(self, code=None, options=(), name_expressions=None, enable_cooperative_groups=False, **kw):
        assert "fastbp_sgd_block" in code
        self.names = list(name_expressions or [])

    def get_function(self, name):
        assert name in self.names, name
        return RawKernel(name)


class ElementwiseKernel:
    def __init__(self, in_params, out_params, operation, name, preamble="", **kw):
        self.name = name

    def __call__(self, *args):
        a = [np.asarray(x) for x in args]
        if self.name == "fastbp_sigmoid":
            return _wrap(expit(a[0]))
        if self.name == "fastbp_output_delta":
            return _wrap((a[0] - a[1]) * a[0] * (1 - a[0]))
        if self.name == "fastbp_update":
            p, alpha, w = args
            assert isinstance(alpha, np.floating) and alpha.dtype == w.dtype
            w -= alpha * p
            return w
        raise AssertionError(self.name)  # pragma: no cover


class ReductionKernel:
    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name, **kw):
        self.name = name

    def __call__(self, p, y):
        return _wrap(np.sum((np.asarray(p) - np.asarray(y)) ** 2))


def _device_props(i=0):
    return {
        "name": b"Fake GPU (NumPy)",
        "multiProcessorCount": 132,
        "sharedMemPerBlockOptin": 232448,
        "sharedMemPerBlock": 49152,
        "major": 9,
        "minor": 0,
        "totalGlobalMem": 80 << 30,
        "cooperativeLaunch": 1,
    }


class _Device:
    def __init__(self, i=0):
        self.id = i

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def synchronize(self):
        pass


def install():
    cp = types.ModuleType("cupy")
    cp.__version__ = "0.0-fake"
    cp.ndarray = ndarray
    cp.asarray = lambda a, dtype=None: _wrap(
        np.array(a, dtype=dtype, copy=True) if not isinstance(a, ndarray) or dtype else a
    )
    cp.array = lambda a, dtype=None, order="C", copy=True: _wrap(np.array(a, dtype=dtype, order=order, copy=copy))
    cp.ascontiguousarray = lambda a, dtype=None: _wrap(np.ascontiguousarray(a, dtype=dtype))
    cp.asnumpy = lambda a: np.array(a, copy=True).view(np.ndarray)
    cp.zeros = lambda *a, **k: _wrap(np.zeros(*a, **k))
    cp.empty = lambda *a, **k: _wrap(np.empty(*a, **k))
    cp.matmul = lambda a, b: _wrap(np.matmul(a, b))
    cp.stack = lambda xs: _wrap(np.stack([np.asarray(x) for x in xs]))
    cp.isfinite = lambda a: _wrap(np.isfinite(a))
    cp.RawModule = RawModule
    cp.ElementwiseKernel = ElementwiseKernel
    cp.ReductionKernel = ReductionKernel
    cuda = types.ModuleType("cupy.cuda")
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDevice=lambda: 0,
        getDeviceProperties=_device_props,
        driverGetVersion=lambda: 13000,
        runtimeGetVersion=lambda: 13000,
    )
    cuda.runtime = runtime
    cuda.Device = _Device
    cp.cuda = cuda
    sys.modules["cupy"] = cp
    sys.modules["cupy.cuda"] = cuda
    return cp
