"""Time to accuracy on real MNIST: fastbp beside PyTorch and scikit-learn.

    python -m benchmarks.time_to_accuracy [--data-dir DIR] [--epochs-max 20] [--rounds 1]
        [--configs sigmoid-sigmoid-float32,...] [--peers torch-adam,torch-sgd,sklearn-adam | none]
        [--seed 0] [--threads N] [--cold] [--warm] [--targets 2.5,2.0] [--n-train N] [--quiet PCT]
        [--out DIR] [--note TEXT]

Every learner trains 784-300-100-10 on MNIST's 60,000 training images (pixels
scaled to [0, 1], float32, as ``fastbp.datasets.mnist`` gives them), one epoch
at a time, and its error on the 10,000 test images is checked after every
epoch, until it reaches the last (lowest) target or ``--epochs-max``:

* fastbp (``--configs``): ``NeuralNetwork(...).fit(X, Y, epochs=1)`` per
  epoch, the tutorial's exact per-sample SGD in the data's order, backend
  "auto", the images laid out as ``fastbp.datasets.mnist`` gives them (the
  leading columns of an array with the bias column: no copy per call); a
  config is ``HIDDEN-OUTPUT-DTYPE[@ALPHA]``, e.g.
  ``sigmoid-sigmoid-float32`` or ``relu-softmax-float64@0.005``; without
  ``@ALPHA`` the rate is the data set's (``fastbp.training.default_alpha``:
  MNIST's 0.5 for sigmoid units, ``alpha_units`` 0.003 for others);
* ``torch-adam``: PyTorch, relu hidden units, cross-entropy, Adam lr 1e-3,
  batches of 128; ``torch-sgd``: the same with SGD lr 0.01, momentum 0.9,
  batches of 64; both reshuffled every epoch, batches sliced from tensors in
  memory (no DataLoader), ``torch.set_num_threads(--threads or every core)``;
* ``sklearn-adam``: scikit-learn's ``MLPClassifier(hidden_layer_sizes=(300,
  100), solver="adam")``, its defaults otherwise (relu, batches of 200, lr
  1e-3, L2 1e-4, reshuffled), one ``partial_fit`` an epoch.

Each run is a child process, so every learner pays its own imports (from
bytecode: fastbp's modules are byte-compiled first, as ``pip install`` does
and as the peers' come). "cold": fastbp's compile cache empty
(``NUMBA_CACHE_DIR`` and ``FASTBP_CACHE_DIR`` point at a fresh temporary
folder); "warm": the next process on the same folder, after the cache is
filled (``--warm`` alone fills it first with one unreported epoch). The
peers keep nothing between processes: their cold run is the first process,
their warm run the second.

Reported per learner and cache state (medians over ``--rounds``): epochs and
seconds to each target error, training alone ("train s": the epochs' calls)
and with start-up ("total s": the framework's import, the network's
construction, fastbp's compilation, and the extra time of the first test
evaluation over the second, its first-call overheads); seconds per epoch
(median); start-up and compile seconds; the best error and its epoch; and
the CPU stall: the share of the run's time in which some task waited for a
CPU (Linux's /proc/pressure/cpu), which other work on a shared machine
raises (``--quiet PCT`` waits before each run until the last 10 s were under
PCT %). Test evaluations are not counted. One table, printed and written as
a results file (``_results.publish``, name ``time_to_accuracy``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Nothing of fastbp, torch or scikit-learn is imported at module level: a
# child process times its own framework's import.

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = (300, 100)
CONFIGS = ("sigmoid-sigmoid-float32", "sigmoid-sigmoid-float64", "relu-softmax-float32", "relu-softmax-float64")
PEERS = ("torch-adam", "torch-sgd", "sklearn-adam")
#: how to install each peer's package (a peer's name starts with it)
INSTALL = {
    "torch": "pip install '.[peers]' (a CPU-only build: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    "sklearn": "pip install scikit-learn",
}
TARGETS = (2.5, 2.0)
TITLE = "Time to accuracy on MNIST 784-300-100-10: fastbp beside PyTorch and scikit-learn"
#: PyTorch's recipes: optimizer, its arguments, batch size
TORCH_RECIPES = {"torch-adam": ("Adam", {"lr": 1e-3}, 128), "torch-sgd": ("SGD", {"lr": 0.01, "momentum": 0.9}, 64)}
DATA_FILES = ("X_train", "labels_train", "X_test", "labels_test")


@dataclass
class Data:
    """Training and test images (float32 rows in [0, 1]) and their labels (int64)."""

    X_train: np.ndarray
    labels_train: np.ndarray
    X_test: np.ndarray
    labels_test: np.ndarray

    def save(self, folder: Path) -> None:
        for name in DATA_FILES:
            np.save(folder / f"{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, folder: Path) -> Data:
        return cls(*(np.load(folder / f"{name}.npy") for name in DATA_FILES))


# ------------------------------------------------------------------ learners
class Learner:
    """One network being trained: ``epoch`` trains one epoch, ``error`` is the
    test error in %. The constructor imports the framework (``import_s``) and
    builds the network (``setup_s``, which includes ``compile_s``)."""

    import_s = 0.0
    setup_s = 0.0
    compile_s = 0.0

    def __init__(self, data: Data):
        self.data = data
        self.info: dict = {}

    def epoch(self) -> None:
        raise NotImplementedError

    def error(self) -> float:
        raise NotImplementedError


def parse_config(config: str) -> tuple[str, str, str, float | None]:
    """(activation, output, dtype, alpha or None) of ``HIDDEN-OUTPUT-DTYPE[@ALPHA]``."""
    body, _, alpha = config.partition("@")
    parts = body.split("-")
    if len(parts) != 3 or parts[2] not in ("float32", "float64"):
        raise ValueError(f"--configs: {config!r} is not HIDDEN-OUTPUT-DTYPE[@ALPHA], e.g. relu-softmax-float32@0.003")
    try:
        rate = float(alpha) if alpha else None
    except ValueError:
        raise ValueError(f"--configs: {config!r} has alpha {alpha!r}, not a number") from None
    return parts[0], parts[1], parts[2], rate


class FastbpLearner(Learner):
    """``fit(X, Y, epochs=1)`` per epoch. The backend's ``compile`` runs first
    on the real arrays, as the training loop's first call does, so that its
    time is known (the first ``fit`` then finds it done)."""

    def __init__(self, config: str, data: Data, threads: int | None, seed: int):
        super().__init__(data)
        act, out, dtype, alpha = parse_config(config)
        if alpha is None:
            raise ValueError(f"{config!r}: the learning rate must be given (@ALPHA) by now")
        t = time.perf_counter()
        import fastbp
        from fastbp.network import add_bias

        self.import_s = time.perf_counter() - t
        n_out = int(data.labels_train.max()) + 1
        self.Y = np.eye(n_out, dtype=np.float32)[data.labels_train]
        t = time.perf_counter()
        net = fastbp.NeuralNetwork(
            [data.X_train.shape[1], *HIDDEN, n_out],
            alpha,
            dtype=dtype,
            seed=seed,
            activation=act,
            output=out,
            threads=threads,
        )
        built = time.perf_counter() - t
        # the images as fastbp.datasets.mnist lays them out, the leading columns of an array with the
        # bias column, which fit and predict use without a copy (as torch.from_numpy shares the arrays)
        self.X, self.Xt = add_bias(data.X_train)[:, :-1], add_bias(data.X_test)[:, :-1]
        X1, Y = net.prepare(self.X, self.Y)  # not counted: every fit prepares its own
        be = net.backend_impl
        P = be.params([w[None] for w in net.W], net.dtype).with_units(act, out)
        t = time.perf_counter()
        be.compile(P, X1, Y)
        self.compile_s = time.perf_counter() - t
        self.setup_s = built + self.compile_s
        self.net = net
        self.info = {"version": fastbp.__version__, "backend": net.backend, "alpha": alpha}

    def epoch(self) -> None:
        self.net.fit(self.X, self.Y, epochs=1, verbose=False)

    def error(self) -> float:
        pred = self.net.predict(self.Xt).argmax(axis=1)
        return 100.0 * float(np.mean(pred != self.data.labels_test))


class TorchLearner(Learner):
    """PyTorch's usual MNIST recipe on an MLP: relu, cross-entropy, Adam (lr
    1e-3, batch 128) or SGD (lr 0.01, momentum 0.9, batch 64), reshuffled
    every epoch."""

    def __init__(self, name: str, data: Data, threads: int | None, seed: int):
        super().__init__(data)
        t = time.perf_counter()
        import torch

        self.import_s = time.perf_counter() - t
        t = time.perf_counter()
        torch.set_num_threads(threads or os.cpu_count() or 1)
        torch.manual_seed(seed)
        self.torch = torch
        n_out = int(data.labels_train.max()) + 1
        sizes = [data.X_train.shape[1], *HIDDEN]
        mods: list = []
        for a, b in itertools.pairwise(sizes):
            mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*mods, torch.nn.Linear(sizes[-1], n_out))
        opt, kwargs, self.batch = TORCH_RECIPES[name]
        self.opt = getattr(torch.optim, opt)(self.model.parameters(), **kwargs)
        self.gen = torch.Generator().manual_seed(seed)
        self.X, self.y = torch.from_numpy(data.X_train), torch.from_numpy(data.labels_train)
        self.Xt, self.yt = torch.from_numpy(data.X_test), torch.from_numpy(data.labels_test)
        self.setup_s = time.perf_counter() - t
        self.info = {"version": torch.__version__, "threads": torch.get_num_threads(), "batch": self.batch, **kwargs}

    def epoch(self) -> None:
        torch, model, opt, X, y, b = self.torch, self.model, self.opt, self.X, self.y, self.batch
        loss_fn = torch.nn.functional.cross_entropy
        perm = torch.randperm(X.shape[0], generator=self.gen)
        for i in range(0, X.shape[0], b):
            idx = perm[i : i + b]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()

    def error(self) -> float:
        with self.torch.no_grad():
            pred = self.model(self.Xt).argmax(dim=1)
        return 100.0 * float((pred != self.yt).float().mean())


class SklearnLearner(Learner):
    """scikit-learn's MLPClassifier, adam, hidden (300, 100), defaults
    otherwise; ``partial_fit`` trains one epoch (reshuffled)."""

    def __init__(self, name: str, data: Data, threads: int | None, seed: int):
        super().__init__(data)
        t = time.perf_counter()
        import sklearn
        from sklearn.neural_network import MLPClassifier

        self.import_s = time.perf_counter() - t
        t = time.perf_counter()
        self.clf = MLPClassifier(hidden_layer_sizes=HIDDEN, solver="adam", random_state=seed)
        self.classes = np.arange(int(data.labels_train.max()) + 1)
        self.setup_s = time.perf_counter() - t
        self.info = {"version": sklearn.__version__, "batch": "auto (200)"}

    def epoch(self) -> None:
        self.clf.partial_fit(self.data.X_train, self.data.labels_train, classes=self.classes)

    def error(self) -> float:
        return 100.0 * float(np.mean(self.clf.predict(self.data.X_test) != self.data.labels_test))


def make_learner(name: str, data: Data, threads: int | None, seed: int) -> Learner:
    """The learner called ``name``: a peer of PEERS, else a fastbp config."""
    if name.startswith("torch-"):
        return TorchLearner(name, data, threads, seed)
    if name.startswith("sklearn-"):
        return SklearnLearner(name, data, threads, seed)
    return FastbpLearner(name, data, threads, seed)


def train_to(learner: Learner, target: float, epochs_max: int) -> dict:
    """Trains until the test error is at most ``target`` % or ``epochs_max``
    epochs; the seconds of each epoch's training and the error after it."""
    epoch_s: list[float] = []
    errors: list[float] = []
    first_eval_extra = 0.0
    for e in range(1, epochs_max + 1):
        t = time.perf_counter()
        learner.epoch()
        epoch_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        err = learner.error()
        if e == 1:  # the first evaluation's first-call overheads (fastbp: compiling predict's units)
            first = time.perf_counter() - t
            t = time.perf_counter()
            learner.error()
            first_eval_extra = max(0.0, first - (time.perf_counter() - t))
        errors.append(err)
        if err <= target:
            break
    return {
        "import_s": learner.import_s,
        "setup_s": learner.setup_s,
        "compile_s": learner.compile_s,
        "first_eval_extra_s": first_eval_extra,
        "epoch_s": epoch_s,
        "errors": errors,
        "info": learner.info,
    }


