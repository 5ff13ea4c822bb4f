"""The numba backend's one-thread training kernel: many epochs of K networks in one call.

``train`` runs many epochs of every sample of a batch in order, for any
number of layers and K networks one after the other, in ONE compiled call,
and computes each network's reference loss after the epochs asked for
(``loss.network_loss``), or hands a snapshot of the weights to
``loss.loss_helper`` running on another thread. It releases the GIL: the
backend runs groups of networks, loss helpers and teams on Python threads.
Nothing is allocated per sample and no array view is made per sample (a
Numba view costs an atomic reference-count pair): each network's weights are
ONE flat buffer (a row of ``slab``) and its activations and deltas another
(a row of ``scratch``), addressed by element offsets from ``meta``.

``meta`` describes one network shape (``layout.Layout``): row l < L is
(woff, r, c, cp) of layer l (offset of its (r, cp) block in a network's flat
weights Wn, rows, used and padded columns); row L is (wp, stride, line
vectors, spin, hidden unit, output unit): wp elements per activation or
delta row (a whole number of cache lines, at least the widest layer), stride
the elements of one network's weights, for ``team.train_team`` the vectors
of a cache line (threads split layers in such units) and the spins of a
barrier wait between yields, and the unit codes (``units.UNIT_CODES``). A
network's scratch S holds activation row l at l * wp and delta row l at (L +
1 + l) * wp (row 0 unused: the first layer reads X directly; the loss pass
uses it for the softmax's exponentials).

Per sample (the tutorial's step): ``vec_forward_split`` for layers 1.. (the
outputs of a layer held in vector registers while the loop runs over its
inputs) and the units, the output units and their delta, then for l = L-1 ..
1 ``backward``: per row i of W[l] the hidden delta from the old weights
(four rows' dot products reduced together) and the update in the same pass.
The first layer's update of sample n is fused with its forward product for
sample n+1 (``vec_update_forward_rows``): every first-layer weight is loaded
and stored once per sample, not twice, and only the rows where sample n's or
sample n+1's input is nonzero are touched (``rows``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .codegen import EXACT
from .loss import network_loss
from .products import backward, vec_forward_rows, vec_forward_split, vec_update_forward_rows, vec_update_rows
from .rows import make_lists, row_list, training_lists
from .sync import SYNC_DONE, SYNC_HELPER, SYNC_SLOT, SYNC_STOP, atomic_load, atomic_store
from .units import LINEAR, apply_unit, output_units


@njit(inline="always", **EXACT)
def epoch(Wn, meta, X, Y, alpha, S, I, ptr, build):
    """Per-sample SGD over every row of X, in order, for one network. The
    first layer runs over the rows of the nonzero inputs only: list 0
    (sample 0's) for the first product, list n + 1 (those of samples n and
    n + 1) for sample n's update fused with sample n + 1's product, list N
    for the last sample's update (``row_list``; ``build``: the first epoch of
    the call builds the lists it keeps); over every row for a bool ``I``."""
    L = meta.shape[0] - 1
    wp, act, out = meta[L, 0], meta[L, 4], meta[L, 5]
    act0 = act if L > 1 else LINEAR  # the first layer's units (a single layer's are the output's)
    N, nx = X.shape
    ny = Y.shape[1]
    dl = (L + 1) * wp
    w0, c0, cp0 = meta[0, 0], meta[0, 2], meta[0, 3]
    io, m = row_list(X, I, ptr, 0, 0, 0, build)
    vec_forward_rows(Wn, w0, X, 0, S, wp, I, io, m, cp0, cp0)
    apply_unit(S, wp, c0, act0)
    for n in range(N):
        for l in range(1, L):
            cp = meta[l, 3]
            vec_forward_split(Wn, meta[l, 0], S, l * wp, S, (l + 1) * wp, meta[l, 1], cp, cp)
            if l < L - 1:
                apply_unit(S, (l + 1) * wp, meta[l, 2], act)
        output_units(S, L * wp, Y, n * ny, S, dl + L * wp, ny, out)
        for l in range(L - 1, 0, -1):
            backward(
                Wn, meta[l, 0], S, l * wp, S, dl + (l + 1) * wp, S, dl + l * wp, meta[l, 1], meta[l, 3], alpha, act
            )
        if n + 1 < N:
            # this sample's first-layer update fused with the next sample's
            # first-layer product (each first-layer weight touched once)
            io, m = row_list(X, I, ptr, n + 1, n, n + 1, build)
            vec_update_forward_rows(Wn, w0, X, n * nx, S, dl + wp, X, (n + 1) * nx, S, wp, I, io, m, cp0, cp0, alpha)
            apply_unit(S, wp, c0, act0)
        else:
            io, m = row_list(X, I, ptr, N, n, n, build)
            vec_update_rows(Wn, w0, X, n * nx, S, dl + wp, I, io, m, cp0, cp0, alpha)


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


@njit(**EXACT)
def train(slab, meta, X, Y, alphas, scratch, epochs, record, losses, sync, snap, rows):
    """``epochs`` epochs of per-sample SGD for each network k (row k of slab
    and scratch, alpha ``alphas[k]`` cast to the weights' dtype), one network
    after the other; after epoch ``record[r]`` network k's loss goes to
    ``losses[k, r]``. A network whose loss is NaN (diverged) stops; the
    caller fills ``losses`` with NaN beforehand. The first layer's rows:
    ``rows`` of dtype int32, the lists of nonzero inputs (``row_list``, built
    in the first epoch and loss and kept for the call); of dtype bool, every
    row (inputs with few zeros: no lists).

    With ``sync[SYNC_HELPER]`` set (one network), the weights after a
    recorded epoch are copied into a free slot of ``snap`` for the loss
    helper thread (``loss.loss_helper``) and training goes straight on; the loss
    is computed here only when both slots are still busy."""
    R = record.shape[0]
    helper = sync[SYNC_HELPER] != 0
    N = X.shape[0]
    I, ptr = training_lists(X, N + 1, rows)
    LI, lptr = make_lists(X, N if R > 0 else 0)
    lbuild = True
    for k in range(slab.shape[0]):
        Wn, S = slab[k], scratch[k]
        alpha = slab.dtype.type(alphas[k])
        r = 0
        for e in range(1, epochs + 1):
            epoch(Wn, meta, X, Y, alpha, S, I, ptr, e == 1 and k == 0)
            if r < R and record[r] == e:
                if not (helper and hand_off(Wn, snap, sync, r)):
                    losses[k, r] = network_loss(Wn, meta, X, Y, S, LI, lptr, lbuild)
                    lbuild = False
                    if np.isnan(losses[k, r]):
                        break
                r += 1
            if helper and atomic_load(sync, SYNC_STOP) != 0:
                break
    if helper:
        atomic_store(sync, SYNC_DONE, 1)
