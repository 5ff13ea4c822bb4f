"""GPU-free checks of the cuda backend (run in CI without a GPU).

* every .cu compiles with NVRTC (cuda-bindings) for sm_80 and sm_90 with the
  options CuPy's RawModule passes, and every name expression the backend
  asks for lowers to an entry that is in the cubin;
* where nvcc is on PATH: ``nvcc --resource-usage`` shows no register spills,
  no stack, and static shared memory within the budget the host assumes;
* the persistent kernels themselves, compiled as host C++ (one thread per
  CUDA thread, one process per block, tests/cuda_emulation.cpp), give the
  NumPy reference's weights: their indexing, phase order, buffering, lazy
  update and grid barrier (not the GPU memory model, not timing);
* host-side logic: path selection by shared-memory bytes, validation, and
  the unavailable message on a machine without a GPU.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastbp.backends import _cuda_source as src
from fastbp.backends.numpy_backend import NumpyBackend

ROOT = Path(__file__).resolve().parents[1]
ARCHS = ("80", "90")
#: What CuPy 14's RawModule adds to our options for NVRTC (cupy/cuda/compiler.py):
#: "-ftz=true", "-arch=sm_XX" (cubin), "--device-as-default-execution-space".
CUPY_EXTRA_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        pytest.skip(f"cuda-bindings is not installed ({exc}); pip install 'fastbp[test]'")
    try:
        err, major, minor = nvrtc.nvrtcVersion()
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(err)
    except Exception as exc:  # libnvrtc missing
        pytest.skip(f"NVRTC is not loadable ({exc}); pip install nvidia-cuda-nvrtc")
    return nvrtc


def _check(nvrtc, res, what):
    err = res[0] if isinstance(res, tuple) else res
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, f"{what}: {err}"
    return res[1:] if isinstance(res, tuple) else ()


def test_source_files_exist_and_load():
    for p in src.source_paths():
        assert p.is_file(), p
    code = src.load_source()
    for t in src.KERNEL_TEMPLATES:
        assert re.search(rf"\b{t}\s*\(", code), t
    # constants shared with the .cu
    assert f"#define FASTBP_MAX_DIMS {src.MAX_DIMS}" in code
    assert f"#define FASTBP_BLOCK_MAX_THREADS {src.BLOCK_MAX_THREADS}" in code
    assert f"#define FASTBP_GRID_THREADS {src.GRID_THREADS}" in code
    assert f"#define FASTBP_STATUS_BARRIER_TIMEOUT {src.STATUS_BARRIER_TIMEOUT}" in code


#: Shape-specialised block kernels compiled by the NVRTC / nvcc checks
#: (dtype, threads, widths with bias): digits one / many networks, XOR, and
#: the widest float64 first layer that still fits one block (785 x 33).
FIXED_CHECKED = [
    (np.float64, 512, (65, 33, 17, 10)),
    (np.float32, 512, (65, 33, 17, 10)),
    (np.float64, 256, (65, 33, 17, 10)),
    (np.float32, 256, (65, 33, 17, 10)),
    (np.float64, 32, (3, 3, 1)),
    (np.float64, 512, (785, 33, 10)),
]
FIXED_NAMES = [src.fixed_block_name(dt, nt, d) for dt, nt, d in FIXED_CHECKED]
#: Register-resident kernels compiled by the NVRTC / nvcc checks: digits and
#: XOR at the backend's thread counts, and the largest float64 tiles allowed.
REGS_CHECKED = [
    (np.float64, src.regs_threads_for((65, 33, 17, 10)), (65, 33, 17, 10)),
    (np.float32, src.regs_threads_for((65, 33, 17, 10)), (65, 33, 17, 10)),
    (np.float64, src.regs_threads_for((3, 3, 1)), (3, 3, 1)),
    (np.float64, src.regs_threads_for((65, 41, 17, 10)), (65, 41, 17, 10)),
    (np.float32, src.regs_threads_for((65, 49, 33, 10)), (65, 49, 33, 10)),
]
REGS_NAMES = [src.regs_block_name(dt, nt, d) for dt, nt, d in REGS_CHECKED]
ACQREL_NAMES = [src.grid_kernel_name(dt, "acqrel") for dt in (np.float32, np.float64)]


def test_fixed_block_names_and_group_sizes():
    assert (
        src.fixed_block_name(np.float64, 512, [65, 33, 17, 10]) == "fastbp_sgd_block_fixed<double, 512, 65, 33, 17, 10>"
    )
    assert src.fixed_block_name(np.float32, 32, [3, 1]) == "fastbp_sgd_block_fixed<float, 32, 3, 1>"
    assert src.fixed_block_applies([65, 33, 17, 10], 512) and not src.fixed_block_applies([3] * 19, 64)
    # digits: the specialised kernel uses the generic kernel's groups (same summation order)
    for n_out, n_red in ((33, 65), (17, 33), (10, 17), (17, 10), (33, 17)):
        assert src.fixed_group_size(n_out, n_red, 512) == src.generic_group_size(n_out, n_red, 512) <= 32
    assert src.generic_group_size(3, 71, 256) == 64 and src.fixed_group_size(3, 71, 256) == 32
    # code size: at most FIXED_MAX_UNROLL unrolled iterations per phase
    assert src.fixed_unroll([65, 33, 17, 10], 512) == 9 and src.fixed_unroll([785, 33, 10], 512) == 99
    assert not src.fixed_block_applies([20001, 1], 512)
    assert src.grid_kernel_name(np.float64) == "fastbp_sgd_grid<double>"
    assert src.grid_kernel_name(np.float32, "acqrel") == "fastbp_sgd_grid<float, 1>"


@pytest.mark.parametrize("arch", ARCHS)
def test_nvrtc_compiles_every_entry(arch):
    nvrtc = _nvrtc()
    code = src.load_source().encode()
    (prog,) = _check(nvrtc, nvrtc.nvrtcCreateProgram(code, b"fastbp_kernels.cu", 0, [], []), "create")
    names = [*src.NAME_EXPRESSIONS, *FIXED_NAMES, *REGS_NAMES, *ACQREL_NAMES]
    try:
        for ne in names:
            _check(nvrtc, nvrtc.nvrtcAddNameExpression(prog, ne.encode()), f"name {ne}")
        opts = [o.encode() for o in (*src.COMPILE_OPTIONS, *CUPY_EXTRA_OPTIONS, f"-arch=sm_{arch}")]
        res = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        (size,) = _check(nvrtc, nvrtc.nvrtcGetProgramLogSize(prog), "log size")
        log = b" " * size
        _check(nvrtc, nvrtc.nvrtcGetProgramLog(prog, log), "log")
        assert res[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace")
        (csize,) = _check(nvrtc, nvrtc.nvrtcGetCUBINSize(prog), "cubin size")
        cubin = b" " * csize
        _check(nvrtc, nvrtc.nvrtcGetCUBIN(prog, cubin), "cubin")
        for ne in names:
            (lowered,) = _check(nvrtc, nvrtc.nvrtcGetLoweredName(prog, ne.encode()), f"lowered {ne}")
            lowered = lowered if isinstance(lowered, bytes) else str(lowered).encode()
            assert lowered.startswith(b"_Z"), (ne, lowered)
            assert lowered in cubin, f"{ne} -> {lowered!r} not in the sm_{arch} cubin"
        assert b"warning" not in log.lower(), log.decode(errors="replace")
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _nvcc():
    exe = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
    if exe is None:
        pytest.skip("nvcc is not on PATH (nor /usr/local/cuda/bin): resource usage not checked")
    return exe


def _instantiation_unit(tmp_path: Path) -> Path:
    """A .cu that includes the kernels and instantiates every entry (nvcc has
    no name expressions; explicit instantiation gives the same symbols)."""
    sigs = {
        "fastbp_sgd_block": "const unsigned long long*, const int*, int, const T*, const T*, int, const T*",
        "fastbp_sgd_grid": "const unsigned long long*, const int*, int, const T*, const T*, int, const T*, T*, unsigned long long*, int*, unsigned long long, int",
        "fastbp_forward": "const T*, const T*, T*, int, int, int",
        "fastbp_hidden_delta": "const T*, const T*, const T*, T*, int, int, int",
    }
    assert set(sigs) == set(src.KERNEL_TEMPLATES)
    lines = [f'#include "{src.source_paths()[0]}"']
    for name, sig in sigs.items():
        for t in ("float", "double"):
            lines.append(f"template __global__ void {name}<{t}>({sig.replace('T', t)});")
    sig = sigs["fastbp_sgd_block"]
    for dt, nt, d in FIXED_CHECKED:
        t = src.CTYPES[np.dtype(dt)]
        args = ", ".join(map(str, d))
        lines.append(f"template __global__ void fastbp_sgd_block_fixed<{t}, {nt}, {args}>({sig.replace('T', t)});")
    for dt, nt, d in REGS_CHECKED:
        t = src.CTYPES[np.dtype(dt)]
        args = ", ".join(map(str, d))
        lines.append(f"template __global__ void fastbp_sgd_regs<{t}, {nt}, {args}>({sig.replace('T', t)});")
    for t in ("float", "double"):
        lines.append(f"template __global__ void fastbp_sgd_grid<{t}, 1>({sigs['fastbp_sgd_grid'].replace('T', t)});")
    p = tmp_path / "fastbp_all.cu"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("arch", ARCHS)
def test_nvcc_resource_usage_no_spills(arch, tmp_path):
    nvcc = _nvcc()
    unit = _instantiation_unit(tmp_path)
    cmd = [
        nvcc,
        "--std=c++17",
        "-ftz=true",
        "--resource-usage",
        f"-arch=sm_{arch}",
        "-cubin",
        "-o",
        str(tmp_path / "k.cubin"),
        str(unit),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    n_entries = 2 * len(src.KERNEL_TEMPLATES) + len(FIXED_CHECKED) + len(REGS_CHECKED) + 2
    funcs = re.findall(
        r"Function properties for (\S+)\s*\n\s*(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads",
        out,
    )
    assert len(funcs) == n_entries, out
    for name, stack, st, ld in funcs:
        assert (int(stack), int(st), int(ld)) == (0, 0, 0), f"{name} spills on sm_{arch}: {out}"
    usage = []
    for chunk in out.split("Compiling entry function '")[1:]:  # no "bytes smem" when there is none
        name = chunk.split("'", 1)[0]
        regs = re.search(r"Used (\d+) registers", chunk)
        smem = re.search(r"(\d+) bytes smem", chunk)
        assert regs, chunk
        usage.append((name, regs.group(1), smem.group(1) if smem else "0"))
    assert len(usage) == n_entries, out
    for name, regs, smem in usage:
        if "fixed" in name or "regs" in name:
            assert int(smem) == 0, (name, smem)  # no shape tables: every offset is a constant
        for t, budget in src.STATIC_SMEM_BYTES.items():
            if t in name:
                assert int(smem) <= budget, f"{name}: {smem} B static shared memory > {budget} B assumed"
        if "sgd_block" in name:  # 512 threads x regs must fit the 64K register file
            assert int(regs) * src.BLOCK_MAX_THREADS <= 65536, (name, regs)
        if "sgd_regs" in name:  # its threads x regs must fit the 64K register file
            nt = int(re.search(r"sgd_regsI[fd]Li(\d+)E", name).group(1))
            assert int(regs) * nt <= 65536, (name, regs, nt)
        # the GEMM tiles' static shared memory is within the 48 KB default
        assert int(smem) <= src.DEFAULT_SMEM_BYTES


# ------------------------------------------------------------ host logic
DIGITS = [65, 33, 17, 10]
WIDE = [785, 257, 129, 10]
H100_OPTIN = 227 * 1024 - src.STATIC_SMEM_BYTES["fastbp_sgd_grid"]


def test_dims_of_validates():
    assert src.dims_of([(65, 33), (33, 17), (17, 10)]) == DIGITS
    with pytest.raises(ValueError, match="W\\[1\\] has 32 rows"):
        src.dims_of([(65, 33), (32, 17)])
    with pytest.raises(ValueError, match="at least one"):
        src.dims_of([])


def test_plan_digits_single_block_default_smem():
    p = src.plan_sgd(DIGITS, 8, H100_OPTIN, 132)
    assert p.path == "block" and p.threads == 512 and p.blocks == 1
    assert p.smem_bytes <= src.DEFAULT_SMEM_BYTES  # no opt-in needed for digits, even float64
    assert p.smem_bytes == 8 * (2876 + 3 * 65 + 2 * 10 + 4 * (33 + 17 + 10) + 512 // 32)


def test_plan_wide_network_uses_grid():
    p = src.plan_sgd(WIDE, 8, H100_OPTIN, 132)
    assert p.path == "grid" and p.blocks == 132 and p.threads == src.GRID_THREADS
    assert p.smem_bytes <= H100_OPTIN
    # the last matrix (129 x 10) in every block instead of its slices
    assert p.replicate_last and p.smem_bytes == 8 * src.grid_smem_elems(WIDE, 132, replicate=True)
    q = src.plan_sgd(WIDE, 8, H100_OPTIN, 132, replicate_last=False)
    assert not q.replicate_last and q.smem_bytes == 8 * src.grid_smem_elems(WIDE, 132)
    # 2048-1024-10 float64: a replicated 1025 x 10 matrix would not fit beside W[0]'s slices
    big = [2049, 1025, 10]
    assert not src.plan_sgd(big, 8, H100_OPTIN, 132).replicate_last
    assert src.plan_sgd(big, 4, H100_OPTIN, 132).replicate_last
    assert not src.plan_sgd([785, 10], 8, H100_OPTIN, 132, force="grid").replicate_last  # one matrix
    # float32 784-256-128-10 (~0.9 MB) does not fit one block either
    assert src.plan_sgd(WIDE, 4, H100_OPTIN, 132).path == "grid"
    # a 48 KB-only device with few SMs falls back to per-step launches
    assert src.plan_sgd(WIDE, 8, 48 * 1024, 4).path == "step"


def test_plan_block_boundary_and_force():
    # largest float64 square 2-layer net n-n-1 that fits one block on H100
    def fits(n):
        return src.plan_sgd([n + 1, n + 1, 1], 8, H100_OPTIN, 132).path == "block"

    assert fits(100) and not fits(200)
    assert src.plan_sgd(DIGITS, 8, H100_OPTIN, 132, force="grid", grid_blocks=7).blocks == 7
    assert src.plan_sgd(DIGITS, 8, H100_OPTIN, 132, force="step").path == "step"
    with pytest.raises(ValueError, match="shared memory"):
        src.plan_sgd(WIDE, 8, H100_OPTIN, 132, force="block")
    with pytest.raises(ValueError, match="path must be"):
        src.plan_sgd(DIGITS, 8, H100_OPTIN, 132, force="fast")
    with pytest.raises(ValueError, match="multiple of 32"):
        src.plan_sgd(DIGITS, 8, H100_OPTIN, 132, block_threads=100)


def test_block_threads_heuristic():
    assert src.block_threads_for(DIGITS) == 512
    assert src.block_threads_for(DIGITS, many=True) == 256
    assert src.block_threads_for([3, 3, 1]) == 32


def test_name_expressions_cover_both_dtypes():
    assert src.kernel_name("fastbp_sgd_block", np.float32) == "fastbp_sgd_block<float>"
    assert src.kernel_name("fastbp_sgd_grid", np.float64) == "fastbp_sgd_grid<double>"
    assert len(src.NAME_EXPRESSIONS) == 2 * len(src.KERNEL_TEMPLATES)


def test_unavailable_message_without_gpu():
    """On a machine without a GPU/driver/CuPy the backend is unavailable and
    says what is missing and the install command; import fastbp still works."""
    from fastbp.backends import unavailable_reason

    why = unavailable_reason("cuda")
    try:
        import cupy

        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_gpu = False
    if has_gpu:
        pytest.skip("this machine has a GPU: the backend is available")
    assert why is not None
    assert "fastbp[cuda13]" in why and "fastbp[cuda12]" in why
    assert "cuda" in why.lower()
    assert unavailable_reason("cupy") == why  # the alias


def test_import_without_gpu_does_not_hang():
    code = "import fastbp, fastbp.backends as b; print(b.unavailable_reason('cuda'))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr


# -------------------------------------------------- host emulation of kernels
#: Shapes of fastbp_sgd_block_fixed compiled into the emulator (element
#: type, threads, widths d with bias); the parametrized cases below use them.
EMU_FIXED = [
    ("double", 128, (65, 33, 17, 10)),
    ("float", 64, (65, 33, 17, 10)),
    ("double", 32, (3, 3, 1)),
    ("double", 32, (3, 1)),
    ("double", 256, (71, 4, 1)),
    ("float", 32, (81, 5, 2)),
    ("double", 64, (151, 10, 3)),
]
#: Shapes of fastbp_sgd_regs compiled into the emulator (the same format).
EMU_REGS = [
    ("double", 320, (65, 33, 17, 10)),
    ("float", 320, (65, 33, 17, 10)),
    ("double", 64, (3, 3, 1)),
    ("double", 96, (3, 100, 2)),
    ("double", 128, (5, 9, 40)),
    ("float", 64, (5, 3, 40)),
    ("double", 64, (5, 40, 3)),
    ("double", 96, (7, 6, 5, 4, 3)),
]
_KERNEL_IDS = {"block": 0, "grid": 1, "block_fixed": 2, "grid_acqrel": 3, "regs": 4}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    gxx = shutil.which("g++") or shutil.which("c++")
    if gxx is None:
        pytest.skip("no C++ compiler: kernel emulation not run")
    exe = tmp_path_factory.mktemp("emu") / "cuda_emulation"
    fixed, regs = (
        " ".join(f"F({t}, {nt}, {', '.join(map(str, d))})" for t, nt, d in lst) for lst in (EMU_FIXED, EMU_REGS)
    )
    cmd = [
        gxx,
        "-std=c++20",
        "-O1",
        "-pthread",
        "-ffp-contract=off",
        f"-DFASTBP_EMU_FIXED_LIST={fixed}",
        f"-DFASTBP_EMU_REGS_LIST={regs}",
        "-o",
        str(exe),
        str(ROOT / "tests" / "cuda_emulation.cpp"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "barrier" in r.stderr and "No such file" in r.stderr:
        pytest.skip(f"the C++ compiler lacks C++20 <barrier>: {r.stderr[:300]}")
    assert r.returncode == 0, r.stderr
    return exe


def _dims(layers):
    return [layers[0] + 1] + [n + 1 for n in layers[1:-1]] + [layers[-1]]


def _emulate(exe, tmp_path, kernel, layers, N, K, dtype, threads, nb=1, seed=0, replicate=False):
    rng = np.random.RandomState(seed)
    d = _dims(layers)
    L = len(d) - 1
    Ws = [(rng.randn(K, d[l], d[l + 1]) / np.sqrt(d[l])).astype(dtype) for l in range(L)]
    X1 = np.hstack([rng.rand(N, layers[0]), np.ones((N, 1))]).astype(dtype)
    Y = (rng.rand(N, d[-1]) > 0.5).astype(dtype)
    alphas = (0.1 + 0.4 * rng.rand(K)).astype(dtype)
    itemsize = np.dtype(dtype).itemsize
    if kernel.startswith("grid"):
        elems = src.grid_smem_elems(d, nb, threads, replicate=replicate)
    else:
        elems = src.regs_smem_elems(d) if kernel == "regs" else src.block_smem_elems(d, threads)
    t = tmp_path
    params = [_KERNEL_IDS[kernel], itemsize, L, N, K, nb, threads, elems * itemsize, int(60e9), int(replicate)]
    np.array(params, np.int64).tofile(t / "params.i64")
    np.array(d, np.int32).tofile(t / "dims.i32")
    for l, w in enumerate(Ws):
        np.ascontiguousarray(w).tofile(t / f"w{l}.bin")
    X1.tofile(t / "x.bin")
    Y.tofile(t / "y.bin")
    alphas.tofile(t / "alphas.bin")
    r = subprocess.run([str(exe), str(t)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (
        r.returncode,
        r.stderr[-2000:],
        (t / "status.txt").read_text() if (t / "status.txt").exists() else "",
    )
    out = [np.fromfile(t / f"w{l}.out", dtype=dtype).reshape(Ws[l].shape) for l in range(L)]
    ref_backend = NumpyBackend()
    for k in range(K):
        ref = [w[k].copy() for w in Ws]
        for i in range(N):
            ref_backend.sgd_step(ref, X1[i : i + 1], Y[i : i + 1], alphas[k])
        for l in range(L):
            scale = np.max(np.abs(ref[l]))
            tol = 1e-13 if dtype == np.float64 else 2e-6
            err = np.max(np.abs(out[l][k] - ref[l])) / scale
            assert err <= tol, f"net {k} W[{l}]: relative error {err:.3g} > {tol}"
            assert not np.array_equal(out[l][k], Ws[l][k])  # it trained
    return out


@pytest.mark.parametrize(
    "kernel,layers,N,K,dtype,threads,nb",
    [
        ("block", [64, 32, 16, 10], 16, 2, np.float64, 128, 1),  # digits shape, 2 networks
        ("block", [64, 32, 16, 10], 12, 1, np.float32, 64, 1),
        ("block", [2, 2, 1], 8, 3, np.float64, 32, 1),  # XOR shape, 3 alphas
        ("block", [2, 1], 7, 1, np.float64, 32, 1),  # no hidden layer
        ("block", [70, 3, 1], 9, 1, np.float64, 256, 1),  # groups wider than a warp
        ("grid", [64, 32, 16, 10], 10, 1, np.float64, 64, 3),
        ("grid", [64, 32, 16, 10], 8, 1, np.float32, 64, 4),
        ("grid", [20, 7, 5, 3], 8, 1, np.float64, 256, 2),  # cross-warp reduction
        ("grid", [2, 1], 6, 1, np.float64, 32, 2),  # a block owning no column
        ("block", [80, 4, 2], 6, 2, np.float32, 32, 1),  # x row wider than the prefetch registers
        ("grid", [150, 9, 3], 6, 1, np.float64, 32, 3),
        ("grid_acqrel", [64, 32, 16, 10], 10, 1, np.float64, 64, 3),  # release/acquire barrier
        ("grid_acqrel", [20, 7, 5, 3], 8, 1, np.float32, 256, 2),
        # the grid kernel with all of the last weight matrix in every block
        ("grid_replicated", [64, 32, 16, 10], 10, 1, np.float64, 64, 3),
        ("grid_replicated", [64, 32, 16, 10], 8, 1, np.float32, 64, 4),
        ("grid_replicated", [20, 7, 5, 3], 8, 1, np.float64, 256, 2),
        ("grid_replicated", [150, 9, 3], 6, 1, np.float64, 32, 3),  # two matrices: one barrier a sample
        ("grid_replicated", [5, 4, 3, 3, 2], 7, 1, np.float64, 32, 3),  # four matrices
        ("grid_acqrel_replicated", [64, 32, 16, 10], 10, 1, np.float64, 64, 3),
        ("grid_acqrel_replicated", [9, 40, 3], 5, 1, np.float32, 64, 5),
    ],
)
def test_persistent_kernels_emulated_match_numpy(emulator, tmp_path, kernel, layers, N, K, dtype, threads, nb):
    replicate = kernel.endswith("_replicated")
    _emulate(
        emulator, tmp_path, kernel.removesuffix("_replicated"), layers, N, K, dtype, threads, nb, replicate=replicate
    )


@pytest.mark.parametrize(
    "layers,N,K,dtype,threads",
    [
        ([64, 32, 16, 10], 16, 2, np.float64, 128),  # digits shape, 2 networks
        ([64, 32, 16, 10], 12, 1, np.float32, 64),
        ([2, 2, 1], 8, 3, np.float64, 32),  # XOR shape, 3 alphas
        ([2, 1], 7, 1, np.float64, 32),  # no hidden layer
        ([70, 3, 1], 9, 1, np.float64, 256),  # generic groups would be wider than a warp
        ([80, 4, 2], 6, 2, np.float32, 32),  # x row wider than the block
        ([150, 9, 3], 5, 1, np.float64, 64),  # reduction over 151 with 32-lane groups
        ([64, 32, 16, 10], 1, 1, np.float64, 128),  # one sample: flush only, no prefetch
    ],
)
def test_fixed_block_kernel_emulated_matches_numpy_and_generic(emulator, tmp_path, layers, N, K, dtype, threads):
    """fastbp_sgd_block_fixed (shape as template arguments) gives NumPy's
    weights, and bitwise the generic kernel's where its groups are <= 32."""
    d = _dims(layers)
    ctype = "double" if dtype == np.float64 else "float"
    assert (ctype, threads, tuple(d)) in EMU_FIXED, "add the shape to EMU_FIXED"
    (tmp_path / "f").mkdir()
    (tmp_path / "g").mkdir()
    fixed = _emulate(emulator, tmp_path / "f", "block_fixed", layers, N, K, dtype, threads)
    generic = _emulate(emulator, tmp_path / "g", "block", layers, N, K, dtype, threads)
    L = len(d) - 1
    wide = any(
        src.fixed_group_size(d[l + 1], d[l], threads) != src.generic_group_size(d[l + 1], d[l], threads)
        for l in range(L)
    )
    wide |= any(
        src.fixed_group_size(d[l], d[l + 1], threads) != src.generic_group_size(d[l], d[l + 1], threads)
        for l in range(1, L)
    )
    if not wide:
        for l in range(len(d) - 1):
            np.testing.assert_array_equal(fixed[l], generic[l], err_msg=f"W[{l}] fixed != generic")


