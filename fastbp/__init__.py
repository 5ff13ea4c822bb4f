"""fastbp: accelerated backpropagation kernels for exact per-sample SGD.

    import fastbp
    result = fastbp.train("digits", backend="auto")
    print(result.report)

Backends: "numpy" (the readable reference), "numba" (compiled, CPU) and
"cuda" (CuPy, NVIDIA GPUs); "auto" picks the fastest usable one.
"""

from . import datasets
from .backends import available_backends, get_backend
from .errors import (
    BackendUnavailableError,
    DataFileError,
    FastbpError,
    InsufficientMemoryError,
    NetworkFileError,
    TrainingDivergedError,
    TrainingInterrupted,
    UnsupportedError,
)
from .network import NeuralNetwork
from .training import (
    NetworkResult,
    SaturationWarning,
    SweepResult,
    TrainingWarning,
    TrainResult,
    train,
    train_many,
)

__version__ = "0.2.0"

__all__ = [
    "BackendUnavailableError",
    "DataFileError",
    "FastbpError",
    "InsufficientMemoryError",
    "NetworkFileError",
    "NetworkResult",
    "NeuralNetwork",
    "SaturationWarning",
    "SweepResult",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "TrainingWarning",
    "UnsupportedError",
    "available_backends",
    "datasets",
    "get_backend",
    "train",
    "train_many",
]
