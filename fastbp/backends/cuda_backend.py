"""CuPy GPU backend: device arrays, CUDA C++ kernels (cupy.RawModule).

Paths of the batched per-sample SGD (``sgd_epoch``), chosen automatically
from the shared memory a network needs (see notes/cuda.md):

* ``"block"``: one persistent thread block per network holds all weights in
  shared memory across samples (one launch per epoch; ``sgd_epoch_many``
  launches one block per network, K networks in one launch);
* ``"grid"``: networks too large for one block: the weights are spread over
  the shared memory of up to one block per SM, with a grid-wide barrier
  between phases (one cooperative launch per epoch);
* ``"step"``: networks too large even for that: the contract's kernels, one
  launch per kernel per sample (correct, launch-bound).

Importing this module raises BackendUnavailableError (with what is missing
and the install command) when CuPy, a driver or a GPU is missing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError
from . import _cuda_source as src
from .base import SUPPORTED_DTYPES, Backend

INSTALL_HINT = 'pip install "fastbp[cuda13]" (CUDA 13 driver) or "fastbp[cuda12]" (CUDA 12 driver)'

try:
    import cupy
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise BackendUnavailableError(
        f"backend 'cuda' is unavailable: CuPy is not installed ({exc}). Install it with: {INSTALL_HINT}"
    ) from exc
except Exception as exc:  # pragma: no cover - a broken CuPy install
    raise BackendUnavailableError(
        f"backend 'cuda' is unavailable: CuPy failed to import ({type(exc).__name__}: {exc}). "
        f"Reinstall it with: {INSTALL_HINT}"
    ) from exc


def _device_problem() -> str | None:
    """None when a CUDA device is usable, else what is missing."""
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, ...
        try:
            drv = cupy.cuda.runtime.driverGetVersion()
        except Exception:
            drv = 0
        what = (
            "no NVIDIA driver was found"
            if drv == 0
            else f"the NVIDIA driver (CUDA {drv // 1000}.{drv % 1000 // 10}) cannot run it"
        )
        return f"no usable CUDA GPU: {what} ({type(exc).__name__}: {exc})"
    if n <= 0:
        return "no CUDA GPU was found (the driver reports 0 devices)"
    return None


_problem = _device_problem()
if _problem is not None:
    raise BackendUnavailableError(
        f"backend 'cuda' is unavailable: {_problem}. It needs an NVIDIA GPU with its driver, and CuPy "
        f"built for that driver's CUDA version: {INSTALL_HINT}"
    )

#: Default of CudaBackend(specialize=...): the "block" path runs the
#: shape-specialised fastbp_sgd_block_fixed<T, NT, d...> (compiled per
#: network shape on first use). Set to False (or the environment variable
#: FASTBP_CUDA_SPECIALIZE=0) to make the generic fastbp_sgd_block<T> the
#: default again.
SPECIALIZE_DEFAULT = os.environ.get("FASTBP_CUDA_SPECIALIZE", "1") != "0"
#: Default of CudaBackend(registers=...): None = the register-resident
#: fastbp_sgd_regs<T, NT, d...> for one network, and for many networks when
#: they fit one wave (K <= SMs), wherever its registers suffice
#: (_cuda_source.regs_block_applies). FASTBP_CUDA_REGISTERS=0: never.
REGISTERS_DEFAULT = None if os.environ.get("FASTBP_CUDA_REGISTERS", "1") != "0" else False

# Elementwise / reduction helpers (CuPy compiles them on first use).
_sigmoid = cupy.ElementwiseKernel("T z", "T a", "a = T(1) / (T(1) + exp(-z))", "fastbp_sigmoid")
_output_delta = cupy.ElementwiseKernel("T a, T y", "T d", "d = (a - y) * a * (T(1) - a)", "fastbp_output_delta")
_update_preamble = """
__device__ __forceinline__ float fastbp_sub_mul(float w, float alpha, float p) { return __fsub_rn(w, __fmul_rn(alpha, p)); }
__device__ __forceinline__ double fastbp_sub_mul(double w, double alpha, double p) { return __dsub_rn(w, __dmul_rn(alpha, p)); }
"""
# w - alpha * p, never contracted into an FMA (NumPy's rounding).
_update_inplace = cupy.ElementwiseKernel(
    "T p, T alpha", "T w", "w = fastbp_sub_mul(w, alpha, p)", "fastbp_update", preamble=_update_preamble
)
_sse = cupy.ReductionKernel("T p, T y", "T s", "(p - y) * (p - y)", "a + b", "s = a", "0", "fastbp_sse")


class CudaBackend(Backend):
    """NVIDIA GPUs via CuPy.

    Options (all keyword): ``path`` forces the sgd_epoch path ("block",
    "grid", "step"; None = automatic), ``block_threads`` / ``many_threads``
    the block size of the single-block kernel for one / many networks,
    ``grid_blocks`` the number of blocks of the grid path (default: one per
    SM, at most the widest layer), ``cublas_min_macs``: batched products at
    least this large use cuBLAS + an in-place sigmoid instead of the fused
    kernel, ``cooperative``: launch the grid path with
    cuLaunchCooperativeKernel (co-residency guaranteed), ``barrier_timeout_s``:
    a grid barrier that waits longer fails the call instead of hanging,
    ``specialize``: the "block" path runs a kernel compiled for the
    network's shape and block size (fastbp_sgd_block_fixed; None:
    SPECIALIZE_DEFAULT); False runs the generic fastbp_sgd_block. If the
    specialised kernel fails to compile, the generic one runs
    (``specialize_failed`` says why). ``grid_barrier``: "acqrel"
    (default: release/acquire barrier of the grid path, 1.1x faster than the
    fence barrier on an H200, falls back to "fence" if it fails to compile,
    ``grid_barrier_failed``) or "fence" (``__threadfence`` on both sides).
    ``registers``: the "block" path keeps the weights in registers
    (fastbp_sgd_regs: two block barriers per sample; its own thread count,
    ``block_threads`` does not apply) where they fit: None (default,
    REGISTERS_DEFAULT) for one network and for up to one network per SM,
    True also for more networks, False never. If it fails to compile or
    launch, the shared-memory kernel runs (``registers_failed`` says why).
    ``grid_replicate_last``: the grid path keeps all of the last weight
    matrix in every block where it fits (computed redundantly: two fewer grid
    barriers per sample); False: slices like the other layers.
    ``last_kernel``: the name expression of the last persistent kernel
    launched.
    """

    name = "cuda"
    on_device = True

    def __init__(
        self,
        *,
        path: str | None = None,
        block_threads: int | None = None,
        many_threads: int | None = None,
        grid_blocks: int | None = None,
        cublas_min_macs: int = 1 << 24,
        cooperative: bool = True,
        barrier_timeout_s: float = 10.0,
        device: int | None = None,
        specialize: bool | None = None,
        grid_barrier: str = "acqrel",
        registers: bool | None = REGISTERS_DEFAULT,
        grid_replicate_last: bool = True,
    ):
        if grid_barrier not in src.GRID_BARRIERS:
            raise ValueError(f"grid_barrier must be one of {sorted(src.GRID_BARRIERS)}, got {grid_barrier!r}")
        if path not in (None, "block", "grid", "step"):
            raise ValueError(f"path must be None, 'block', 'grid' or 'step', got {path!r}")
        self.path = path
        self.block_threads = block_threads
        self.many_threads = many_threads
        self.grid_blocks = grid_blocks
        self.cublas_min_macs = int(cublas_min_macs)
        self.cooperative = bool(cooperative)
        self.barrier_timeout_s = float(barrier_timeout_s)
        self.device_id = int(cupy.cuda.runtime.getDevice() if device is None else device)
        self._meta_cache: dict[Any, Any] = {}
        self._coop_module = None
        self._coop_failed: str | None = None
        self.last_plan: src.Plan | None = None
        self.specialize = SPECIALIZE_DEFAULT if specialize is None else bool(specialize)
        self.specialize_failed: str | None = None
        self._fixed_kernels: dict[str, Any] = {}
        self.last_kernel: str | None = None
        self.grid_barrier = grid_barrier
        self.grid_barrier_failed: str | None = None
        self._acqrel_modules: dict[bool, Any] = {}
        self.registers = None if registers is None else bool(registers)
        self.registers_failed: str | None = None
        self.grid_replicate_last = bool(grid_replicate_last)
        with cupy.cuda.Device(self.device_id):
            props = cupy.cuda.runtime.getDeviceProperties(self.device_id)
            self._props = props
            self.sm_count = int(props["multiProcessorCount"])
            self.smem_optin = int(
                props.get("sharedMemPerBlockOptin", 0) or props.get("sharedMemPerBlock", src.DEFAULT_SMEM_BYTES)
            )
            self.supports_cooperative = bool(props.get("cooperativeLaunch", 1))
            self.source = src.load_source()
            try:
                self._module = cupy.RawModule(
                    code=self.source, options=src.COMPILE_OPTIONS, name_expressions=list(src.NAME_EXPRESSIONS)
                )
                self._kernels = {ne: self._module.get_function(ne) for ne in src.NAME_EXPRESSIONS}
            except Exception as exc:
                raise BackendUnavailableError(
                    f"backend 'cuda' is unavailable: its CUDA kernels failed to compile or load "
                    f"({type(exc).__name__}: {exc}). CuPy needs NVRTC (pip package nvidia-cuda-nvrtc, "
                    f"installed with {INSTALL_HINT})"
                ) from exc

    # ------------------------------------------------------------ helpers
    def _kernel(self, template: str, dtype):
        return self._kernels[src.kernel_name(template, dtype)]

    def _static_smem(self, kern, template: str) -> int:
        try:
            return int(kern.shared_size_bytes)
        except Exception:
            return src.STATIC_SMEM_BYTES[template]

    def smem_budget(self, template: str = "fastbp_sgd_block", dtype=np.float64) -> int:
        """Dynamic shared memory one block of ``template`` may use here."""
        kern = self._kernel(template, dtype)
        return self.smem_optin - self._static_smem(kern, template)

    def plan(self, d: Sequence[int], dtype, *, path: str | None = None, many: bool = False) -> src.Plan:
        """The sgd_epoch path for widths ``d`` (see _cuda_source.plan_sgd)."""
        dtype = np.dtype(dtype)
        budget = min(self.smem_budget("fastbp_sgd_block", dtype), self.smem_budget("fastbp_sgd_grid", dtype))
        return src.plan_sgd(
            d,
            dtype.itemsize,
            budget,
            self.sm_count,
            force=path if path is not None else self.path,
            grid_blocks=self.grid_blocks,
            block_threads=self.many_threads if many else self.block_threads,
            many=many,
            replicate_last=self.grid_replicate_last,
        )

    @staticmethod
    def _set_smem(kern, nbytes: int) -> None:
        if nbytes > src.DEFAULT_SMEM_BYTES and kern.max_dynamic_shared_size_bytes < nbytes:
            kern.max_dynamic_shared_size_bytes = int(nbytes)

    def _device_meta(self, ptrs: Sequence[int], d: Sequence[int], alphas: np.ndarray):
        key = (tuple(int(p) for p in ptrs), tuple(d), alphas.dtype.str, alphas.tobytes())
        hit = self._meta_cache.get(key)
        if hit is None:
            if len(self._meta_cache) > 512:
                self._meta_cache.clear()
            hit = (
                cupy.asarray(np.asarray(ptrs, dtype=np.uint64)),
                cupy.asarray(np.asarray(d, dtype=np.int32)),
                cupy.asarray(alphas),
            )
            self._meta_cache[key] = hit
        return hit

    def _as_dev(self, a, dtype, name: str):
        if not isinstance(a, cupy.ndarray):
            a = cupy.asarray(np.asarray(a))
        if a.dtype != dtype or not a.flags.c_contiguous:
            a = cupy.ascontiguousarray(a, dtype=dtype)
        return a

    def _check_weights(self, W, stacked: bool = False) -> list[int]:
        if len(W) == 0:
            raise ValueError("W must hold at least one weight matrix")
        dt = W[0].dtype
        if dt not in SUPPORTED_DTYPES:
            raise TypeError(f"weights must be float32 or float64, got {dt}")
        for l, w in enumerate(W):
            if not isinstance(w, cupy.ndarray):
                raise TypeError(f"W[{l}] must be a CuPy array made by this backend's asarray, got {type(w).__name__}")
            if w.dtype != dt:
                raise TypeError(f"W[{l}] has dtype {w.dtype}, W[0] has {dt}")
            if not w.flags.c_contiguous:
                raise ValueError(f"W[{l}] must be C-contiguous (it is updated in place)")
            if w.ndim != (3 if stacked else 2):
                raise ValueError(f"W[{l}] must be {'3' if stacked else '2'}-D, got shape {w.shape}")
            if stacked and w.shape[0] != W[0].shape[0]:
                raise ValueError(f"W[{l}] stacks {w.shape[0]} networks, W[0] stacks {W[0].shape[0]}")
        return src.dims_of([w.shape[-2:] for w in W])

    def _data(self, X1, Y, d, dtype):
        X1 = self._as_dev(X1, dtype, "X1")
        Y = self._as_dev(Y, dtype, "Y")
        if X1.ndim == 1:  # one sample given as a row vector
            X1 = X1.reshape(1, -1)
            if Y.ndim == 1 and Y.shape[0] == d[-1]:
                Y = Y.reshape(1, -1)
        if X1.ndim != 2 or X1.shape[1] != d[0]:
            raise ValueError(f"X1 must have shape (n, {d[0]}) (bias column included), got {X1.shape}")
        if Y.ndim == 1 and d[-1] == 1:
            Y = Y.reshape(-1, 1)
        if Y.ndim != 2 or Y.shape != (X1.shape[0], d[-1]):
            raise ValueError(f"Y must have shape ({X1.shape[0]}, {d[-1]}), got {Y.shape}")
        return X1, Y

    # --------------------------------------------------------------- data
    def asarray(self, host, dtype):
        dtype = np.dtype(dtype)
        if isinstance(host, cupy.ndarray):
            return cupy.array(host, dtype=dtype, order="C", copy=True)
        return cupy.asarray(np.ascontiguousarray(host, dtype=dtype))

    def to_numpy(self, dev):
        if isinstance(dev, cupy.ndarray):
            return cupy.asnumpy(dev)
        return np.array(dev, copy=True)

    def synchronize(self):
        cupy.cuda.Device(self.device_id).synchronize()

    def info(self):
        p = self._props
        name = p.get("name", b"")
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        try:
            drv = cupy.cuda.runtime.driverGetVersion()
            rt = cupy.cuda.runtime.runtimeGetVersion()
        except Exception:  # pragma: no cover
            drv = rt = 0
        return {
            "name": self.name,
            "gpu": name,
            "device": self.device_id,
            "compute_capability": f"{p.get('major')}.{p.get('minor')}",
            "sm_count": self.sm_count,
            "shared_memory_per_block": int(p.get("sharedMemPerBlock", 0)),
            "shared_memory_per_block_optin": self.smem_optin,
            "global_memory_gib": round(int(p.get("totalGlobalMem", 0)) / 2**30, 1),
            "driver_cuda_version": f"{drv // 1000}.{drv % 1000 // 10}",
            "runtime_cuda_version": f"{rt // 1000}.{rt % 1000 // 10}",
            "cupy": cupy.__version__,
            "cooperative_launch": self.supports_cooperative,
        }

    # ------------------------------------------------------------ kernels
    def _gemm_sigmoid(self, A, B):
        M, K = A.shape
        N = B.shape[1]
        dt = B.dtype
        A = self._as_dev(A, dt, "A")
        if self.cublas_min_macs <= M * N * K:
            Z = cupy.matmul(A, B)
            return _sigmoid(Z)
        C = cupy.empty((M, N), dtype=dt)
        if M and N:
            t = 16
            self._kernel("fastbp_forward", dt)(
                ((N + t - 1) // t, (M + t - 1) // t), (t, t), (A, B, C, np.int32(M), np.int32(N), np.int32(K))
            )
        return C

    def forward(self, W, X1):
        A = [X1]
        for w in W:
            A.append(self._gemm_sigmoid(A[-1], w))
        return A

    def output_delta(self, AL, Y):
        return _output_delta(AL, self._as_dev(Y, AL.dtype, "Y"))

    def hidden_delta(self, D_next, W_l, A_l):
        dt = W_l.dtype
        D_next = self._as_dev(D_next, dt, "D_next")
        A_l = self._as_dev(A_l, dt, "A_l")
        M = D_next.shape[0]
        N, K = W_l.shape
        C = cupy.empty((M, N), dtype=dt)
        if M and N:
            t = 16
            self._kernel("fastbp_hidden_delta", dt)(
                ((N + t - 1) // t, (M + t - 1) // t),
                (t, t),
                (D_next, self._as_dev(W_l, dt, "W_l"), A_l, C, np.int32(M), np.int32(N), np.int32(K)),
            )
        return C

    def update(self, W_l, A_l, D, alpha):
        P = cupy.matmul(A_l.T, D)
        _update_inplace(P, W_l.dtype.type(alpha), W_l)

    def predict(self, W, X1):
        out = X1
        for w in W:
            out = self._gemm_sigmoid(out, w)
        return out

    def loss(self, W, X1, Y):
        P = self.predict(W, X1)
        Y = self._as_dev(Y, P.dtype, "Y").reshape(P.shape)
        return float(0.5 * float(_sse(P, Y)))

    def sgd_epoch(self, W, X1, Y, alpha, *, path: str | None = None):
        """Batched per-sample SGD over every row of X1, in place, in one
        launch (path "block" or "grid"), or per step for huge networks."""
        W = list(W)
        d = self._check_weights(W)
        dt = W[0].dtype
        X1, Y = self._data(X1, Y, d, dt)
        N = X1.shape[0]
        if N == 0:
            return
        plan = self.plan(d, dt, path=path)
        self.last_plan = plan
        alphas = np.asarray([alpha], dtype=dt)
        if plan.path == "block":
            self._launch_block(W, d, X1, Y, alphas, 1, plan)
        elif plan.path == "grid":
            self._launch_grid(W, d, X1, Y, alphas, plan)
        else:  # the contract's kernels, one sample at a time
            for i in range(N):
                Backend.sgd_step(self, W, X1[i : i + 1], Y[i : i + 1], alpha)

    def sgd_step(self, W, x1, y, alpha):
        """One per-sample step: the persistent kernel on one row (one launch)."""
        self.sgd_epoch(W, x1, y, alpha)

    def _shape_kernel(self, name: str):
        """A kernel compiled for one network shape (its own RawModule, cached
        per name expression; CuPy's disk cache makes later processes cheap)."""
        kern = self._fixed_kernels.get(name)
        if kern is None:
            with cupy.cuda.Device(self.device_id):
                mod = cupy.RawModule(code=self.source, options=src.COMPILE_OPTIONS, name_expressions=[name])
                kern = mod.get_function(name)
            if len(self._fixed_kernels) > 64:
                self._fixed_kernels.clear()
            self._fixed_kernels[name] = kern
        return kern

    def _fixed_block_kernel(self, dt, threads: int, d: Sequence[int]):
        """The shape-specialised block kernel (compiled once per shape), or
        None when it does not apply or failed to compile (then the generic
        kernel runs)."""
        if not self.specialize or self.specialize_failed is not None or not src.fixed_block_applies(d, threads):
            return None, None
        name = src.fixed_block_name(dt, threads, d)
        try:
            return self._shape_kernel(name), name
        except Exception as exc:  # fall back to the generic kernel
            self.specialize_failed = f"{name}: {type(exc).__name__}: {exc}"
            return None, None

    def _launch_regs(self, d, dt, K, args, plan) -> bool:
        """fastbp_sgd_regs where it applies (see ``registers``); False when
        the shared-memory kernels must run instead."""
        if self.registers is False or self.registers_failed is not None:
            return False
        if int(self._props.get("major", 0)) < 7:  # its two warp roles meet at __syncthreads from different code
            return False  # paths: per-thread barriers (Volta and later) only
        if not (src.regs_block_applies(d, dt.itemsize) and (self.registers or self.sm_count >= K)):
            return False
        nt = src.regs_threads_for(d)
        name = src.regs_block_name(dt, nt, d)
        smem = src.regs_smem_elems(d) * dt.itemsize
        try:
            self._shape_kernel(name)((int(K),), (nt,), args, shared_mem=smem)
        except Exception as exc:  # not compiled or refused: the shared-memory kernel
            self.registers_failed = f"{name}: {type(exc).__name__}: {exc}"
            return False
        self.last_kernel = name
        self.last_plan = dataclasses.replace(
            plan, threads=nt, smem_bytes=smem, reason=f"{plan.reason}; weights in registers"
        )
        return True

    def _launch_block(self, W, d, X1, Y, alphas, K, plan):
        dt = W[0].dtype
        wptrs, dims, alph = self._device_meta([w.data.ptr for w in W], d, alphas)
        args = (wptrs, dims, np.int32(len(d) - 1), X1, Y, np.int32(X1.shape[0]), alph)
        if self._launch_regs(d, dt, K, args, plan):
            return
        kern, name = self._fixed_block_kernel(dt, plan.threads, d)
        if kern is None:
            kern, name = self._kernel("fastbp_sgd_block", dt), src.kernel_name("fastbp_sgd_block", dt)
        if name.startswith(src.FIXED_BLOCK_TEMPLATE):
            try:
                self._set_smem(kern, plan.smem_bytes)
                kern((int(K),), (plan.threads,), args, shared_mem=plan.smem_bytes)
                self.last_kernel = name
                return
            except Exception as exc:  # refused launch (resources): the generic kernel
                self.specialize_failed = f"{name}: launch: {type(exc).__name__}: {exc}"
            kern, name = self._kernel("fastbp_sgd_block", dt), src.kernel_name("fastbp_sgd_block", dt)
        self.last_kernel = name
        self._set_smem(kern, plan.smem_bytes)
        kern((int(K),), (plan.threads,), args, shared_mem=plan.smem_bytes)

    def _acqrel_grid_kernel(self, dt, coop: bool):
        """fastbp_sgd_grid<T, 1> (release/acquire barrier), compiled on first
        use; None if it fails to compile (then the fence barrier runs)."""
        if self.grid_barrier_failed is not None:
            return None
        name = src.grid_kernel_name(dt, "acqrel")
        try:
            mod = self._acqrel_modules.get(coop)
            if mod is None:
                mod = cupy.RawModule(
                    code=self.source,
                    options=src.COMPILE_OPTIONS,
                    name_expressions=[src.grid_kernel_name(t, "acqrel") for t in SUPPORTED_DTYPES],
                    enable_cooperative_groups=coop,
                )
                self._acqrel_modules[coop] = mod
            return mod.get_function(name)
        except Exception as exc:
            self.grid_barrier_failed = f"{name}: {type(exc).__name__}: {exc}"
            return None

    def _grid_kernel(self, dt):
        if self.grid_barrier == "acqrel":
            coop = self.cooperative and self.supports_cooperative and self._coop_failed is None
            kern = self._acqrel_grid_kernel(dt, coop)
            if kern is not None:
                return kern, coop
        name = src.kernel_name("fastbp_sgd_grid", dt)
        if self.cooperative and self.supports_cooperative and self._coop_failed is None:
            try:
                if self._coop_module is None:
                    self._coop_module = cupy.RawModule(
                        code=self.source,
                        options=src.COMPILE_OPTIONS,
                        name_expressions=[src.kernel_name("fastbp_sgd_grid", t) for t in SUPPORTED_DTYPES],
                        enable_cooperative_groups=True,
                    )
                return self._coop_module.get_function(name), True
            except Exception as exc:  # pragma: no cover - fall back to a plain launch
                self._coop_failed = f"{type(exc).__name__}: {exc}"
        return self._kernels[name], False

    def _launch_grid(self, W, d, X1, Y, alphas, plan):
        dt = W[0].dtype
        nb = plan.blocks
        ws = cupy.zeros(src.grid_workspace_elems(d), dtype=dt)
        counter = cupy.zeros(1, dtype=np.uint64)
        status = cupy.zeros(1, dtype=np.int32)
        wptrs, dims, alph = self._device_meta([w.data.ptr for w in W], d, alphas)
        args = (
            wptrs,
            dims,
            np.int32(len(d) - 1),
            X1,
            Y,
            np.int32(X1.shape[0]),
            alph,
            ws,
            counter,
            status,
            np.uint64(int(self.barrier_timeout_s * 1e9)),
            np.int32(1 if plan.replicate_last else 0),
        )
        kern, coop = self._grid_kernel(dt)
        acqrel = self.grid_barrier == "acqrel" and self.grid_barrier_failed is None
        self.last_kernel = src.grid_kernel_name(dt, "acqrel" if acqrel else "fence")
        self._set_smem(kern, plan.smem_bytes)
        try:
            kern((nb,), (plan.threads,), args, shared_mem=plan.smem_bytes)
        except Exception as exc:
            if not coop:
                raise
            # A cooperative launch refused (e.g. too many blocks): plain launch.
            self._coop_failed = f"{type(exc).__name__}: {exc}"
            # the counter is untouched when the launch failed
            kern = self._acqrel_grid_kernel(dt, False) if acqrel else None
            if kern is None:
                kern = self._kernels[src.kernel_name("fastbp_sgd_grid", dt)]
                self.last_kernel = src.kernel_name("fastbp_sgd_grid", dt)
            self._set_smem(kern, plan.smem_bytes)
            kern((nb,), (plan.threads,), args, shared_mem=plan.smem_bytes)
        code = int(status.get()[0])
        if code != src.STATUS_OK:
            what = {
                src.STATUS_BARRIER_TIMEOUT: f"a grid barrier waited more than {self.barrier_timeout_s} s "
                f"(the {nb} blocks were not all resident at once?)",
                src.STATUS_BAD_LAUNCH: "bad launch configuration",
            }.get(code, f"status {code}")
            raise RuntimeError(f"fastbp_sgd_grid failed: {what}; the weights are undefined")

    def sgd_epoch_many(self, Ws, X1, Y, alphas, *, path: str | None = None):
        """K networks (Ws[l] of shape (K, rows, cols)), one persistent block
        each, all in ONE launch; same weights as sgd_epoch per network."""
        Ws = list(Ws)
        d = self._check_weights(Ws, stacked=True)
        dt = Ws[0].dtype
        K = int(Ws[0].shape[0])
        alphas = np.asarray(alphas, dtype=dt).reshape(-1)
        if alphas.shape[0] != K:
            raise ValueError(f"alphas must hold {K} values (one per network), got {alphas.shape[0]}")
        X1, Y = self._data(X1, Y, d, dt)
        if X1.shape[0] == 0 or K == 0:
            return
        plan = self.plan(d, dt, path=path, many=True)
        self.last_plan = plan
        if plan.path == "block":
            self._launch_block(Ws, d, X1, Y, alphas, K, plan)
        else:
            for k in range(K):
                self.sgd_epoch([w[k] for w in Ws], X1, Y, float(alphas[k]), path=plan.path)

    def epoch_many(self, P, X1, Y, alphas):
        if P.K == 1:
            self.sgd_epoch(P.network(0), X1, Y, float(alphas[0]))
        else:
            self.sgd_epoch_many(P.W, X1, Y, alphas)

    def loss_many(self, P, X1, Y):
        Ws = list(P.W)
        d = self._check_weights(Ws, stacked=True)
        dt = Ws[0].dtype
        X1, Y = self._data(X1, Y, d, dt)
        K, N = int(Ws[0].shape[0]), X1.shape[0]
        out = cupy.empty(K, dtype=dt)
        per_net = max(1, N * max(d) * dt.itemsize * 2)
        chunk = max(1, min(K, (256 << 20) // per_net))
        for k0 in range(0, K, chunk):
            k1 = min(K, k0 + chunk)
            A = X1
            for w in Ws:
                Z = cupy.matmul(A, w[k0:k1])  # (k, N, cols), batched cuBLAS
                A = _sigmoid(Z)
            out[k0:k1] = 0.5 * ((A - Y[None]) ** 2).sum(axis=(1, 2))
        out = cupy.asnumpy(out).astype(np.float64)
        for w in Ws:
            out[~np.isfinite(cupy.asnumpy(w).reshape(K, -1)).all(axis=1)] = np.nan
        return out
