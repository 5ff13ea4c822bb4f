"""How the cuda backend launches a training kernel: the launch plan and its
arguments. Pure Python and NumPy (no CuPy): the GPU-free tests call every
function here directly.

``plan_train`` makes the plan of one training kernel for K networks of
widths ``d`` (with bias units: ``d[l] = layers[l] + 1`` for l < L, ``d[L] =
layers[-1]``) on a ``Device``, or says why that kernel cannot train them:

* ``"block"``, fastbp_train_block: one persistent block per network, every
  weight in shared memory, compiled per shape (see fastbp_block.cu);
* ``"regs"``, fastbp_train_regs: one persistent block per network, every
  weight in a register (fastbp_regs.cu);
* ``"grid"``, fastbp_train_grid: one network spread over up to one block
  per SM, a cooperative launch per network (fastbp_grid.cu), with the last
  weight matrix in every block (label "grid") or sliced ("grid-slices");
* ``"step"``: the contract's batched kernels composed per sample (about ten
  launches per sample; every size and every unit).

Which of them trains a workload is decided on the GPU by the tuner
(``tune``, ``CudaBackend``): ``candidates`` lists the plans it tries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from . import source as src

#: Training kernels (plan_train's ``kernel``).
KERNELS = ("regs", "block", "grid", "step")
#: The tuner's candidates, in the order it tries them: label -> (kernel, forced options).
LABELS: dict[str, tuple[str, dict[str, Any]]] = {
    "regs": ("regs", {}),
    "block": ("block", {}),
    "grid": ("grid", {"replicate": True}),
    "grid-slices": ("grid", {"replicate": False}),
    "step": ("step", {}),
}

#: Static __shared__ bytes of the persistent kernels: upper bounds, checked
#: against nvcc --resource-usage by the tests.
STATIC_SMEM_BYTES = {"block": 256, "regs": 256, "grid": 3072}
#: Shared memory a block may use without the opt-in attribute.
DEFAULT_SMEM_BYTES = 48 * 1024
#: A grid barrier that waits longer than this fails the launch instead of
#: hanging: 10 s, a million times a working barrier's wait (microseconds).
BARRIER_TIMEOUT_NS = 10_000_000_000

#: Most weight matrices and unrolled inner iterations per phase of the
#: shape-compiled block kernel (code size); beyond them it does not apply.
BLOCK_MAX_LAYERS = 16
BLOCK_MAX_UNROLL = 256
#: Registers one thread of fastbp_train_regs may spend on weight-sized
#: values: at most REGS_MAX_DATA, and REGS_OVERHEAD below its share of the
#: 64K register file (nvcc 13, sm_80/sm_90: the kernel needs about 96 more
#: than its data at 320 threads; 168 registers a thread up to 384 threads,
#: 128 from 416; tests/test_cuda_source.py checks instantiations at the edge).
REGS_MAX_DATA = 96
REGS_OVERHEAD = 84


@dataclass(frozen=True)
class Device:
    """What a plan needs to know about a GPU."""

    sm_count: int
    smem_optin: int  # shared memory one block may use, bytes (opt-in)
    cc: tuple[int, int] = (9, 0)
    cooperative: bool = True
    name: str = "GPU"


@dataclass(frozen=True)
class Plan:
    """One way of training K networks of widths ``dims``."""

    kernel: str  # "block" | "regs" | "grid" | "step"
    name: str  # the CUDA name expression ("" for "step")
    dims: tuple[int, ...]
    dtype: str  # "float32" | "float64"
    K: int
    blocks: int = 0  # blocks of one launch (block, regs: K; grid: per network)
    threads: int = 0
    smem_bytes: int = 0  # dynamic shared memory per block
    replicate: bool = False  # grid: all of the last weight matrix in every block
    reason: str = ""
    units: tuple[str, str] = ("sigmoid", "sigmoid")  # hidden activation, output

    @property
    def label(self) -> str:
        """The tuner's name of this plan's kernel (LABELS)."""
        return "grid-slices" if self.kernel == "grid" and not self.replicate else self.kernel

    @property
    def key(self) -> tuple:
        """The compiled kernel configuration (the number of networks is not part of it)."""
        grid = self.blocks if self.kernel == "grid" else 0
        return (
            self.kernel,
            self.name,
            self.dims,
            self.dtype,
            self.threads,
            self.smem_bytes,
            grid,
            self.replicate,
            self.units,
        )

    def describe(self) -> str:
        shape = "-".join(map(str, self.dims))
        if self.kernel == "step":
            units = "" if self.units == ("sigmoid", "sigmoid") else f", {self.units[0]} hidden, {self.units[1]} output"
            return f"step path (batched kernels per sample), widths {shape}, {self.dtype}{units}"
        if self.kernel == "grid":
            what = f"{self.name}, {self.threads} threads x {self.blocks} blocks a network"
        else:
            what = f"{self.name}, one block a network"
        what += f", {self.smem_bytes} B shared memory"
        return what + (", last layer in every block" if self.replicate else "")


# ------------------------------------------------------------------ shapes
def dims_of(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """``d[0..L]`` from the weight shapes ``(..., d[l], d[l+1])``."""
    d = [int(shapes[0][-2])]
    for l, s in enumerate(shapes):
        if int(s[-2]) != d[-1]:
            raise ValueError(f"W[{l}] has {s[-2]} rows but the previous layer gives {d[-1]} columns")
        d.append(int(s[-1]))
    if len(d) - 1 >= src.MAX_DIMS:
        raise ValueError(f"the cuda backend supports at most {src.MAX_DIMS - 1} weight matrices, got {len(d) - 1}")
    return tuple(d)


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


def hmax(d: Sequence[int]) -> int:
    """The widest hidden layer, at least 1 (FastbpShape::hmax)."""
    return max([1, *d[1:-1]])


def loss_scratch_elems(d: Sequence[int], blocks: int, threads: int) -> int:
    """Global scratch of fastbp_loss_part: 2 x hmax per warp of every block."""
    return blocks * (threads // 32) * 2 * hmax(d)


def group_size(n_out: int, n_red: int, threads: int) -> int:
    """fastbp_group_fixed of the .cu: lanes per output, a power of two <= 32."""
    g = min(32, threads)
    red = _pow2_at_least(n_red)
    while g > 1 and (g > red or g * n_out > threads):
        g >>= 1
    return g


# -------------------------------------------------------------- block kernel
def block_threads_for(d: Sequence[int], many: bool = False) -> int:
    """Threads of fastbp_train_block: about 8 (one network) or 16 (many, where
    blocks share SMs) multiply-adds of the largest layer per thread, a power
    of two from 32 to 512 (256 when many)."""
    work = max(d[l] * d[l + 1] for l in range(len(d) - 1))
    per, cap = (16, 256) if many else (8, src.BLOCK_MAX_THREADS)
    return int(min(cap, max(32, _pow2_at_least(-(-work // per)))))


def block_unroll(d: Sequence[int], threads: int) -> int:
    """The most unrolled multiply-add iterations of one phase of fastbp_train_block."""

    def per_phase(n_out: int, n_red: int) -> int:
        g = group_size(n_out, n_red, threads)
        return -(-n_out // (threads // g)) * -(-n_red // g)

    L = len(d) - 1
    return max([per_phase(d[l + 1], d[l]) for l in range(L)] + [per_phase(d[l], d[l + 1]) for l in range(1, L)])


def block_smem_elems(d: Sequence[int], threads: int) -> int:
    """Dynamic shared memory of fastbp_train_block, in elements: W | x: 3 d0 |
    y: 2 dL | A, D: 2 d[l] each, l >= 1 | threads / 32."""
    L = len(d) - 1
    w = sum(d[l] * d[l + 1] for l in range(L))
    return w + 3 * d[0] + 2 * d[L] + 4 * sum(d[1:]) + threads // 32


def _block_fits(d: Sequence[int], threads: int) -> str | None:
    if not 1 <= len(d) - 1 <= BLOCK_MAX_LAYERS:
        return f"{len(d) - 1} weight matrices (1 to {BLOCK_MAX_LAYERS})"
    if threads % 32 or not 32 <= threads <= src.BLOCK_MAX_THREADS:
        return f"{threads} threads (a multiple of 32 up to {src.BLOCK_MAX_THREADS})"
    if block_unroll(d, threads) > BLOCK_MAX_UNROLL:
        return f"{block_unroll(d, threads)} unrolled iterations per phase (at most {BLOCK_MAX_UNROLL})"
    return None


# ----------------------------------------------------------- register kernel
def warp_tile(rows: int, cols: int) -> tuple[int, int, int, int]:
    """FastbpWarpTile of the .cu: the 32 lanes of a warp as PK x PJ for a
    rows x cols matrix, fewest elements per lane, then the shortest dot
    products. Returns (PK, PJ, RA, CB)."""

    def ra(pk: int) -> int:
        return -(-rows // pk)

    def cb(pk: int) -> int:
        return -(-cols // (32 // pk))

    best = 1
    for pk in (2, 4, 8, 16, 32):
        e, eb = ra(pk) * cb(pk), ra(best) * cb(best)
        if e < eb or (e == eb and ra(pk) + cb(pk) < ra(best) + cb(best)):
            best = pk
    return best, 32 // best, ra(best), cb(best)


def regs_threads_for(d: Sequence[int]) -> int:
    """Threads of fastbp_train_regs: warp 0 plus G x d[1] threads for W[0],
    rounded up to whole warps, G the largest power of two <= 32 (and <= the
    next power of two of d[0]) that keeps the block within 512 threads."""
    room = src.BLOCK_MAX_THREADS - 32
    g = min(32, _pow2_at_least(d[0]))
    while g > 1 and -(-g * d[1] // 32) * 32 > room:
        g >>= 1
    return 32 + min(room, -(-g * d[1] // 32) * 32)


def regs_elems(d: Sequence[int], threads: int) -> tuple[int, int]:
    """Weight-sized values per thread of fastbp_train_regs: (warp 0: its tiles
    of W[1..L-1]; warps 1..: their W[0] elements plus three x rows)."""
    nt0 = threads - 32
    g0 = group_size(d[1], d[0], nt0)
    p0, k0 = -(-d[1] // (nt0 // g0)), -(-d[0] // g0)
    w1 = sum(ra * cb for _, _, ra, cb in (warp_tile(d[l], d[l + 1]) for l in range(1, len(d) - 1)))
    return w1, p0 * k0 + 3 * k0


def regs_data_budget(threads: int) -> int:
    """32-bit registers per thread of fastbp_train_regs for weight-sized values."""
    share = min(255, (65536 // (-(-threads // 128) * 128)) // 8 * 8)  # ptxas budgets whole 128-thread groups
    return min(REGS_MAX_DATA, share - REGS_OVERHEAD)


def regs_smem_elems(d: Sequence[int]) -> int:
    """Dynamic shared memory of fastbp_train_regs, in elements: A[1..L],
    D[1..L], D[1] twice more, two target rows, two first-layer products and
    two scalars."""
    return 2 * sum(d[1:]) + 4 * d[1] + 2 * d[-1] + 2


def _regs_fits(d: Sequence[int], itemsize: int) -> str | None:
    if not 2 <= len(d) - 1 <= BLOCK_MAX_LAYERS:
        return f"{len(d) - 1} weight matrices (2 to {BLOCK_MAX_LAYERS})"
    threads = regs_threads_for(d)
    need = max(regs_elems(d, threads)) * (int(itemsize) // 4)
    if need > regs_data_budget(threads):
        return f"{need} registers of weights per thread (at most {regs_data_budget(threads)})"
    return None


# -------------------------------------------------------------- grid kernel
def grid_smem_elems(d: Sequence[int], nblocks: int, threads: int = src.GRID_THREADS, replicate: bool = False) -> int:
    """Dynamic shared memory of fastbp_train_grid per block, in elements."""
    L = len(d) - 1
    nb = nblocks
    rep = replicate and L >= 2
    o = sum(-(-d[l + 1] // nb) * d[l] for l in range(L - 1 if rep else L))
    o += sum(-(-d[l] // nb) * d[l + 1] for l in range(1, L - 1 if rep else L))
    o += 3 * d[0] + 2 * d[L] + sum(2 * d[l] for l in range(1, L)) + max(d) + threads // 32
    o += 2 * -(-d[1] // nb) + 1  # the first layer's products, own D[1] and x . x_prev
    if rep:
        o += d[L - 1] * d[L] + 2 * d[L] + d[L - 1]
    return o


def grid_workspace_elems(d: Sequence[int]) -> int:
    """Global workspace of fastbp_train_grid: A and D, double-buffered."""
    return 4 * sum(d[1:])


# --------------------------------------------------------------------- plan
def plan_train(
    d: Sequence[int],
    dtype: DTypeLike,
    K: int,
    dev: Device,
    kernel: str,
    *,
    threads: int | None = None,
    blocks: int | None = None,
    replicate: bool | None = None,
    units: tuple[str, str] = ("sigmoid", "sigmoid"),
) -> Plan:
    """The plan of ``kernel`` (KERNELS) for K networks of widths ``d`` on
    ``dev``; ``threads``, ``blocks`` and ``replicate`` force the launch
    shape (the grid kernel without ``replicate``: the last layer in every
    block where it fits, else slices). ValueError says why the kernel
    cannot train them. ``units`` (hidden activation, output) other than the
    tutorial's sigmoids: only the step path implements them."""
    d = tuple(int(x) for x in d)
    dt = np.dtype(dtype)
    units = (str(units[0]), str(units[1]))
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if units != ("sigmoid", "sigmoid") and kernel != "step":
        raise ValueError(
            f"kernel {kernel!r} implements only sigmoid units; {units[0]} hidden and {units[1]} output units "
            "train on the step path"
        )
    p, why = _try(kernel, d, dt, K, dev, threads, blocks, replicate)
    if p is None:
        raise ValueError(f"kernel {kernel!r} cannot train {'-'.join(map(str, d))} {dt.name} here: {why}")
    return replace(p, units=units)


