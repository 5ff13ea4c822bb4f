"""CudaBackend: CuPy arrays, cuBLAS, and CUDA C++ kernels compiled by NVRTC.

Training (``train``, the seam the loop calls in chunks of epochs) runs the
kernel chosen for the workload (widths, dtype, units, number of networks) on
this GPU: one persistent launch trains K networks for the whole chunk and
computes the recorded losses on the device ("regs", "block", "grid",
"grid-slices"), or the batched kernels run one sample at a time ("step",
every shape and every unit). The choice is the tuner's (``tune``): the first
time a workload trains on a machine, every kernel that serves it is checked
against the NumPy backend and timed on the caller's data in a child process,
numba is timed the same way, and the decision is kept in the user's cache
folder (``record``) for later runs and for "auto". ``CudaBackend(kernel=...)``
forces a kernel instead (checked once per process, not timed). Weights stay
on the device between calls (``Params.W`` are CuPy arrays).

Importing this module raises BackendUnavailableError (with what is missing
and the install command) when CuPy, a driver or a GPU is missing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from ...errors import BackendUnavailableError
from ..base import ACTIVATIONS, NO_RECORD, OUTPUTS, ComposedSeam, Params, softmax_cross_entropy
from . import plan as pl
from . import record, tune
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

#: forward/predict products of at least this many multiply-adds (a 4096 x 64
#: x 64 product) use cuBLAS and an elementwise unit: there its GEMM outweighs
#: the extra pass over the product that the fused 16x16-tile fastbp_forward
#: saves (an estimate; the GPU check does not time the per-layer kernels).
CUBLAS_MIN_MACS = 1 << 24
#: loss_many computes the losses of this many bytes of activations at once, at most.
LOSS_CHUNK_BYTES = 256 << 20

_output_delta = cupy.ElementwiseKernel("T a, T y", "T d", "d = (a - y) * a * (T(1) - a)", "fastbp_output_delta")
_update_preamble = """
__device__ __forceinline__ float fastbp_sub_mul(float w, float alpha, float p) { return __fsub_rn(w, __fmul_rn(alpha, p)); }
__device__ __forceinline__ double fastbp_sub_mul(double w, double alpha, double p) { return __dsub_rn(w, __dmul_rn(alpha, p)); }
"""
# w - alpha * p, never contracted into an FMA (NumPy's rounding).
_update_inplace = cupy.ElementwiseKernel(
    "T p, T alpha", "T w", "w = fastbp_sub_mul(w, alpha, p)", "fastbp_update", preamble=_update_preamble
)
#: the units, elementwise (after a cuBLAS product)
_units = {
    "sigmoid": cupy.ElementwiseKernel("T z", "T a", "a = T(1) / (T(1) + exp(-z))", "fastbp_sigmoid"),
    "tanh": cupy.ElementwiseKernel("T z", "T a", "a = tanh(z)", "fastbp_tanh"),
    "relu": cupy.ElementwiseKernel("T z", "T a", "a = z < T(0) ? T(0) : z", "fastbp_relu"),
}
#: the output delta of linear units (squared error) and softmax units (cross-entropy)
_diff = cupy.ElementwiseKernel("T a, T y", "T d", "d = a - y", "fastbp_diff")


def _softmax_rows(Z: Any) -> Any:
    """Each row's softmax (along the last axis), the row's largest value subtracted first."""
    E = cupy.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


class CudaBackend(ComposedSeam):
    """NVIDIA GPUs via CuPy.

    ``kernel``: None (default) trains each workload with the kernel the
    tuner chose for it on this GPU (deciding on first use); one of
    ``plan.LABELS`` ("regs", "block", "grid", "grid-slices", "step") forces
    that kernel for every workload it serves (for benchmarks and experts;
    checked against the NumPy backend once per process, ValueError where it
    does not serve the workload). ``device``: the CUDA device index
    (default: CuPy's current device). ``last_plan`` is the plan of the last
    training call.
    """

    name = "cuda"
    on_device = True
    activations, outputs = ACTIVATIONS, OUTPUTS

    def __init__(self, *, kernel: str | None = None, device: int | None = None):
        if kernel is not None and kernel not in pl.LABELS:
            raise ValueError(f"kernel must be None or one of {', '.join(map(repr, pl.LABELS))}, got {kernel!r}")
        self.kernel = kernel
        self.device_id = int(cupy.cuda.runtime.getDevice() if device is None else device)
        self.last_plan: pl.Plan | None = None
        self._kernels: dict[str, Any] = {}
        self._checked: set[tuple] = set()
        self._decided: dict[record.Key, str] = {}
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
        try:
            drv = cupy.cuda.runtime.driverGetVersion()
            rt = cupy.cuda.runtime.runtimeGetVersion()
        except Exception:  # pragma: no cover
            drv = rt = 0
        self._versions = (f"{drv // 1000}.{drv % 1000 // 10}", f"{rt // 1000}.{rt % 1000 // 10}")

    @property
    def options(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "device": self.device_id}

    # --------------------------------------------------------------- data
    def asarray(self, host: Any, dtype: Any) -> Any:
        dtype = np.dtype(dtype)
        if isinstance(host, cupy.ndarray):
            return cupy.array(host, dtype=dtype, order="C", copy=True)
        return cupy.asarray(np.ascontiguousarray(host, dtype=dtype))

    def to_numpy(self, dev: Any) -> np.ndarray:
        if isinstance(dev, cupy.ndarray):
            return cupy.asnumpy(dev)
        return np.array(dev, copy=True)

    def contiguous(self, a: Any, dtype: Any) -> Any:
        dtype = np.dtype(dtype)
        if isinstance(a, cupy.ndarray) and a.dtype == dtype and a.flags.c_contiguous:
            return a
        return cupy.ascontiguousarray(cupy.asarray(a, dtype=dtype))

    def synchronize(self) -> None:
        cupy.cuda.Device(self.device_id).synchronize()

    def bytes_available(self) -> tuple[int, str] | None:
        with cupy.cuda.Device(self.device_id):
            free = cupy.cuda.runtime.memGetInfo()[0] + cupy.get_default_memory_pool().free_bytes()
        return free, f"free memory of GPU {self.device_id} (cudaMemGetInfo and CuPy's pool)"

    def info(self) -> dict:
        p = self._props
        return {
            "name": self.name,
            "gpu": self.device.name,
            "device": self.device_id,
            "compute_capability": f"{self.device.cc[0]}.{self.device.cc[1]}",
            "sm_count": self.device.sm_count,
            "shared_memory_per_block_optin": self.device.smem_optin,
            "global_memory_gib": round(int(p.get("totalGlobalMem", 0)) / 2**30, 1),
            "driver_cuda_version": self._versions[0],
            "runtime_cuda_version": self._versions[1],
            "cupy": cupy.__version__,
            "cooperative_launch": self.device.cooperative,
            "kernel": self.kernel or "the tuner's choice per workload",
            "decisions": str(record.path()),
        }

    # ------------------------------------------------- per-layer kernels
    @staticmethod
    def _dev(a: Any, dtype: Any) -> Any:
        if not isinstance(a, cupy.ndarray):
            a = cupy.asarray(np.asarray(a))
        if a.dtype != dtype or not a.flags.c_contiguous:
            a = cupy.ascontiguousarray(a, dtype=dtype)
        return a

    def _gemm_unit(self, A: Any, B: Any, unit: str) -> Any:
        """unit(A @ B): the fused 16x16-tile kernel, or from CUBLAS_MIN_MACS
        multiply-adds cuBLAS and an elementwise pass; softmax over each row."""
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
            name = (
                src.layer_name("fastbp_forward", dt)
                if unit == "sigmoid"
                else src.unit_layer_name("fastbp_forward_unit", dt, unit)
            )
            self._layers[name](
                ((N + t - 1) // t, (M + t - 1) // t),
                (t, t),
                (A, self._dev(B, dt), C, np.int32(M), np.int32(N), np.int32(K)),
            )
        return C

    def forward(self, W: Sequence[Any], X1: Any, *, activation: str = "sigmoid", output: str = "sigmoid") -> list[Any]:
        A = [X1]
        for l, w in enumerate(W):
            A.append(self._gemm_unit(A[-1], w, activation if l < len(W) - 1 else output))
        return A

    def output_delta(self, AL: Any, Y: Any, *, output: str = "sigmoid") -> Any:
        if output == "sigmoid":
            return _output_delta(AL, self._dev(Y, AL.dtype))
        return _diff(AL, self._dev(Y, AL.dtype))

    def hidden_delta(self, D_next: Any, W_l: Any, A_l: Any, *, activation: str = "sigmoid") -> Any:
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

    def update(self, W_l: Any, A_l: Any, D: Any, alpha: float) -> None:
        P = cupy.matmul(A_l.T, D)
        _update_inplace(P, W_l.dtype.type(alpha), W_l)

    def loss_many(self, P: Params, X1: Any, Y: Any) -> np.ndarray:
        """Every network's loss (that of its output) with batched cuBLAS
        products, per-network sums on the device; NaN where a weight is not
        finite."""
        Ws = list(P.W)
        K, N = P.K, X1.shape[0]
        out = cupy.empty(K, dtype=cupy.float64)
        per_net = max(1, N * max(P.dims) * P.dtype.itemsize * 2)
        chunk = max(1, min(K, LOSS_CHUNK_BYTES // per_net))
        last = len(Ws) - 1
        for k0 in range(0, K, chunk):
            A = X1
            for l, w in enumerate(Ws):
                Z = cupy.matmul(A, w[k0 : k0 + chunk])
                unit = P.activation if l < last else P.output
                A = Z if unit in ("linear", "softmax") else _units[unit](Z)
            if P.output == "softmax":
                out[k0 : k0 + chunk] = softmax_cross_entropy(A, Y[None], axis=(1, 2))
            else:
                out[k0 : k0 + chunk] = 0.5 * ((A - Y[None]) ** 2).sum(axis=(1, 2), dtype=cupy.float64)
        finite = cupy.ones(K, dtype=bool)
        for w in Ws:
            finite &= cupy.isfinite(w.reshape(K, -1)).all(axis=1)
        out[~finite] = cupy.nan
        return cupy.asnumpy(out)

    # --------------------------------------------------- the training seam
    def train(
        self, P: Params, X1: Any, Y: Any, alphas: np.ndarray, epochs: int, record: np.ndarray = NO_RECORD
    ) -> np.ndarray:
        return self.train_with(self.plan(P, X1, Y), P, X1, Y, alphas, epochs, record)

    def compile(self, P: Params, X1: Any, Y: Any) -> None:
        plan = self.plan(P, X1, Y, may_tune=True)
        if plan.kernel != "step":
            self._kernel(plan)

    def train_with(
        self,
        plan: pl.Plan,
        P: Params,
        X1: Any,
        Y: Any,
        alphas: np.ndarray,
        epochs: int,
        record: np.ndarray = NO_RECORD,
    ) -> np.ndarray:
        """``train`` with a given plan (the tuner's candidates, the GPU
        tests), unchecked."""
        if plan.units != (P.activation, P.output):
            raise ValueError(
                f"the plan is for {plan.units[0]} hidden and {plan.units[1]} output units, the networks have "
                f"{P.activation} and {P.output}"
            )
        return self._run(plan, P, X1, Y, alphas, epochs, record)

    def plan(self, P: Params, X1: Any, Y: Any, may_tune: bool = False) -> pl.Plan:
        """The plan that trains ``P`` on this data here: the forced kernel's
        (checked once), or the decision for the workload (recorded on this
        machine, or made now). Without ``may_tune``, a workload whose network
        count left the range of the decision (networks that diverged stop
        training) keeps its kernel rather than stopping to decide again."""
        units = (P.activation, P.output)
        if self.kernel is not None:
            try:
                plan = pl.plan_label(self.kernel, P.dims, P.dtype, P.K, self.device, units)
            except ValueError as exc:
                raise ValueError(f"CudaBackend(kernel={self.kernel!r}): {exc}") from None
            self._check(plan)
            return plan
        key = self.key(P.dims, P.dtype, units, P.K)
        label = self._decided.get(key)
        if label is None and not may_tune:
            label = next((v for k, v in self._decided.items() if _same_shape(k, key)), None)
        if label is None:
            label = self._recorded(key) or self.decide(P, X1, Y)["chosen"]
        self._decided[key] = label
        return pl.plan_label(label, P.dims, P.dtype, P.K, self.device, units)

    def key(self, dims: Sequence[int], dtype: Any, units: tuple[str, str], K: int) -> record.Key:
        """The key of a decision for this workload on this GPU (record.Key)."""
        return record.Key(
            gpu=self.device.name,
            cc=f"{self.device.cc[0]}.{self.device.cc[1]}",
            driver=self._versions[0],
            runtime=self._versions[1],
            source=src.kernels_hash(),
            workload=record.Workload.of(dims, dtype, units, K),
        )

    def _recorded(self, key: record.Key) -> str | None:
        """The recorded choice for ``key``, if its plan is the one this code
        makes (the same kernel configuration was checked and timed)."""
        entry = record.lookup(key) or {}
        label = entry.get("chosen")
        if label not in pl.LABELS:
            return None
        w = key.workload
        try:
            plan = pl.plan_label(label, w.dims, w.dtype, w.k_range[0], self.device, w.units)
        except ValueError:
            return None
        return label if entry["kernels"].get(label, {}).get("plan") == plan.describe() else None

    def decide(self, P: Params, X1: Any, Y: Any, limits: tune.Limits | None = None) -> dict:
        """Decides which kernel trains ``P``'s workload on this GPU (the
        tuner: every kernel that serves it checked and timed on the first
        rows of ``X1``, ``Y``, in a child process with time limits, or here
        where the step path alone serves it; numba timed the same way) and
        records the decision; returns the record's entry. A progress line
        per kernel goes to stderr. KernelCheckError when no kernel passes
        its check."""
        units = (P.activation, P.output)
        limits = limits or tune.Limits()
        key = self.key(P.dims, P.dtype, units, P.K)
        plans = pl.candidates(P.dims, P.dtype, P.K, self.device, units)
        labels = [k for k, p in plans.items() if isinstance(p, pl.Plan)]
        not_serving = {k: p for k, p in plans.items() if isinstance(p, str)}
        timing = tune.Timing(P.dims, P.dtype.name, units, P.K, *_timing_rows(P, X1, Y, limits.rows))
        problem = tune.check_problem(P.dims, P.dtype, units)
        job = tune.Job(
            problem,
            *tune.reference(problem),
            timing,
            factory=f"{__name__}:tune_candidate",
            options={"device": self.device_id},
            limits=limits,
        )
        here = []
        if labels == ["step"]:  # the batched kernels cannot hang: evaluated in this process
            plan = pl.plan_label("step", P.dims, P.dtype, P.K, self.device, units)
            here = [tune.SeamCandidate("step", self, partial(self.train_with, plan), timing, plan=plan.describe())]
            labels = []
        numba = None
        from .. import get_backend, unavailable_reason

        if unavailable_reason("numba") is None:
            nb = get_backend("numba")
            numba = tune.SeamCandidate("numba", nb, nb.train, timing)

        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        progress(
            f"fastbp: choosing the cuda kernel for {key.workload.describe()} on {self.device.name} (once per "
            f"machine and workload; kept in {record.path()})"
        )
        t0 = time.perf_counter()
        entry = tune.decide(job, labels, not_serving, numba, progress, here)
        record.store(key, entry)
        progress(
            f"fastbp: cuda trains it with the {entry['chosen']} kernel (decided in {time.perf_counter() - t0:.1f} s)"
        )
        self._decided[key] = entry["chosen"]
        return entry

    def _check(self, plan: pl.Plan) -> None:
        """Checks a forced kernel's configuration once per process
        (tune.check); KernelCheckError if it fails."""
        if plan.key in self._checked:
            return
        problem = tune.check_problem(plan.dims, plan.dtype, plan.units)
        ref, ref_losses = tune.reference(problem)
        c = tune.SeamCandidate(plan.label, self, partial(self.train_with, plan), None)
        why = tune.check(c, problem, ref, ref_losses)
        if why is not None:
            forced = f"CudaBackend(kernel={self.kernel!r}): " if self.kernel else ""
            raise tune.KernelCheckError(
                f"{forced}the {plan.label} kernel ({plan.describe()}) {why}; it is refused. The numba backend "
                "trains the same network"
            )
        self._checked.add(plan.key)

    def _run(
        self, plan: pl.Plan, P: Params, X1: Any, Y: Any, alphas: np.ndarray, epochs: int, record: np.ndarray
    ) -> np.ndarray:
        self.last_plan = replace(plan, K=P.K)
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

    def _kernel(self, plan: pl.Plan) -> Any:
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

    def _pointers(self, P: Params) -> Any:
        """uint64 device array of the addresses of ``P.W`` (kept in ``P.impl``)."""
        ptrs = tuple(int(w.data.ptr) for w in P.W)
        if not (isinstance(P.impl, tuple) and P.impl[0] == ptrs):
            P.impl = (ptrs, cupy.asarray(np.asarray(ptrs, dtype=np.uint64)))
        return P.impl[1]

    def _dims_array(self, dims: tuple) -> Any:
        a = self._dims.get(dims)
        if a is None:
            a = self._dims[dims] = cupy.asarray(np.asarray(dims, dtype=np.int32))
        return a

    def wrap_params(self, Ws: list) -> Params:
        for l, w in enumerate(Ws):
            if not isinstance(w, cupy.ndarray):
                raise TypeError(f"Ws[{l}] must be a CuPy array made by this backend's asarray, got {type(w).__name__}")
        return Params([w if w.flags.c_contiguous else cupy.ascontiguousarray(w) for w in Ws], Ws[0].dtype)


def _same_shape(a: record.Key, b: record.Key) -> bool:
    """The same GPU, source and workload but for the network count."""
    return replace(a, workload=replace(a.workload, k_range=b.workload.k_range)) == b


def _timing_rows(P: Params, X1: Any, Y: Any, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``rows`` rows of the caller's data on the host, or random
    rows of the workload's shape where there are none (compile without data)."""
    if X1 is not None and Y is not None and int(X1.shape[0]) > 0:
        take = slice(0, min(rows, int(X1.shape[0])))
        return np.asarray(cupy.asnumpy(X1[take]), P.dtype), np.asarray(cupy.asnumpy(Y[take]), P.dtype)
    rs = np.random.RandomState(0)
    d = P.dims
    X = np.hstack([rs.rand(rows, d[0] - 1), np.ones((rows, 1))]).astype(P.dtype)
    return X, np.eye(d[-1], dtype=P.dtype)[rs.randint(0, d[-1], rows)]


_tuning: dict[int, CudaBackend] = {}


def tune_candidate(job: tune.Job, label: str) -> tune.SeamCandidate:
    """The tuning child's factory (tune.Job.factory): kernel ``label`` for
    ``job``'s workload, trained through ``train_with`` its plan."""
    device = int(job.options["device"])
    be = _tuning.get(device)
    if be is None:
        be = _tuning[device] = CudaBackend(device=device)
    t = job.timing
    plan = pl.plan_label(label, t.dims, t.dtype, t.K, be.device, t.units)
    compile = None if plan.kernel == "step" else partial(be._kernel, plan)
    return tune.SeamCandidate(label, be, partial(be.train_with, plan), t, plan=plan.describe(), compile=compile)
