"""The CUDA source of the cuda backend: files, kernel families, name expressions.

This module never imports CuPy: the GPU-free tests (NVRTC and nvcc checks,
the CPU emulation) and the backend share one list of files and names.

Each family is one ``.cu`` file that includes ``fastbp_common.cuh``;
``load_source(family)`` returns the header and the file as one text (the
include inlined), so NVRTC needs no include path and an installed package
reads both from its package data.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from importlib.resources import files

import numpy as np
from numpy.typing import DTypeLike

HEADER = "fastbp_common.cuh"
#: Kernel family -> its file.
FAMILY_FILES = {
    "layers": "fastbp_layers.cu",
    "block": "fastbp_block.cu",
    "regs": "fastbp_regs.cu",
    "grid": "fastbp_grid.cu",
}
#: Kernel family -> its entry template.
ENTRIES = {
    "block": "fastbp_train_block",
    "regs": "fastbp_train_regs",
    "grid": "fastbp_train_grid",
}
#: The contract's batched kernels (family "layers"), templates on the element type.
LAYER_ENTRIES = ("fastbp_forward", "fastbp_hidden_delta")
#: The same with other units than the sigmoid, templates on the element type and a unit code.
UNIT_LAYER_ENTRIES = ("fastbp_forward_unit", "fastbp_hidden_delta_unit")
#: The UNIT template argument of the "_unit" entries for each unit (fastbp_layers.cu's fastbp_unit).
UNIT_CODES = {"tanh": 1, "relu": 2, "linear": 3}
#: The units each "_unit" entry is compiled for (the hidden delta's: the hidden activations).
UNIT_ENTRY_UNITS = {"fastbp_forward_unit": ("tanh", "relu", "linear"), "fastbp_hidden_delta_unit": ("tanh", "relu")}

CTYPES: dict[np.dtype, str] = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

#: Options passed to cupy.RawModule (CuPy adds -arch and -ftz=true itself).
COMPILE_OPTIONS: tuple[str, ...] = ("--std=c++17",)

#: Must match the #defines in fastbp_common.cuh (tests check it).
MAX_DIMS = 64
BLOCK_MAX_THREADS = 512
GRID_THREADS = 256

#: Status codes of fastbp_train_grid.
STATUS_OK = 0
STATUS_BARRIER_TIMEOUT = 1
STATUS_BAD_LAUNCH = 2

_INCLUDE = re.compile(r'^#include "fastbp_common\.cuh"\s*$', re.M)


def ctype(dtype: DTypeLike) -> str:
    """ "float" or "double" for float32 / float64."""
    return CTYPES[np.dtype(dtype)]


def layer_name(entry: str, dtype: DTypeLike) -> str:
    """Name expression of a batched kernel, e.g. ``fastbp_forward<double>``."""
    return f"{entry}<{ctype(dtype)}>"


def unit_layer_name(entry: str, dtype: DTypeLike, unit: str) -> str:
    """Name expression of a batched kernel with other units, e.g. ``fastbp_forward_unit<double, 2>`` (relu)."""
    return f"{entry}<{ctype(dtype)}, {UNIT_CODES[unit]}>"


def layer_names() -> list[str]:
    """Every name expression of the "layers" family, both element types."""
    names = [layer_name(e, t) for e in LAYER_ENTRIES for t in CTYPES]
    names += [unit_layer_name(e, t, u) for e in UNIT_LAYER_ENTRIES for u in UNIT_ENTRY_UNITS[e] for t in CTYPES]
    return names


def shape_name(family: str, dtype: DTypeLike, threads: int, d: Sequence[int]) -> str:
    """Name expression of a shape-compiled kernel ("block" or "regs"), e.g.
    ``fastbp_train_block<double, 512, 65, 33, 17, 10>``."""
    return f"{ENTRIES[family]}<{ctype(dtype)}, {int(threads)}, {', '.join(str(int(x)) for x in d)}>"


def grid_name(dtype: DTypeLike) -> str:
    """Name expression of the grid kernel, e.g. ``fastbp_train_grid<float>``."""
    return f"{ENTRIES['grid']}<{ctype(dtype)}>"


def read_text(name: str) -> str:
    """One file of the CUDA source (package data)."""
    return files("fastbp.backends.cuda").joinpath(name).read_text(encoding="utf-8")


def load_source(family: str) -> str:
    """The compilable text of ``family``: the common header in place of its include."""
    text = read_text(FAMILY_FILES[family])
    header = read_text(HEADER)
    out, n = _INCLUDE.subn(lambda _: header, text, count=1)
    if n != 1:
        raise ValueError(f"{FAMILY_FILES[family]} must include {HEADER} once")
    return out


def _strip_comments(code: str) -> str:
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    code = re.sub(r"//[^\n]*", "", code)
    return " ".join(code.split())


def source_hash(family: str) -> str:
    """sha256 (first 16 hex digits) of ``family``'s code with the header,
    comments and whitespace left out: it changes when the compiled code can
    change, not when a comment does. The GPU check records it beside every
    measurement."""
    return hashlib.sha256(_strip_comments(load_source(family)).encode()).hexdigest()[:16]


@functools.cache
def kernels_hash() -> str:
    """One hash of every family's code (``source_hash`` of each, in
    FAMILY_FILES order): part of the key of a kernel decision on disk."""
    text = " ".join(f"{f}:{source_hash(f)}" for f in FAMILY_FILES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
