"""The reference kernels: plain NumPy, readable, the oracle for the others."""

from __future__ import annotations

import numpy as np
from scipy.special import expit  # 1 / (1 + exp(-z)) without overflow warnings

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"

    def asarray(self, host, dtype):
        return np.array(host, dtype=dtype, order="C", copy=True)

    def to_numpy(self, dev):
        return np.array(dev, copy=True)

    def contiguous(self, a, dtype):
        return np.ascontiguousarray(a, dtype=dtype)

    def info(self):
        return {"name": self.name, "numpy": np.__version__}

    def forward(self, W, X1):
        A = [X1]
        for w in W:
            A.append(expit(A[-1] @ w))
        return A

    def output_delta(self, AL, Y):
        return (AL - Y) * AL * (1.0 - AL)

    def hidden_delta(self, D_next, W_l, A_l):
        return (D_next @ W_l.T) * A_l * (1.0 - A_l)

    def update(self, W_l, A_l, D, alpha):
        W_l -= W_l.dtype.type(alpha) * (A_l.T @ D)

    def sgd_step(self, W, x1, y, alpha):
        # The composition of the kernels above, written out to keep Python
        # overhead per sample low; same arithmetic as Backend.sgd_step.
        a = W[0].dtype.type(alpha)
        A = [x1]
        for w in W:
            A.append(expit(A[-1] @ w))
        d = (A[-1] - y) * A[-1] * (1.0 - A[-1])
        L = len(W)
        for l in range(L - 1, -1, -1):
            d_prev = (d @ W[l].T) * A[l] * (1.0 - A[l]) if l > 0 else None
            W[l] -= a * (A[l].T @ d)
            d = d_prev

    def predict(self, W, X1):
        out = X1
        for w in W:
            out = expit(out @ w)
        return out
