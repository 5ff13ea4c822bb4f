"""GPU-free checks of the CUDA source (run in CI, which has no GPU).

* every kernel family compiles with NVRTC (cuda-bindings) for sm_80 and
  sm_90 with the options CuPy's RawModule passes, without warnings, and
  every name expression the backend asks for lowers to an entry in the cubin;
* where nvcc exists: ``nvcc --resource-usage`` shows no register spills, no
  stack, and static shared memory within what the plan assumes;
* the persistent kernels, compiled as host C++ (one thread per CUDA thread,
  one process per block, tests/cuda_emulation.cpp), give the NumPy
  reference's weights and losses over several epochs in one launch, bit for
  bit the weights of one launch per epoch, and stop a diverged network: their
  indexing, phase order, buffering, lazy update, epoch loop, loss and grid
  barrier (not the GPU memory model, not timing);
* the float64 sigmoid, through the emulation, is expit's to 4 ulp and the
  numba backend's bit for bit.

Compiles are cached by the hash of what they depend on (tests/_cuda_build.py)
and run in parallel.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _cuda_build import (
    CUDA_DIR,
    ROOT,
    Builds,
    all_cuda_files,
    emulator_build,
    kernel_params,
    nvcc_path,
    nvcc_resources,
    nvrtc_compile,
    nvrtc_module,
    parse_resources,
    source_text,
    tool_version,
)

from fastbp.backends.cuda import plan as pl
from fastbp.backends.cuda import source as src
from fastbp.backends.cuda import tune

ARCHS = ("80", "90")
DIGITS = (65, 33, 17, 10)
F64, F32 = np.dtype(np.float64), np.dtype(np.float32)

#: Shape-compiled kernels that NVRTC and nvcc compile: digits at the
#: backend's thread counts (one network, many), XOR, the widest float64 first
#: layer that fits one block, and register kernels at the edge of the
#: register budget (384 and 448 threads; 60 float32 values a thread).
BLOCK_CHECKED = [
    (F64, 512, DIGITS),
    (F32, 512, DIGITS),
    (F64, 256, DIGITS),
    (F32, 256, DIGITS),
    (F64, 32, (3, 3, 1)),
    (F64, 512, (785, 33, 10)),
]
REGS_CHECKED = [
    (F64, pl.regs_threads_for(DIGITS), DIGITS),
    (F32, pl.regs_threads_for(DIGITS), DIGITS),
    (F64, pl.regs_threads_for((3, 3, 1)), (3, 3, 1)),
    (F64, pl.regs_threads_for((65, 41, 17, 10)), (65, 41, 17, 10)),
    (F32, pl.regs_threads_for((65, 49, 17, 10)), (65, 49, 17, 10)),
    (F32, pl.regs_threads_for((65, 33, 33, 10)), (65, 33, 33, 10)),
]
NAMES = {
    "layers": src.layer_names(),
    "block": [src.shape_name("block", t, nt, d) for t, nt, d in BLOCK_CHECKED],
    "regs": [src.shape_name("regs", t, nt, d) for t, nt, d in REGS_CHECKED],
    "grid": [src.grid_name(t) for t in (F32, F64)],
}

#: Shapes the emulator is compiled for: (C type, threads, widths).
EMU_BLOCK = [
    ("double", 128, DIGITS),
    ("float", 64, DIGITS),
    ("double", 32, (3, 3, 1)),
    ("double", 32, (3, 1)),
    ("float", 32, (81, 5, 2)),
    ("double", 64, (151, 10, 3)),
    ("double", 256, (71, 4, 1)),
]
EMU_REGS = [
    ("double", 320, DIGITS),
    ("float", 320, DIGITS),
    ("double", 64, (3, 3, 1)),
    ("double", 96, (3, 100, 2)),
    ("double", 128, (5, 9, 40)),
    ("float", 64, (5, 3, 40)),
    ("double", 64, (5, 40, 3)),
    ("double", 96, (7, 6, 5, 4, 3)),
]
_EMU_LIST = {
    k: " ".join(f"F({t}, {nt}, {', '.join(map(str, d))})" for t, nt, d in v)
    for k, v in (("block", EMU_BLOCK), ("regs", EMU_REGS))
}


@pytest.fixture(scope="module")
def builds(request, tmp_path_factory):
    """Every compile of this module, started at once (parallel, cached)."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("fastbp-cuda") if cache is not None else tmp_path_factory.mktemp("fastbp-cuda")
    b = Builds(Path(folder))
    nvrtc, version = nvrtc_module()
    if nvrtc is not None:
        for fam, names in NAMES.items():
            files = (CUDA_DIR / src.HEADER, CUDA_DIR / src.FAMILY_FILES[fam])
            for arch in ARCHS:
                b.submit(
                    f"nvrtc-{fam}-{arch}",
                    [source_text(*files), repr(names), arch, version],
                    nvrtc_compile(fam, names, arch),
                )
    if nvcc_path() is not None:
        entries = [(fam, ne) for fam, names in NAMES.items() for ne in names]
        version = tool_version([nvcc_path(), "--version"])
        for arch in ARCHS:
            b.submit(
                f"nvcc-{arch}",
                [source_text(*all_cuda_files()), repr(entries), arch, version],
                nvcc_resources(entries, arch),
            )
    if shutil.which("g++") or shutil.which("c++"):
        gxx = shutil.which("g++") or shutil.which("c++")
        files = (*all_cuda_files(), ROOT / "tests" / "cuda_emulation.cpp")
        b.submit(
            "emulator",
            [source_text(*files), _EMU_LIST["block"], _EMU_LIST["regs"], tool_version([gxx, "--version"])],
            emulator_build(_EMU_LIST["block"], _EMU_LIST["regs"]),
        )
    yield b
    b.close()


