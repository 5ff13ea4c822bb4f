"""The error classes fastbp raises on purpose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loop import Run
    from .training import TrainResult


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

    The network keeps the weights of the last epoch whose loss and weights
    were finite.

    Parameters
    ----------
    message : str
        What happened, in words.
    epoch : int
        The 1-based epoch at which the loss or the weights were not finite.
    last_finite_epoch : int
        The epoch whose weights the network keeps (0: its initial weights).
    run : fastbp.loop.Run or None
        The training loop's record of the run (the loss history).

    Attributes
    ----------
    result : fastbp.TrainResult or None
        ``fastbp.train``'s result up to the divergence (None elsewhere).
    """

    def __init__(self, message: str, epoch: int, last_finite_epoch: int, run: Run | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.last_finite_epoch = last_finite_epoch
        self.run = run
        self.result: TrainResult | None = None


class InsufficientMemoryError(FastbpError, MemoryError):
    """Training or building the networks asked for needs more memory than
    the machine (or the GPU) can give now; checked before allocating.

    Parameters
    ----------
    message : str
        What needs how much memory, and what to do; names both sizes.
    needed : int
        The bytes needed.
    available : int
        The bytes available.
    """

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
    on a second Ctrl-C where the backend is ``Backend.interruptible``), or
    came after the last epoch while the result was handed over.

    The networks keep the weights of the last completed epoch (0 when Ctrl-C
    came before the first completed).

    Parameters
    ----------
    message : str
        When training stopped, in words.
    run : fastbp.loop.Run or dict or None
        The training loop's record so far (epochs done, loss histories): a
        ``fastbp.loop.Run``; from ``fastbp.train_many`` the record of its
        block of networks, a dict.

    Attributes
    ----------
    result : fastbp.TrainResult or fastbp.SweepResult or None
        The partial result, set by ``fastbp.train`` and ``fastbp.train_many``
        (None elsewhere).
    """

    def __init__(self, message: str, run: Any = None):
        super().__init__(message)
        self.run = run
        self.result: Any = None  # TrainResult or SweepResult, by the caller


class DataFileError(FastbpError, ValueError):
    """A data file or data set cannot be used.

    Missing, a directory, unreadable, truncated, corrupt, of the wrong format,
    with wrong or missing keys, non-numeric or pickled arrays, or a checksum
    that does not match; also a named data set found nowhere. The message names
    the path and what is wrong.

    Parameters
    ----------
    message : str
        The path and what is wrong with it.
    path : str or None
        That file or folder (None where there is none).
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path