# ------------------------------------------- host code against a fake CuPy
def test_gpu_tests_pass_against_numpy_fake_cupy():
    """tests/test_cuda_backend.py with tests/_fake_cupy.py in place of CuPy
    (NumPy models of every kernel): the backend's host code, its launch
    arguments and the GPU tests themselves, without a GPU. The two
    1000-epoch reproductions are left to the real GPU (too slow in NumPy)."""
    code = (
        "import sys; sys.path[:0] = [{tests!r}, {root!r}]\n"
        "import _fake_cupy; _fake_cupy.install()\n"
        "import pytest\n"
        "sys.exit(pytest.main(['tests/test_cuda_backend.py', '-q', '-p', 'no:cacheprovider', '-p', 'no:randomly',"
        " '-k', 'not digits_accuracy and not train_api']))\n"
    ).format(tests=str(ROOT / "tests"), root=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], r.stdout[-2000:]


@pytest.mark.parametrize(
    "layers,N,K,dtype,threads",
    [
        ([64, 32, 16, 10], 16, 2, np.float64, 320),  # digits, 2 networks (blockIdx = network)
        ([64, 32, 16, 10], 12, 1, np.float32, 320),
        ([64, 32, 16, 10], 1, 1, np.float64, 320),  # one sample: flush only, no prefetch
        ([2, 2, 1], 8, 3, np.float64, 64),  # XOR shape, 3 alphas
        ([2, 99, 2], 6, 1, np.float64, 96),  # 2 columns of W[0] per thread (groups of 1)
        ([4, 8, 40], 5, 1, np.float64, 128),  # 40 outputs: two target registers per lane
        ([4, 2, 40], 5, 2, np.float32, 64),  # 2 sigmoids per lane in warp 0
        ([4, 39, 3], 6, 1, np.float64, 64),  # 2 hidden-delta stores per lane
        ([6, 5, 4, 3, 3], 7, 1, np.float64, 96),  # 4 weight matrices
    ],
)
def test_regs_kernel_emulated_matches_numpy(emulator, tmp_path, layers, N, K, dtype, threads):
    """fastbp_sgd_regs (weights in registers, two block barriers per sample)
    gives NumPy's weights for one and several networks."""
    d = _dims(layers)
    ctype = "double" if dtype == np.float64 else "float"
    assert (ctype, threads, tuple(d)) in EMU_REGS, "add the shape to EMU_REGS"
    assert src.regs_block_applies(d, np.dtype(dtype).itemsize, threads)
    _emulate(emulator, tmp_path, "regs", layers, N, K, dtype, threads)