def plan_label(
    label: str, d: Sequence[int], dtype: DTypeLike, K: int, dev: Device, units: tuple[str, str] = ("sigmoid", "sigmoid")
) -> Plan:
    """The plan of the tuner's candidate ``label`` (LABELS); ValueError says
    why it cannot train the workload."""
    if label not in LABELS:
        raise ValueError(f"kernel must be one of {', '.join(map(repr, LABELS))}, got {label!r}")
    kernel, force = LABELS[label]
    return plan_train(d, dtype, K, dev, kernel, units=units, **force)


def candidates(
    d: Sequence[int], dtype: DTypeLike, K: int, dev: Device, units: tuple[str, str] = ("sigmoid", "sigmoid")
) -> dict[str, Plan | str]:
    """Every label of LABELS: its plan for the workload, or why it does not serve it."""
    out: dict[str, Plan | str] = {}
    for label in LABELS:
        try:
            out[label] = plan_label(label, d, dtype, K, dev, units)
        except ValueError as exc:
            out[label] = str(exc)
    return out


def _try(
    kernel: str,
    d: tuple[int, ...],
    dt: np.dtype,
    K: int,
    dev: Device,
    threads: int | None,
    blocks: int | None,
    replicate: bool | None,
) -> tuple[Plan | None, str]:
    isz = dt.itemsize
    base: dict[str, Any] = dict(dims=d, dtype=dt.name, K=int(K))
    if kernel == "step":
        return Plan("step", "", **base, reason="step: the batched kernels, one sample at a time"), ""
    if kernel == "regs":
        if dev.cc < (7, 0):
            return (
                None,
                f"compute capability {dev.cc[0]}.{dev.cc[1]} (needs 7.0: its warps meet at one barrier from two code paths)",
            )
        why = _regs_fits(d, isz)
        if why:
            return None, why
        nt = regs_threads_for(d)
        if threads is not None and threads != nt:
            return None, f"it runs {nt} threads, not {threads}"
        smem = regs_smem_elems(d) * isz
        name = src.shape_name("regs", dt, nt, d)
        return Plan("regs", name, **base, blocks=int(K), threads=nt, smem_bytes=smem, reason=f"regs: {nt} threads"), ""
    if kernel == "block":
        nt = threads or block_threads_for(d, many=K > 1)
        smem = block_smem_elems(d, nt) * isz
        room = dev.smem_optin - STATIC_SMEM_BYTES["block"]
        if smem > room:
            return None, f"needs {smem} B of shared memory in one block, the device allows {room} B"
        why = _block_fits(d, nt)
        if why:
            return None, why
        name = src.shape_name("block", dt, nt, d)
        return Plan("block", name, **base, blocks=int(K), threads=nt, smem_bytes=smem, reason=f"block: {smem} B"), ""
    if kernel == "grid":
        if not dev.cooperative:
            return None, "the device has no cooperative launch"
        nt = threads or src.GRID_THREADS
        if nt % 32 or not 32 <= nt <= src.GRID_THREADS:
            return None, f"{nt} threads (a multiple of 32 up to {src.GRID_THREADS})"
        nb = blocks or min(dev.sm_count, max(d[1:]))
        if not 1 <= nb <= dev.sm_count:
            return None, f"{nb} blocks (1 to the {dev.sm_count} SMs)"
        room = dev.smem_optin - STATIC_SMEM_BYTES["grid"]
        tries = [replicate] if replicate is not None else [True, False]
        for rep in tries:
            if rep and len(d) < 3:
                if replicate:
                    return None, "one weight matrix: nothing to replicate"
                continue
            smem = grid_smem_elems(d, nb, nt, replicate=rep) * isz
            if smem <= room:
                how = "the last layer in every block" if rep else "slices"
                return Plan(
                    "grid",
                    src.grid_name(dt),
                    **base,
                    blocks=nb,
                    threads=nt,
                    smem_bytes=smem,
                    replicate=rep,
                    reason=f"grid: {nb} blocks of {smem} B, {how}",
                ), ""
        smem = grid_smem_elems(d, nb, nt, replicate=bool(replicate)) * isz
        return None, f"needs {smem} B of shared memory per block over {nb} blocks, the device allows {room} B"
    raise ValueError(kernel)  # pragma: no cover