# ----------------------------------------------------------------- source
def test_source_files_constants_and_entries():
    header = src.read_text(src.HEADER)
    for name, value in (("MAX_DIMS", src.MAX_DIMS), ("BLOCK_MAX_THREADS", src.BLOCK_MAX_THREADS)):
        assert re.search(rf"#define FASTBP_{name} {value}\b", header), name
    assert re.search(rf"#define FASTBP_GRID_THREADS {src.GRID_THREADS}\b", header)
    for code, value in (
        ("OK", src.STATUS_OK),
        ("BARRIER_TIMEOUT", src.STATUS_BARRIER_TIMEOUT),
        ("BAD_LAUNCH", src.STATUS_BAD_LAUNCH),
    ):
        assert re.search(rf"#define FASTBP_STATUS_{code} {value}\b", header), code
    for fam, f in src.FAMILY_FILES.items():
        assert (CUDA_DIR / f).is_file()
        code = src.load_source(fam)
        assert '#include "fastbp_common.cuh"' not in code and "fastbp_sigmoid_f64" in code  # the header inlined
        for entry in [src.ENTRIES[fam]] if fam in src.ENTRIES else (*src.LAYER_ENTRIES, *src.UNIT_LAYER_ENTRIES):
            assert kernel_params(code, entry)
    # every .cu / .cuh of the folder is a family file or the header, and is package data
    assert {p.name for p in all_cuda_files()} == {src.HEADER, *src.FAMILY_FILES.values()}


def test_checked_instantiations_are_ones_the_plan_makes():
    for dt, nt, d in REGS_CHECKED:
        assert nt == pl.regs_threads_for(d) and pl._regs_fits(d, dt.itemsize) is None, d
    # nvcc spills these (the budget keeps them off the register kernel)
    for d, itemsize in (((65, 45, 17, 10), 8), ((65, 49, 33, 10), 4), ((65, 33, 33, 10), 8)):
        assert pl._regs_fits(d, itemsize) is not None, d
    for _, nt, d in BLOCK_CHECKED:
        assert pl._block_fits(d, nt) is None, d


def test_source_hash_ignores_comments_not_code():
    h = src.source_hash("block")
    assert re.fullmatch(r"[0-9a-f]{16}", h) and h != src.source_hash("regs")
    assert src._strip_comments("a  // x\n/* y\n z */ b\n") == "a b"
    assert src._strip_comments("a + b") != src._strip_comments("a - b")


