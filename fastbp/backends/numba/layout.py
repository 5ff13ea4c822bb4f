"""Where the numba backend keeps a network's weights and scratch: one flat buffer per network.

Layer l is row-major ``(r, cp)`` at ``meta[l, 0]``, its c columns
zero-padded to ``cp``: a whole number of 256-bit vectors, and of 64-byte
cache lines for layers of WIDE_ROW columns or more, so threads splitting the
columns never write the same line. Each layer starts on a cache line; each
network's weights and scratch take a multiple of 128 bytes (two cache
lines), so networks trained by different threads never share a line (sharing
one cost a 2-core run of 8 networks a third of its throughput). ``Params.W``
are views into the buffer; the weights stay packed between training calls.
Padded weights and delta lanes stay zero; padded activation lanes hold units
of whatever is there and are never read. ``meta`` is the kernels'
description of the shape (``kernels``).
"""

from __future__ import annotations

import functools

import numpy as np

from .codegen import lanes
from .loss import LOSS_BLOCK
from .rows import LISTED_ROWS
from .sync import SYNC_LEN, TEAM_SPIN
from .team import LINE_VECS, TEAM_GAP
from .units import SIGMOID, UNIT_CODES

#: a team holds the last layers whole on every thread when they have at most
#: this fraction of the weights, and chains the ones before (``held_from``):
#: a held layer costs every thread its whole work but no hand-off, a chained
#: one its share and two hand-offs a step; a quarter holds 784-300-100-10's
#: 100-10 (0.4% of its weights) and chains 256-256-256-256-10's first two
#: hidden layers (holding 256-256-10, 35%, would double a third of the work);
#: ``python -m benchmarks.wide_threads --layers ...`` measures a choice
HELD_FRACTION = 0.25
#: a layer this wide (columns) or wider has its rows padded to whole cache
#: lines, not just vectors, so threads that split its columns at line
#: boundaries never write the same line: the padding (at most a line a row)
#: is then at most an eighth of the row; narrower layers are rarely split
#: (TEAM_MIN_MACS; ``python -m benchmarks.wide_threads --sizes`` times teams)
WIDE_ROW = 64


def round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def aligned_zeros(n, dtype, align=128):
    """``n`` zeros whose data starts on an ``align``-byte boundary."""
    size = n * dtype.itemsize
    buf = np.zeros(size + align, np.uint8)
    start = (-buf.ctypes.data) % align
    return buf[start : start + size].view(dtype)


@functools.lru_cache(maxsize=64)
def layout(dims, dtype):
    """The (cached) Layout of one network shape (the rows of each layer and
    the last layer's columns) and dtype."""
    return Layout(dims, dtype)


