"""fastbp: accelerated backpropagation kernels for exact per-sample SGD.

    import fastbp
    result = fastbp.train("digits", backend="auto")
    print(result.report)

Backends: "numpy" (the readable reference), "numba" (compiled, CPU) and
"cuda" (CuPy, NVIDIA GPUs); "auto" picks the fastest usable one.
"""

from . import datasets
from .backends import available_backends, get_backend
from .errors import BackendUnavailableError, FastbpError, NetworkFileError, TrainingDivergedError
from .network import NeuralNetwork
from .sweep import SweepResult, train_many
from .training import TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "FastbpError",
    "NetworkFileError",
    "NeuralNetwork",
    "SweepResult",
    "TrainResult",
    "TrainingDivergedError",
    "available_backends",
    "datasets",
    "get_backend",
    "train",
    "train_many",
]
