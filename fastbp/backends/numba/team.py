"""One network trained by several threads at once: ``train_team``.

``train_team`` is run by T threads at once (thread ``tid``), all on the one
network of ``slab``. Thread t owns whole cache lines of columns of the first
layer W[0] (``_share``) and the same rows of W[1], so the first layer's
update needs only the deltas this thread computed. The layers after the
first are chained up to ``rep_from`` H (chosen by the backend: the layers
from H on are small) and held from there:

Chained layer l (1 <= l < H): thread t owns a block of its rows (layer 1:
those of its first-layer columns; others: whole lines of rows, ``_share``).
Its forward product is computed link by link in thread order
(``_chain_forward``): thread t sums its rows of W[l] times its inputs into
the even- and odd-row accumulators started from thread t - 1's sums
(``vec_forward_chain``), so the product has the bits of one thread's
``vec_forward_split`` over every row. The chain goes group by group of at
most PANEL vectors of columns and thread t starts a group as soon as thread
t - 1 has left it (``links``: a counter per thread, on its own cache line):
the threads work on the product at the same time, a group apart. The last
thread writes the product to sh; every thread copies it whole and applies
the units. Back down (``_chain_backward``), thread t computes its rows'
delta and update; the delta of a chained layer l >= 2 is gathered whole
through sh (one barrier) for layer l - 1.

Held layers (l >= H, ``_held_layers``): every thread computes them whole on
its own copy (their forward products, the output delta, their deltas and
updates, with the same arithmetic: the copies stay equal). 784-300-100-10
chains layer 1 and holds 100-10: per sample only the chain's sums (two
rows), the product (one row) and the counters go from core to core; no
weights, and no activations of the first layer. A single layer splits its
output units.

Each thread trains its weights (its first-layer columns, its rows of the
chained layers, its copy of the held layers) in its own row of ``own``
(``_places``), apart from the other threads' by TEAM_GAP bytes, and puts
them back into the slab before a loss pass and at the end (the held layers:
thread 0; ``_take``). Every weight gets the same arithmetic in the same order
as in ``kernels.train``, so the weights are bit for bit those of one thread.

Shared scratch ``sh``: layer 1's activations at wp, chained layer l's
product at (l + 1) wp, the chains' sums at (L + 1) wp and (L + 2) wp, the
gathered delta of chained layer l at (L + 2 + l) wp (a single layer's output
delta at (L + 3) wp). Private scratch ``pr[t]``: activation row l at l * wp
(l >= 2), delta row l at (L + 1 + l) * wp, a loss pass's rows from (2 L + 2)
wp.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .cache import compiled
from .codegen import EXACT, PANEL, check_floats, element_ptr
from .kernels import sweep
from .loss import LOSS_BLOCK, team_loss, zero_sum
from .products import (
    backward,
    vec_forward_chain,
    vec_forward_rows,
    vec_forward_split,
    vec_update_forward_rows,
    vec_update_rows,
)
from .rows import row_list, training_lists
from .sync import atomic_store, barrier, wait
from .units import SIGMOID, apply_unit, out_delta, out_diff, output_units

#: vectors per cache line: threads sharing a layer split it in whole lines
LINE_VECS = 2
#: bytes between two team threads' own weights: the hardware prefetchers
#: running past the end of one thread's block would otherwise take lines the
#: other thread is writing (two threads updating their halves of every row of
#: a 784 x 304 float64 block took 1.3-1.5x as long as each on a block of its
#: own; 1.05x with 512 bytes between them; ``python -m benchmarks.wide_threads``
#: measures the team)
TEAM_GAP = 1024


@njit(inline="always", **EXACT)
def _share(nvec, tid, T, unit):
    """Vectors [v0, v1) of a layer's ``nvec`` that thread tid owns: the
    layer split in units of ``unit`` vectors (a cache line) as evenly as
    they go."""
    units = (nvec + unit - 1) // unit
    v0 = min(nvec, (units * tid // T) * unit)
    v1 = min(nvec, (units * (tid + 1) // T) * unit)
    return v0, v1


@njit(inline="always", **EXACT)
def _places(meta, tid, T, H, col0, ncol0, itemsize):
    """Where thread tid's weights live in its row M of ``own``: its columns
    of the first layer at M[0:] (rows ld0 apart; a line more per row when
    the rows would be a multiple of 4096 bytes apart: loads and stores 4096
    bytes apart alias in the store buffer, 1024-1024-10 ran at 0.7x one
    thread without it), its rows of each chained layer l (rows rs[l] ..
    rs[l] + rn[l] - 1, at M[om[l]:]; layer 1's: those of its first-layer
    columns), a copy of the held layers at M[oh:] (``base``: their offset
    in the slab), and ``blocks``, the contiguous copies (slab offset,
    length, offset in M) of ``_take``."""
    L = meta.shape[0] - 1
    V = 32 // itemsize
    unit = meta[L, 2]
    r0 = meta[0, 1]
    gap = TEAM_GAP // itemsize
    line = unit * V
    ld0 = ncol0 + (line if (ncol0 * itemsize) % 4096 == 0 else 0)
    rs = np.zeros(L + 1, np.int64)
    rn = np.zeros(L + 1, np.int64)
    om = np.zeros(L + 1, np.int64)
    blocks = np.zeros((L + 1, 3), np.int64)
    o = ((r0 * ld0 + line - 1) // line) * line + gap
    for l in range(1, H):
        if l == 1:
            rs[l] = col0
            rn[l] = max(0, min(col0 + ncol0, meta[1, 1]) - col0)
        else:
            u0, u1 = _share((meta[l, 1] + V - 1) // V, tid, T, unit)
            rs[l] = u0 * V
            rn[l] = max(0, min(u1 * V, meta[l, 1]) - u0 * V)
        om[l] = o
        blocks[l - 1, 0], blocks[l - 1, 1], blocks[l - 1, 2] = meta[l, 0] + rs[l] * meta[l, 3], rn[l] * meta[l, 3], o
        o += ((rn[l] * meta[l, 3] + line - 1) // line) * line + gap
    oh = o
    base = meta[H, 0] if H < L else meta[L, 1]  # the held layers' offset in the slab
    blocks[L, 0], blocks[L, 1], blocks[L, 2] = base, meta[L, 1] - base, oh
    return ld0, rs, rn, om, blocks, oh, base


@njit(inline="always", **EXACT)
def _chain_forward(M, meta, sh, P, rs, rn, om, H, tid, T, sync, links, tick, fixed, act):
    """The chained layers' products, each into row l + 1 of sh, link by link
    in thread order, group by group of columns (thread t + 1 starts a group
    as soon as thread t has left it; links[8 t]: the groups thread t has
    left), then copied whole to this thread's P and the units applied.
    ``fixed``: (L, wp, unit, spin, V), read from meta once per call.
    Returns the groups this thread has finished, or -1 when aborted."""
    L, wp, unit, spin, V = fixed
    q = (L + 1) * wp  # the chains' even and odd sums: rows L + 1 and L + 2 of sh
    first, last = (1 if tid == 0 else 0), (1 if tid == T - 1 else 0)
    for l in range(1, H):
        cp = meta[l, 3]
        nv = cp // V
        G = (nv + PANEL - 1) // PANEL
        A, ao = (sh, wp + rs[l]) if l == 1 else (P, l * wp + rs[l])
        for g in range(G):
            u0, u1 = _share(nv, g, G, unit)
            if tid > 0 and not wait(sync, links, 8 * (tid - 1), tick + g + 1, spin):
                return -1
            if u1 > u0:
                c = u0 * V
                o = (l + 1) * wp + c
                vec_forward_chain(M, om[l] + c, A, ao, sh, q + c, sh, o, rn[l], (u1 - u0) * V, cp, wp, first, last)
            atomic_store(links, 8 * tid, tick + g + 1)
        tick += G
        if not wait(sync, links, 8 * (T - 1), tick, spin):
            return -1
        for i in range(cp):
            P[(l + 1) * wp + i] = sh[(l + 1) * wp + i]
        if l < L - 1:
            apply_unit(P, (l + 1) * wp, meta[l, 2], act)
    return tick


@njit(inline="always", **EXACT)
def _held_layers(M, meta, P, Y, n, H, oh, base, alpha, fixed, act, out):
    """The held layers of sample n, whole, on this thread's copy: their
    products and units, the output units and delta, their deltas and
    updates (private delta row l at (L + 1 + l) wp)."""
    L, wp = fixed[0], fixed[1]
    ny = Y.shape[1]
    for l in range(H, L):
        cp = meta[l, 3]
        vec_forward_split(M, oh + meta[l, 0] - base, P, l * wp, P, (l + 1) * wp, meta[l, 1], cp, cp)
        if l < L - 1:
            apply_unit(P, (l + 1) * wp, meta[l, 2], act)
    output_units(P, L * wp, Y, n * ny, P, (2 * L + 1) * wp, ny, out)
    for l in range(L - 1, H - 1, -1):
        cp = meta[l, 3]
        dn, dl = (L + 2 + l) * wp, (L + 1 + l) * wp
        backward(M, oh + meta[l, 0] - base, P, l * wp, P, dn, P, dl, meta[l, 1], cp, alpha, act)


@njit(inline="always", **EXACT)
def _chain_backward(M, meta, sh, P, rs, rn, om, H, T, alpha, sync, nbar, fixed, act):
    """The chained layers, top down: this thread's rows' deltas and
    updates; layer l >= 2's delta gathered whole through sh (one barrier)
    for layer l - 1. Returns the barriers passed, or -1 when aborted."""
    L, wp, spin = fixed[0], fixed[1], fixed[3]
    for l in range(H - 1, 0, -1):
        ds = (L + 2 + l) * wp  # shared delta row l
        A, ao = (sh, wp + rs[1]) if l == 1 else (P, l * wp + rs[l])
        DP, dpo = (P, (L + 2) * wp + rs[1]) if l == 1 else (sh, ds + rs[l])
        if rn[l] > 0:
            backward(M, om[l], A, ao, P, (L + 2 + l) * wp, DP, dpo, rn[l], meta[l, 3], alpha, act)
        if l > 1:
            nbar += 1
            if not barrier(sync, nbar * T, spin):
                return -1
            for i in range(meta[l, 1]):
                P[(L + 1 + l) * wp + i] = sh[ds + i]
    return nbar


@njit(inline="always", **EXACT)
def _single_layer_delta(meta, sh, Y, n, col0, ncol0, out):
    """A single layer's output delta of sample n for this thread's output
    units, into the shared delta row."""
    wp = meta[1, 0]
    ny = Y.shape[1]
    cnt = min(meta[0, 2], col0 + ncol0) - col0
    if cnt > 0:
        if out == SIGMOID:
            out_delta(sh, wp + col0, Y, n * ny + col0, sh, 4 * wp + col0, cnt)
        else:
            out_diff(sh, wp + col0, Y, n * ny + col0, sh, 4 * wp + col0, cnt)


@njit(inline="always", **EXACT)
def _first_units(S, so, n, L, act, out):
    """The units of the first layer's products S[so:so+n] (a single layer's
    are the output units, elementwise ones only)."""
    if L > 1:
        apply_unit(S, so, n, act)
    else:
        apply_unit(S, so, n, out)


@njit(inline="always", **EXACT)
def _first_layer(M, X, I, ptr, n, build, D1, d1, sh, a1, col0, ncol0, ld0, alpha, L, act, out):
    """This thread's columns of the first layer: sample n's update fused
    with the next sample's product into sh[a1 + col0:] and its units (the
    last sample's: the update alone)."""
    N, nx = X.shape
    io: int  # (an intrinsic's results, untyped to mypy)
    m: int
    if n + 1 < N:
        io, m = row_list(X, I, ptr, n + 1, n, n + 1, build)
        vec_update_forward_rows(
            M, 0, X, n * nx, D1, d1 + col0, X, (n + 1) * nx, sh, a1 + col0, I, io, m, ncol0, ld0, alpha
        )
        _first_units(sh, a1 + col0, ncol0, L, act, out)
    else:
        io, m = row_list(X, I, ptr, N, n, n, build)
        vec_update_rows(M, 0, X, n * nx, D1, d1 + col0, I, io, m, ncol0, ld0, alpha)