# ---------------------------------------------------------- launch arguments
def kernel_args(
    plan: Plan,
    *,
    wptrs: Any,
    dims: Any,
    X1: Any,
    Y: Any,
    alphas: Any,
    epochs: int,
    record: Any,
    losses: Any,
    scratch: Any,
    net: int = 0,
    ws: Any = None,
    part: Any = None,
    counter: Any = None,
    status: Any = None,
) -> tuple:
    """The argument tuple of one launch of ``plan``'s kernel, in the order of
    its parameters, scalars as NumPy scalars of the kernel's C types (CuPy
    maps a Python int to a 64-bit value). Arrays pass through: wptrs (uint64
    device pointers to the stacked W[l]), dims (int32), X1, Y, alphas (the
    plan's dtype), record (int32), losses (float64, R x K), scratch (the
    plan's dtype, loss_scratch_elems); grid: ws, part (float64, blocks),
    counter (uint64), status (int32)."""
    N, R = int(X1.shape[0]), int(record.shape[0])
    i32 = np.int32
    if plan.kernel in ("block", "regs"):
        return (wptrs, dims, X1, Y, i32(N), alphas, i32(epochs), record, i32(R), losses, scratch)
    if plan.kernel == "grid":
        L = len(plan.dims) - 1
        return (
            wptrs,
            dims,
            i32(L),
            X1,
            Y,
            i32(N),
            alphas,
            i32(epochs),
            record,
            i32(R),
            losses,
            scratch,
            i32(net),
            i32(plan.K),
            ws,
            part,
            counter,
            status,
            np.uint64(BARRIER_TIMEOUT_NS),
            i32(1 if plan.replicate else 0),
        )
    raise ValueError(f"the {plan.kernel!r} path launches no training kernel")