def test_regs_layout_host_mirror():
    """The host's copies of the .cu's constexpr choices for fastbp_sgd_regs."""
    assert src.regs_block_name(np.float64, 320, DIGITS) == "fastbp_sgd_regs<double, 320, 65, 33, 17, 10>"
    assert src.regs_threads_for(DIGITS) == 320  # warp 0 + 33 columns x 8 lanes (9 warps)
    assert src.regs_elems(DIGITS, 320) == (25 + 9, 9 + 3 * 9)
    assert src.warp_tile(33, 17) == (8, 4, 5, 5) and src.warp_tile(17, 10) == (8, 4, 3, 3)
    assert src.warp_tile(3, 40) == (4, 8, 1, 5) and src.warp_tile(40, 3) == (8, 4, 5, 1)
    assert src.regs_block_applies(DIGITS, 8) and src.regs_block_applies(DIGITS, 4)
    assert not src.regs_block_applies([3, 1], 8)  # one matrix: fastbp_sgd_block_fixed
    assert not src.regs_block_applies(WIDE, 4)  # too many weights per thread
    assert not src.regs_block_applies([785, 33, 10], 8)  # 99 x values per thread
    assert src.regs_smem_elems(DIGITS) == 2 * (33 + 17 + 10) + 4 * 33 + 2 * 10 + 2
    # the register budget follows the thread count (nvcc spilled 43 doubles at 448 threads)
    assert src.regs_data_budget(320) == 96 and src.regs_data_budget(448) == 80
    assert not src.regs_block_applies([65, 49, 17, 10], 8) and src.regs_block_applies([65, 49, 17, 10], 4)
    for dt, nt, d in REGS_CHECKED:  # the nvcc-checked instantiations are ones the backend uses
        assert nt == src.regs_threads_for(d) and src.regs_block_applies(d, np.dtype(dt).itemsize)


