"""The numba backend: exact per-sample SGD compiled for the CPU, one file per concern.

- ``backend``: ``NumbaBackend``, the training seam and the choice of a call's form;
- ``run``: the forms of a call on threads (one thread, loss helper, team, many networks);
- ``layout``: where a network's weights and scratch live (one flat buffer);
- ``kernels``: the one-thread training kernel ``train``;
- ``team``: one network on several threads, ``train_team``;
- ``loss``: the loss inside a training call and the loss helper thread;
- ``rows``: the first layer's lists of nonzero inputs;
- ``layers``: the public per-layer kernels;
- ``units``: the units' codes, vector code and derivatives;
- ``products``: the layers' vector products (LLVM ``@intrinsic`` kernels);
- ``sync``: atomics, spin waits, barriers;
- ``codegen``: what the ``@intrinsic`` kernels share.

Importing the package imports nothing; ``fastbp.backends.get_backend("numba")``
imports ``backend``. Nothing compiles before a kernel's first call.
"""
