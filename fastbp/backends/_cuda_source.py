"""CUDA source, entry names and shared-memory planning for the cuda backend.

This module never imports CuPy, so the GPU-free tests (NVRTC compile checks,
path selection) and the backend share one list of entry names and one
shared-memory formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The .cu files of the package (one today).
CUDA_SOURCE_FILES: tuple[str, ...] = ("fastbp_kernels.cu",)

#: Template entry points, instantiated for float and double.
KERNEL_TEMPLATES: tuple[str, ...] = (
    "fastbp_sgd_block",
    "fastbp_sgd_grid",
    "fastbp_forward",
    "fastbp_hidden_delta",
)
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

#: Every name expression the backend asks NVRTC for.
NAME_EXPRESSIONS: tuple[str, ...] = tuple(f"{k}<{t}>" for k in KERNEL_TEMPLATES for t in ("float", "double"))

#: Shape-specialised single-block kernel: template <T, NT, d0, ..., dL>,
#: compiled per network shape at run time (fixed_block_name), the default
#: for the "block" path (CudaBackend(specialize=False): the generic kernel).
FIXED_BLOCK_TEMPLATE = "fastbp_sgd_block_fixed"
#: Widest network (weight matrices) the specialised kernel is built for.
FIXED_MAX_LAYERS = 16

#: Options passed to cupy.RawModule (CuPy adds -arch and -ftz=true itself).
COMPILE_OPTIONS: tuple[str, ...] = ("--std=c++17",)

#: Must match the #defines in fastbp_kernels.cu.
MAX_DIMS = 64
BLOCK_MAX_THREADS = 512
GRID_THREADS = 256

#: Shared memory a block may use without the opt-in attribute.
DEFAULT_SMEM_BYTES = 48 * 1024
#: Static __shared__ bytes of the persistent kernels (the int tables and
#: flags); an upper bound checked against nvcc --resource-usage in the tests.
STATIC_SMEM_BYTES = {"fastbp_sgd_block": 1040, "fastbp_sgd_grid": 2592, "fastbp_sgd_block_fixed": 0}

#: Status codes of the grid kernel.
STATUS_OK = 0
STATUS_BARRIER_TIMEOUT = 1
STATUS_BAD_LAUNCH = 2


def kernel_name(template: str, dtype) -> str:
    """Name expression of ``template`` for ``dtype`` (float32 / float64)."""
    return f"{template}<{CTYPES[np.dtype(dtype)]}>"


def fixed_block_name(dtype, threads: int, d: Sequence[int]) -> str:
    """Name expression of the shape-specialised block kernel, e.g.
    ``fastbp_sgd_block_fixed<double, 512, 65, 33, 17, 10>``."""
    return f"{FIXED_BLOCK_TEMPLATE}<{CTYPES[np.dtype(dtype)]}, {int(threads)}, {', '.join(str(int(x)) for x in d)}>"


#: Most unrolled inner iterations (passes x elements per lane) of one phase
#: of fastbp_sgd_block_fixed; beyond that the generic kernel runs (code size).
FIXED_MAX_UNROLL = 256


def fixed_unroll(d: Sequence[int], threads: int) -> int:
    """Largest number of unrolled multiply-add iterations of one phase of
    fastbp_sgd_block_fixed for widths ``d`` (forward and hidden phases)."""

    def per_phase(n_out, n_red):
        g = fixed_group_size(n_out, n_red, threads)
        groups = threads // g
        return -(-n_out // groups) * -(-n_red // g)

    L = len(d) - 1
    fwd = [per_phase(d[l + 1], d[l]) for l in range(L)]
    hid = [per_phase(d[l], d[l + 1]) for l in range(1, L)]
    return max(fwd + hid)


def fixed_block_applies(d: Sequence[int], threads: int) -> bool:
    """Whether fastbp_sgd_block_fixed is built for widths ``d`` (else the
    generic kernel runs): 1..FIXED_MAX_LAYERS matrices, a valid thread
    count, and at most FIXED_MAX_UNROLL unrolled iterations per phase."""
    if not (1 <= len(d) - 1 <= FIXED_MAX_LAYERS and threads % 32 == 0 and 32 <= threads <= BLOCK_MAX_THREADS):
        return False
    return fixed_unroll(d, threads) <= FIXED_MAX_UNROLL


def generic_group_size(n_out: int, n_red: int, threads: int) -> int:
    """fastbp_group_size of the .cu (generic kernels)."""
    g = threads
    red = _pow2_at_least(n_red)
    while g > 1 and (g > red or g * n_out > threads):
        g >>= 1
    return g


def fixed_group_size(n_out: int, n_red: int, threads: int) -> int:
    """fastbp_group_fixed of the .cu: the generic size capped at one warp
    (for any thread count, not only powers of two)."""
    g = min(32, threads)
    red = _pow2_at_least(n_red)
    while g > 1 and (g > red or g * n_out > threads):
        g >>= 1
    return g


#: Register-resident single-block kernel: template <T, NT, d0, ..., dL>,
#: L >= 2, compiled per network shape (regs_block_name); the default "block"
#: kernel for one network when regs_block_applies (CudaBackend(registers=...)).
REGS_BLOCK_TEMPLATE = "fastbp_sgd_regs"
#: Registers one thread of fastbp_sgd_regs may spend on weight-sized values
#: (warp 0: its tiles of W[1..L-1]; warps 1..: its elements of W[0] plus
#: three x rows): at most REGS_MAX_DATA, and REGS_OVERHEAD below the per-thread
#: share of the 64K register file (nvcc: digits float64 uses 68 + 54).
REGS_MAX_DATA = 96
REGS_OVERHEAD = 64


def warp_tile(rows: int, cols: int) -> tuple[int, int, int, int]:
    """FastbpWarpTile of the .cu: the 32 lanes of a warp as PK x PJ for a
    rows x cols matrix, fewest elements per lane, then the shortest dot
    products. Returns (PK, PJ, RA, CB): lane kp + PK jp owns rows kp + a PK
    (a < RA) and columns jp + b PJ (b < CB)."""

    def ra(pk):
        return -(-rows // pk)

    def cb(pk):
        return -(-cols // (32 // pk))

    best = 1
    for pk in (2, 4, 8, 16, 32):
        e, eb = ra(pk) * cb(pk), ra(best) * cb(best)
        if e < eb or (e == eb and ra(pk) + cb(pk) < ra(best) + cb(best)):
            best = pk
    return best, 32 // best, ra(best), cb(best)


def regs_threads_for(d: Sequence[int]) -> int:
    """Threads of fastbp_sgd_regs for widths ``d``: warp 0 (layers 1..L-1)
    plus G x d[1] threads for W[0] rounded up to whole warps, G the largest
    power of two <= 32 (and <= the next power of two of d[0]) that keeps
    the block within BLOCK_MAX_THREADS."""
    room = BLOCK_MAX_THREADS - 32
    g = min(32, _pow2_at_least(d[0]))
    while g > 1 and -(-g * d[1] // 32) * 32 > room:
        g >>= 1
    return 32 + min(room, -(-g * d[1] // 32) * 32)


def regs_elems(d: Sequence[int], threads: int) -> tuple[int, int]:
    """Weight-sized values per thread of fastbp_sgd_regs: (warp 0: its tiles
    of W[1..L-1], warps 1..: its W[0] elements plus three x rows)."""
    nt0 = threads - 32
    g0 = fixed_group_size(d[1], d[0], nt0)
    p0, k0 = -(-d[1] // (nt0 // g0)), -(-d[0] // g0)
    w1 = sum(ra * cb for _, _, ra, cb in (warp_tile(d[l], d[l + 1]) for l in range(1, len(d) - 1)))
    return w1, p0 * k0 + 3 * k0


def regs_block_applies(d: Sequence[int], itemsize: int, threads: int | None = None) -> bool:
    """Whether fastbp_sgd_regs serves widths ``d``: 2..FIXED_MAX_LAYERS
    weight matrices whose per-thread values fit regs_data_budget."""
    if not 2 <= len(d) - 1 <= FIXED_MAX_LAYERS:
        return False
    threads = threads or regs_threads_for(d)
    if threads % 32 or not 64 <= threads <= BLOCK_MAX_THREADS:
        return False
    return max(regs_elems(d, threads)) * (int(itemsize) // 4) <= regs_data_budget(threads)


def regs_data_budget(threads: int) -> int:
    """32-bit registers per thread of fastbp_sgd_regs for weight-sized values."""
    share = min(255, (65536 // threads) // 8 * 8)
    return min(REGS_MAX_DATA, share - REGS_OVERHEAD)


def regs_block_name(dtype, threads: int, d: Sequence[int]) -> str:
    """Name expression of the register-resident kernel, e.g.
    ``fastbp_sgd_regs<double, 320, 65, 33, 17, 10>``."""
    return f"{REGS_BLOCK_TEMPLATE}<{CTYPES[np.dtype(dtype)]}, {int(threads)}, {', '.join(str(int(x)) for x in d)}>"


def regs_smem_elems(d: Sequence[int]) -> int:
    """Dynamic shared memory of fastbp_sgd_regs, in elements: A[1..L],
    D[1..L], D[1] twice more, two target rows, two first-layer products
    and two scalars (the weights are in registers)."""
    return 2 * sum(d[1:]) + 4 * d[1] + 2 * d[-1] + 2


#: Grid barriers of fastbp_sgd_grid<T, BAR>: "fence" (BAR 0, __threadfence on
#: both sides) or "acqrel" (BAR 1, red.release / ld.acquire; CudaBackend's default).
GRID_BARRIERS = {"fence": 0, "acqrel": 1}


def grid_kernel_name(dtype, barrier: str = "fence") -> str:
    """Name expression of the grid kernel with ``barrier``."""
    bar = GRID_BARRIERS[barrier]
    return kernel_name("fastbp_sgd_grid", dtype) if bar == 0 else f"fastbp_sgd_grid<{CTYPES[np.dtype(dtype)]}, {bar}>"


def source_dir() -> Path:
    return Path(__file__).resolve().parent / "cuda"


def source_paths() -> list[Path]:
    return [source_dir() / f for f in CUDA_SOURCE_FILES]


def load_source() -> str:
    """The CUDA C++ source compiled by the backend."""
    try:  # installed package (zip-safe)
        from importlib.resources import files

        root = files("fastbp.backends").joinpath("cuda")
        return "\n".join(root.joinpath(f).read_text(encoding="utf-8") for f in CUDA_SOURCE_FILES)
    except Exception:  # pragma: no cover - fall back to the file system
        return "\n".join(p.read_text(encoding="utf-8") for p in source_paths())


# ---------------------------------------------------------------- planning
def dims_of(shapes: Sequence[tuple[int, int]]) -> list[int]:
    """``d[0..L]`` from the weight shapes ``(d[l], d[l+1])``; validates chaining."""
    if len(shapes) < 1:
        raise ValueError("a network needs at least one weight matrix")
    if len(shapes) >= MAX_DIMS:
        raise ValueError(f"the cuda backend supports at most {MAX_DIMS - 1} weight matrices, got {len(shapes)}")
    d = [int(shapes[0][0])]
    for l, (r, c) in enumerate(shapes):
        if int(r) != d[-1]:
            raise ValueError(f"W[{l}] has {r} rows but the previous layer gives {d[-1]} columns")
        if r < 1 or c < 1:
            raise ValueError(f"W[{l}] has an empty shape {(r, c)}")
        d.append(int(c))
    return d


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


def block_threads_for(d: Sequence[int], many: bool = False) -> int:
    """Threads per block of the single-block kernel for widths ``d``.

    About 8 (one network) or 16 (many networks, where blocks share SMs)
    multiply-adds of the largest layer per thread, a multiple of 32, at most
    BLOCK_MAX_THREADS (256 when many).
    """
    work = max(d[l] * d[l + 1] for l in range(len(d) - 1))
    per = 16 if many else 8
    cap = 256 if many else BLOCK_MAX_THREADS
    return int(min(cap, max(32, _pow2_at_least(-(-work // per)))))


def block_smem_elems(d: Sequence[int], threads: int) -> int:
    """Dynamic shared memory of fastbp_sgd_block, in elements (see the .cu)."""
    L = len(d) - 1
    w = sum(d[l] * d[l + 1] for l in range(L))
    return w + 3 * d[0] + 2 * d[L] + 2 * sum(d[1:]) + 2 * sum(d[1:]) + threads // 32


def grid_smem_elems(d: Sequence[int], nblocks: int, threads: int = GRID_THREADS, replicate: bool = False) -> int:
    """Dynamic shared memory of fastbp_sgd_grid per block, in elements;
    ``replicate``: every block holds all of W[L-1] instead of its slices
    (L >= 2; see the .cu)."""
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
    """Global workspace of fastbp_sgd_grid: A and D, double-buffered."""
    return 4 * sum(d[1:])


@dataclass(frozen=True)
class Plan:
    """How sgd_epoch runs a network: which path, with what launch shape."""

    path: str  # "block" | "grid" | "step"
    threads: int = 0
    blocks: int = 0
    smem_bytes: int = 0
    reason: str = ""
    replicate_last: bool = False  # grid: every block holds all of the last weight matrix


def plan_sgd(
    d: Sequence[int],
    itemsize: int,
    smem_optin: int,
    sm_count: int,
    *,
    force: str | None = None,
    grid_blocks: int | None = None,
    block_threads: int | None = None,
    many: bool = False,
    replicate_last: bool = True,
) -> Plan:
    """Choose the sgd_epoch path for widths ``d`` (host-side, no GPU needed).

    ``smem_optin`` is the device's largest shared memory per block (opt-in),
    already reduced by the kernels' static shared memory. "block" when the
    whole network fits one block, else "grid" when its slices fit the
    shared memory of at most ``sm_count`` co-resident blocks, else "step".
    "grid" replicates the last weight matrix in every block (two fewer grid
    barriers per sample) when ``replicate_last`` and it fits.
    """
    if force not in (None, "block", "grid", "step"):
        raise ValueError(f"path must be None, 'block', 'grid' or 'step', got {force!r}")
    threads = block_threads or block_threads_for(d, many=many)
    if threads % 32 or not 32 <= threads <= BLOCK_MAX_THREADS:
        raise ValueError(f"block_threads must be a multiple of 32 in [32, {BLOCK_MAX_THREADS}], got {threads}")
    b_bytes = block_smem_elems(d, threads) * itemsize
    if force in (None, "block"):
        if b_bytes <= smem_optin:
            return Plan("block", threads, 1, b_bytes, f"fits one block ({b_bytes} B of {smem_optin} B)")
        if force == "block":
            raise ValueError(
                f"network needs {b_bytes} B of shared memory in one block; the device allows {smem_optin} B"
            )
    if force in (None, "grid"):
        widest = max(d[1:])
        nb = grid_blocks or min(sm_count, widest)
        nb = max(1, min(nb, sm_count))
        if replicate_last and len(d) >= 3:
            r_bytes = grid_smem_elems(d, nb, replicate=True) * itemsize
            if r_bytes <= smem_optin:
                return Plan(
                    "grid",
                    GRID_THREADS,
                    nb,
                    r_bytes,
                    f"spread over {nb} blocks ({r_bytes} B each of {smem_optin} B), last layer in every block",
                    replicate_last=True,
                )
        g_bytes = grid_smem_elems(d, nb) * itemsize
        if g_bytes <= smem_optin:
            return Plan(
                "grid", GRID_THREADS, nb, g_bytes, f"spread over {nb} blocks ({g_bytes} B each of {smem_optin} B)"
            )
        if force == "grid":
            raise ValueError(
                f"network needs {g_bytes} B of shared memory per block over {nb} blocks; the device allows {smem_optin} B"
            )
    return Plan(
        "step", 0, 0, 0, f"too large for shared memory ({b_bytes} B in one block); one launch per kernel per sample"
    )
