"""The cuda backend's launch plans, without CuPy or a GPU: which kernels
serve a workload (the tuner's candidates), each kernel's launch shape and
limits, the launch arguments against the kernels' parameter lists in the .cu
files, and the unavailable message on a machine without a GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cuda_build import kernel_params

from fastbp import backends
from fastbp.backends.cuda import plan as pl
from fastbp.backends.cuda import source as src

ROOT = Path(__file__).resolve().parents[1]
DIGITS = (65, 33, 17, 10)
WIDE = (785, 257, 129, 10)
MNIST = (785, 301, 101, 10)
H200 = pl.Device(sm_count=132, smem_optin=232448, cc=(9, 0), cooperative=True, name="NVIDIA H200")


def plan(d, dtype=np.float64, K=1, dev=H200, kernel="block", **kw):
    return pl.plan_train(d, dtype, K, dev, kernel, **kw)


def serving(d, dtype=np.float64, K=1, dev=H200, units=("sigmoid", "sigmoid")):
    return [k for k, p in pl.candidates(d, dtype, K, dev, units).items() if isinstance(p, pl.Plan)]


# ------------------------------------------------------------------ plans
def test_the_candidates_are_every_kernel_that_serves_the_workload():
    assert list(pl.LABELS) == ["regs", "block", "grid", "grid-slices", "step"]
    assert serving(DIGITS) == list(pl.LABELS)
    assert serving(DIGITS, K=512) == list(pl.LABELS)  # regs beyond one network per SM: the timing decides
    assert serving(WIDE) == serving(MNIST) == ["grid", "grid-slices", "step"]
    assert serving(WIDE, np.float32) == ["grid", "grid-slices", "step"]
    assert serving((3, 1)) == ["block", "grid-slices", "step"]  # one weight matrix
    assert serving(DIGITS, dev=pl.Device(80, 166912, cc=(6, 1))) == ["block", "grid", "grid-slices", "step"]
    assert serving(WIDE, dev=pl.Device(132, 232448, cooperative=False)) == ["step"]
    assert serving(WIDE, dev=pl.Device(4, 48 * 1024)) == ["step"]  # slices too large
    big = (2049, 1025, 10)  # float64: a replicated 1025 x 10 matrix does not fit beside W[0]'s slices
    assert serving(big) == ["grid-slices", "step"] and serving(big, np.float32)[0] == "grid"
    for units in (("relu", "softmax"), ("tanh", "sigmoid"), ("sigmoid", "linear")):
        assert serving(DIGITS, units=units) == ["step"]
    why = pl.candidates(WIDE, np.float64, 1, H200)
    assert "shared memory" in why["block"] and "registers of weights" in why["regs"]
    assert "implements only sigmoid units" in pl.candidates(DIGITS, np.float64, 1, H200, ("relu", "softmax"))["block"]


def test_each_label_is_its_kernels_plan():
    for label, (kernel, force) in pl.LABELS.items():
        p = pl.plan_label(label, DIGITS, np.float64, 2, H200)
        assert p.kernel == kernel and p.label == label and p.replicate == force.get("replicate", False)
    with pytest.raises(ValueError, match="kernel must be one of 'regs', 'block'"):
        pl.plan_label("fast", DIGITS, np.float64, 1, H200)


def test_block_kernel_plans():
    p = plan(DIGITS, kernel="block")
    assert (p.kernel, p.threads, p.blocks) == ("block", 512, 1)
    assert p.name == "fastbp_train_block<double, 512, 65, 33, 17, 10>"
    assert p.smem_bytes == 8 * (2876 + 3 * 65 + 2 * 10 + 4 * (33 + 17 + 10) + 512 // 32) <= pl.DEFAULT_SMEM_BYTES
    many = plan(DIGITS, K=512)
    assert (many.kernel, many.threads, many.blocks) == ("block", 256, 512)
    assert plan(DIGITS, np.float32, K=8, kernel="block").name == "fastbp_train_block<float, 256, 65, 33, 17, 10>"


def test_register_and_grid_kernel_plans():
    p = plan(DIGITS, kernel="regs")
    assert (p.kernel, p.threads, p.name) == ("regs", 320, "fastbp_train_regs<double, 320, 65, 33, 17, 10>")
    assert p.smem_bytes == 8 * pl.regs_smem_elems(DIGITS)
    g = plan(WIDE, kernel="grid")
    assert (g.kernel, g.blocks, g.threads, g.replicate) == ("grid", 132, 256, True)
    assert g.smem_bytes == 8 * pl.grid_smem_elems(WIDE, 132, replicate=True) and g.name == "fastbp_train_grid<double>"
    assert not plan((2049, 1025, 10), kernel="grid").replicate  # where the last layer does not fit every block
    assert "last layer in every block" in g.describe() and "132 blocks a network" in g.describe()
    assert plan(DIGITS, K=1).describe() == plan(DIGITS, K=1).describe()  # no network count in it


def test_forced_plans_and_their_errors():
    assert plan(DIGITS, kernel="grid", blocks=7).blocks == 7
    with pytest.raises(ValueError, match="implements only sigmoid units"):
        plan(DIGITS, kernel="block", units=("relu", "softmax"))
    assert plan(DIGITS, kernel="step", units=("relu", "softmax")).units == ("relu", "softmax")
    assert not plan(DIGITS, kernel="grid", replicate=False).replicate
    assert plan(DIGITS, kernel="regs", K=500).kernel == "regs"  # forced: any number of networks
    assert plan(DIGITS, kernel="block", threads=128).threads == 128
    with pytest.raises(ValueError, match="shared memory"):
        plan(WIDE, kernel="block")
    with pytest.raises(ValueError, match="kernel must be one of"):
        plan(DIGITS, kernel="fast")
    with pytest.raises(ValueError, match="multiple of 32"):
        plan(DIGITS, kernel="block", threads=100)
    with pytest.raises(ValueError, match="nothing to replicate"):
        plan((785, 10), kernel="grid", replicate=True)
    with pytest.raises(ValueError, match="registers of weights"):
        plan(WIDE, kernel="regs")


def test_block_limits_and_thread_heuristic():
    assert pl.block_threads_for(DIGITS) == 512 and pl.block_threads_for(DIGITS, many=True) == 256
    assert pl.block_threads_for((3, 3, 1)) == 32
    assert pl.block_unroll(DIGITS, 512) == 9 and pl.block_unroll((785, 33, 10), 512) == 99
    with pytest.raises(ValueError, match="unrolled"):  # 263 unrolled iterations per phase
        plan((8401, 1), np.float32, kernel="block")

    def fits(n):  # the largest float64 n-n-1 in one block of an H200
        try:
            plan((n + 1, n + 1, 1), kernel="block")
        except ValueError:
            return False
        return True

    assert fits(100) and not fits(200)


def test_register_kernel_layout_mirrors_the_cu():
    assert pl.regs_threads_for(DIGITS) == 320  # warp 0 + 33 columns x 8 lanes (9 warps)
    assert pl.regs_elems(DIGITS, 320) == (25 + 9, 9 + 3 * 9)
    assert pl.warp_tile(33, 17) == (8, 4, 5, 5) and pl.warp_tile(17, 10) == (8, 4, 3, 3)
    assert pl.warp_tile(3, 40) == (4, 8, 1, 5) and pl.warp_tile(40, 3) == (8, 4, 5, 1)
    assert pl.regs_smem_elems(DIGITS) == 2 * (33 + 17 + 10) + 4 * 33 + 2 * 10 + 2
    # the register budget follows ptxas's allocation per 128 threads
    assert pl.regs_data_budget(320) == 84 and pl.regs_data_budget(448) == 44
    assert pl._regs_fits(WIDE, 4) and pl._regs_fits((785, 33, 10), 8)  # too many weights per thread


def test_loss_scratch_and_workspace():
    assert pl.hmax(DIGITS) == 33 and pl.hmax((3, 1)) == 1
    assert pl.loss_scratch_elems(DIGITS, 512, 256) == 512 * 8 * 2 * 33
    assert pl.grid_workspace_elems(WIDE) == 4 * (257 + 129 + 10)


# ------------------------------------------------------- launch arguments
#: kernel_args keyword of a kernel parameter, where the names differ.
_KEYWORD = {"dims_g": "dims", "E": "epochs"}


@pytest.mark.parametrize(
    "p",
    [
        plan(DIGITS, kernel="block"),
        plan(DIGITS, np.float32, K=3, kernel="block"),
        plan(DIGITS, kernel="regs", K=2),
        plan(WIDE, kernel="grid", K=2),
    ],
    ids=["block-f64", "block-f32", "regs", "grid"],
)
def test_launch_arguments_match_the_kernel_parameters(p):
    """Every argument of a launch is the one the kernel's parameter of that
    position names, of the parameter's C type (arrays by dtype, scalars as
    NumPy scalars: CuPy passes a Python int as 64 bits)."""
    dt = np.dtype(p.dtype)
    L = len(p.dims) - 1
    N, E, R = 7, 5, 3
    arrays = dict(
        wptrs=np.zeros(L, np.uint64),
        dims=np.asarray(p.dims, np.int32),
        X1=np.zeros((N, p.dims[0]), dt),
        Y=np.zeros((N, p.dims[-1]), dt),
        alphas=np.zeros(p.K, dt),
        record=np.arange(1, R + 1, dtype=np.int32),
        losses=np.zeros((R, p.K)),
        scratch=np.zeros(pl.loss_scratch_elems(p.dims, p.blocks, p.threads), dt),
    )
    grid = dict(
        ws=np.zeros(pl.grid_workspace_elems(p.dims), dt),
        part=np.zeros(p.blocks),
        counter=np.zeros(1, np.uint64),
        status=np.zeros(1, np.int32),
    )
    kw = dict(arrays, **(grid if p.kernel == "grid" else {}))
    args = pl.kernel_args(p, epochs=E, net=1, **kw)
    params = kernel_params(src.load_source(p.kernel), src.ENTRIES[p.kernel])
    assert len(args) == len(params), (params, args)
    scalars = {
        "N": N,
        "E": E,
        "R": R,
        "L": L,
        "net": 1,
        "K": p.K,
        "timeout_ns": pl.BARRIER_TIMEOUT_NS,
        "replicate": int(p.replicate),
    }
    ctypes = {
        "T": dt,
        "double": np.dtype(np.float64),
        "int": np.dtype(np.int32),
        "unsigned long long": np.dtype(np.uint64),
    }
    for (typ, name), a in zip(params, args):
        base = typ.replace("const ", "").rstrip("*").strip()
        if typ.endswith("*"):
            assert a is kw[_KEYWORD.get(name, name)], f"parameter {name} gets another array"
            assert a.dtype == ctypes[base], (name, a.dtype, typ)
        else:
            assert isinstance(a, np.generic) and a.dtype == ctypes[base], (name, type(a), typ)
            assert int(a) == scalars[name], (name, a)
    with pytest.raises(ValueError, match="no training kernel"):
        pl.kernel_args(plan(WIDE, kernel="step"), epochs=1, **arrays)


def test_plan_keys_separate_configurations_not_network_counts():
    assert plan(DIGITS, K=300).key == plan(DIGITS, K=301, threads=256).key
    assert plan(DIGITS, K=300).key != plan(DIGITS, K=1).key  # 256 vs 512 threads
    assert plan(WIDE, kernel="grid", blocks=33).key != plan(WIDE, kernel="grid", blocks=66).key
    assert plan(DIGITS, np.float32).key != plan(DIGITS).key


# ---------------------------------------------------- without a GPU
def _has_gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def test_unavailable_message_without_gpu():
    """On a machine without a GPU/driver/CuPy the backend is unavailable and
    says what is missing and the install command; import fastbp still works."""
    if _has_gpu():
        pytest.skip("this machine has a GPU: the backend is available")
    why = backends.unavailable_reason("cuda")
    assert why is not None
    assert "fastbp[cuda13]" in why and "fastbp[cuda12]" in why and "cuda" in why.lower()
    assert backends.unavailable_reason("cupy") == why  # the alias


def test_import_without_gpu_does_not_hang():
    code = "import fastbp, fastbp.backends as b, fastbp.backends.cuda.plan; print(b.unavailable_reason('cuda'))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
