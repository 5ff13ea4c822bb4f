"""The numba backend's compile cost as a user meets it: the note, the cache, ``fastbp warmup``.

A first run says it compiles, on stderr, before it does (verbose runs only);
a warm cache says nothing. The kernels cache in fastbp's user cache folder,
also when the package itself is read-only, and an entry that cannot be read
is compiled again (the training's results the same). The subprocesses run
with a cache folder of their own (``FASTBP_CACHE_DIR``, ``NUMBA_CACHE_DIR``
unset).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

import fastbp
from fastbp.backends import get_backend
from fastbp.loop import run
from fastbp.network import add_bias, init_weights

XOR = """
import json, sys
import numpy as np
import fastbp

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])
nn = fastbp.NeuralNetwork([2, 2, 1], alpha=0.5, seed=0, backend="numba")
epochs, losses = nn.fit(X, y, epochs=500, displayUpdate=250)
nn.fit_partial(X[1], y[1])
nn.predict(X)
print(json.dumps({"file": fastbp.__file__, "losses": losses.tolist(), "W": [w.tolist() for w in nn.W]}))
"""

NOTE = "compiling the numba kernels for float64 sigmoid/sigmoid: first use on this machine, cached afterwards"


HERE = Path(fastbp.__file__).resolve().parents[1]  # this copy of fastbp's folder on sys.path


def _env(cache: Path, pythonpath: Path = HERE) -> dict:
    """A new process's environment: the cache folder ``cache``
    (``NUMBA_CACHE_DIR`` unset) and the copy of fastbp at ``pythonpath``."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    return dict(env, FASTBP_CACHE_DIR=str(cache), PYTHONPATH=str(pythonpath))


def _xor(pythonpath: Path, cache: Path) -> tuple[dict, str]:
    """The XOR script in a new process: its JSON line and its stderr."""
    res = subprocess.run(
        [sys.executable, "-c", XOR],
        cwd=cache.parent,
        env=_env(cache, pythonpath),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.splitlines()[-1]), res.stderr


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc"))


def test_the_cache_lives_in_the_user_folder_and_a_bad_entry_compiles_again(tmp_path):
    """From a read-only copy of the package: the first run says it compiles
    and caches in fastbp's cache folder; the second finds the kernels there
    and says nothing; with every index and data file made unreadable, a run
    compiles again (saying so), trains to the same bits and rewrites them,
    and the run after it is silent again."""
    site = tmp_path / "site"
    shutil.copytree(Path(fastbp.__file__).parent, site / "fastbp", ignore=shutil.ignore_patterns("__pycache__"))
    for p in [site, *site.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    cache = tmp_path / "cache"
    try:
        first, err1 = _xor(site, cache)
        assert first["file"].startswith(str(site))
        assert NOTE in err1
        entries = _entries(cache / "numba")
        assert entries and not _entries(site)  # the kernels are in the user folder, nothing beside the package
        second, err2 = _xor(site, cache)
        assert NOTE not in err2 and second == first
        for p in entries:
            p.write_bytes(b"\x80\x04 not a pickle")
        third, err3 = _xor(site, cache)
        assert NOTE in err3 and third == first
        fourth, err4 = _xor(site, cache)
        assert NOTE not in err4 and fourth == first
    finally:
        for p in [site, *site.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


class _Noting:
    """A backend whose compile would take long: its note, and the calls it saw."""

    def __init__(self, be):
        self.be, self.calls = be, []

    def __getattr__(self, name):
        return getattr(self.be, name)

    def compile_note(self, P, X1, Y):
        self.calls.append("note")
        return "compiling a great deal"


def _loop_run(be, capsys, **kw):
    numba_be = get_backend("numba")
    P = numba_be.params([w[None] for w in init_weights([2, 2, 1], 0)], np.float64)
    X1 = add_bias(np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]]))
    Y = np.array([[0.0], [1], [1], [0]])
    run(be, P, X1, Y, np.array([0.5]), 3, out=io.StringIO(), **kw)
    return capsys.readouterr().err


@pytest.mark.parametrize("shown", [{"display_update": 1}, {"progress": True}])
def test_the_loop_shows_the_compile_note_on_stderr_before_a_verbose_run(capsys, shown):
    be = _Noting(get_backend("numba"))
    err = _loop_run(be, capsys, **shown)
    assert err.startswith("compiling a great deal\n") and be.calls == ["note"]


def test_a_quiet_run_asks_for_no_note(capsys):
    be = _Noting(get_backend("numba"))
    assert _loop_run(be, capsys) == "" and be.calls == []


