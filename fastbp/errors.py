"""The error classes fastbp raises on purpose."""

from __future__ import annotations

from typing import Any


class FastbpError(Exception):
    """Base class of every error fastbp raises on purpose."""


class BackendUnavailableError(FastbpError, RuntimeError):
    """A known backend cannot run here (library missing, no GPU, no driver).

    The message says what is missing and how to install it.
    """


class UnsupportedError(FastbpError, ValueError):
    """A backend does not implement the hidden activation or the output units
    asked for. The message names what is missing and the backends that have it.
    """


class TrainingDivergedError(FastbpError, FloatingPointError):
    """The loss or the weights became NaN or infinite during training.

    ``epoch`` is the 1-based epoch at which it was seen; the network keeps the
    weights of the last epoch whose loss and weights were finite.
    """

    def __init__(self, message: str, epoch: int, last_finite_epoch: int, run=None):
        super().__init__(message)
        self.epoch = epoch
        self.last_finite_epoch = last_finite_epoch
        self.run = run
        self.result: Any = None


class InsufficientMemoryError(FastbpError, MemoryError):
    """Training or building the networks asked for needs more memory than
    the machine (or the GPU) can give now; checked before allocating.
    ``needed`` and ``available`` are the two sizes in bytes, both named in
    the message."""

    def __init__(self, message: str, needed: int, available: int):
        super().__init__(message)
        self.needed = needed
        self.available = available


class NetworkFileError(FastbpError, ValueError):
    """A file given to ``NeuralNetwork.load`` is corrupt or not a fastbp
    network, or ``NeuralNetwork.save`` cannot write its file; the message
    names the path and the reason."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training (at the end of a chunk of epochs, or at once
    on a second Ctrl-C where the backend is ``interruptible``), or came after
    the last epoch while the result was handed over.

    The networks keep the weights of the last completed epoch
    (``run.epochs_done``; 0 when Ctrl-C came before the first completed).
    ``run`` is the training loop's record so far (the loss histories);
    ``result`` is set by ``train``/``train_many`` to their partial result.
    """

    def __init__(self, message: str, run=None):
        super().__init__(message)
        self.run = run
        self.result: Any = None


class DataFileError(FastbpError, ValueError):
    """A data file or data set cannot be used.

    Missing, a directory, unreadable, truncated, corrupt, of the wrong format,
    with wrong or missing keys, non-numeric or pickled arrays, or a checksum
    that does not match; also a named data set found nowhere. The message names
    the path and what is wrong; ``path`` is that file or folder (None where
    there is none).
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path