def _child(job_path: str) -> None:
    """A child process: one learner's run (``job_path``: its JSON job; the
    result goes to the job's ``result`` path)."""
    job = json.loads(Path(job_path).read_text())
    data = Data.load(Path(job["data"]))
    if job["threads"] and job["learner"].startswith("sklearn-"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(job["threads"])
    learner = make_learner(job["learner"], data, job["threads"], job["seed"])
    result = train_to(learner, job["target"], job["epochs_max"])
    Path(job["result"]).write_text(json.dumps(result))


# ------------------------------------------------------------------ the runs
def _run_child(name: str, folder: Path, cache: Path, *, target: float, epochs_max: int, threads, seed: int) -> dict:
    """One learner's run in a child process whose compile caches are ``cache``;
    its result, or ``{"failed": why}``."""
    job = folder / "job.json"
    result = folder / "result.json"
    result.unlink(missing_ok=True)
    spec = {"learner": name, "data": str(folder / "data"), "result": str(result), "target": target}
    job.write_text(json.dumps({**spec, "epochs_max": epochs_max, "threads": threads, "seed": seed}))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), FASTBP_CACHE_DIR=str(cache))
    cmd = [sys.executable, "-m", "benchmarks.time_to_accuracy", "--child", str(job)]
    p0, t0 = cpu_pressure(), time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    p1, wall = cpu_pressure(), time.monotonic() - t0
    if proc.returncode != 0 or not result.is_file():
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit status {proc.returncode}"]
        return {"failed": lines[-1]}
    res = json.loads(result.read_text())
    res["stall_pct"] = None if p0 is None or p1 is None else 100 * (p1[1] - p0[1]) / 1e6 / wall
    return res


