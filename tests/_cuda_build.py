"""Compiling the CUDA source without a GPU, for tests/test_cuda_source.py:
NVRTC (cuda-bindings), nvcc --resource-usage, and the host emulation
(tests/cuda_emulation.cpp, g++).

Every result is cached on disk under a key that hashes everything the result
depends on (the source text, the compiler's version, the options, the names
asked for, this file), so a changed kernel is always recompiled and an
unchanged one is read back in milliseconds. The cache lives in pytest's cache
directory (``.pytest_cache/d/fastbp-cuda``), or in a temporary folder when
the cache plugin is off. ``Builds`` runs the independent compiles on a
thread pool (NVRTC releases the GIL; nvcc and g++ are subprocesses).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from fastbp.backends.cuda import source as src

ROOT = Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "fastbp" / "backends" / "cuda"
#: What CuPy 14's RawModule adds to our options for NVRTC (cupy/cuda/compiler.py).
CUPY_EXTRA_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")


def source_text(*paths: Path) -> str:
    """The text of ``paths`` and of this file: part of every cache key."""
    return "\n".join(f"== {p.name}\n{p.read_text()}" for p in (*paths, Path(__file__)))


def all_cuda_files() -> list[Path]:
    return sorted(CUDA_DIR.glob("*.cu*"))


def cached(cache_dir: Path, parts: list[str], compute: Callable[[Path], dict]) -> dict:
    """``compute(folder)``'s result (JSON), computed once per distinct
    ``parts``; the folder holds its files (e.g. an executable) too."""
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    done = cache_dir / key
    if (done / "result.json").is_file():
        return {**json.loads((done / "result.json").read_text()), "dir": str(done)}
    work = Path(tempfile.mkdtemp(prefix="tmp-", dir=cache_dir))
    result = compute(work)
    (work / "result.json").write_text(json.dumps(result))
    try:
        os.replace(work, done)  # atomic; a concurrent run may have made it first
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    result = json.loads((done / "result.json").read_text())
    return {**result, "dir": str(done)}


def kernel_params(code: str, entry: str) -> list[tuple[str, str]]:
    """(type, name) of each parameter of kernel ``entry`` defined in ``code``,
    types without __restrict__ and spaces normalised (e.g. "const T*")."""
    m = re.search(rf"\b{entry}\(([^)]*)\)\s*\{{", code)
    assert m, f"{entry} is not defined"
    out = []
    for p in m.group(1).split(","):
        p = " ".join(p.replace("__restrict__", "").split())
        typ, name = p.rsplit(" ", 1)
        if name.startswith("*"):
            typ, name = typ + "*", name[1:]
        out.append((typ.replace(" *", "*"), name))
    return out


# ------------------------------------------------------------------- NVRTC
def nvrtc_module():
    """cuda.bindings.nvrtc, or None with the reason."""
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        return None, f"cuda-bindings is not installed ({exc}); pip install 'fastbp[test]'"
    try:
        err, major, minor = nvrtc.nvrtcVersion()
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(err)
    except Exception as exc:  # libnvrtc missing
        return None, f"NVRTC is not loadable ({exc}); pip install nvidia-cuda-nvrtc"
    return nvrtc, f"{major}.{minor}"


def nvrtc_compile(family: str, names: list[str], arch: str) -> Callable[[Path], dict]:
    """NVRTC compile of ``family`` as CuPy does it: {ok, log, lowered:
    {name: lowered name or None}, in_cubin: {name: bool}}."""

    def run(_: Path) -> dict:
        nvrtc, _v = nvrtc_module()
        code = src.load_source(family).encode()
        _, prog = nvrtc.nvrtcCreateProgram(code, f"{family}.cu".encode(), 0, [], [])
        try:
            for ne in names:
                nvrtc.nvrtcAddNameExpression(prog, ne.encode())
            opts = [o.encode() for o in (*src.COMPILE_OPTIONS, *CUPY_EXTRA_OPTIONS, f"-arch=sm_{arch}")]
            res = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
            _, size = nvrtc.nvrtcGetProgramLogSize(prog)
            # NVRTC writes into the buffer it is given: a fresh bytearray, never a bytes object (``b" " * 1``
            # is the interpreter's shared one-byte b" ", which a one-byte log would overwrite for the whole process)
            log = bytearray(size)
            nvrtc.nvrtcGetProgramLog(prog, log)
            out = {"ok": res[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS, "log": log.decode(errors="replace").strip("\0 ")}
            if not out["ok"]:
                return out
            _, csize = nvrtc.nvrtcGetCUBINSize(prog)
            cubin = bytearray(csize)
            nvrtc.nvrtcGetCUBIN(prog, cubin)
            lowered, in_cubin = {}, {}
            for ne in names:
                e, low = nvrtc.nvrtcGetLoweredName(prog, ne.encode())
                low = low if isinstance(low, bytes) else str(low).encode()
                lowered[ne] = low.decode() if e == nvrtc.nvrtcResult.NVRTC_SUCCESS else None
                in_cubin[ne] = bool(lowered[ne]) and low in cubin
            return {**out, "lowered": lowered, "in_cubin": in_cubin}
        finally:
            nvrtc.nvrtcDestroyProgram(prog)

    return run


# -------------------------------------------------------------------- nvcc
def nvcc_path() -> str | None:
    exe = shutil.which("nvcc")
    if exe is None and os.path.exists("/usr/local/cuda/bin/nvcc"):
        exe = "/usr/local/cuda/bin/nvcc"
    return exe


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except OSError as exc:
        return f"unavailable: {exc}"


def instantiation_unit(entries: list[tuple[str, str]]) -> str:
    """A .cu that includes every family and explicitly instantiates
    ``entries`` ((family, name expression)): nvcc has no name expressions."""
    lines = [f'#include "{CUDA_DIR / f}"' for f in src.FAMILY_FILES.values()]
    code = {fam: src.load_source(fam) for fam in src.FAMILY_FILES}
    for fam, ne in entries:
        entry, targs = ne.split("<", 1)
        t = targs.split(",")[0].rstrip(">").strip()
        params = ", ".join(typ.replace("T*", f"{t}*") for typ, _ in kernel_params(code[fam], entry))
        lines.append(f"template __global__ void {ne}({params});")
    return "\n".join(lines) + "\n"


def nvcc_resources(entries: list[tuple[str, str]], arch: str) -> Callable[[Path], dict]:
    """nvcc --resource-usage of ``entries``: {rc, out}."""

    def run(work: Path) -> dict:
        unit = work / "all.cu"
        unit.write_text(instantiation_unit(entries))
        cmd = [nvcc_path(), "--std=c++17", "-ftz=true", "--resource-usage", f"-arch=sm_{arch}", "-cubin"]
        r = subprocess.run([*cmd, "-o", str(work / "k.cubin"), str(unit)], capture_output=True, text=True, timeout=600)
        return {"rc": r.returncode, "out": r.stdout + r.stderr}

    return run


def parse_resources(out: str) -> dict[str, dict[str, int]]:
    """Per entry (mangled name): registers, stack, spill stores/loads, static shared memory."""
    res: dict[str, dict[str, int]] = {}
    for chunk in out.split("Compiling entry function '")[1:]:
        name = chunk.split("'", 1)[0]
        props = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", chunk)
        regs = re.search(r"Used (\d+) registers", chunk)
        smem = re.search(r"(\d+) bytes smem", chunk)
        assert props and regs, chunk
        res[name] = {
            "stack": int(props.group(1)),
            "spill_stores": int(props.group(2)),
            "spill_loads": int(props.group(3)),
            "registers": int(regs.group(1)),
            "smem": int(smem.group(1)) if smem else 0,
        }
    return res


# --------------------------------------------------------------- emulation
def emulator_build(block_list: str, regs_list: str) -> Callable[[Path], dict]:
    """g++ build of tests/cuda_emulation.cpp with the shape lists: {rc, err}."""

    def run(work: Path) -> dict:
        gxx = shutil.which("g++") or shutil.which("c++")
        cmd = [
            gxx,
            "-std=c++20",
            "-O1",
            "-pthread",
            "-ffp-contract=off",
            f"-DFASTBP_EMU_BLOCK_LIST={block_list}",
            f"-DFASTBP_EMU_REGS_LIST={regs_list}",
            "-o",
            str(work / "cuda_emulation"),
            str(ROOT / "tests" / "cuda_emulation.cpp"),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        return {"rc": r.returncode, "err": r.stderr[-3000:]}

    return run


class Builds:
    """The compile jobs of one pytest run, started together on a thread pool."""

    def __init__(self, cache_dir: Path):
        self.cache_dir = cache_dir
        self.pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
        self.jobs: dict[str, Future] = {}

    def submit(self, key: str, parts: list[str], compute: Callable[[Path], dict]) -> None:
        """Starts ``compute`` (cached under ``parts``: everything it depends on)."""
        if key not in self.jobs:
            self.jobs[key] = self.pool.submit(cached, self.cache_dir, parts, compute)

    def result(self, key: str) -> dict:
        return self.jobs[key].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
