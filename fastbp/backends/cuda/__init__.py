"""The cuda backend: CUDA C++ kernels (``*.cu``, ``fastbp_common.cuh``), their
source (``source``), the launch plan (``plan``, pure Python, no CuPy) and
``CudaBackend`` (``backend``, CuPy host code). Importing this package imports
neither CuPy nor anything that needs a GPU.
"""
