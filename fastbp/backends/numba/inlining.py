"""Numba's IR inlining without its repeated copies of a callee's scope, while fastbp compiles.

Numba (0.68) inlines an ``inline="always"`` function by copying its IR block
by block, each block deep-copied with a memo of its own, so each copies the
function's whole scope (every variable) again: B blocks and V variables cost
B x V copies, twice per call site (numba/numba issues 8989 and 9204,
NVIDIA/numba-cuda issue 688). fastbp's kernels inline large functions
(``kernels.sweep``, the team's steps), and this copying is most of Numba's
inlining pass. ``faster`` gives an entry point's compiles Numba's own
``InlineWorker.inline_ir`` with one memo for all the blocks of a copy; the
blocks then share one copy of the scope, as the callee's blocks share one
scope, and the inlined IR, and so the compiled code, is the same (the
machine code byte for byte, and the trained weights bit for bit).
Measured on the 2-core VM, 2026-12-07, CPU s, with the edit against
Numba's own method: the inlining pass of a cold XOR ``train`` compile
0.12-0.16 against 0.49, of an MNIST float32 ``train_team`` 0.74 against 2.5
(its loss pass's 0.19 against 0.70); whole cold compiles, medians of 4
alternating runs: XOR ``train`` 4.1 against 4.5, float32 relu/softmax
digits 4.9 against 5.8, ``train_team`` 12.3 against 14.8.

The edit is made on Numba's source of that method, and only where that
source holds the exact lines it replaces; elsewhere (another Numba) the
compiles run as they are. Numba's own method is back in place whenever no
fastbp compile is running (code that another thread compiles meanwhile
inlines with the edit too: the same code either way).
"""

from __future__ import annotations

import contextlib
import inspect
import textwrap
import threading
import types
from collections.abc import Iterator
from typing import Any

_ONE_MEMO_EACH = """\
        kernel_copy.blocks = {}
        for block_label, block in the_ir.blocks.items():
            new_block = copy.deepcopy(the_ir.blocks[block_label])
"""
_ONE_MEMO = """\
        kernel_copy.blocks = {}
        memo = {}
        for block_label, block in the_ir.blocks.items():
            new_block = copy.deepcopy(the_ir.blocks[block_label], memo)
"""


def _one_memo_inline_ir(inline_closurecall: Any) -> types.FunctionType | None:
    """``InlineWorker.inline_ir`` with one memo per copy of a callee's IR,
    or None where Numba's source is not the one this edits."""
    numbas = inline_closurecall.InlineWorker.inline_ir
    try:
        source = textwrap.dedent(inspect.getsource(numbas))
    except (OSError, TypeError):  # no source (a frozen or stripped install)
        return None
    if source.count(_ONE_MEMO_EACH) != 1:
        return None
    module = compile(source.replace(_ONE_MEMO_EACH, _ONE_MEMO), inline_closurecall.__file__, "exec")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name == "inline_ir")
    return types.FunctionType(code, vars(inline_closurecall), "inline_ir", numbas.__defaults__)


_UNMADE = object()
_NUMBAS: Any = None  # Numba's own method, once ``edit`` has run
_EDITED: Any = _UNMADE  # the edited method, None where the edit does not apply
_lock = threading.Lock()
_running = [0]  # fastbp compiles running now, on any thread


def edit() -> types.FunctionType | None:
    """The edited method, made at the first call (the first fastbp compile
    of a process): importing Numba's inliner takes about 0.08 s, which a
    process whose kernels all load from the cache does not pay. None where
    the edit does not apply."""
    global _NUMBAS, _EDITED
    with _lock:
        if _EDITED is _UNMADE:  # made while no edit is in place: _NUMBAS is Numba's
            from numba.core import inline_closurecall

            _NUMBAS = inline_closurecall.InlineWorker.inline_ir
            _EDITED = _one_memo_inline_ir(inline_closurecall)
        return _EDITED


@contextlib.contextmanager
def _edited() -> Iterator[None]:
    """The edited method in place while the block runs (and any other
    fastbp compile's block); Numba's own once none runs."""
    if edit() is None:
        yield
        return
    from numba.core.inline_closurecall import InlineWorker

    with _lock:
        _running[0] += 1
        InlineWorker.inline_ir = _EDITED  # type: ignore[method-assign]
    try:
        yield
    finally:
        with _lock:
            _running[0] -= 1
            if _running[0] == 0:
                InlineWorker.inline_ir = _NUMBAS  # type: ignore[method-assign]


def faster(dispatcher):
    """``dispatcher`` (an ``@njit`` entry point), whose compiles, explicit
    (``compile``) or at a call with new types, inline with the edited method
    (its cache loads do not compile: they leave Numba's inliner alone). A
    Numba without the compiler object this wraps compiles as it is."""
    compiler = getattr(dispatcher, "_compiler", None)  # what ``Dispatcher.compile`` calls on a cache miss
    if compiler is None:
        return dispatcher
    numbas_compile = compiler.compile

    def compile(args, return_type):
        with _edited():
            return numbas_compile(args, return_type)

    compiler.compile = compile
    return dispatcher
