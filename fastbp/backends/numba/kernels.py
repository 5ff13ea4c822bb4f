"""The numba backend's one-thread training kernel: many epochs of K networks in one call.

``train`` runs many epochs of every sample of a batch in order, for any
number of layers and K networks one after the other, in ONE compiled call,
and computes each network's reference loss after the epochs asked for
(``loss``), or hands a snapshot of the weights to the loss
helper (the same compiled function, called on another thread in its helper
role). It releases the GIL: the
backend runs groups of networks, loss helpers and teams on Python threads.
Nothing is allocated per sample and no array view is made per sample (a
Numba view costs an atomic reference-count pair): each network's weights are
ONE flat buffer (a row of ``slab``) and its activations and deltas another
(a row of ``scratch``), addressed by element offsets from ``meta``.

``meta`` describes one network shape (``layout.Layout``): row l < L is
(woff, r, c, cp) of layer l (offset of its (r, cp) block in a network's flat
weights Wn, rows, used and padded columns); row L is (wp, stride, line
vectors, spin): wp elements per activation or delta row (a whole number of
cache lines, at least the widest layer), stride the elements of one
network's weights, for ``team.train_team`` the vectors of a cache line
(threads split layers in such units) and the spins of a barrier wait
between yields, and the codes of the hidden and output units
(``units.UNIT_CODES``): one compiled function serves every pair but the
default sigmoid/sigmoid, which has its own (``units.units_form``). A network's
scratch S holds activation row l at l * wp and delta row l at (L +
1 + l) * wp (row 0 unused: the first layer reads X directly; the loss pass
uses it for the softmax's exponentials).

Per sample (the tutorial's step, ``sweep``): ``vec_forward_split`` for layers 1.. (the
outputs of a layer held in vector registers while the loop runs over its
inputs) and the units, the output units and their delta, then for l = L-1 ..
1 ``backward``: per row i of W[l] the hidden delta from the old weights
(four rows' dot products reduced together) and the update in the same pass.
The first layer's update of sample n is fused with its forward product for
sample n+1 (``vec_update_forward_rows``): every first-layer weight is loaded
and stored once per sample, not twice, and only the rows where sample n's or
sample n+1's input is nonzero are touched (``rows``). The loss pass is the
same ``sweep`` without the backward pass: one forward code for both,
compiled once (a loss pass in code of its own makes ``train``'s compile
1.3-1.6x as long: XOR 4.9-5.5 s against 3.6-5.0, digits float32
relu/softmax 6.5-7.0 against 4.7-6.0 s CPU, 3 cold runs each, the 2-core
machine, 2026-12-06).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .cache import compiled
from .codegen import EXACT
from .loss import LOSS_BLOCK, loss_value, next_snapshot, sample_loss
from .products import backward, vec_forward_rows, vec_forward_split, vec_update_forward_rows, vec_update_rows
from .rows import row_list, training_lists
from .sync import SYNC_DONE, SYNC_HELPER, SYNC_SLOT, SYNC_STOP, atomic_load, atomic_store
from .units import SIGMOID, apply_unit, output_units

#: ``train``'s ``epochs`` for its loss helper role
HELPER = -1


@njit(inline="always", **EXACT)
def sweep(Wn, meta, X, Y, alpha, S, so, I, ptr, build, act, out, n0, n1, learn):
    """Samples n0 .. n1-1 of X, in order, through one network of hidden units
    ``act`` and output units ``out`` (unit codes), with activation row l at
    ``S[so + l * wp]`` and delta row l at ``S[so + (L + 1 + l) * wp]``. With
    ``learn``, per-sample SGD (returns 0.0); else the samples' loss terms
    (``loss.sample_loss``) summed in float64 in sample order (delta row 0
    holds the softmax's exponentials). Both go through the same forward code,
    which is compiled once. The first layer runs over the rows of the
    nonzero inputs only (``row_list``): learning, list 0 for the first
    product, list n + 1 (those of samples n and n + 1) for sample n's update
    fused with sample n + 1's product, list n1 for the last sample's update;
    the loss, list n for sample n; over every row for a bool ``I``. ``build``:
    this pass builds the lists it reads (kept for the call)."""
    L = meta.shape[0] - 1
    wp = meta[L, 0]
    nx = X.shape[1]
    ny = Y.shape[1]
    dl = so + (L + 1) * wp
    w0, c0, cp0 = meta[0, 0], meta[0, 2], meta[0, 3]
    total = 0.0
    io: int  # (an intrinsic's results, untyped to mypy)
    m: int
    for n in range(n0, n1):
        if n == n0 or not learn:  # learning, later samples' products come from the fused update
            io, m = row_list(X, I, ptr, n, n, n, build)
            vec_forward_rows(Wn, w0, X, n * nx, S, so + wp, I, io, m, cp0, cp0)
        if L > 1:  # (a single layer's units are the output's)
            apply_unit(S, so + wp, c0, act)
        for l in range(1, L):
            cp = meta[l, 3]
            vec_forward_split(Wn, meta[l, 0], S, so + l * wp, S, so + (l + 1) * wp, meta[l, 1], cp, cp)
            if l < L - 1:
                apply_unit(S, so + (l + 1) * wp, meta[l, 2], act)
        if not learn:
            total += sample_loss(S, so + L * wp, dl, Y, n, ny, out)
            continue
        output_units(S, so + L * wp, Y, n * ny, S, dl + L * wp, ny, out)
        for l in range(L - 1, 0, -1):
            backward(
                Wn, meta[l, 0], S, so + l * wp, S, dl + (l + 1) * wp, S, dl + l * wp, meta[l, 1], meta[l, 3], alpha, act
            )
        more = n + 1 < n1
        io, m = row_list(X, I, ptr, n + 1, n, n + 1 if more else n, build)
        if more:
            # this sample's first-layer update fused with the next sample's
            # first-layer product (each first-layer weight touched once)
            vec_update_forward_rows(
                Wn, w0, X, n * nx, S, dl + wp, X, (n + 1) * nx, S, so + wp, I, io, m, cp0, cp0, alpha
            )
        else:
            vec_update_rows(Wn, w0, X, n * nx, S, dl + wp, I, io, m, cp0, cp0, alpha)
    return total


@njit(inline="always", **EXACT)
def hand_off(Wn, snap, sync, r):
    """Copies the weights into a free snapshot slot for the loss helper and
    publishes record ``r`` there; False when both slots are busy."""
    for s in range(2):
        if atomic_load(sync, SYNC_SLOT + 8 * s) == 0:
            dst = snap[s]
            for i in range(Wn.shape[0]):
                dst[i] = Wn[i]
            atomic_store(sync, SYNC_SLOT + 8 * s, r + 1)
            return True
    return False


@compiled(**EXACT)
def train(slab, meta, X, Y, alphas, scratch, epochs, record, losses, sync, snap, rows, units):
    """``epochs`` epochs of per-sample SGD for each network k (row k of
    slab and scratch, alpha ``alphas[k]`` cast to the weights' dtype),
    one network after the other; after epoch ``record[r]`` network k's
    loss goes to ``losses[k, r]``. A network whose loss is NaN (diverged)
    stops; the caller fills ``losses`` with NaN beforehand. The first
    layer's rows: ``rows`` of dtype int32, the lists of nonzero inputs
    (``row_list``, built in the first epoch and loss and kept for the
    call); of dtype bool, every row (inputs with few zeros: no lists).
    ``units``: None for sigmoid hidden and output units, else 0 (the unit
    codes of ``meta``; ``units.units_form``). Returns 0.

    With ``sync[SYNC_HELPER]`` set (one network), the weights after a
    recorded epoch are copied into a free slot of ``snap`` for the loss
    helper thread and training goes straight on; the loss is computed
    here only when both slots are still busy. The loss helper is this
    function too, called on the other thread with ``epochs`` = HELPER,
    ``slab`` = ``snap`` and its own scratch row: it computes the loss of
    each snapshot published (``loss.next_snapshot``) into ``losses[0,
    r]``, frees the slot (a NaN loss sets SYNC_STOP: the network stops),
    and returns 0 once the training call is done and both slots are
    empty (-1 when aborted). Every pass, an epoch or a loss in either
    role, is the one call of ``sweep`` in the code."""
    L = meta.shape[0] - 1
    # sigmoid units compiled in (``units.units_form``): written here, in the entry, since
    # Numba folds the units' branches only for a name assigned a constant directly (an
    # inlined helper returning the codes left every unit's code in, measured)
    if units is None:
        act = SIGMOID
        out = SIGMOID
    else:
        act = meta[L, 4]
        out = meta[L, 5]
    serve = epochs == HELPER  # the loss helper's role
    helper = sync[SYNC_HELPER] != 0 and not serve  # a loss helper serves this call
    R = record.shape[0]
    N = X.shape[0]
    I, ptr = training_lists(X, 0 if serve else N + 1, rows)
    LI, lptr = training_lists(X, N if R > 0 or serve else 0, rows)  # one list a sample, or every row
    lbuild = True
    K = 0 if serve else slab.shape[0]
    k, e, r, s = 0, 0, 0, 0  # network, its epochs done, its records done; snapshot slot
    Wn, S = slab[0], scratch[0]
    alpha = slab.dtype.type(alphas[0])
    nblocks = (N + LOSS_BLOCK - 1) // LOSS_BLOCK
    due = False  # the next pass computes a loss: of network k after record r, or of snapshot s
    while True:
        if serve:
            s, r = next_snapshot(sync)
            if s < 0:
                return s + 1  # 0 when done, -1 when aborted
            Wn = slab[s]
            due = True
        elif not due:
            while k < K and e == epochs:  # the next network
                k, e, r = k + 1, 0, 0
                if k < K:
                    Wn, S = slab[k], scratch[k]
                    alpha = slab.dtype.type(alphas[k])
            if k == K:
                break
            e += 1
        # one pass: epoch e of network k, or a loss block by block; ONE call
        # of ``sweep`` in the code, so its forward code is compiled once
        learn = not due
        total = 0.0
        for b in range(1 if learn else nblocks):
            total += sweep(
                Wn,
                meta,
                X,
                Y,
                alpha,
                S,
                0,
                I if learn else LI,
                ptr if learn else lptr,
                (e == 1 and k == 0) if learn else lbuild,
                act,
                out,
                0 if learn else b * LOSS_BLOCK,
                N if learn else min(N, (b + 1) * LOSS_BLOCK),
                learn,
            )
        if learn:
            if r < R and record[r] == e:
                if helper and hand_off(Wn, snap, sync, r):
                    r += 1
                else:
                    due = True
            if helper and atomic_load(sync, SYNC_STOP) != 0:  # the helper found a NaN loss
                e = epochs
            continue
        x = loss_value(total, Wn, out)
        lbuild = False
        due = False
        if serve:
            losses[0, r] = x
            if np.isnan(x):
                atomic_store(sync, SYNC_STOP, 1)
            atomic_store(sync, SYNC_SLOT + 8 * s, 0)
        else:
            losses[k, r] = x
            r += 1
            if np.isnan(x):  # diverged: the network stops
                e = epochs
    if helper:
        atomic_store(sync, SYNC_DONE, 1)
    return 0