# ------------------------------------------------------------------ NVRTC
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", list(NAMES))
def test_nvrtc_compiles_every_entry(builds, family, arch):
    if nvrtc_module()[0] is None:
        pytest.skip(nvrtc_module()[1])
    r = builds.result(f"nvrtc-{family}-{arch}")
    assert r["ok"], r["log"]
    assert "warning" not in r["log"].lower(), r["log"]
    for ne in NAMES[family]:
        assert r["lowered"][ne] and r["lowered"][ne].startswith("_Z"), (ne, r["lowered"][ne])
        assert r["in_cubin"][ne], f"{ne} -> {r['lowered'][ne]} is not in the sm_{arch} cubin"


# ------------------------------------------------------------------- nvcc
@pytest.mark.parametrize("arch", ARCHS)
def test_nvcc_resource_usage_no_spills(builds, arch):
    if nvcc_path() is None:
        pytest.skip("nvcc is not on PATH (nor /usr/local/cuda/bin): resource usage not checked")
    r = builds.result(f"nvcc-{arch}")
    assert r["rc"] == 0, r["out"]
    res = parse_resources(r["out"])
    assert len(res) == sum(len(v) for v in NAMES.values()), r["out"]
    for name, u in res.items():
        assert (u["stack"], u["spill_stores"], u["spill_loads"]) == (0, 0, 0), f"{name} spills on sm_{arch}: {u}"
        for fam, entry in src.ENTRIES.items():
            if entry in name:
                assert u["smem"] <= pl.STATIC_SMEM_BYTES[fam], f"{name}: {u['smem']} B static shared memory"
        m = re.search(r"fastbp_train_(?:block|regs)I[fd]Li(\d+)E", name)
        if m:  # its threads x registers fit the 64K register file (one block per SM at least)
            assert u["registers"] * int(m.group(1)) <= 65536, (name, u)
        if "fastbp_train_grid" in name:
            assert u["registers"] * src.GRID_THREADS <= 65536, (name, u)
        assert u["smem"] <= pl.DEFAULT_SMEM_BYTES


# -------------------------------------------------------------- emulation
_KERNEL_IDS = {"block": 0, "regs": 1, "grid": 2}


@pytest.fixture(scope="module")
def emulator(builds):
    if "emulator" not in builds.jobs:
        pytest.skip("no C++ compiler: kernel emulation not run")
    r = builds.result("emulator")
    if r["rc"] != 0 and "barrier" in r["err"] and "No such file" in r["err"]:
        pytest.skip(f"the C++ compiler lacks C++20 <barrier>: {r['err'][:300]}")
    assert r["rc"] == 0, r["err"]
    return Path(r["dir"]) / "cuda_emulation"


def problem(d, N, K, E, record, dtype, seed=0):
    """Random weights (network k's own alpha), data and a loss schedule, as
    plan.check_problem lays them out."""
    rs = np.random.RandomState(seed)
    dt = np.dtype(dtype)
    L = len(d) - 1
    W = [(rs.randn(K, d[l], d[l + 1]) / np.sqrt(d[l])).astype(dt) for l in range(L)]
    X1 = np.hstack([rs.rand(N, d[0] - 1), np.ones((N, 1))]).astype(dt)
    Y = (rs.rand(N, d[L]) > 0.5).astype(dt)
    alphas = 0.1 + 0.4 * rs.rand(K)
    return dict(W=W, X1=X1, Y=Y, alphas=alphas, epochs=E, record=np.asarray(record, np.int64))


def emulate(exe, tmp_path: Path, kernel, prob, threads, nb=1, replicate=False):
    """Runs ``kernel`` on ``prob`` in the emulator: (weights, losses (R, K))."""
    W = prob["W"]
    dt = W[0].dtype
    d = pl.dims_of([w.shape for w in W])
    L, K, N = len(d) - 1, W[0].shape[0], prob["X1"].shape[0]
    if kernel == "grid":
        smem = pl.grid_smem_elems(d, nb, threads, replicate=replicate)
    else:
        smem = pl.regs_smem_elems(d) if kernel == "regs" else pl.block_smem_elems(d, threads)
    R = len(prob["record"])
    params = [_KERNEL_IDS[kernel], dt.itemsize, L, N, K, nb, threads, smem * dt.itemsize, int(60e9), int(replicate)]
    np.array([*params, prob["epochs"], R], np.int64).tofile(tmp_path / "params.i64")
    np.array(d, np.int32).tofile(tmp_path / "dims.i32")
    for l, w in enumerate(W):
        np.ascontiguousarray(w).tofile(tmp_path / f"w{l}.bin")
    prob["X1"].tofile(tmp_path / "x.bin")
    prob["Y"].tofile(tmp_path / "y.bin")
    np.asarray(prob["alphas"], dt).tofile(tmp_path / "alphas.bin")
    np.asarray(prob["record"], np.int32).tofile(tmp_path / "record.i32")
    r = subprocess.run([str(exe), str(tmp_path)], capture_output=True, text=True, timeout=600)
    status = (tmp_path / "status.txt").read_text() if (tmp_path / "status.txt").exists() else ""
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:], status)
    out = [np.fromfile(tmp_path / f"w{l}.out", dtype=dt).reshape(W[l].shape) for l in range(L)]
    return out, np.fromfile(tmp_path / "losses.f64").reshape(R, K)