def test_the_backend_notes_a_kind_of_call_once_and_not_once_compiled():
    """In this process: a kind of call the backend has compiled gets no note
    (whatever the cache holds), and any other gets it once at most."""
    be = get_backend("numba")
    X1 = add_bias(np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]]))
    Y = np.array([[0.0], [1], [1], [0]])
    P = be.params([w[None] for w in init_weights([2, 2, 1], 0)], np.float64)
    be.compile(P, X1, Y)
    assert be.compile_note(P, X1, Y) is None
    be.compile(P.with_units("relu", "softmax"), X1, Y)
    assert be.compile_note(P.with_units("tanh", "linear"), X1, Y) is None  # one kernel serves every other unit pair
    x32 = X1.astype(np.float32)
    P32 = be.params([w[None] for w in init_weights([2, 2, 1], 0)], np.float32)
    note = be.compile_note(P32, x32, Y.astype(np.float32))
    assert note is None or note.startswith("compiling the numba kernels for float32")
    assert be.compile_note(P32, x32, Y.astype(np.float32)) is None


def _warmup(cache: Path, *args: str) -> str:
    """``fastbp warmup ARGS`` in a new process with the cache folder ``cache``: its output."""
    res = subprocess.run(
        [sys.executable, "-m", "fastbp", "warmup", *args], env=_env(cache), capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_warmup_compiles_what_the_tutorial_run_uses_and_says_so(tmp_path):
    """``fastbp warmup --dataset xor --dtype float64`` with an empty cache
    compiles, a second finds the kernels cached, and the tutorial's XOR run
    (fit, fit_partial, predict) then neither compiles nor says it would:
    the cache's files stay as they were."""
    cache = tmp_path / "cache"
    first = _warmup(cache, "--dataset", "xor", "--dtype", "float64", "--units", "sigmoid/sigmoid").splitlines()
    assert len(first) == 1 and first[0].startswith("xor 2-2-1 float64 sigmoid/sigmoid: numba kernels compiled (")
    second = _warmup(cache, "--dataset", "xor", "--dtype", "float64", "--units", "sigmoid/sigmoid").splitlines()
    assert len(second) == 1 and second[0].startswith(
        "xor 2-2-1 float64 sigmoid/sigmoid: numba kernels found in the cache ("
    )
    before = {p: p.read_bytes() for p in _entries(cache)}
    _, err = _xor(HERE, cache)
    assert NOTE not in err
    assert {p: p.read_bytes() for p in _entries(cache)} == before


def test_warmup_compiles_several_runs_in_processes_of_their_own_and_reports_them_in_order(tmp_path):
    """Several runs to compile (two dtypes here): each compiles in a process
    of its own, at the same time where there are cores; the lines come in
    the runs' order, and the kernels are cached for the next process."""
    cache = tmp_path / "cache"
    args = ("--dataset", "xor", "--dtype", "float64,float32", "--units", "sigmoid/sigmoid")
    first = _warmup(cache, *args).splitlines()
    assert [line.split(":")[0] for line in first] == [
        "xor 2-2-1 float64 sigmoid/sigmoid",
        "xor 2-2-1 float32 sigmoid/sigmoid",
    ]
    assert all("numba kernels compiled" in line for line in first)
    second = _warmup(cache, *args).splitlines()
    assert len(second) == 2 and all("found in the cache" in line for line in second)


def test_warmup_refuses_an_unknown_dtype_or_pair_of_units(capsys):
    from fastbp.cli import main

    with pytest.raises(SystemExit):
        main(["warmup", "--dtype", "float64,float16"])
    assert "float16" in capsys.readouterr().err
    for bad in ("sigmoid/tanh", "relu", "softmax/softmax"):
        with pytest.raises(SystemExit):
            main(["warmup", "--units", f"sigmoid/sigmoid,{bad}"])
        assert f"got {bad!r}" in capsys.readouterr().err


def test_the_process_waits_at_exit_for_a_background_compile_and_says_so():
    """A kernel still compiling in the background when the program ends
    (the thread team's, beside a short first run) is finished first, with a
    line on stderr, so the next process finds it cached; Ctrl-C skips the
    wait without a traceback."""
    import signal

    code = (
        "import threading, time\n"
        "from fastbp.backends.numba import backend\n"
        "t = threading.Thread(target=time.sleep, args=(WAIT,), daemon=True)\n"
        "t.ok, t.stop = (lambda: True), (lambda: None)  # a background job's other two methods\n"
        "backend._later['a kernel'] = t\n"
        "t.start()\n"
        "print('done', flush=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(HERE))
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", code.replace("WAIT", "1.5")], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and time.perf_counter() - t0 >= 1.5
    assert "fastbp: finishing the numba thread team's kernel for the next run" in res.stderr
    p = subprocess.Popen(
        [sys.executable, "-c", code.replace("WAIT", "60")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline() == "done\n"
    assert "finishing the numba thread team's kernel" in p.stderr.readline()  # in the wait
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0 and "Traceback" not in err


def test_ctrl_c_at_exit_ends_a_compile_in_another_process():
    """Ctrl-C in the wait at exit also ends a kernel's compile running in
    another process (``_Elsewhere``), rather than leaving it behind."""
    import signal

    code = (
        "import subprocess, sys\n"
        "from fastbp.backends.numba import backend\n"
        "job = backend._Elsewhere.__new__(backend._Elsewhere)\n"
        "job.proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "backend._later['a kernel'] = job\n"
        "print(job.proc.pid, flush=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(HERE))
    p = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    pid = int(p.stdout.readline())
    assert "finishing the numba thread team's kernel" in p.stderr.readline()  # in the wait
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0 and "Traceback" not in err
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(pid, 0)


# ------------------------------------------------------- the inlining edit
def test_fastbp_compiles_inline_with_its_edit_and_leaves_numba_s_own_method_to_other_code(monkeypatch):
    import numba
    from numba import njit
    from numba.core.inline_closurecall import InlineWorker

    from fastbp.backends.numba import inlining

    edited, calls = inlining.edit(), []
    if numba.__version__.startswith("0.68."):
        assert edited is not None  # the Numba whose source the edit was written for
    if edited is None:
        pytest.skip(f"Numba {numba.__version__}'s InlineWorker.inline_ir is not the source the edit applies to")

    def spy(*args, **kwargs):
        calls.append(args[0])
        return edited(*args, **kwargs)

    monkeypatch.setattr(inlining, "_EDITED", spy)

    @njit(inline="always")
    def twice(x):
        return 2.0 * x

    def plus_one(x):
        return twice(x) + 1.0

    assert njit(plus_one)(1.5) == 4.0 and not calls  # other code: Numba's own method
    assert inlining.faster(njit(plus_one))(1.5) == 4.0 and calls  # a call with new types compiles
    assert InlineWorker.inline_ir is inlining._NUMBAS  # Numba's own back in place afterwards


def test_a_dispatcher_without_numba_s_compiler_object_compiles_as_it_is():
    from types import SimpleNamespace

    from fastbp.backends.numba import inlining

    other = SimpleNamespace(compile=object())  # a Numba whose dispatcher has no ``_compiler``
    assert inlining.faster(other) is other and vars(other) == {"compile": other.compile}


def _plus_half(x):
    return x + 0.5


def test_a_kernel_loaded_from_the_cache_makes_no_edit(tmp_path, monkeypatch):
    from fastbp.backends.numba import cache, inlining
    from fastbp.backends.numba.codegen import EXACT

    monkeypatch.setattr(cache, "folder", lambda: tmp_path)
    made, edit = [], inlining.edit
    monkeypatch.setattr(inlining, "edit", lambda: made.append(1) or edit())
    assert cache.compiled(**EXACT)(_plus_half)(1.0) == 1.5 and made  # compiled (with the edit) and saved
    made.clear()
    loaded = cache.compiled(**EXACT)(_plus_half)
    assert loaded(1.0) == 1.5 and sum(loaded.stats.cache_hits.values()) == 1
    assert not made  # a cache load compiles nothing: Numba's inliner is not even imported for it


_ASM = """
import sys
import numpy as np
import fastbp
from fastbp.backends import get_backend
from fastbp.backends.numba import inlining, run

if sys.argv[1] == "numba's":
    inlining._EDITED = None
nn = fastbp.NeuralNetwork([2, 2, 1], 0.5, seed=0, backend="numba")
X1, Y = nn.prepare(np.eye(4)[:, :2], np.ones((4, 1)))
fn, args = get_backend("numba")._sample_call(nn._params, X1, Y, "one", run.first_rows(X1))
sig = tuple(fn.typeof_pyval(a) for a in args)
fn.compile(sig)
print(fn.inspect_asm(sig))
"""


def test_the_inlining_edit_changes_no_compiled_code(tmp_path):
    from fastbp.backends.numba import inlining

    if inlining.edit() is None:
        pytest.skip("the inlining edit does not apply to this Numba")
    procs = []
    for which in ("fastbp's", "numba's"):
        (tmp_path / which).mkdir()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _ASM, which],
                env=_env(tmp_path / which),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    (ours, err), (theirs, err2) = (p.communicate(timeout=600) for p in procs)
    assert procs[0].returncode == 0 and procs[1].returncode == 0, err[-2000:] + err2[-2000:]
    assert "train" in ours and len(ours) > 10_000
    assert ours == theirs  # the XOR training kernel's machine code, byte for byte
