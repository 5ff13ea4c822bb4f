"""CudaBackend: CuPy arrays, cuBLAS, and CUDA C++ kernels compiled by NVRTC.

Training (``train``, the seam the loop calls in chunks of epochs) runs the
kernel ``plan.plan_train`` picks: one persistent launch trains K networks for
the whole chunk and computes the recorded losses on the device ("block",
"regs", "grid"), or the batched kernels run one sample at a time ("step").
Weights stay on the device between calls (``Params.W`` are CuPy arrays).
Only kernels that have run on a GPU are chosen unless
``CudaBackend(unverified=True)``; every kernel configuration (kernel, shape,
dtype, launch shape) is checked once against the NumPy reference on a small
problem before it trains, and refused with KernelCheckError if it disagrees.

Other units than the tutorial's sigmoids (tanh and relu hidden units,
softmax and linear outputs) train on the step path, whose batched kernels
implement them; they have not run on a GPU, so only
``CudaBackend(unverified=True)`` offers them (the first-use check covers
each configuration with its units).

Importing this module raises BackendUnavailableError (with what is missing
and the install command) when CuPy, a driver or a GPU is missing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ...errors import BackendUnavailableError
from ..base import ACTIVATIONS, NO_RECORD, OUTPUTS, ComposedSeam, Params
from . import plan as pl
from . import source as src

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

#: forward/predict products of at least this many multiply-adds use cuBLAS
#: and an elementwise sigmoid; smaller ones the fused fastbp_forward kernel.
CUBLAS_MIN_MACS = 1 << 24

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
#: other units than the sigmoid, elementwise (after a cuBLAS product)
_units = {
    "tanh": cupy.ElementwiseKernel("T z", "T a", "a = tanh(z)", "fastbp_tanh"),
    "relu": cupy.ElementwiseKernel("T z", "T a", "a = z < T(0) ? T(0) : z", "fastbp_relu"),
}
#: the output delta of linear units (squared error) and softmax units (cross-entropy)
_diff = cupy.ElementwiseKernel("T a, T y", "T d", "d = a - y", "fastbp_diff")


def _softmax_rows(Z):
    """Each row's softmax (along the last axis), the row's largest value subtracted first."""
    E = cupy.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def _cross_entropy(Z, Y, axis=None):
    """``sum(Y * (m + log(sum(exp(Z - m))) - Z))`` over ``axis``, m each row's
    largest logit, summed in float64 (a device array)."""
    m = Z.max(axis=-1, keepdims=True)
    lse = m + cupy.log(cupy.exp(Z - m).sum(axis=-1, keepdims=True))
    return (Y * (lse - Z)).sum(axis=axis, dtype=cupy.float64)


def _text(v) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


class CudaBackend(ComposedSeam):
    """NVIDIA GPUs via CuPy.

    ``unverified=True`` lets training use the kernels that have not run on
    a GPU yet (``plan.VERIFIED`` lists those that have); each configuration
    is still checked against the NumPy reference before it trains.
    ``device``: the CUDA device index (default: CuPy's current device).
    ``last_plan`` is the plan of the last training call.
    """

    name = "cuda"
    on_device = True

    def __init__(self, *, unverified: bool = False, device: int | None = None):
        self.unverified = bool(unverified)
        if self.unverified:  # other units than the sigmoid: kernels not run on a GPU yet
            self.activations, self.outputs = ACTIVATIONS, OUTPUTS
        self.device_id = int(cupy.cuda.runtime.getDevice() if device is None else device)
        self.last_plan: pl.Plan | None = None
        self._kernels: dict[str, Any] = {}
        self._checked: set[tuple] = set()
        self._dims: dict[tuple, object] = {}
        with cupy.cuda.Device(self.device_id):
            p = cupy.cuda.runtime.getDeviceProperties(self.device_id)
            self._props = p
            self.device = pl.Device(
                sm_count=int(p["multiProcessorCount"]),
                smem_optin=int(p.get("sharedMemPerBlockOptin", 0) or p.get("sharedMemPerBlock", pl.DEFAULT_SMEM_BYTES)),
                cc=(int(p.get("major", 0)), int(p.get("minor", 0))),
                cooperative=bool(p.get("cooperativeLaunch", 0)),
                name=_text(p.get("name", b"GPU")),
            )
            names = src.layer_names()
            try:
                mod = cupy.RawModule(
                    code=src.load_source("layers"), options=src.COMPILE_OPTIONS, name_expressions=names
                )
                self._layers = {ne: mod.get_function(ne) for ne in names}
            except Exception as exc:
                raise BackendUnavailableError(
                    f"backend 'cuda' is unavailable: its CUDA kernels failed to compile or load "
                    f"({type(exc).__name__}: {exc}). CuPy needs NVRTC (pip package nvidia-cuda-nvrtc, "
                    f"installed with {INSTALL_HINT})"
                ) from exc

    @property
    def options(self):
        return {"unverified": self.unverified, "device": self.device_id}

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

    def contiguous(self, a, dtype):
        dtype = np.dtype(dtype)
        if isinstance(a, cupy.ndarray) and a.dtype == dtype and a.flags.c_contiguous:
            return a
        return cupy.ascontiguousarray(cupy.asarray(a, dtype=dtype))

    def synchronize(self):
        cupy.cuda.Device(self.device_id).synchronize()

    def info(self):
        p = self._props
        try:
            drv = cupy.cuda.runtime.driverGetVersion()
            rt = cupy.cuda.runtime.runtimeGetVersion()
        except Exception:  # pragma: no cover
            drv = rt = 0
        ran = sorted(pl.VERIFIED)
        not_yet = [k for k in pl.KERNELS if k not in pl.VERIFIED]
        return {
            "name": self.name,
            "gpu": self.device.name,
            "device": self.device_id,
            "compute_capability": f"{self.device.cc[0]}.{self.device.cc[1]}",
            "sm_count": self.device.sm_count,
            "shared_memory_per_block_optin": self.device.smem_optin,
            "global_memory_gib": round(int(p.get("totalGlobalMem", 0)) / 2**30, 1),
            "driver_cuda_version": f"{drv // 1000}.{drv % 1000 // 10}",
            "runtime_cuda_version": f"{rt // 1000}.{rt % 1000 // 10}",
            "cupy": cupy.__version__,
            "cooperative_launch": self.device.cooperative,
            "training_kernels": f"{' '.join(ran)} (run on a GPU: {pl.VERIFIED[ran[0]]})",
            "not_run_on_a_gpu": f"{' '.join(not_yet)} (CudaBackend(unverified=True) uses them; "
            "every kernel is checked against NumPy before it trains)",
            "unverified": self.unverified,
        }

    def unsupported(self, activation="sigmoid", output="sigmoid"):
        why = super().unsupported(activation, output)
        if why is not None and not self.unverified and activation in ACTIVATIONS and output in OUTPUTS:
            why += "; its kernels for other units have not run on a GPU yet (CudaBackend(unverified=True) uses them)"
        return why

    # ------------------------------------------------- per-layer kernels
    @staticmethod
    def _dev(a, dtype):
        if not isinstance(a, cupy.ndarray):
            a = cupy.asarray(np.asarray(a))
        if a.dtype != dtype or not a.flags.c_contiguous:
            a = cupy.ascontiguousarray(a, dtype=dtype)
        return a

    def _gemm_sigmoid(self, A, B):
        M, K = A.shape
        N = B.shape[1]
        dt = B.dtype
        A = self._dev(A, dt)
        if CUBLAS_MIN_MACS <= M * N * K:
            return _sigmoid(cupy.matmul(A, B))
        C = cupy.empty((M, N), dtype=dt)
        if M and N:
            t = 16
            self._layers[src.layer_name("fastbp_forward", dt)](
                ((N + t - 1) // t, (M + t - 1) // t),
                (t, t),
                (A, self._dev(B, dt), C, np.int32(M), np.int32(N), np.int32(K)),
            )
        return C

    def _gemm_unit(self, A, B, unit: str):
        """unit(A @ B): the fused tile kernel or cuBLAS and an elementwise
        pass (as ``_gemm_sigmoid``); softmax over each row of the product."""
        if unit == "sigmoid":
            return self._gemm_sigmoid(A, B)
        if unit == "softmax":
            return _softmax_rows(self._gemm_unit(A, B, "linear"))
        M, K = A.shape
        N = B.shape[1]
        dt = B.dtype
        A = self._dev(A, dt)
        if CUBLAS_MIN_MACS <= M * N * K:
            Z = cupy.matmul(A, B)
            return Z if unit == "linear" else _units[unit](Z)
        C = cupy.empty((M, N), dtype=dt)
        if M and N:
            t = 16
            self._layers[src.unit_layer_name("fastbp_forward_unit", dt, unit)](
                ((N + t - 1) // t, (M + t - 1) // t),
                (t, t),
                (A, self._dev(B, dt), C, np.int32(M), np.int32(N), np.int32(K)),
            )
        return C

    def forward(self, W, X1, *, activation="sigmoid", output="sigmoid"):
        A = [X1]
        for l, w in enumerate(W):
            A.append(self._gemm_unit(A[-1], w, activation if l < len(W) - 1 else output))
        return A

    def output_delta(self, AL, Y, *, output="sigmoid"):
        if output == "sigmoid":
            return _output_delta(AL, self._dev(Y, AL.dtype))
        return _diff(AL, self._dev(Y, AL.dtype))

    def hidden_delta(self, D_next, W_l, A_l, *, activation="sigmoid"):
        dt = W_l.dtype
        D_next, A_l = self._dev(D_next, dt), self._dev(A_l, dt)
        M = D_next.shape[0]
        N, K = W_l.shape
        C = cupy.empty((M, N), dtype=dt)
        if M and N:
            t = 16
            name = (
                src.layer_name("fastbp_hidden_delta", dt)
                if activation == "sigmoid"
                else src.unit_layer_name("fastbp_hidden_delta_unit", dt, activation)
            )
            self._layers[name](
                ((N + t - 1) // t, (M + t - 1) // t),
                (t, t),
                (D_next, self._dev(W_l, dt), A_l, C, np.int32(M), np.int32(N), np.int32(K)),
            )
        return C

    def update(self, W_l, A_l, D, alpha):
        P = cupy.matmul(A_l.T, D)
        _update_inplace(P, W_l.dtype.type(alpha), W_l)

    def predict(self, W, X1, *, activation="sigmoid", output="sigmoid"):
        out = X1
        for l, w in enumerate(W):
            out = self._gemm_unit(out, w, activation if l < len(W) - 1 else output)
        return out

    def loss(self, W, X1, Y, *, activation="sigmoid", output="sigmoid"):
        if output == "softmax":
            Z = self.predict(W, X1, activation=activation, output="linear")
            return float(_cross_entropy(Z, self._dev(Y, Z.dtype).reshape(Z.shape)))
        P = self.predict(W, X1, activation=activation, output=output)
        Y = self._dev(Y, P.dtype).reshape(P.shape)
        return float(0.5 * float(_sse(P, Y)))

    def loss_many(self, P, X1, Y):
        """Every network's loss (that of its output) with batched cuBLAS
        products, per-network sums on the device; NaN where a weight is not
        finite."""
        Ws = list(P.W)
        K, N = P.K, X1.shape[0]
        out = cupy.empty(K, dtype=cupy.float64)
        per_net = max(1, N * max(P.dims) * P.dtype.itemsize * 2)
        chunk = max(1, min(K, (256 << 20) // per_net))
        last = len(Ws) - 1
        for k0 in range(0, K, chunk):
            A = X1
            for l, w in enumerate(Ws):
                Z = cupy.matmul(A, w[k0 : k0 + chunk])
                unit = P.activation if l < last else P.output
                A = _sigmoid(Z) if unit == "sigmoid" else Z if unit in ("linear", "softmax") else _units[unit](Z)
            if P.output == "softmax":
                out[k0 : k0 + chunk] = _cross_entropy(A, Y[None], axis=(1, 2))
            else:
                out[k0 : k0 + chunk] = 0.5 * ((A - Y[None]) ** 2).sum(axis=(1, 2), dtype=cupy.float64)
        finite = cupy.ones(K, dtype=bool)
        for w in Ws:
            finite &= cupy.isfinite(w.reshape(K, -1)).all(axis=1)
        out[~finite] = cupy.nan
        return cupy.asnumpy(out)

    # --------------------------------------------------- the training seam
    def plan(self, dims, dtype, K: int = 1, **force) -> pl.Plan:
        """The plan ``train`` uses for K networks of widths ``dims`` here
        (``force``: plan_train's kernel, threads, blocks, replicate)."""
        return pl.plan_train(dims, dtype, K, self.device, unverified=self.unverified, **force)

    def train(self, P, X1, Y, alphas, epochs, record=NO_RECORD):
        plan = self.plan(P.dims, P.dtype, P.K, units=(P.activation, P.output))
        return self.train_with(plan, P, X1, Y, alphas, epochs, record)

    def train_with(self, plan: pl.Plan, P: Params, X1, Y, alphas, epochs: int, record=NO_RECORD) -> np.ndarray:
        """``train`` with a given plan (tests and the GPU check force kernels
        this way). The plan's configuration is checked against NumPy first."""
        if plan.units != (P.activation, P.output):
            raise ValueError(
                f"the plan is for {plan.units[0]} hidden and {plan.units[1]} output units, the networks have "
                f"{P.activation} and {P.output} (plan(..., units=...))"
            )
        self._check(plan)
        return self._run(plan, P, X1, Y, alphas, epochs, record)

    def compile(self, P, X1, Y):
        plan = self.plan(P.dims, P.dtype, P.K, units=(P.activation, P.output))
        if plan.kernel != "step":
            self._kernel(plan)
        self._check(plan)

    def _run(self, plan, P, X1, Y, alphas, epochs, record):
        self.last_plan = plan
        if plan.kernel == "step":
            return ComposedSeam.train(self, P, X1, Y, np.asarray(alphas, np.float64), epochs, record)
        R, K, N = len(record), P.K, int(X1.shape[0])
        if N == 0 or epochs < 1:
            return np.full((R, K), np.nan)
        dt = P.dtype
        X1, Y = self.contiguous(X1, dt), self.contiguous(Y, dt)
        plan = replace(plan, K=K, blocks=K if plan.kernel != "grid" else plan.blocks)
        kern = self._kernel(plan)
        with cupy.cuda.Device(self.device_id):
            losses = cupy.full((max(R, 1), K), cupy.nan, dtype=cupy.float64)
            rec = cupy.asarray(np.asarray(record, dtype=np.int32).reshape(-1) if R else np.zeros(1, np.int32))
            scratch = cupy.empty(max(1, pl.loss_scratch_elems(plan.dims, plan.blocks, plan.threads)), dtype=dt)
            common = dict(
                wptrs=self._pointers(P),
                dims=self._dims_array(plan.dims),
                X1=X1,
                Y=Y,
                alphas=cupy.asarray(np.asarray(alphas, dtype=dt).reshape(-1)),
                epochs=int(epochs),
                record=rec[:R],
                losses=losses,
                scratch=scratch,
            )
            if plan.kernel in ("block", "regs"):
                args = pl.kernel_args(plan, **common)
                kern((K,), (plan.threads,), args, shared_mem=plan.smem_bytes)
            else:
                ws = cupy.zeros(pl.grid_workspace_elems(plan.dims), dtype=dt)
                part = cupy.zeros(plan.blocks, dtype=cupy.float64)
                counter = cupy.zeros(1, dtype=cupy.uint64)
                status = cupy.zeros(1, dtype=cupy.int32)
                for k in range(K):
                    counter.fill(0)
                    args = pl.kernel_args(plan, **common, net=k, ws=ws, part=part, counter=counter, status=status)
                    try:
                        kern((plan.blocks,), (plan.threads,), args, shared_mem=plan.smem_bytes)
                    except Exception as exc:
                        raise RuntimeError(f"the cooperative launch of {plan.describe()} failed: {exc}") from exc
                    code = int(status.get()[0])
                    if code != src.STATUS_OK:
                        what = {
                            src.STATUS_BARRIER_TIMEOUT: f"a grid barrier waited more than "
                            f"{pl.BARRIER_TIMEOUT_NS / 1e9:g} s (were the {plan.blocks} blocks not all resident?)",
                            src.STATUS_BAD_LAUNCH: "bad launch configuration",
                        }.get(code, f"status {code}")
                        raise RuntimeError(f"{plan.describe()} failed: {what}; the weights are undefined")
            return cupy.asnumpy(losses[:R])

    def _kernel(self, plan: pl.Plan):
        """The compiled kernel of ``plan`` (NVRTC on first use; CuPy keeps a
        disk cache, so a later process loads it)."""
        kern = self._kernels.get(plan.name)
        if kern is None:
            family = plan.kernel
            grid = family == "grid"
            names = [src.grid_name(t) for t in src.CTYPES] if grid else [plan.name]
            with cupy.cuda.Device(self.device_id):
                try:
                    mod = cupy.RawModule(
                        code=src.load_source(family),
                        options=src.COMPILE_OPTIONS,
                        name_expressions=names,
                        enable_cooperative_groups=grid,
                    )
                    kern = mod.get_function(plan.name)
                except Exception as exc:
                    raise RuntimeError(f"{plan.name} failed to compile or load: {type(exc).__name__}: {exc}") from exc
            self._kernels[plan.name] = kern
        if plan.smem_bytes > pl.DEFAULT_SMEM_BYTES and kern.max_dynamic_shared_size_bytes < plan.smem_bytes:
            kern.max_dynamic_shared_size_bytes = int(plan.smem_bytes)
        return kern

    def _check(self, plan: pl.Plan) -> None:
        """Runs ``plan``'s configuration once on plan.check_problem and
        compares it with the NumPy reference (KernelCheckError if they
        disagree); later calls with the same configuration return at once."""
        if plan.key in self._checked:
            return
        prob = pl.check_problem(plan.dims, plan.dtype, plan.units)
        ref, ref_losses = pl.reference(prob)
        P = self.params(prob["W"], plan.dtype).with_units(*plan.units)
        X1, Y = self.asarray(prob["X1"], plan.dtype), self.asarray(prob["Y"], plan.dtype)
        losses = self._run(plan, P, X1, Y, prob["alphas"], prob["epochs"], prob["record"])
        pl.compare(plan, self.params_to_host(P), losses, ref, ref_losses)
        self._checked.add(plan.key)

    def _pointers(self, P: Params):
        """uint64 device array of the addresses of ``P.W`` (kept in ``P.impl``)."""
        ptrs = tuple(int(w.data.ptr) for w in P.W)
        if not (isinstance(P.impl, tuple) and P.impl[0] == ptrs):
            P.impl = (ptrs, cupy.asarray(np.asarray(ptrs, dtype=np.uint64)))
        return P.impl[1]

    def _dims_array(self, dims: tuple):
        a = self._dims.get(dims)
        if a is None:
            a = self._dims[dims] = cupy.asarray(np.asarray(dims, dtype=np.int32))
        return a

    def wrap_params(self, Ws):
        for l, w in enumerate(Ws):
            if not isinstance(w, cupy.ndarray):
                raise TypeError(f"Ws[{l}] must be a CuPy array made by this backend's asarray, got {type(w).__name__}")
        return Params([w if w.flags.c_contiguous else cupy.ascontiguousarray(w) for w in Ws], Ws[0].dtype)
