"""The ``fastbp`` command: every subcommand is built here.

    fastbp train --dataset digits            train one network, print the report
    fastbp sweep --alphas 0.05,0.1 --seeds 0-7   many networks at once, a table
    fastbp info                              backends, usable or not and why; GPU decisions
    fastbp tune --dataset mnist              decide the cuda kernel for a workload ahead of time
    fastbp warmup --dataset mnist            compile the numba kernels ahead of time

Errors fastbp raises on purpose (bad arguments, unreadable files, an
unusable backend, too little memory, a diverged run) are printed as one
``error: ...`` line, exit status 2. Ctrl-C, at any moment, exits with status
130: during training it stops at the end of a chunk of epochs (a second
Ctrl-C at once on an interruptible backend) and writes what was asked for (``--save``, ``--plot``) from
the last completed epoch, saying which; before the first epoch completed it
writes nothing and leaves the files there as they were; while the report
prints it cuts it short and writes the files; a file being written is
finished first (fastbp.loop.ctrl_c).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings
from collections.abc import Callable
from typing import Any

from .backends.base import ACTIVATIONS, OUTPUTS
from .errors import FastbpError, NetworkFileError, TrainingDivergedError, TrainingInterrupted
from .loop import ctrl_c
from .paths import unwritable
from .validation import check_int


# ------------------------------------------------------------ argument types
def _int_list(text: str) -> list[int]:
    """Layer widths: "64,32,16,10" or "64-32-16-10"; every width a positive integer."""
    parts = text.split(",") if "," in text else text.split("-")
    try:
        widths = [int(t) for t in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected positive integer widths such as 64,32,16,10, got {text!r}"
        ) from None
    if any(w <= 0 for w in widths):
        raise argparse.ArgumentTypeError(f"layer widths must be positive integers, got {text!r}")
    return widths


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (``validation.check_int``;
    "1e3" reads as 1000)."""

    def parse(text: str) -> int:
        try:
            value: float = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        try:
            return check_int(value, "the value", minimum)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


_positive_int = _at_least(1)
_count = _at_least(0)