def cpu_pressure() -> tuple[float, int] | None:
    """Linux's CPU pressure: the share of the last 10 s (%) and the total
    microseconds in which a runnable task waited for a CPU; None elsewhere."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            fields = dict(kv.split("=") for kv in f.readline().split()[1:])
        return float(fields["avg10"]), int(fields["total"])
    except (OSError, KeyError, ValueError):
        return None


def wait_quiet(below: float, log: Callable[[str], None], patience: float = 1800.0) -> None:
    """Waits until the CPU pressure of the last 10 s is under ``below`` %
    (other work on a shared machine), at most ``patience`` seconds."""
    p, start = cpu_pressure(), time.monotonic()
    if p is not None and p[0] >= below:
        log(f"waiting for the CPU pressure ({p[0]:.0f}%) to fall under {below:g}%")
    while p is not None and p[0] >= below and time.monotonic() - start < patience:
        time.sleep(5)
        p = cpu_pressure()


def missing_peer(name: str) -> str | None:
    """Why the peer ``name`` cannot run here (its package is not installed), or None."""
    import importlib.util

    package = name.split("-")[0]
    if importlib.util.find_spec(package) is None:
        return f"skipped: {package} not installed ({INSTALL[package]})"
    return None


def measure(
    learners: Sequence[str],
    data: Data,
    *,
    cold: bool = True,
    warm: bool = True,
    rounds: int = 1,
    target: float = min(TARGETS),
    epochs_max: int = 20,
    threads: int | None = None,
    seed: int = 0,
    quiet: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[tuple[str, str], list[dict]]:
    """Every learner's runs, cold then warm, round after round: ``(learner,
    "cold" | "warm")`` -> the results of the rounds. With cold runs, each
    learner's cold and warm runs share a fresh compile cache folder; warm runs
    alone share one folder, filled by an unreported one-epoch run of each
    learner in the first round. ``quiet``: each run waits for the CPU
    pressure to fall under this % first (``wait_quiet``)."""
    states = [s for s, on in (("cold", cold), ("warm", warm)) if on]
    out: dict[tuple[str, str], list[dict]] = {(n, s): [] for n in learners for s in states}
    run = dict(target=target, epochs_max=epochs_max, threads=threads, seed=seed)
    with tempfile.TemporaryDirectory(prefix="fastbp-tta-") as tmp:
        folder = Path(tmp)
        (folder / "data").mkdir()
        data.save(folder / "data")
        for r in range(rounds):
            for name in learners:
                cache = Path(tempfile.mkdtemp(prefix="cache-", dir=folder)) if cold else folder / "cache"
                if not cold and r == 0:
                    _run_child(name, folder, cache, **{**run, "epochs_max": 1})
                for state in states:
                    if quiet is not None:
                        wait_quiet(quiet, log)
                    res = _run_child(name, folder, cache, **run)
                    out[(name, state)].append(res)
                    errs = res.get("errors", [])
                    log(
                        f"round {r + 1}/{rounds} {name} {state}: "
                        + (res["failed"] if "failed" in res else f"{len(errs)} epochs, error {errs[-1]:.2f}%")
                        + ("" if res.get("stall_pct") is None else f", cpu stall {res['stall_pct']:.0f}%")
                    )
                if cold:
                    shutil.rmtree(cache, ignore_errors=True)
    return out


# ------------------------------------------------------------------ the table
def summarize(res: dict, targets: Sequence[float]) -> dict:
    """One run's figures: per target the epochs, training seconds and total
    seconds to reach it (None: not reached), seconds per epoch, start-up."""
    startup = res["import_s"] + res["setup_s"] + res["first_eval_extra_s"]
    epoch_s, errors = res["epoch_s"], res["errors"]
    out = {"s/epoch": statistics.median(epoch_s), "start-up s": startup, "compile s": res["compile_s"]}
    for t in targets:
        e = next((i + 1 for i, err in enumerate(errors) if err <= t), None)
        train = sum(epoch_s[:e]) if e else None
        out[f"epochs to {t:g}%"] = e
        out[f"train s to {t:g}%"] = train
        out[f"total s to {t:g}%"] = None if train is None else startup + train
    best = int(np.argmin(errors))
    out["best error %"] = errors[best]
    out["at epoch"] = best + 1
    out["cpu stall %"] = res.get("stall_pct")
    return out


def _median(values: list):
    return None if any(v is None for v in values) else statistics.median(values)


def table(
    results: dict[tuple[str, str], list[dict]], targets: Sequence[float], skipped: dict[str, str], states: Sequence[str]
) -> tuple[list[str], list[list]]:
    """(columns, rows): one row per learner and cache state, each figure the
    median over the rounds; a skipped or failed learner's row says why."""
    keys = [f"{w} to {t:g}%" for t in targets for w in ("epochs", "train s", "total s")]
    keys += ["s/epoch", "start-up s", "compile s", "best error %", "at epoch", "cpu stall %"]
    columns = ["learner", "cache", *keys, "rounds", "note"]
    rows: list[list] = []
    names = list(dict.fromkeys([n for n, _ in results] + list(skipped)))
    for name in names:
        for state in states:
            if name in skipped:
                rows.append([name, state, *[None] * len(keys), 0, skipped[name]])
                continue
            runs = results[(name, state)]
            failed = [r["failed"] for r in runs if "failed" in r]
            done = [summarize(r, targets) for r in runs if "failed" not in r]
            cells = [_median([d[k] for d in done]) if done else None for k in keys]
            info = next((r["info"] for r in runs if "info" in r), {})
            note = f"failed: {failed[0]}" if failed else ", ".join(f"{k} {v}" for k, v in info.items())
            rows.append([name, state, *cells, len(done), note])
    return columns, rows


