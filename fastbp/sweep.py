"""Train many networks at once: batched per-sample SGD across models.

``train_many`` trains K independent networks of the same layer sizes on the
same data, each with its own seed and alpha, each doing exact per-sample SGD:
network k ends with the weights it would have if trained alone. The backend's
``sgd_epoch_many`` runs all of them in one call per epoch (numba: models in
parallel across cores; cuda: one persistent block per model in one launch).

With ``client=`` (a ``dask.distributed.Client``) the networks are split into
chunks, each trained with the batched kernel on a worker, and gathered back
in order; Dask reschedules the chunk of a worker lost mid-sweep.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .backends import auto_choice, get_backend, normalize_name, unavailable_reason
from .datasets import Dataset
from .network import NeuralNetwork, add_bias, init_weights
from .validation import check_alpha, check_dtype, check_positive_int


@dataclass
class NetworkResult:
    """One network of a sweep."""

    index: int
    alpha: float
    seed: int
    network: NeuralNetwork
    loss_epochs: np.ndarray
    loss_history: np.ndarray
    accuracy: float | None
    diverged_at: int | None = None

    @property
    def final_loss(self) -> float:
        return float(self.loss_history[-1]) if len(self.loss_history) else float("nan")


@dataclass
class SweepResult:
    """What ``train_many`` returns: one result per network, in input order."""

    results: list[NetworkResult]
    dataset: str
    backend: str
    dtype: str
    layers: list[int]
    epochs: int
    wall_time: float
    n_train: int
    extra: dict = field(default_factory=dict)

    @property
    def network_samples_per_second(self) -> float:
        return len(self.results) * self.epochs * self.n_train / self.wall_time if self.wall_time > 0 else float("nan")

    def ranked(self) -> list[NetworkResult]:
        """Best first: highest test accuracy, then lowest final loss."""

        def key(r):
            acc = -1.0 if r.accuracy is None else r.accuracy
            loss = r.final_loss if math.isfinite(r.final_loss) else float("inf")
            return (-acc, loss, r.index)

        return sorted(self.results, key=key)

    def best(self) -> NetworkResult:
        return self.ranked()[0]

    def table(self, limit: int | None = None) -> str:
        """A markdown table of the networks, best first."""
        rows = self.ranked()[: limit or None]
        lines = ["| rank | alpha | seed | final loss | test accuracy | note |", "|---:|---:|---:|---:|---:|---|"]
        for i, r in enumerate(rows, 1):
            acc = "-" if r.accuracy is None else f"{r.accuracy:.4f}"
            note = "" if r.diverged_at is None else f"diverged at epoch {r.diverged_at}"
            lines.append(f"| {i} | {r.alpha:g} | {r.seed} | {r.final_loss:.6g} | {acc} | {note} |")
        return "\n".join(lines)

    def summary(self) -> str:
        return (
            f"{len(self.results)} networks {'-'.join(map(str, self.layers))} on {self.dataset!r}, backend={self.backend}, "
            f"dtype={self.dtype}, {self.epochs} epochs: {self.wall_time:.3f} s, "
            f"{self.network_samples_per_second:,.0f} network-samples/s"
        )


def _as_list(values, name: str) -> list:
    if values is None:
        return []
    if isinstance(values, (int, float, np.integer, np.floating)):
        return [values]
    try:
        return list(values)
    except TypeError:
        raise TypeError(f"{name} must be a number or a list of numbers, got {values!r}") from None


def plan(alphas, seeds, grid: bool = True):
    """The (alpha, seed) of every network: the grid of both lists, or (grid=False) zipped."""
    alphas = [check_alpha(a, "alphas") for a in _as_list(alphas, "alphas")]
    seeds_in = _as_list(seeds, "seeds")
    seeds = []
    for s in seeds_in:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"seeds must be non-negative integers, got {s!r}")
        seeds.append(int(s))
    if not alphas:
        raise ValueError("alphas is empty: give at least one learning rate")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    if grid:
        return [(a, s) for a, s in itertools.product(alphas, seeds)]
    if len(alphas) == 1:
        alphas = alphas * len(seeds)
    if len(seeds) == 1:
        seeds = seeds * len(alphas)
    if len(alphas) != len(seeds):
        raise ValueError(f"with grid=False, alphas ({len(alphas)}) and seeds ({len(seeds)}) must have the same length")
    return list(zip(alphas, seeds))


def _train_block(layers, specs, X_train, Y_train, backend, dtype, epochs, loss_every):
    """Train networks ``specs`` [(alpha, seed), ...] together; host-side results.

    Returns a list of dicts (weights as NumPy arrays, loss history, divergence
    epoch). This is the unit of work a Dask worker runs.
    """
    be = get_backend(backend, layers=layers, n_networks=len(specs))
    dtype = np.dtype(dtype)
    K = len(specs)
    inits = [init_weights(layers, seed) for _, seed in specs]
    L = len(layers) - 1
    X1 = be.asarray(add_bias(np.asarray(X_train, dtype=np.float64)), dtype)
    Y = be.asarray(np.asarray(Y_train, dtype=np.float64), dtype)
    active = list(range(K))
    Ws = [be.asarray(np.stack([inits[k][l] for k in active]), dtype) for l in range(L)]
    good = be.copy_weights(Ws)
    alphas = np.array([a for a, _ in specs], dtype=np.float64)
    histories: list[list[float]] = [[] for _ in range(K)]
    loss_epochs: list[list[int]] = [[] for _ in range(K)]
    final: dict = {}
    diverged: dict = {}
    for epoch in range(1, epochs + 1):
        if not active:
            break
        be.sgd_epoch_many(Ws, X1, Y, alphas[active])
        if epoch == 1 or epoch % loss_every == 0 or epoch == epochs:
            losses = np.asarray(be.loss_many(Ws, X1, Y), dtype=np.float64)
            finite = np.isfinite(losses) & _finite_many(be, Ws)
            for j, k in enumerate(active):
                if finite[j]:
                    histories[k].append(float(losses[j]))
                    loss_epochs[k].append(epoch)
            if not finite.all():
                # Networks that diverged keep their last finite weights and
                # stop; the others go on without them.
                for j, k in enumerate(active):
                    if not finite[j]:
                        final[k] = [be.to_numpy(g[j]) for g in good]
                        diverged[k] = epoch
                keep = [j for j in range(len(active)) if finite[j]]
                active = [active[j] for j in keep]
                if active:
                    idx = np.array(keep)
                    Ws = [be.asarray(be.to_numpy(w)[idx], dtype) for w in Ws]
            good = be.copy_weights(Ws)
    for j, k in enumerate(active):
        final[k] = [be.to_numpy(w[j]) for w in Ws]
    be.synchronize()
    return [
        {
            "alpha": specs[k][0],
            "seed": specs[k][1],
            "weights": final[k],
            "loss_epochs": np.array(loss_epochs[k], dtype=np.int64),
            "loss_history": np.array(histories[k], dtype=np.float64),
            "diverged_at": diverged.get(k),
            "backend": be.name,
        }
        for k in range(K)
    ]


def _finite_many(be, Ws) -> np.ndarray:
    host = [be.to_numpy(w) for w in Ws]
    K = host[0].shape[0]
    return np.array([all(np.isfinite(h[k]).all() for h in host) for k in range(K)])


def _chunk(seq: Sequence, n_chunks: int):
    n_chunks = max(1, min(n_chunks, len(seq)))
    size = math.ceil(len(seq) / n_chunks)
    return [(i, seq[i : i + size]) for i in range(0, len(seq), size)]


def train_many(
    data="digits",
    layers=None,
    *,
    alphas=None,
    seeds=(0,),
    grid: bool = True,
    backend="auto",
    epochs=None,
    dtype="float64",
    split_seed: int | None = 0,
    loss_every: int = 1,
    client=None,
    chunk_size: int | None = None,
    retries: int = 2,
    verbose: bool = False,
    out=None,
) -> SweepResult:
    """Train K networks of the same ``layers`` on the same data in batched calls.

    The networks are every (alpha, seed) pair of ``alphas`` x ``seeds``
    (``grid=False`` zips them instead). Network k's weights equal those of
    ``NeuralNetwork(layers, alpha_k, seed=seed_k, backend=backend).fit(...)``.
    A network whose loss becomes NaN/inf stops there, keeping its last finite
    weights (``diverged_at`` says when); the others go on.

    ``client``: a ``dask.distributed.Client``; the networks are split in
    chunks of ``chunk_size`` (default: one chunk per worker), each trained with
    the batched kernel on a worker; a chunk whose worker is lost is run again
    (Dask reschedules it; ``retries`` more for errors), and the results come
    back in order, none lost or duplicated.
    """
    from .training import evaluate, resolve_run

    ds, layers, epochs = resolve_run(data, layers, epochs, split_seed)
    specs = plan(ds.alpha if alphas is None else alphas, seeds, grid)
    dtype = check_dtype(dtype)
    loss_every = check_positive_int(loss_every, "loss_every")
    out = sys.stdout if out is None else out

    t0 = time.perf_counter()
    if client is None:
        name = auto_choice(layers, len(specs))[0] if normalize_name(backend) == "auto" else normalize_name(backend)
        get_backend(name)
        if verbose:
            print(f"[INFO] training {len(specs)} networks {'-'.join(map(str, layers))} on backend={name}", file=out)
        raw = _train_block(layers, specs, ds.X_train, ds.Y_train, name, dtype.name, epochs, loss_every)
    else:
        name = normalize_name(backend)
        raw = _run_distributed(client, layers, specs, ds, name, dtype.name, epochs, loss_every, chunk_size, retries)
        name = raw[0]["backend"] if raw else name
    wall = time.perf_counter() - t0

    local_backend = name if unavailable_reason(name) is None else "numpy"

    results = []
    for k, r in enumerate(raw):
        net = NeuralNetwork(
            layers, r["alpha"], backend=local_backend, dtype=dtype, seed=r["seed"], weights=r["weights"]
        )
        acc = evaluate(net, ds)[0]
        results.append(
            NetworkResult(
                index=k,
                alpha=r["alpha"],
                seed=r["seed"],
                network=net,
                loss_epochs=r["loss_epochs"],
                loss_history=r["loss_history"],
                accuracy=acc,
                diverged_at=r["diverged_at"],
            )
        )
    return SweepResult(
        results=results,
        dataset=ds.name,
        backend=name,
        dtype=dtype.name,
        layers=layers,
        epochs=epochs,
        wall_time=wall,
        n_train=len(ds.X_train),
        extra={"distributed": client is not None},
    )


def _run_distributed(client, layers, specs, ds: Dataset, backend, dtype, epochs, loss_every, chunk_size, retries):
    """Chunks of networks on Dask workers; results gathered in input order."""
    try:
        n_workers = max(len(client.scheduler_info().get("workers", {})), 1)
    except Exception:  # pragma: no cover - very old clients
        n_workers = 1
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        n_chunks = math.ceil(len(specs) / chunk_size)
    else:
        n_chunks = n_workers
    chunks = _chunk(specs, n_chunks)
    # The data travel inside each task (not scattered): a scattered block that
    # lived only on a lost worker could not be recomputed.
    X_f, Y_f = ds.X_train, ds.Y_train
    futures = [
        client.submit(
            _train_block,
            layers,
            chunk,
            X_f,
            Y_f,
            backend,
            dtype,
            epochs,
            loss_every,
            key=f"fastbp-chunk-{start}-{len(chunk)}-{id(specs):x}",
            pure=False,
            retries=retries,
        )
        for start, chunk in chunks
    ]
    gathered = client.gather(futures)
    raw: list[dict] = []
    for (start, chunk), part in zip(chunks, gathered):
        if len(part) != len(chunk):  # pragma: no cover - defensive
            raise RuntimeError(f"chunk at {start} returned {len(part)} results for {len(chunk)} networks")
        raw.extend(part)
    return raw


def _parse_floats(text: str) -> list[float]:
    return [float(t) for t in text.split(",") if t.strip()]


def _parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part))
    return seeds


def add_subcommand(sub) -> None:
    """Register ``fastbp sweep`` with the CLI."""
    import argparse

    from .cli import _int_list

    def floats(text):
        try:
            return _parse_floats(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated numbers such as 0.05,0.1,0.5, got {text!r}"
            ) from None

    def seeds(text):
        try:
            return _parse_seeds(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seeds such as 0-7 or 1,2,5, got {text!r}") from None

    p = sub.add_parser("sweep", help="train many networks at once (alphas x seeds) and print a table, best first")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--layers", type=_int_list, default=None)
    p.add_argument("--alphas", type=floats, default=None, help="e.g. 0.05,0.1,0.5 (default: the data set's)")
    p.add_argument("--seeds", type=seeds, default=[0], help="e.g. 0-7 or 1,2,5")
    p.add_argument("--zip", action="store_true", help="pair alphas and seeds instead of the full grid")
    p.add_argument("--backend", default="auto")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--loss-every", type=int, default=10, help="compute the loss every N epochs (default 10)")
    p.add_argument("--top", type=int, default=None, help="print only the best N")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run the sweep on (dask extra)")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args) -> int:
    client = None
    if args.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            print('error: --scheduler needs Dask: pip install "fastbp[dask]"', file=sys.stderr)
            return 2
        client = Client(args.scheduler)
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
            loss_every=args.loss_every,
            client=client,
            verbose=True,
        )
    finally:
        if client is not None:
            client.close()
    print(res.summary())
    print(res.table(args.top))
    return 0