def _floats(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.05,0.1,0.5, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return values


def _seeds(text: str) -> list[int]:
    """Seeds: "0-7", "1,2,5" or a mix, each >= 0."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(part)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds such as 0-7 or 1,2,5, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"expected at least one seed, got {text!r}")
    return seeds


def _check_output(path: str, what: str) -> None:
    """Fails before training when ``path`` cannot be written (its folder
    missing or not writable, or ``path`` a directory)."""
    problem = unwritable(path)
    if problem is not None:
        raise FastbpError(f"{what} {path!r}: {problem}")


def _version() -> str:
    from . import __version__

    return f"fastbp {__version__}"


# --------------------------------------------------------------------- train
def _add_common(p: Any) -> None:
    p.add_argument(
        "--dataset",
        default="digits",
        help="'digits' (default), 'xor', 'mnist', 'fashion-mnist', or a path to an .npz file",
    )
    p.add_argument("--data-dir", default=None, help="folder holding the MNIST / Fashion-MNIST files (looked in first)")
    p.add_argument("--backend", default="auto", help="auto (default), numpy, numba, cuda")
    p.add_argument("--layers", type=_int_list, default=None, help="layer widths, e.g. 64,32,16,10")
    p.add_argument(
        "--epochs", type=_positive_int, default=None, help="default: the data set's (digits 1000, xor 20000)"
    )
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument(
        "--activation",
        default="sigmoid",
        choices=list(ACTIVATIONS),
        help="hidden units: sigmoid (default, the tutorial's), tanh, relu (He-scaled initial weights)",
    )
    p.add_argument(
        "--output",
        default="sigmoid",
        choices=list(OUTPUTS),
        help="output units and loss: sigmoid (default) or linear with 0.5 * sum of squared errors, "
        "softmax with the summed cross-entropy",
    )
    p.add_argument("--split-seed", type=_count, default=0, help="seed of the digits train/test split")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--threads", type=_positive_int, default=None, help="CPU threads (numba; default: all cores for a wide network)"
    )


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a network and print the classification report")
    _add_common(p)
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="learning rate (default: the data set's, e.g. digits 0.1, xor 0.5; other units than sigmoid's: "
        "the data set's rate for them)",
    )
    p.add_argument("--seed", type=_count, default=None, help="seed of the initial weights (default: random, printed)")
    p.add_argument("--display-update", type=_count, default=100, help="print the loss every N epochs (0: never)")
    p.add_argument("--quiet", action="store_true", help="print only the result")
    p.add_argument("--plot", metavar="PNG", help="save the loss curve to this picture (needs matplotlib)")
    p.add_argument("--save", metavar="NPZ", help="save the trained network to this file")
    p.set_defaults(func=_cmd_train)


def _not_written(args: argparse.Namespace) -> str:
    """ "; --save 'm.npz' not written ('m.npz' left as it was)", or "" for a
    command that writes nothing."""
    asked = [
        (opt, path)
        for opt, path in (("--plot", getattr(args, "plot", None)), ("--save", getattr(args, "save", None)))
        if path
    ]
    if not asked:
        return ""
    kept = [repr(path) for _, path in asked if os.path.exists(path)]
    return f"; {' and '.join(f'{opt} {path!r}' for opt, path in asked)} not written" + (
        f" ({' and '.join(kept)} left as it was)" if kept else ""
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from .training import TrainingWarning, train

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise FastbpError('--plot needs matplotlib: pip install "fastbp[plot]"') from None
        _check_output(args.plot, "--plot")
    if args.save:
        _check_output(args.save, "--save")
    asked = " and ".join(f"{opt} {path!r}" for opt, path in (("--plot", args.plot), ("--save", args.save)) if path)
    status, why = 0, ""
    # Ctrl-C is held from here to the end: the trained network reaches this function whole, and
    # a Ctrl-C once training is over (as the report prints, as the files are written) changes nothing
    with ctrl_c("hold") as held, warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)  # printed below, one line each
        try:
            result = train(
                args.dataset,
                args.layers,
                backend=args.backend,
                epochs=args.epochs,
                alpha=args.alpha,
                dtype=args.dtype,
                seed=args.seed,
                split_seed=args.split_seed,
                data_dir=args.data_dir,
                display_update=args.display_update,
                verbose=not args.quiet,
                progress=False if args.no_progress else None,
                activation=args.activation,
                output=args.output,
                threads=args.threads,
            )
        except TrainingInterrupted as exc:
            result, status, why = exc.result, 130, str(exc)
        except TrainingDivergedError as exc:
            print(f"error: {exc}" + ("; nothing written" if asked else ""), file=sys.stderr)
            args.finished = 2
            return 2
        if held.pressed and not status:
            status, why = 130, f"Ctrl-C after the last epoch ({result.epochs})"
        args.finished = status  # for ``main``: a Ctrl-C from now on changes nothing
        if status:
            if result.epochs == 0:
                print(f"interrupted: {why}{_not_written(args)}", file=sys.stderr)
                return status
            print(
                f"interrupted: {why}" + (f"; writing {asked} from epoch {result.epochs}" if asked else ""),
                file=sys.stderr,
            )
        try:
            print(result.summary())
            if result.report is not None:
                print(result.report)
            for message in result.warnings:
                print(f"warning: {message}", file=sys.stderr)
        except KeyboardInterrupt:  # not a held Ctrl-C: one under a handler of the caller's (``ctrl_c``)
            status = 130
            print()  # the report may end mid-line: what follows starts a line of its own
            print("interrupted: the report is cut short" + (f"; writing {asked}" if asked else ""), file=sys.stderr)
        failed = False
        when = f" (epoch {result.epochs}, interrupted)" if status else ""
        if args.plot:
            try:
                result.plot_loss(args.plot)
                print(f"loss curve saved to {args.plot}{when}")
            except Exception as exc:  # a failed picture must not cost the trained network
                print(f"error: could not save the loss curve to {args.plot!r}: {exc}", file=sys.stderr)
                failed = True
        if args.save:
            try:
                result.network.save(args.save)
                print(f"network saved to {args.save}{when}")
            except NetworkFileError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed = True
        args.finished = status or (2 if failed else 0)
    return int(args.finished)


# --------------------------------------------------------------------- sweep
def _add_sweep(sub: Any) -> None:
    p = sub.add_parser("sweep", help="train many networks at once (alphas x seeds) and print a table, best first")
    _add_common(p)
    p.add_argument("--alphas", type=_floats, default=None, help="e.g. 0.05,0.1,0.5 (default: the data set's)")
    p.add_argument("--seeds", type=_seeds, default=[0], help="e.g. 0-7 or 1,2,5")
    p.add_argument("--zip", action="store_true", help="pair alphas and seeds instead of the full grid")
    p.add_argument("--loss-every", type=_positive_int, default=10, help="record the loss every N epochs (default 10)")
    p.add_argument("--top", type=_positive_int, default=None, help="print only the best N")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run the sweep on (dask extra)")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .training import TrainingWarning, train_many

    client = None
    if args.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise FastbpError('--scheduler needs Dask: pip install "fastbp[dask]"') from None
        client = Client(args.scheduler)
    status = 0
    # Ctrl-C is held from here to the end, as in ``_cmd_train``: the results reach this function
    # whole, and a Ctrl-C once training is over changes nothing
    with ctrl_c("hold") as held, warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)
        try:
            res = train_many(
                args.dataset,
                args.layers,
                alphas=args.alphas,
                seeds=args.seeds,
                grid=not args.zip,
                backend=args.backend,
                epochs=args.epochs,
                dtype=args.dtype,
                split_seed=args.split_seed,
                data_dir=args.data_dir,
                loss_every=args.loss_every,
                client=client,
                verbose=True,
                progress=False if args.no_progress else None,
                activation=args.activation,
                output=args.output,
                threads=args.threads,
            )
        except TrainingInterrupted as exc:
            res, status = exc.result, 130
            print(f"interrupted: {exc}", file=sys.stderr)
        finally:
            if client is not None:
                client.close()
        if held.pressed and not status:
            status = 130
            print(f"interrupted: Ctrl-C after the last epoch ({res.epochs})", file=sys.stderr)
        args.finished = status  # for ``main``: a Ctrl-C from now on changes nothing
        if res.epochs == 0:
            print("interrupted before the first epoch completed: no results", file=sys.stderr)
            return status
        try:
            print(res.summary())
            print(res.table(args.top))
        except KeyboardInterrupt:  # not a held Ctrl-C: one under a handler of the caller's (``ctrl_c``)
            print()  # the table may end mid-line
            print("interrupted: the results are cut short", file=sys.stderr)
            args.finished = 130
    return int(args.finished)


# ---------------------------------------------------------------------- info
def _add_info(sub: Any) -> None:
    p = sub.add_parser("info", help="list the backends, whether each is usable here, and why not")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from .backends import auto_choice, backend_names, get_backend, unavailable_reason

    print(f"{_version()}, Python {platform.python_version()}, {platform.machine()}, {platform.system()}")
    for name in backend_names():
        why = unavailable_reason(name)
        if why is None:
            be = get_backend(name)
            details = ", ".join(f"{k}={v}" for k, v in be.info().items() if k != "name")
            print(f"  {name:6s} usable      {details}")
            print(f"  {'':6s}             activations {', '.join(be.activations)}; outputs {', '.join(be.outputs)}")
        else:
            print(f"  {name:6s} unavailable {why}")
    from .backends.cuda import record

    print("\n".join(record.report()))
    print("digits-sized network (64-32-16-10): " + auto_choice([64, 32, 16, 10])[1])
    print("wide network (784-256-128-10): " + auto_choice([784, 256, 128, 10])[1])
    print("64 digits networks at once: " + auto_choice([64, 32, 16, 10], 64)[1])
    return 0


# ---------------------------------------------------------------------- tune
def _add_tune(sub: Any) -> None:
    p = sub.add_parser(
        "tune",
        help="decide which cuda kernel trains a workload on this GPU (checked, timed against numba, recorded)",
        description="Checks every cuda kernel that serves the workload against the NumPy backend, times it and "
        "numba on the data set's first rows (random rows for --layers alone), and records the decision, which "
        "the cuda backend and 'auto' then use. The first cuda run of a workload does the same by itself.",
    )
    p.add_argument(
        "--dataset", default=None, help="digits, xor, mnist, fashion-mnist or an .npz file (default: --layers)"
    )
    p.add_argument("--data-dir", default=None, help="folder holding the MNIST / Fashion-MNIST files (looked in first)")
    p.add_argument("--split-seed", type=_count, default=0, help="seed of the digits train/test split")
    p.add_argument("--layers", type=_int_list, default=None, help="layer widths, e.g. 784,300,100,10")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--activation", default="sigmoid", choices=list(ACTIVATIONS), help="hidden units")
    p.add_argument("--output", default="sigmoid", choices=list(OUTPUTS), help="output units and loss")
    p.add_argument("--networks", type=_positive_int, default=1, help="networks trained at once (default 1)")
    p.add_argument("--again", action="store_true", help="forget this machine's decision for the workload first")
    p.set_defaults(func=_cmd_tune)


def _cmd_tune(args: argparse.Namespace) -> int:
    import numpy as np

    from .backends import gpu_evidence
    from .backends.cuda import record
    from .network import add_bias, init_weights
    from .training import resolve_run

    if args.dataset is None and args.layers is None:
        raise FastbpError("fastbp tune needs --dataset or --layers")
    if args.dataset is not None:
        ds, layers, _ = resolve_run(args.dataset, args.layers, None, args.split_seed, args.data_dir)
        X1, Y = add_bias(ds.X_train), ds.Y_train
    else:
        layers = args.layers
        rs = np.random.RandomState(0)
        X1 = add_bias(rs.rand(1024, layers[0]))
        Y = np.eye(layers[-1])[rs.randint(0, layers[-1], 1024)]
    from .backends import get_backend

    be = get_backend("cuda")
    if args.again:
        dims = [n + 1 for n in layers[:-1]] + [layers[-1]]
        record.forget(record.Workload.of(dims, args.dtype, (args.activation, args.output), args.networks))
    nets = [init_weights(layers, k, args.activation) for k in range(args.networks)]
    P = be.params([np.stack([n[l] for n in nets]) for l in range(len(layers) - 1)], args.dtype)
    P = P.with_units(args.activation, args.output)
    be.compile(P, be.asarray(X1, args.dtype), be.asarray(Y, args.dtype))
    ev = gpu_evidence(layers, args.networks, args.dtype, args.activation, args.output)
    print(ev.describe() if ev is not None else "no decision was recorded")
    return 0


# -------------------------------------------------------------------- warmup
def _dtypes(text: str) -> list[str]:
    """Comma-separated dtypes, each float64 or float32."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names or any(n not in ("float64", "float32") for n in names):
        raise argparse.ArgumentTypeError(f"expected float64, float32 or float64,float32, got {text!r}")
    return names


def _unit_pairs(text: str) -> list[tuple[str, str]]:
    """Comma-separated HIDDEN/OUTPUT unit pairs."""
    pairs = []
    for item in (t.strip() for t in text.split(",")):
        hidden, _, output = item.partition("/")
        if hidden not in ACTIVATIONS or output not in OUTPUTS:
            raise argparse.ArgumentTypeError(
                f"expected HIDDEN/OUTPUT pairs such as sigmoid/sigmoid,relu/softmax (hidden: "
                f"{', '.join(ACTIVATIONS)}; output: {', '.join(OUTPUTS)}), got {item!r}"
            )
        pairs.append((hidden, output))
    return pairs


def _add_warmup(sub: Any) -> None:
    p = sub.add_parser(
        "warmup",
        help="compile the numba kernels ahead of time (cached on this machine for later runs)",
        description="Compiles (or finds in the cache) the numba kernels that training and predicting with the "
        "data set's network use, for each dtype and pair of units, and says what it compiled and how long it took. "
        "Sigmoid hidden and output units have kernels of their own; every other pair shares one, so one such pair "
        "warms them all. Without --dataset: the tutorial's XOR (2-2-1) and digits (64-32-16-10) networks.",
    )
    p.add_argument("--dataset", default=None, help="digits, xor, mnist, fashion-mnist or an .npz file")
    p.add_argument("--data-dir", default=None, help="folder holding the MNIST / Fashion-MNIST files (looked in first)")
    p.add_argument("--layers", type=_int_list, default=None, help="layer widths (default: the data set's)")
    p.add_argument("--dtype", type=_dtypes, default=["float64", "float32"], help="default: float64,float32")
    p.add_argument(
        "--units",
        type=_unit_pairs,
        default=[("sigmoid", "sigmoid"), ("relu", "softmax")],
        help="HIDDEN/OUTPUT pairs (default: sigmoid/sigmoid,relu/softmax: both kinds of kernel)",
    )
    p.add_argument("--threads", type=_positive_int, default=None, help="CPU threads the training runs will use")
    p.set_defaults(func=_cmd_warmup)


def _cmd_warmup(args: argparse.Namespace) -> int:
    import subprocess
    import time
    from concurrent.futures import ThreadPoolExecutor

    from .backends import get_backend
    from .backends.numba import backend, run
    from .network import add_bias, init_weights
    from .training import resolve_run

    be = get_backend("numba", threads=args.threads)
    alone = be.with_threads(1)  # automatic mode may time one thread against a team: its kernel too
    names = [args.dataset] if args.dataset is not None else ["xor", "digits"]
    runs = []  # (name, layers, dtype, units, P, inputs, targets, whether it compiles)
    for name in names:
        ds, layers, _ = resolve_run(name, args.layers, None, 0, args.data_dir)
        X1 = add_bias(ds.X_train)
        for dtype in args.dtype:
            x1, y = be.asarray(X1, dtype), be.asarray(ds.Y_train, dtype)
            for units in args.units:
                P = be.params([w[None] for w in init_weights(layers, 0)], dtype).with_units(*units)
                runs.append((name, layers, dtype, units, P, x1, y, be.compile_note(P, x1, y) is not None))
    elsewhere = {}  # Numba compiles one function at a time in a process: a process per run to compile
    pool = ThreadPoolExecutor(max_workers=run.cores())
    if sum(r[-1] for r in runs) > 1 and run.cores() > 1 and sys.executable:
        common = [f"--data-dir={args.data_dir}"] if args.data_dir else []
        common += [f"--layers={','.join(map(str, args.layers))}"] if args.layers else []
        common += [f"--threads={args.threads}"] if args.threads else []
        for i, (name, _, dtype, (activation, output), *_, fresh) in enumerate(runs):
            if fresh:
                cmd = [sys.executable, "-m", "fastbp", "warmup", f"--dataset={name}", f"--dtype={dtype}"]
                cmd += [f"--units={activation}/{output}", *common]
                elsewhere[i] = pool.submit(subprocess.run, cmd, env=backend.child_env(), capture_output=True, text=True)
    pool.shutdown(wait=False)
    for i, (name, layers, dtype, (activation, output), P, x1, y, fresh) in enumerate(runs):
        if i in elsewhere:
            res = elsewhere[i].result()
            print(res.stdout, end="", flush=True)
            if res.returncode != 0:
                print(res.stderr, end="", file=sys.stderr)
                pool.shutdown(wait=False, cancel_futures=True)  # the runs not started do not start
                return res.returncode
            continue
        t0 = time.perf_counter()
        for b in (be, alone):
            b.compile(P, x1, y)
        be.finish_compiles()  # the thread team's kernel, compiling in the background
        be.predict([w[0] for w in P.W], x1[:1], activation=activation, output=output)
        what = "compiled" if fresh else "found in the cache"
        net = "-".join(map(str, layers))
        took = time.perf_counter() - t0
        print(f"{name} {net} {dtype} {activation}/{output}: numba kernels {what} ({took:.1f} s)", flush=True)
    return 0


# ---------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastbp", description="Exact per-sample backpropagation on NumPy, Numba and CUDA."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_sweep(sub)
    _add_info(sub)
    _add_tune(sub)
    _add_warmup(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a ``fastbp`` command and return its exit status.

    Called as the program, Ctrl-C stays handled (counted, nothing raised)
    after the command until the process exits, so that the exit status is
    the command's.

    Parameters
    ----------
    argv : list of str or None
        The command's arguments (None: this program's command line).

    Returns
    -------
    int
        The exit status: 0 done, 2 an error (its message on stderr), 130
        interrupted.
    """
    with ctrl_c("raise", keep=argv is None):
        args = build_parser().parse_args(argv)
        try:
            return int(args.func(args) or 0)
        except (FastbpError, ValueError, TypeError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except MemoryError as exc:  # an allocation the memory check did not foresee
            print(f"error: out of memory ({exc or 'an allocation failed'})", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            finished = getattr(args, "finished", None)  # set by train and sweep once training is over
            if finished is not None:  # a Ctrl-C after that: the command's status stands
                return int(finished)
            began = " before training began" if args.command in ("train", "sweep") else ""
            print(f"interrupted{began}{_not_written(args)}", file=sys.stderr)
            return 130