def verdicts(columns: Sequence[str], rows: Sequence[Sequence], targets: Sequence[float]) -> list[str]:
    """Per cache state and target, where fastbp and a peer ran: fastbp's best
    total time against the best peer's, and their ratio."""

    def best(group, col):
        return min(((r[col], r[0]) for r in group if r[col] is not None), default=None)

    def say(b) -> str:
        return "none reached it" if b is None else f"{b[0]:.1f} s ({b[1]})"

    lines = []
    done = columns.index("rounds")
    for state in dict.fromkeys(r[1] for r in rows):
        ours = [r for r in rows if r[1] == state and r[done] and r[0] not in PEERS]
        theirs = [r for r in rows if r[1] == state and r[done] and r[0] in PEERS]
        if not ours or not theirs:
            continue
        for t in targets:
            col = columns.index(f"total s to {t:g}%")
            a, b = best(ours, col), best(theirs, col)
            ratio = f": {a[0] / b[0]:.2f}x its time" if a and b else ""
            lines.append(f"{state}, to {t:g}% error: fastbp {say(a)}, best peer {say(b)}{ratio}")
    return lines


# ------------------------------------------------------------------ main
def load_mnist(data_dir: str | None, n_train: int | None):
    """(Data, the Dataset) of MNIST, found on disk as ``_mnist`` finds it (never downloaded)."""
    from fastbp import datasets

    from ._mnist import SHARED

    if data_dir is None and not os.environ.get("FASTBP_DATA") and SHARED.is_dir():
        data_dir = str(SHARED)
    ds = datasets.mnist(data_dir, n_train=n_train, download=False)
    assert ds.X_test is not None and ds.labels_test is not None
    data = Data(
        np.ascontiguousarray(ds.X_train, np.float32),
        ds.Y_train.argmax(axis=1).astype(np.int64),
        np.ascontiguousarray(ds.X_test, np.float32),
        np.asarray(ds.labels_test, np.int64),
    )
    return data, ds


