"""The ``fastbp`` command: train, info (and the subcommands other modules add)."""

from __future__ import annotations

import argparse
import platform
import sys

from .errors import FastbpError


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace("-", ",").split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 64,32,16,10, got {text!r}"
        ) from None


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a network and print the classification report")
    p.add_argument("--dataset", default="digits", help="'digits' (default), 'xor', or a path to an .npz file")
    p.add_argument("--backend", default="auto", help="auto (default), numpy, numba, cuda")
    p.add_argument("--layers", type=_int_list, default=None, help="layer widths, e.g. 64,32,16,10")
    p.add_argument("--epochs", type=int, default=None, help="default: the reference's (digits 1000, xor 20000)")
    p.add_argument("--alpha", type=float, default=None, help="learning rate (digits 0.1, xor 0.5)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--seed", type=int, default=None, help="seed of the initial weights (default: random, printed)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the digits train/test split")
    p.add_argument("--display-update", type=int, default=100, help="print the loss every N epochs")
    p.add_argument("--quiet", action="store_true", help="print only the result")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plot", metavar="PNG", help="save the loss curve to this picture (needs matplotlib)")
    p.add_argument("--save", metavar="NPZ", help="save the trained network to this file")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from .training import train

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print('error: --plot needs matplotlib: pip install "fastbp[plot]"', file=sys.stderr)
            return 2
    result = train(
        args.dataset,
        args.layers,
        backend=args.backend,
        epochs=args.epochs,
        alpha=args.alpha,
        dtype=args.dtype,
        seed=args.seed,
        split_seed=args.split_seed,
        display_update=args.display_update,
        verbose=not args.quiet,
        progress=False if args.no_progress else None,
    )
    print(result.summary())
    if result.report is not None:
        print(result.report)
    if args.plot:
        result.plot_loss(args.plot)
        print(f"loss curve saved to {args.plot}")
    if args.save:
        result.network.save(args.save)
        print(f"network saved to {args.save}")
    return 0


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="list the backends, whether each is usable here, and why not")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args) -> int:
    from . import __version__
    from .backends import auto_choice, backend_names, get_backend, unavailable_reason

    print(
        f"fastbp {__version__}, Python {platform.python_version()}, {platform.machine()}, {platform.processor() or platform.system()}"
    )
    for name in backend_names():
        why = unavailable_reason(name)
        if why is None:
            info = get_backend(name).info()
            details = ", ".join(f"{k}={v}" for k, v in info.items() if k != "name")
            print(f"  {name:6s} usable      {details}")
        else:
            print(f"  {name:6s} unavailable {why}")
    print("digits-sized network (64-32-16-10): " + auto_choice([64, 32, 16, 10])[1])
    print("wide network (784-256-128-10) or many networks: " + auto_choice([784, 256, 128, 10])[1])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastbp", description="Exact per-sample backpropagation on NumPy, Numba and CUDA."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_info(sub)
    for hook in _EXTRA_COMMANDS:
        hook(sub)
    return parser


#: Subcommands registered by other modules (bench, sweep): functions taking the subparsers.
_EXTRA_COMMANDS: list = []


def main(argv: list[str] | None = None) -> int:
    _load_extra_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FastbpError, ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _load_extra_commands() -> None:
    import importlib
    import importlib.util

    for module in ("fastbp.bench_report", "fastbp.sweep"):
        if importlib.util.find_spec(module) is None:
            continue
        mod = importlib.import_module(module)
        hook = getattr(mod, "add_subcommand", None)
        if hook is not None and hook not in _EXTRA_COMMANDS:
            _EXTRA_COMMANDS.append(hook)