class Layout:
    """The flat buffers of one network shape and dtype: layer l at
    ``parts[l] = (offset, r, c, cp)``; ``meta`` with one more row: ``(wp,
    stride, line vectors, barrier spins, hidden unit, output unit)``, the last
    two the tutorial's sigmoids here (``meta_for`` gives other units' codes).
    ``tuners``: the backend's timing of training forms for this shape."""

    def __init__(self, dims, dtype):
        dtype = np.dtype(dtype)
        V = lanes(dtype)
        line, pair = 64 // dtype.itemsize, 128 // dtype.itemsize
        L = len(dims) - 1
        self.parts = []  # (offset, r, c, cp) per layer, Python ints
        off = 0
        for l in range(L):
            r, c = int(dims[l]), int(dims[l + 1])
            cp = round_up(c, line if c >= WIDE_ROW else V)
            self.parts.append((off, r, c, cp))
            off = round_up(off + r * cp, line)
        self.L = L
        self.stride = round_up(off, pair)
        self.wp = round_up(int(max(dims)), line)
        rows = [(*p, 0, 0) for p in self.parts]
        self.meta = np.array([*rows, (self.wp, self.stride, LINE_VECS, TEAM_SPIN, SIGMOID, SIGMOID)], np.int64)
        self._metas = {("sigmoid", "sigmoid"): self.meta}
        self.scratch = round_up(2 * (L + 1) * self.wp, pair)
        self.pair = pair
        self.dtype = dtype
        #: multiply-adds of one per-sample step (forward, hidden deltas, update)
        self.macs = 2 * sum(r * c for _, r, c, _ in self.parts) + sum(r * c for _, r, c, _ in self.parts[1:])
        #: multiply-adds of one sample's forward pass (the loss)
        self.forward_macs = sum(r * c for _, r, c, _ in self.parts)
        self.no_snap = np.zeros((2, 1), dtype)
        self.tuners: dict = {}  # kind of choice ("team", "helper") -> the backend's Tuner
        self._own: dict[tuple[int, int], np.ndarray] = {}  # the team threads' own weights (``team_buffers``)

    def meta_for(self, activation: str, output: str) -> np.ndarray:
        """``meta`` with the codes of the hidden and output units in its last row."""
        m = self._metas.get((activation, output))
        if m is None:
            m = self.meta.copy()
            m[-1, 4:6] = UNIT_CODES[activation], UNIT_CODES[output]
            self._metas[activation, output] = m
        return m

    def buffers(self, K):
        """Zeroed (K, stride) weights and (K, scratch) scratch, both 128-byte
        aligned, from one allocation, and the views of the weights: views[l]
        is layer l of every network, (K, r, c), the padding left out."""
        both = aligned_zeros(K * (self.stride + self.scratch), self.dtype)
        n = K * self.stride
        slab = both[:n].reshape(K, self.stride)
        views = [slab[:, off : off + r * cp].reshape(K, r, cp)[:, :, :c] for off, r, c, cp in self.parts]
        return slab, both[n:].reshape(K, self.scratch), views

    def held_from(self) -> int:
        """The first layer a team holds whole on every thread (``train_team``'s
        ``rep_from``; layers 1 .. before it are chained, split by rows): the
        smallest l >= 2 whose layers l .. L-1 have at most HELD_FRACTION of
        the weights, else L (none held). 784-300-100-10 and 256-256-256-10:
        2; 256-256-256-256-10: 3."""
        sizes = [r * cp for _, r, _, cp in self.parts]
        for l in range(2, self.L):
            if sum(sizes[l:]) <= HELD_FRACTION * sum(sizes):
                return l
        return self.L

    def team_barriers(self) -> int:
        """Meetings of a team's threads per step (at least 1): a chain per
        chained layer, a barrier per chained layer's delta but layer 1's."""
        return max(1, 2 * self.held_from() - 3)

    def team_buffers(self, T, N):
        """Scratch of a ``train_team`` call of T threads on N samples (one
        team call runs at a time): zeroed shared rows, each thread's private
        rows, the loss blocks' sums, the chains' flags (one a cache line);
        each thread's own weights (its share of the first layer and of the
        chained layers and a copy of the held layers), made once per team
        size. Rows of each thread TEAM_GAP bytes apart."""
        L, wp, pair = self.L, self.wp, self.pair
        gap = TEAM_GAP // self.dtype.itemsize
        sh = aligned_zeros(round_up((2 * L + 3) * wp, pair), self.dtype)
        prow = round_up((3 * L + 4) * wp + gap, pair)
        pr = aligned_zeros(T * prow, self.dtype).reshape(T, prow)
        H = max(2, min(self.held_from(), L)) if L >= 2 else 1  # as train_team reads rep_from
        own = self._own.get((T, H))
        if own is None:  # kept: a call fills what it reads (zeroing 2 MB on MNIST took about a millisecond)
            unit = LINE_VECS * lanes(self.dtype)

            def most(n):  # the most of n rows or columns a thread gets (shares of whole lines)
                return min(n, -(-n // unit // T) * unit)

            _, r0, _, cp0 = self.parts[0]
            cols = most(cp0)
            sizes = [r0 * (cols + unit)]  # its first-layer block (a line more a row where 4096 bytes apart)
            sizes += [(cols if l == 1 else most(r)) * cp for l, (_, r, _, cp) in enumerate(self.parts) if 1 <= l < H]
            sizes.append(self.stride - (self.parts[H][0] if H < L else self.stride))  # the held layers
            orow = sum(round_up(n, pair) + gap for n in sizes)
            own = self._own[T, H] = aligned_zeros(T * orow, self.dtype).reshape(T, orow)
        part = np.zeros(-(-N // LOSS_BLOCK) + T)
        links = aligned_zeros(8 * T, np.dtype(np.int64))
        return sh, pr, own, part, links


class Packed:
    """The numba backend's private state of a ``Params``: the layout, the
    packed weights and scratch of its K networks, the sync flags, (made on
    first use) the snapshots and scratch of a loss helper thread, and the
    form of the first layer's rows of the last training call (``run.first_rows``;
    a short call, ``fit_partial``, uses it: the kernel ``fit`` compiled)."""

    __slots__ = ("helper", "layout", "rows", "scratch", "slab", "sync")

    def __init__(self, layout, slab, scratch):
        self.layout, self.slab, self.scratch = layout, slab, scratch
        self.sync = aligned_zeros(SYNC_LEN, np.dtype(np.int64))
        self.helper = None  # (snap, scratch) of the loss helper
        self.rows = LISTED_ROWS