def with_rates(configs: Sequence[str], ds) -> list[str]:
    """The configs, each with its rate: as given, else the data set's
    (``fastbp.training.default_alpha``)."""
    from fastbp.training import default_alpha

    out = []
    for c in configs:
        act, output, _, alpha = parse_config(c)
        out.append(c if alpha is not None else f"{c}@{default_alpha(ds, act, output):g}")
    return out


def _load() -> str:
    """The load average and the CPU pressure (other work skews timings)."""
    p = cpu_pressure()
    return (
        "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + (f", cpu pressure {p[0]:.0f}%" if p else "")
    )


def _names(text: str) -> list[str]:
    return [] if text.strip() in ("", "none") else [t.strip() for t in text.split(",") if t.strip()]


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:  # before any import of fastbp: the child times its framework's import
        _child(argv[1])
        return
    from . import _results

    ap = argparse.ArgumentParser(prog="python -m benchmarks.time_to_accuracy", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data-dir", default=None, help="MNIST's folder (default: $FASTBP_DATA, ../shared/data/mnist, the cache)"
    )
    ap.add_argument(
        "--configs", default=",".join(CONFIGS), help="fastbp's: HIDDEN-OUTPUT-DTYPE[@ALPHA], comma-separated"
    )
    ap.add_argument("--peers", default=",".join(PEERS), help=f"any of {', '.join(PEERS)}, or none")
    ap.add_argument("--epochs-max", type=int, default=20)
    ap.add_argument("--targets", default=",".join(f"{t:g}" for t in TARGETS), help="test errors in %%")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each learner and cache state (medians)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="threads of every learner (default: every core)")
    ap.add_argument("--cold", action="store_true", help="cold runs (default: cold and warm)")
    ap.add_argument("--warm", action="store_true", help="warm runs (default: cold and warm)")
    ap.add_argument("--n-train", type=int, default=None, help="train on the first N images only")
    ap.add_argument(
        "--quiet", type=float, default=None, help="before each run, wait for the CPU pressure to fall under this %%"
    )
    _results.add_arguments(ap)
    args = _results.parse_args(ap, argv)
    from ._common import byte_compile_fastbp

    byte_compile_fastbp()
    peers = _names(args.peers)
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        ap.error(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(PEERS)} or none")
    for name, v, lo in (
        ("--epochs-max", args.epochs_max, 1),
        ("--rounds", args.rounds, 1),
        ("--threads", args.threads, 1),
    ):
        if v is not None and v < lo:
            ap.error(f"{name} must be at least {lo}, got {v}")
    try:
        targets = sorted((float(t) for t in args.targets.split(",")), reverse=True)
        configs = _names(args.configs)
        for c in configs:
            parse_config(c)
    except ValueError as exc:
        ap.error(str(exc) if "configs" in str(exc) else f"--targets: {args.targets!r} is not a list of numbers")
    cold, warm = (args.cold, args.warm) if (args.cold or args.warm) else (True, True)
    states = [s for s, on in (("cold", cold), ("warm", warm)) if on]

    data, ds = load_mnist(args.data_dir, args.n_train)
    configs = with_rates(configs, ds)
    skipped = {p: why for p in peers if (why := missing_peer(p)) is not None}
    learners = configs + [p for p in peers if p not in skipped]
    before = _load()
    print(f"MNIST {data.X_train.shape[0]} training, {data.X_test.shape[0]} test images; {before}", flush=True)
    results = measure(
        learners,
        data,
        cold=cold,
        warm=warm,
        rounds=args.rounds,
        target=targets[-1],
        epochs_max=args.epochs_max,
        threads=args.threads,
        seed=args.seed,
        quiet=args.quiet,
    )
    after = _load()
    columns, rows = table(results, targets, skipped, states)
    notes = [
        f"MNIST {data.X_train.shape[0]}-{data.X_test.shape[0]}, {'-'.join(map(str, [data.X_train.shape[1], *HIDDEN, 10]))}, "
        f"seed {args.seed}, threads {args.threads or 'every core'}, at most {args.epochs_max} epochs, medians of {args.rounds} rounds",
        f"before: {before}",
        f"after: {after}",
        *verdicts(columns, rows, targets),
    ]
    _results.publish(args, "time_to_accuracy", TITLE, columns, rows, notes)
    print("\n".join(notes))


if __name__ == "__main__":
    main()