def test_float64_sigmoid_emulated_matches_expit_and_numba(emulator, tmp_path):
    """The kernels' float64 sigmoid (fastbp_sigmoid_f64, compiled as host
    C++ with the same fma / correctly rounded reciprocal as the GPU): within
    4 ulp of scipy's expit, clamped tails finite, NaN kept, and bit for bit
    the numba backend's vector sigmoid (the same algorithm)."""
    from numba import njit
    from scipy.special import expit

    from fastbp.backends import _numba_kernels as k

    rs = np.random.RandomState(0)
    z = np.concatenate(
        [np.linspace(-40, 40, 20001), rs.randn(10000) * 5, [-800.0, 800.0, -709.5, 709.5, np.inf, -np.inf, np.nan]]
    )
    z.tofile(tmp_path / "z.bin")
    r = subprocess.run([str(emulator), "--sigmoid", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = np.fromfile(tmp_path / "s.bin", dtype=np.float64)
    fin = slice(0, len(z) - 7)
    np.testing.assert_allclose(got[fin], expit(z[fin]), rtol=4 * np.finfo(float).eps, atol=0)
    tails = got[-7:]
    assert np.isnan(tails[-1]) and tails[-3] == 1.0 and 0.0 <= tails[-2] < 1e-300
    assert np.isfinite(tails[:4]).all() and tails[1] == 1.0 and tails[3] == 1.0 and 0 <= tails[0] < 1e-300

    @njit
    def run(buf, n):
        k.vec_sigmoid(buf, 0, n)

    buf = np.zeros(len(z) + 8)
    buf[: len(z)] = z
    run(buf, len(z))
    np.testing.assert_array_equal(got, buf[: len(z)])