def assert_matches_reference(prob, got, losses):
    ref, ref_losses = tune.reference(prob)
    f64 = prob["W"][0].dtype == np.float64
    tol = 1e-13 if f64 else 2e-6
    for l, (g, r) in enumerate(zip(got, ref)):
        for k in range(g.shape[0]):
            err = np.max(np.abs(g[k].astype(np.float64) - r[k])) / np.max(np.abs(r[k]))
            assert err <= tol, f"network {k} W[{l}]: relative error {err:.3g} > {tol}"
            assert not np.array_equal(g[k], prob["W"][l][k])  # it trained
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-12 if f64 else 1e-5)


def _ctype(dt):
    return src.ctype(dt)


@pytest.mark.parametrize(
    "d,threads,dtype,N,K,E,record",
    [
        (DIGITS, 128, F64, 12, 2, 2, [1, 2]),  # digits shape, 2 networks
        (DIGITS, 64, F32, 10, 1, 2, [2]),
        ((3, 3, 1), 32, F64, 4, 3, 3, [1, 3]),  # XOR shape, 3 alphas
        ((3, 1), 32, F64, 7, 1, 2, [1, 2]),  # no hidden layer
        ((81, 5, 2), 32, F32, 6, 2, 1, [1]),  # x row wider than the block
        ((151, 10, 3), 64, F64, 5, 1, 2, [2]),  # reduction over 151 with 32-lane groups
        ((71, 4, 1), 256, F64, 5, 1, 2, []),  # no loss recorded
        (DIGITS, 128, F64, 1, 1, 3, [1, 2, 3]),  # one sample: flush only, no prefetch
    ],
)
def test_block_kernel_emulated_matches_numpy(emulator, tmp_path, d, threads, dtype, N, K, E, record):
    assert (_ctype(dtype), threads, d) in EMU_BLOCK, "add the shape to EMU_BLOCK"
    prob = problem(d, N, K, E, record, dtype)
    got, losses = emulate(emulator, tmp_path, "block", prob, threads)
    assert_matches_reference(prob, got, losses)


@pytest.mark.parametrize(
    "d,threads,dtype,N,K,E,record",
    [
        (DIGITS, 320, F64, 12, 2, 2, [1, 2]),  # digits, 2 networks (blockIdx = network)
        (DIGITS, 320, F32, 10, 1, 2, [2]),
        (DIGITS, 320, F64, 1, 1, 2, [1, 2]),  # one sample: flush only, no prefetch
        ((3, 3, 1), 64, F64, 4, 3, 3, [1, 3]),  # XOR shape, 3 alphas
        ((3, 100, 2), 96, F64, 6, 1, 2, [2]),  # 2 columns of W[0] per thread (groups of 1; not the plan's 448 threads)
        ((5, 9, 40), 128, F64, 5, 1, 2, [1, 2]),  # 40 outputs: two target registers per lane
        ((5, 3, 40), 64, F32, 5, 2, 1, [1]),  # 2 sigmoids per lane in warp 0
        ((5, 40, 3), 64, F64, 6, 1, 2, [2]),  # 2 hidden-delta stores per lane
        ((7, 6, 5, 4, 3), 96, F64, 7, 1, 2, [1, 2]),  # 4 weight matrices
    ],
)
def test_regs_kernel_emulated_matches_numpy(emulator, tmp_path, d, threads, dtype, N, K, E, record):
    assert (_ctype(dtype), threads, d) in EMU_REGS, "add the shape to EMU_REGS"
    prob = problem(d, N, K, E, record, dtype)
    got, losses = emulate(emulator, tmp_path, "regs", prob, threads)
    assert_matches_reference(prob, got, losses)