@njit(inline="always", **EXACT)
def _loss_pass(Wn, M, spots, blocks, meta, X, Y, P, part, LI, lptr, build, tid, T, sync, nbar, losses, r, act, out):
    """A recorded epoch's loss: every thread puts its weights back into the
    slab, computes its share of the loss blocks and of the finiteness
    check into ``part``, and reads the loss (thread 0 writes it to
    ``losses[0, r]``). Returns (loss, barriers passed), the latter -1 when
    aborted."""
    L = meta.shape[0] - 1
    wp, spin = meta[L, 0], meta[L, 3]
    nblocks = (X.shape[0] + LOSS_BLOCK - 1) // LOSS_BLOCK
    _take(Wn, M, spots, blocks, tid, True)
    nbar += 1
    if not barrier(sync, nbar * T, spin):
        return np.nan, -1
    for b in range(nblocks * tid // T, nblocks * (tid + 1) // T):
        n0 = b * LOSS_BLOCK
        n1 = min(X.shape[0], n0 + LOSS_BLOCK)
        part[b] = sweep(Wn, meta, X, Y, Wn.dtype.type(0), P, (2 * L + 2) * wp, LI, lptr, build, act, out, n0, n1, False)
    stride = Wn.shape[0]
    part[nblocks + tid] = zero_sum(Wn, stride * tid // T, stride * (tid + 1) // T)
    nbar += 1
    if not barrier(sync, nbar * T, spin):
        return np.nan, -1
    loss = team_loss(part, nblocks, T, out)
    if tid == 0:
        losses[0, r] = loss
    nbar += 1  # every thread has read ``part`` before the next loss pass writes it
    if not barrier(sync, nbar * T, spin):
        return np.nan, -1
    return loss, nbar


@compiled(**EXACT)
def train_team(
    slab, meta, X, Y, alphas, sh, pr, own, epochs, record, losses, part, sync, links, tid, T, rep_from, rows, units
):
    """Thread ``tid`` of T training the one network of ``slab`` together
    (see above; ``own``, ``links``: zeroed, from ``layout.team_buffers``;
    layers ``rep_from`` .. L-1 held, 1 .. rep_from-1 chained); losses as in
    ``kernels.train`` (thread 0 writes them; the loss pass is split by blocks
    of samples). ``part`` holds the loss blocks' sums and T finiteness
    checks; ``units`` as in ``kernels.train``. Returns 0, or -1 when the
    team was aborted."""
    L = meta.shape[0] - 1
    wp, unit = meta[L, 0], meta[L, 2]
    # sigmoid units compiled in (``units.units_form``): written here, in the entry, since
    # Numba folds the units' branches only for a name assigned a constant directly (an
    # inlined helper returning the codes left every unit's code in, measured)
    if units is None:
        act = SIGMOID
        out = SIGMOID
    else:
        act = meta[L, 4]
        out = meta[L, 5]
    V = 32 // slab.itemsize
    fixed = (L, wp, unit, meta[L, 3], V)  # what the per-sample steps read of meta, read once
    H = max(2, min(rep_from, L)) if L >= 2 else 1  # layers 1 .. H-1 chained, H .. L-1 held
    Wn, P, M = slab[0], pr[tid], own[tid]
    alpha = slab.dtype.type(alphas[0])
    N = X.shape[0]
    nR = record.shape[0]
    v0, v1 = _share(meta[0, 3] // V, tid, T, unit)
    col0, ncol0 = v0 * V, (v1 - v0) * V
    ld0, rs, rn, om, blocks, oh, base = _places(meta, tid, T, H, col0, ncol0, slab.itemsize)
    spots = np.array((meta[0, 0] + col0, meta[0, 3], meta[0, 1], ncol0, ld0))
    _take(Wn, M, spots, blocks, tid, False)
    # the delta the first layer's update reads: layer 1's (private) or a single layer's (shared)
    D1, d1 = (P, (L + 2) * wp) if L >= 2 else (sh, (L + 3) * wp)
    I, ptr = training_lists(X, N + 1, rows)  # the first layer's rows, as in ``train``
    LI, lptr = training_lists(X, N if nR > 0 else 0, rows)  # the loss pass: one list a sample, or every row
    lbuild = True
    nbar = 0  # barriers passed
    tick = 0  # groups of chained products this thread has finished
    r = 0
    io: int  # (an intrinsic's results, untyped to mypy)
    m: int
    for e in range(1, epochs + 1):
        build = e == 1
        if ncol0 > 0:  # the first sample's product: this thread's columns of layer 1's activations
            io, m = row_list(X, I, ptr, 0, 0, 0, build)
            vec_forward_rows(M, 0, X, 0, sh, wp + col0, I, io, m, ncol0, ld0)
            _first_units(sh, wp + col0, ncol0, L, act, out)
        for n in range(N):
            if L == 1:
                _single_layer_delta(meta, sh, Y, n, col0, ncol0, out)
            else:
                tick = _chain_forward(M, meta, sh, P, rs, rn, om, H, tid, T, sync, links, tick, fixed, act)
                if tick < 0:
                    return -1
                _held_layers(M, meta, P, Y, n, H, oh, base, alpha, fixed, act, out)
                nbar = _chain_backward(M, meta, sh, P, rs, rn, om, H, T, alpha, sync, nbar, fixed, act)
                if nbar < 0:
                    return -1
            if ncol0 > 0:
                _first_layer(M, X, I, ptr, n, build, D1, d1, sh, wp, col0, ncol0, ld0, alpha, L, act, out)
        if r < nR and record[r] == e:
            loss, nbar = _loss_pass(
                Wn, M, spots, blocks, meta, X, Y, P, part, LI, lptr, lbuild, tid, T, sync, nbar, losses, r, act, out
            )
            lbuild = False
            if nbar < 0:
                return -1
            r += 1
            if np.isnan(loss):
                break
    _take(Wn, M, spots, blocks, tid, True)
    return 0


@intrinsic
def copy_block(typingctx, D, do, A, ao, n):
    """D[do:do+n] = A[ao:ao+n] (``llvm.memcpy``: the blocks do not overlap)."""
    check_floats(D, A)
    ip = types.intp
    sig = types.void(D, ip, A, ip, ip)

    def codegen(context, builder, sig, args):
        dst = element_ptr(context, builder, sig.args[0], args[0], args[1])
        src = element_ptr(context, builder, sig.args[2], args[2], args[3])
        cgutils.raw_memcpy(builder, dst, src, args[4], context.get_abi_sizeof(dst.type.pointee))
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", **EXACT)
def _take(Wn, M, spots, blocks, tid, back):
    """Copies a team thread's weights (``_places``) from the slab into its
    row M of ``own``, or (``back``) from M into the slab (the held layers,
    the last row of ``blocks``, by thread 0 only). ``spots``: (wo, ld, r, n,
    mld): the (r, n) block at Wn[wo:] (rows ``ld`` apart) at M[0:] (rows
    ``mld`` apart); each row (w, k, o) of ``blocks``: Wn[w:w+k] at M[o:o+k]."""
    wo, ld, r, n, mld = spots
    nb = blocks.shape[0]
    for i in range(r):
        if back:
            copy_block(Wn, wo + i * ld, M, i * mld, n)
        else:
            copy_block(M, i * mld, Wn, wo + i * ld, n)
    for j in range(nb):
        w, k, o = blocks[j, 0], blocks[j, 1], blocks[j, 2]
        if not back:
            copy_block(M, o, Wn, w, k)
        elif j < nb - 1 or tid == 0:
            copy_block(Wn, w, M, o, k)
