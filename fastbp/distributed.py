"""Running a sweep's chunks of networks on Dask.

``train_many(..., client=Client(...))`` splits its networks into chunks and
runs each chunk as one Dask task (the training loop over that chunk's
networks, ``training.train_block``). The data travel inside each task rather
than being scattered: a scattered block that lived only on a lost worker
could not be recomputed, while a task whose worker is lost is simply run
again by Dask. Results come back in input order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .validation import check_int

if TYPE_CHECKING:
    import numpy as np

    from .spec import NetworkSpec


def chunks(seq: Sequence, n_chunks: int) -> list[tuple[int, Sequence]]:
    """``seq`` cut into at most ``n_chunks`` contiguous pieces: (start, piece)."""
    n_chunks = max(1, min(n_chunks, len(seq)))
    size = math.ceil(len(seq) / n_chunks)
    return [(i, seq[i : i + size]) for i in range(0, len(seq), size)]


def run_chunks(
    client: Any,
    block: Callable[..., dict],
    spec: NetworkSpec,
    pairs: Sequence,
    X: np.ndarray,
    Y: np.ndarray,
    epochs: int,
    loss_every: int,
    *,
    chunk_size: int | None = None,
    retries: int = 2,
) -> list[dict]:
    """``block(spec, chunk, X, Y, epochs, loss_every)`` for each chunk of
    ``pairs`` on the Dask cluster of ``client`` (``spec``, a NetworkSpec,
    travels pickled: its backend object is rebuilt on the worker with its
    options); the results in chunk order. ``chunk_size`` networks per task
    (default: one chunk per worker); ``retries``: Dask reruns a task that
    raised this many times."""
    retries = check_int(retries, "retries", 0)
    if chunk_size is not None:
        n_chunks = math.ceil(len(pairs) / check_int(chunk_size, "chunk_size", 1))
    else:
        n_chunks = max(len(client.scheduler_info().get("workers", {})), 1)
    parts = chunks(pairs, n_chunks)
    futures = [
        client.submit(
            block,
            spec,
            part,
            X,
            Y,
            epochs,
            loss_every,
            key=f"fastbp-chunk-{start}-{len(part)}-{id(pairs):x}",
            pure=False,
            retries=retries,
        )
        for start, part in parts
    ]
    gathered = client.gather(futures)
    for (start, part), got in zip(parts, gathered):
        if len(got["networks"]) != len(part):
            raise RuntimeError(f"chunk at {start} returned {len(got['networks'])} results for {len(part)} networks")
    return gathered
