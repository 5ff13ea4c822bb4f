"""Peers: the same per-sample SGD outside fastbp, in the same run.

* ``reference``: the tutorial's loop as transcribed in tests/reference_impl.py
  (``fit_partial`` per sample), so the NumPy backend's speed-up over the
  tutorial is visible;
* ``torch manual``: PyTorch CPU tensors written the obvious way: per-sample
  forward, the backward written out, in-place SGD update;
* ``torch autograd``: PyTorch's autograd on ``0.5 * sum((a - y)**2)`` and
  ``torch.optim.SGD`` (the same gradient as the reference).

All three run the 64-32-16-10 network with the bias trick on the digits epoch
(1,347 samples, alpha 0.1), the workload of the kernel benchmark
``sgd_epoch``, so they share its row in the report. Each is first checked
against the NumPy backend on 32 samples. PyTorch is a benchmark-only
dependency: without it those peers skip.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastbp.backends import get_backend

from ._common import (
    DIGITS_EPOCH,
    DIGITS_LAYERS,
    digits_host,
    flops_per_sample,
    measure,
    reference_network,
    weights_host,
)

ALPHA = 0.1


# ----------------------------------------------------------------- the peers
class ReferencePeer:
    """The tutorial's ``fit_partial`` loop (NumPy, float64 or float32)."""

    column = "tutorial"
    version = np.__version__

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def data(self, X1, Y):
        return X1.astype(self.dtype), Y.astype(self.dtype)

    def weights(self, W0):
        return reference_network(DIGITS_LAYERS, ALPHA, W0, self.dtype)

    def epoch(self, net, X1, Y):
        for x, y in zip(X1, Y):
            net.fit_partial(x, y)

    def to_numpy(self, net):
        return [np.asarray(w, dtype=np.float64) for w in net.W]


class TorchManualPeer:
    """PyTorch CPU tensors, backward written out, in-place update."""

    column = "torch (manual)"

    def __init__(self, dtype):
        self.torch = pytest.importorskip("torch", reason="PyTorch is not installed (a benchmark-only peer)")
        self.version = self.torch.__version__
        self.tdtype = {np.dtype(np.float64): self.torch.float64, np.dtype(np.float32): self.torch.float32}[
            np.dtype(dtype)
        ]

    def data(self, X1, Y):
        return self.torch.tensor(X1, dtype=self.tdtype), self.torch.tensor(Y, dtype=self.tdtype)

    def weights(self, W0):
        return [self.torch.tensor(w, dtype=self.tdtype) for w in W0]

    def epoch(self, W, X1, Y):
        torch = self.torch
        L = len(W)
        with torch.no_grad():
            for i in range(X1.shape[0]):
                A = [X1[i : i + 1]]
                for w in W:
                    A.append(torch.sigmoid(A[-1] @ w))
                d = (A[-1] - Y[i : i + 1]) * A[-1] * (1 - A[-1])
                for l in range(L - 1, -1, -1):
                    d_prev = (d @ W[l].T) * A[l] * (1 - A[l]) if l > 0 else None
                    W[l].sub_(ALPHA * (A[l].T @ d))
                    d = d_prev

    def to_numpy(self, W):
        return [w.detach().numpy().astype(np.float64) for w in W]


class TorchAutogradPeer(TorchManualPeer):
    """PyTorch autograd on the reference loss and torch.optim.SGD, per sample."""

    column = "torch (autograd)"

    def weights(self, W0):
        params = [self.torch.nn.Parameter(w) for w in super().weights(W0)]
        return params, self.torch.optim.SGD(params, lr=ALPHA)

    def epoch(self, state, X1, Y):
        torch = self.torch
        params, opt = state
        for i in range(X1.shape[0]):
            opt.zero_grad(set_to_none=True)
            a = X1[i : i + 1]
            for w in params:
                a = torch.sigmoid(a @ w)
            loss = 0.5 * ((a - Y[i : i + 1]) ** 2).sum()
            loss.backward()
            opt.step()

    def to_numpy(self, state):
        return super().to_numpy(state[0])


PEERS = {"reference": ReferencePeer, "torch-manual": TorchManualPeer, "torch-autograd": TorchAutogradPeer}


def _check_against_numpy(peer, dtype, W0, X1h, Yh, n=32):
    """The peer computes what fastbp computes: 32 steps agree with the NumPy backend."""
    be = get_backend("numpy")
    W = [be.asarray(w, dtype) for w in W0]
    be.sgd_epoch(W, be.asarray(X1h[:n], dtype), be.asarray(Yh[:n], dtype), ALPHA)
    state = peer.weights(W0)
    peer.epoch(state, *peer.data(X1h[:n], Yh[:n]))
    rtol, atol = (1e-9, 1e-12) if np.dtype(dtype) == np.float64 else (2e-3, 1e-5)
    for got, want in zip(peer.to_numpy(state), W):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("peer_name", list(PEERS))
def test_peer_sgd(benchmark, request, dtype, peer_name):
    peer = PEERS[peer_name](dtype)
    X1h, Yh = digits_host()
    W0 = weights_host(DIGITS_LAYERS)
    _check_against_numpy(peer, dtype, W0, X1h, Yh)
    X1, Y = peer.data(X1h, Yh)

    def setup():  # fresh weights every round, not timed
        return (peer.weights(W0),), {}

    def fn(state):
        peer.epoch(state, X1, Y)

    n = X1h.shape[0]
    measure(
        benchmark,
        request,
        fn,
        setup=setup,
        backend=None,
        column=peer.column,
        peer=True,
        workload=DIGITS_EPOCH,
        section="kernels",
        dtype=dtype,
        layers=DIGITS_LAYERS,
        samples=n,
        flops=n * flops_per_sample(DIGITS_LAYERS, "sgd"),
        peer_version=peer.version,
    )