@pytest.mark.parametrize(
    "d,threads,nb,replicate,dtype,N,K",
    [
        (DIGITS, 64, 3, False, F64, 8, 1),
        (DIGITS, 64, 3, True, F64, 8, 2),  # two networks: one launch each
        (DIGITS, 64, 4, True, F32, 6, 1),
        ((21, 8, 6, 3), 256, 2, False, F64, 6, 1),  # cross-warp reductions
        ((21, 8, 6, 3), 256, 2, True, F64, 6, 1),
        ((3, 1), 32, 2, False, F64, 5, 1),  # a block owning no column
        ((151, 10, 3), 32, 3, True, F64, 5, 1),  # two matrices: one barrier a sample
        ((151, 10, 3), 32, 3, False, F64, 5, 1),
        ((6, 5, 4, 4, 2), 32, 3, True, F64, 5, 1),  # four matrices
        ((10, 41, 3), 64, 5, True, F32, 5, 1),
    ],
)
def test_grid_kernel_emulated_matches_numpy(emulator, tmp_path, d, threads, nb, replicate, dtype, N, K):
    prob = problem(d, N, K, 2, [1, 2], dtype)
    got, losses = emulate(emulator, tmp_path, "grid", prob, threads, nb, replicate)
    assert_matches_reference(prob, got, losses)


@pytest.mark.parametrize(
    "kernel,d,threads,nb,replicate",
    [
        ("block", (151, 10, 3), 64, 1, False),
        ("regs", (7, 6, 5, 4, 3), 96, 1, False),
        ("grid", DIGITS, 64, 3, True),
        ("grid", DIGITS, 64, 3, False),
    ],
)
def test_epochs_in_one_launch_equal_one_launch_per_epoch(emulator, tmp_path, kernel, d, threads, nb, replicate):
    """Bit for bit: the weights and losses of 3 epochs in one launch, and of
    3 launches of one epoch each."""
    K = 1 if kernel == "grid" else 2
    prob = problem(d, 9, K, 3, [1, 2, 3], F64, seed=4)
    (tmp_path / "all").mkdir()
    one, losses = emulate(emulator, tmp_path / "all", kernel, prob, threads, nb, replicate)
    W = prob["W"]
    per_epoch = []
    for e in range(3):
        (tmp_path / f"e{e}").mkdir()
        W, le = emulate(
            emulator,
            tmp_path / f"e{e}",
            kernel,
            dict(prob, W=W, epochs=1, record=np.array([1])),
            threads,
            nb,
            replicate,
        )
        per_epoch.append(le[0])
    for a, b in zip(one, W):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(losses, np.array(per_epoch))


@pytest.mark.parametrize("kernel,threads,nb", [("block", 128, 1), ("regs", 320, 1), ("grid", 64, 3)])
def test_a_network_with_a_non_finite_weight_records_nan_and_stops(emulator, tmp_path, kernel, threads, nb):
    """An infinite weight in the last layer (the loss alone could stay finite):
    NaN from the first recorded epoch on; the other network trains on."""
    prob = problem(DIGITS, 6, 2, 3, [1, 3], F64, seed=5)
    prob["W"][2][1, 0, 0] = np.inf
    got, losses = emulate(emulator, tmp_path, kernel, prob, threads, nb)
    assert np.isnan(losses[:, 1]).all() and np.isfinite(losses[:, 0]).all()
    ref, ref_losses = tune.reference(dict(prob, W=[w[:1] for w in prob["W"]]))
    np.testing.assert_allclose(losses[:, :1], ref_losses, rtol=1e-12)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g[0], r[0], rtol=1e-13, atol=1e-13)


def test_float64_sigmoid_emulated_matches_expit_and_numba(emulator, tmp_path):
    """The kernels' float64 sigmoid (fastbp_sigmoid_f64, compiled as host
    C++ with the same fma / correctly rounded reciprocal as the GPU): within
    4 ulp of scipy's expit, clamped tails finite, NaN kept, and bit for bit
    the numba backend's vector sigmoid (the same algorithm)."""
    from numba import njit
    from scipy.special import expit

    from fastbp.backends.numba import units as k

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
