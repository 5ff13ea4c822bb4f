"""The first run: what a user waits for before training, with an empty compile cache and with a warm one.

Each scenario runs in a new Python process with a compile cache folder of
its own (``FASTBP_CACHE_DIR`` and ``NUMBA_CACHE_DIR``): first with the
folder empty (cold: a fresh install), then again with what the first run
left there (warm). Reported, medians over the rounds: the process CPU
seconds and the wall seconds of the scenario's first call (Numba compiles on
one thread, so its CPU time is the compile's own cost even on a shared
machine; with a team the training's CPU time counts twice), and the wall
seconds of the same call made again in the warm process (the training
alone). The scripts run from Python start to exit.

* ``xor``: ``NeuralNetwork([2, 2, 1], 0.5).fit(X, y, epochs=20000)`` (the
  tutorial's XOR run, no printing); ``xor_partial``: then one ``fit_partial``;
* ``digits``: 64-32-16-10 ``fit``, 100 epochs, float64 sigmoid;
  ``digits32_relu_softmax``: the same in float32 with relu and softmax;
* ``mnist32``: 784-300-100-10 float32, one epoch (every core), skipped
  without the MNIST files;
* ``script_tutorial`` / ``script_fastbp``: the tutorial's XOR script
  (``tests/reference_impl.py``'s class, 20,000 epochs, its 200 printed lines
  and the four predictions) and the same script with ``fastbp.NeuralNetwork``.

fastbp's modules are byte-compiled first, as ``pip install`` does: a child
never compiles fastbp's Python sources (NumPy's and Numba's come compiled).

    python -m benchmarks.first_run [--rounds 3] [--only xor,digits] [--data-dir DIR] [--out DIR] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import _results
from ._common import REFERENCE_IMPL, ROOT, byte_compile_fastbp

SCENARIOS = ("xor", "xor_partial", "digits", "digits32_relu_softmax", "mnist32", "script_tutorial", "script_fastbp")
_XOR_DRIVER = """
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])
nn = NeuralNetwork([2, 2, 1], alpha=0.5)
nn.fit(X, y, epochs=20000)
for (x, target) in zip(X, y):
    pred = nn.predict(x)[0][0]
    step = 1 if pred > 0.5 else 0
    print("[INFO] data={}, ground-truth={}, pred={:.4f}, step={}".format(x, target[0], pred, step))
"""


def script(which: str) -> str:
    """The tutorial's XOR script, with its own class or with fastbp's."""
    if which == "tutorial":
        return REFERENCE_IMPL.read_text() + "\nNeuralNetwork = ReferenceNetwork\n" + _XOR_DRIVER
    return "import numpy as np\nfrom fastbp import NeuralNetwork\n" + _XOR_DRIVER


# ------------------------------------------------------------ in the child
def _timed(steps, name, fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    steps[name] = (time.perf_counter() - t, time.process_time() - c)
    return out


def child(name: str, data_dir: str | None) -> dict:
    """Runs scenario ``name`` in this process: {step: (wall s, CPU s)}, the
    first call as "first" and, made again, as "again"."""
    import fastbp

    steps: dict = {}
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    if name in ("xor", "xor_partial"):
        nets = [fastbp.NeuralNetwork([2, 2, 1], 0.5, seed=0) for _ in range(2)]
        for net, step in zip(nets, ("first", "again")):
            _timed(steps, step, lambda net=net: net.fit(X, y, epochs=20000, verbose=False))
        if name == "xor_partial":
            _timed(steps, "fit_partial", lambda: nets[0].fit_partial(X[0], y[0]))
        return steps
    if name == "mnist32":
        ds = fastbp.datasets.mnist(data_dir, dtype="float32", download=False)
        layers, kw, epochs = [784, 300, 100, 10], {"dtype": "float32"}, 1
    else:
        ds = fastbp.datasets.digits()
        layers, epochs = [64, 32, 16, 10], 100
        kw = {"dtype": "float32", "activation": "relu", "output": "softmax"} if name != "digits" else {}
    nets = [fastbp.NeuralNetwork(layers, 0.1 if name == "digits" else 0.01, seed=0, **kw) for _ in range(2)]
    for net, step in zip(nets, ("first", "again")):
        _timed(steps, step, lambda net=net: net.fit(ds.X_train, ds.Y_train, epochs=epochs, verbose=False))
    return steps


# ----------------------------------------------------------- in the parent
def _env(cache: str) -> dict:
    """The child's environment: the cache folder ``cache`` (Numba's own
    setting too, so that any version of fastbp measured caches there)."""
    env = dict(os.environ)
    env["FASTBP_CACHE_DIR"] = cache
    env["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(cmd, cache: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """A child process: its result, wall seconds and CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{res.stderr[-3000:]}")
    return res, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(name: str, data_dir: str | None) -> dict:
    """One round of scenario ``name``, cold then warm: {"cold": ..., "warm": ...}."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="fastbp-first-run-") as cache:
        for state in ("cold", "warm"):
            if name.startswith("script_"):
                _, wall, cpu = _run([sys.executable, "-c", script(name[len("script_") :])], cache)
                out[state] = {"first": (wall, cpu)}
            else:
                cmd = [sys.executable, "-m", "benchmarks.first_run", "--child", name]
                if data_dir:
                    cmd += ["--data-dir", data_dir]
                res, _, _ = _run(cmd, cache)
                out[state] = json.loads(res.stdout.splitlines()[-1])
    return out


def _mnist_here(data_dir: str | None) -> str | None:
    """None when the MNIST files are found, else the reason to skip."""
    import fastbp

    try:
        fastbp.datasets.mnist(data_dir, n_train=1, n_test=1, download=False)
    except Exception as exc:
        return f"mnist32 skipped: {exc}"
    return None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.first_run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ap.add_argument("--data-dir", default=None, help="folder holding the MNIST files")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    if args.child:
        print(json.dumps(child(args.child, args.data_dir)))
        return
    names = [n for n in args.only.split(",") if n]
    notes = []
    if "mnist32" in names and (why := _mnist_here(args.data_dir)) is not None:
        names.remove("mnist32")
        notes.append(why)
    byte_compile_fastbp()
    runs: dict = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            runs[n].append(measure(n, args.data_dir))
        print(f"round {r + 1} done (load {os.getloadavg()[0]:.1f})", flush=True)

    def med(n, state, step, i):
        vals = [run[state][step][i] for run in runs[n] if step in run[state]]
        return round(float(np.median(vals)), 2) if vals else ""

    rows = []
    for n in names:
        steps = ["first", "fit_partial"] if n == "xor_partial" else ["first"]
        for step in steps:
            label = n if step == "first" else f"{n}: fit_partial after fit"
            rows.append(
                [
                    label,
                    med(n, "cold", step, 1),
                    med(n, "cold", step, 0),
                    med(n, "warm", step, 1),
                    med(n, "warm", step, 0),
                    med(n, "warm", "again", 0) if step == "first" else "",
                ]
            )
    columns = [
        "scenario",
        "cold: CPU s",
        "cold: wall s",
        "warm: CPU s",
        "warm: wall s",
        "again in the warm process: wall s",
    ]
    notes.append(f"{args.rounds} rounds, medians; load average at the end {os.getloadavg()[0]:.1f}")
    _results.publish(args, "first_run", "The first run: cold and warm compile cache", columns, rows, notes)


if __name__ == "__main__":
    main()
